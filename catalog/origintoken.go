package catalog

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/opendist/odi/internal/relayapi"
)

// Origin tokens tell the directory's origin web seed that a request comes from a relay,
// so that it serves relays ahead of anonymous clients while they fill a hot artifact
// (webseed.LedgerConfig.RelayFirst). Each heartbeat's plan carries a fresh one for the
// relay that sent it, over the signed heartbeat exchange; the relay shows it with every
// request to the origin. A token is the relay's id and an expiry under an HMAC the
// directory keeps in memory: checking one costs a hash and a map lookup, where a
// signature per web-seed request would cost a verification and a nonce store. A
// directory restart invalidates every token until the next heartbeats; a revoked relay's
// token is refused at once.

// maxOriginToken is longer than any token minted here: a relay id (a key fingerprint,
// 32 hex digits), an expiry and a 43-character MAC.
const maxOriginToken = 256

// errToken is returned (wrapped) for an origin token that is malformed, forged or expired.
var errToken = errors.New("origin token")

// originTokenLife is how long an origin token is good: three heartbeat intervals, and
// at least a minute, so that a relay whose heartbeat is late keeps its place.
func originTokenLife(heartbeat time.Duration) time.Duration { return max(3*heartbeat, time.Minute) }

func newTokenKey() []byte {
	key := make([]byte, 32)
	rand.Read(key)
	return key
}

// mintOriginToken returns "<relay id>.<expiry, Unix seconds>.<MAC>".
func mintOriginToken(key []byte, relayID string, expires time.Time) string {
	body := relayID + "." + strconv.FormatInt(expires.Unix(), 10)
	return body + "." + tokenMAC(key, body)
}

// parseOriginToken returns the relay id of a token minted with key that has not expired
// at now.
func parseOriginToken(key []byte, tok string, now time.Time) (string, error) {
	body, mac, ok := cutLast(tok, ".")
	if !ok {
		return "", fmt.Errorf("%w: malformed", errToken)
	}
	if !hmac.Equal([]byte(mac), []byte(tokenMAC(key, body))) {
		return "", fmt.Errorf("%w: not this directory's", errToken)
	}
	id, exp, ok := cutLast(body, ".")
	secs, err := strconv.ParseInt(exp, 10, 64)
	if !ok || err != nil || id == "" {
		return "", fmt.Errorf("%w: malformed", errToken)
	}
	if now.Unix() >= secs {
		return "", fmt.Errorf("%w: expired", errToken)
	}
	return id, nil
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func tokenMAC(key []byte, body string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// originToken mints the origin token for relay id, valid for a few heartbeats.
func (c *Catalog) originToken(id string) string {
	return mintOriginToken(c.tokenKey, id, c.now().Add(originTokenLife(c.cfg.Relays.HeartbeatInterval)))
}

// RelayOfOrigin returns the id of the relay whose origin token auth (an Authorization
// header's value) carries, if that token is good and the relay active; false for
// anything else, an absent header included.
func (c *Catalog) RelayOfOrigin(auth string) (string, bool) {
	tok, ok := strings.CutPrefix(auth, relayapi.OriginAuthScheme+" ")
	if !ok || len(tok) > maxOriginToken {
		return "", false // a megabyte of header is not worth an HMAC per request
	}
	id, err := parseOriginToken(c.tokenKey, tok, c.now())
	if err != nil {
		return "", false
	}
	c.relays.mu.RLock()
	defer c.relays.mu.RUnlock()
	r := c.relays.byID[id]
	return id, r != nil && r.State == relayapi.StateActive
}

// RelayLetGo reports whether relay id, heard from after since, no longer holds or
// fetches the artifact ih: what the origin granted it before then reaches nobody (it
// evicted the artifact, or never kept it), and the origin may send it to another.
func (c *Catalog) RelayLetGo(id string, ih metainfo.Hash, since time.Time) bool {
	c.relays.mu.RLock()
	defer c.relays.mu.RUnlock()
	r := c.relays.byID[id]
	return r != nil && r.LastSeen.After(since) && r.held[ih] == nil
}
