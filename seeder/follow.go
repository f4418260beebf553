package seeder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/fsutil"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/sign"
)

// A following relay (Config.Follow) carries only what indexes signed by the keys it
// follows list as published (issue 15). Per directory, a follower polls each followed
// key's index at GET /indexes/<key id>/index.json and .minisig (catalogapi), accepts it
// through an index.State kept in the relay's data dir, and hands the indexes it accepted
// to carry, which the plans pass through. One state per directory: an indexer signs one
// index per directory, each with versions of its own.

// followTimeout bounds one request of a poll, body included: an index at index.MaxBytes
// (64 MiB) takes about a minute at 1 MB/s.
const followTimeout = 2 * time.Minute

// maxSignatureRead bounds the read of a .minisig; index.Verify refuses one over 4 KiB,
// so a longer read is only there to say so.
const maxSignatureRead = 16 << 10

// errNoIndex is returned by a poll when the directory has no index of a key (404).
var errNoIndex = errors.New("the directory has no index of this key")

// follower follows keys' indexes at one directory.
type follower struct {
	dir  string // base URL, without a trailing slash
	keys []minisign.PublicKey
	http *http.Client
	// path is the folder of the state file and of the documents accepted, one per key
	// (<fingerprint>.json), so that a restart starts from them, not from nothing.
	path  string
	state *index.State
	now   func() time.Time
	log   *slog.Logger

	mu       sync.Mutex
	accepted map[string]*index.Index // by key fingerprint: the version the state holds
	etags    map[string]string       // by key fingerprint: of the last document seen
	told     map[string]bool         // refusals and expiries logged, by key and reason
}

// followPath is where the relay keeps what it follows at dir: a folder per directory
// URL (a trailing slash aside, so that adding one keeps the state), named by its digest
// since a URL is not a file name.
func followPath(dataDir, dir string) string {
	sum := sha256.Sum256([]byte(strings.TrimRight(dir, "/")))
	return filepath.Join(dataDir, "follow", hex.EncodeToString(sum[:8]))
}

// newFollower loads the state kept at path and the documents it accepted.
func newFollower(dir string, keys []minisign.PublicKey, path string, now func() time.Time, log *slog.Logger) (*follower, error) {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("follow %s: %w", dir, err)
	}
	st, err := index.LoadState(filepath.Join(path, "state.json"))
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", dir, err)
	}
	f := &follower{
		dir: strings.TrimRight(dir, "/"), keys: keys, path: path, state: st, now: now,
		log:      log.With("directory", dir),
		http:     &http.Client{Timeout: followTimeout},
		accepted: map[string]*index.Index{}, etags: map[string]string{}, told: map[string]bool{},
	}
	for _, k := range st.Followed(keys...) {
		if idx := f.loadAccepted(k); idx != nil {
			f.accepted[sign.Fingerprint(k)] = idx
		}
	}
	return f, nil
}

// loadAccepted reads the document the state accepted from k, if it is on disk: the
// state's digest vouches for it (index.State.Accept checked its signature then).
func (f *follower) loadAccepted(k minisign.PublicKey) *index.Index {
	ks, ok := f.state.Key(k)
	if !ok || ks.Version == 0 {
		return nil
	}
	file, err := os.Open(f.docPath(k))
	if err != nil {
		f.log.Warn("relay: the index accepted before is missing; polling for it", "key", sign.KeyID(k.ID()), "err", err)
		return nil
	}
	defer file.Close()
	doc, err := index.ReadDoc(file)
	sum := sha256.Sum256(doc)
	if err == nil && hex.EncodeToString(sum[:]) != ks.SHA256 {
		err = errors.New("its sha256 is not the one the state accepted")
	}
	var idx *index.Index
	if err == nil {
		idx, err = index.Parse(doc)
	}
	if err != nil {
		f.log.Warn("relay: the index accepted before is unusable; polling for it", "key", sign.KeyID(k.ID()), "err", err)
		return nil
	}
	return idx
}

func (f *follower) docPath(k minisign.PublicKey) string {
	return filepath.Join(f.path, sign.Fingerprint(k)+".json")
}

// poll fetches every followed key's index and accepts the new ones. A refused index is
// logged once per key and reason, and the one accepted before stays.
func (f *follower) poll(ctx context.Context) {
	for _, k := range f.state.Followed(f.keys...) {
		if ctx.Err() != nil {
			return
		}
		id := sign.KeyID(k.ID())
		err := f.pollKey(ctx, k)
		switch {
		case err == nil:
		case errors.Is(err, index.ErrEquivocation):
			// Reported to the directory by pollKey, once per document served.
			f.tell(k, err, slog.LevelError, "relay: EQUIVOCATION: a followed key signed two different indexes of one version; keeping the one accepted first; the key may be stolen", "key", id, "err", err)
		case errors.Is(err, errNoIndex):
			f.tell(k, err, slog.LevelWarn, "relay: the directory has no index of a followed key", "key", id)
		case isRefusal(err):
			f.tell(k, err, slog.LevelError, "relay: refused the index of a followed key; keeping the one accepted before", "key", id, "err", err)
		default:
			f.tell(k, err, slog.LevelWarn, "relay: cannot fetch the index of a followed key; will retry", "key", id, "err", err)
		}
		if idx := f.current(k); idx != nil && !f.now().Before(idx.Expires) {
			f.tell(k, fmt.Errorf("expired %d", idx.Version), slog.LevelError,
				fmt.Sprintf("relay: index of key %s expired at %s; dropping what only it vouched for", id, idx.Expires.Format(time.RFC3339)),
				"key", id, "version", idx.Version)
		}
	}
}

// isRefusal tells an index refused for what it is from a fetch that failed.
func isRefusal(err error) bool {
	for _, e := range []error{index.ErrRollback, index.ErrRevoked, index.ErrRetired, index.ErrTooLarge,
		index.ErrBadSignature, index.ErrWrongKey, index.ErrExpired, index.ErrInvalid, index.ErrNotCanonical} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// tell logs msg once per key and reason (err's text, which names the version).
func (f *follower) tell(k minisign.PublicKey, err error, level slog.Level, msg string, args ...any) {
	why := sign.Fingerprint(k) + "\x00" + err.Error()
	f.mu.Lock()
	told := f.told[why]
	if len(f.told) >= 1024 { // transport errors vary; keep the memory bounded
		clear(f.told)
	}
	f.told[why] = true
	f.mu.Unlock()
	if !told {
		f.log.Log(context.Background(), level, msg, args...)
	}
}

// pollKey fetches k's index unless it is the one seen last (If-None-Match), and
// accepts it.
func (f *follower) pollKey(ctx context.Context, k minisign.PublicKey) error {
	fp, base := sign.Fingerprint(k), f.dir+"/indexes/"+sign.KeyID(k.ID())+"/index.json"
	f.mu.Lock()
	etag := f.etags[fp]
	f.mu.Unlock()
	doc, newTag, err := f.get(ctx, base, etag, index.MaxBytes)
	if err != nil || doc == nil { // nil: 304, unchanged
		return err
	}
	sig, _, err := f.get(ctx, base+".minisig", "", maxSignatureRead)
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	f.mu.Lock()
	prev := f.accepted[fp]
	f.mu.Unlock()
	held, _ := f.state.Key(k)
	idx, err := f.state.Accept(k, doc, sig, f.now())
	if errors.Is(err, index.ErrEquivocation) {
		served := sha256.Sum256(doc)
		f.reportEquivocation(ctx, relayapi.Equivocation{Key: sign.KeyID(k.ID()), Version: held.Version, Held: held.SHA256, Served: hex.EncodeToString(served[:])})
	}
	// Accepted or refused, the same bytes need not come again; but a signature that does
	// not match may be the next version's, fetched as the directory replaced the
	// document: that document is fetched again.
	if !errors.Is(err, index.ErrBadSignature) {
		f.mu.Lock()
		f.etags[fp] = newTag
		f.mu.Unlock()
	}
	if errors.Is(err, index.ErrRevoked) {
		// A key that revoked itself just now stays revoked after a restart, whatever
		// the directory serves then.
		if serr := f.state.Save(filepath.Join(f.path, "state.json")); serr != nil {
			f.log.Error("relay: keeping the follow state; after a restart the relay would accept the revoked key", "err", serr)
		}
	}
	if err != nil {
		return err
	}
	if prev != nil && idx.Version == prev.Version {
		return nil
	}
	// The document before the state: after a crash between the two, the state's digest
	// names the older document and the next poll accepts the newer one again.
	if err := fsutil.WriteFile(f.docPath(k), doc, 0o644); err != nil {
		f.log.Error("relay: keeping an accepted index", "err", err)
	} else if err := f.state.Save(filepath.Join(f.path, "state.json")); err != nil {
		f.log.Error("relay: keeping the follow state; after a restart the relay would accept older indexes", "err", err)
	}
	f.mu.Lock()
	f.accepted[fp] = idx
	f.mu.Unlock()
	f.log.Info("relay: accepted the index of a followed key", "key", idx.Key, "version", idx.Version,
		"entries", len(idx.Entries), "expires", idx.Expires.Format(time.RFC3339))
	return nil
}

// get reads url's body, at most limit bytes (index.ErrTooLarge beyond, before anything
// parses it), unless its ETag is etag: then it returns no body and no error.
func (f *follower) get(ctx context.Context, url, etag string, limit int64) (body []byte, newTag string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && etag != "":
		return nil, etag, nil
	case resp.StatusCode == http.StatusNotFound:
		return nil, "", errNoIndex
	case resp.StatusCode != http.StatusOK:
		return nil, "", fmt.Errorf("get %s: %s", url, resp.Status)
	case resp.ContentLength > limit:
		return nil, "", fmt.Errorf("get %s: %w: %d bytes, more than %d", url, index.ErrTooLarge, resp.ContentLength, limit)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("get %s: %w", url, err)
	}
	if int64(len(body)) > limit {
		return nil, "", fmt.Errorf("get %s: %w: more than %d bytes", url, index.ErrTooLarge, limit)
	}
	return body, resp.Header.Get("ETag"), nil
}

// current is the index accepted from k, expired or not; nil if none.
func (f *follower) current(k minisign.PublicKey) *index.Index {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepted[sign.Fingerprint(k)]
}

// indexes are the indexes accepted from the keys followed now, expired or not (carry
// tells which are current): a retired key's no longer count.
func (f *follower) indexes() []*index.Index {
	var out []*index.Index
	for _, k := range f.state.Followed(f.keys...) {
		if idx := f.current(k); idx != nil {
			out = append(out, idx)
		}
	}
	return out
}

// FollowStatus counts the keys followed at each directory by the state of their index:
// current (accepted, unexpired), expired, or missing (none accepted). All zero when the
// relay follows no key.
func (r *Relay) FollowStatus() (current, expired, missing int) {
	for _, f := range r.follow {
		for _, k := range f.state.Followed(f.keys...) {
			switch idx := f.current(k); {
			case idx == nil:
				missing++
			case f.now().Before(idx.Expires):
				current++
			default:
				expired++
			}
		}
	}
	return current, expired, missing
}

// pollFollowed polls every directory's indexes at once, then has the plans applied
// again, so that what an index no longer vouches for is dropped without waiting for a
// plan.
func (r *Relay) pollFollowed(ctx context.Context) {
	var wg sync.WaitGroup
	for _, f := range r.follow {
		wg.Go(func() { f.poll(ctx) })
	}
	wg.Wait()
	select {
	case r.reconcile <- struct{}{}:
	default:
	}
}

// vouchers gathers what the followed keys' indexes vouch for, over every directory;
// nil when the relay follows no key.
func (r *Relay) vouchers() *vouchers {
	if len(r.follow) == 0 {
		return nil
	}
	var all []*index.Index
	for _, f := range r.follow {
		all = append(all, f.indexes()...)
	}
	return newVouchers(all, r.follow[0].now())
}

// vouchers is what indexes say about artifacts at one instant.
type vouchers struct {
	published map[string]index.Entry // by artifact id and infohash, in a current index
	listed    map[string]string      // by artifact id: who lists it with which infohash
	expunged  map[string]string      // by infohash: why, from a current index
	expired   map[string]string      // by artifact id and infohash: which index expired
}

// newVouchers reads indexes at now: an expired index vouches for nothing, and an
// expunge in any current index outweighs a listing in another.
func newVouchers(indexes []*index.Index, now time.Time) *vouchers {
	v := &vouchers{published: map[string]index.Entry{}, listed: map[string]string{}, expunged: map[string]string{}, expired: map[string]string{}}
	for _, idx := range indexes {
		current := now.Before(idx.Expires)
		for _, e := range idx.Entries {
			k := e.ID() + " " + e.InfoHash
			switch {
			case !current:
				if e.State == index.StatePublished {
					v.expired[k] = fmt.Sprintf("index of key %s expired at %s", idx.Key, idx.Expires.Format(time.RFC3339))
				}
			case e.State == index.StateExpunged:
				v.expunged[e.InfoHash] = fmt.Sprintf("expunged in the index of key %s: %s", idx.Key, e.Reason)
			default:
				v.published[k] = e
				v.listed[e.ID()] = fmt.Sprintf("the index of key %s lists infohash %s", idx.Key, e.InfoHash)
			}
		}
	}
	return v
}

// judge returns the entry that vouches for it, or why none does.
func (v *vouchers) judge(it relayapi.Item) (*index.Entry, string) {
	k := it.ID + " " + it.InfoHash
	if why, ok := v.expunged[it.InfoHash]; ok {
		return nil, why
	}
	if e, ok := v.published[k]; ok {
		return &e, ""
	}
	if why, ok := v.listed[it.ID]; ok {
		return nil, fmt.Sprintf("infohash %s differs: %s", it.InfoHash, why)
	}
	if why, ok := v.expired[k]; ok {
		return nil, why
	}
	return nil, "not listed in a current index of a followed key"
}

// verdict is an artifact refused, and why.
type verdict struct {
	item relayapi.Item
	why  string
}

// carry applies v to a plan: of the artifacts to fetch, those a current index lists as
// published with that infohash (fill), and the rest, with why (skip); of the holdings,
// those no current index so lists (drop). A nil v (not following) vouches for all.
func carry(v *vouchers, fetch, held []relayapi.Item) (fill []relayapi.Item, skip, drop []verdict) {
	if v == nil {
		return fetch, nil, nil
	}
	for _, it := range fetch {
		if _, why := v.judge(it); why != "" {
			skip = append(skip, verdict{it, why})
			continue
		}
		fill = append(fill, it)
	}
	for _, it := range held {
		if _, why := v.judge(it); why != "" {
			drop = append(drop, verdict{it, why})
		}
	}
	return fill, skip, drop
}

// entry is the index entry vouching for it; nil when not following.
func (v *vouchers) entry(it relayapi.Item) *index.Entry {
	if v == nil {
		return nil
	}
	e, _ := v.judge(it)
	return e
}

// reportEquivocation tells the directory (POST /api/v1/reports) of an index refused as an
// equivocation, for its operator; a failure is logged only: the refusal stands either way.
func (f *follower) reportEquivocation(ctx context.Context, e relayapi.Equivocation) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // the poll has more to do
	defer cancel()
	if err := f.postReport(ctx, relayapi.Reports{Equivocations: []relayapi.Equivocation{e}}); err != nil {
		f.log.Warn("relay: cannot report an index equivocation to the directory", "key", e.Key, "version", e.Version, "err", err)
	}
}

func (f *follower) postReport(ctx context.Context, rep relayapi.Reports) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.dir+"/api/v1/reports", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("the directory answered %s", resp.Status)
	}
	return nil
}
