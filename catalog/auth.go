package catalog

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"aead.dev/minisign"
	"golang.org/x/sync/semaphore"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/sign"
)

// mayPublish refuses a publish by p to catalog with ErrForbidden, saying why: its scope
// does not cover it, or the catalog comes from elsewhere (Config.Foreign).
func (c *Catalog) mayPublish(p *catalogapi.Publisher, catalog string) error {
	if from, ok := c.cfg.Foreign[catalog]; ok {
		return fmt.Errorf("%w: catalog %s is %s; its artifacts are published there", ErrForbidden, catalog, from)
	}
	if len(p.Catalogs) > 0 && !slices.Contains(p.Catalogs, catalog) {
		return fmt.Errorf("%w: publisher %s may not publish to catalog %s", ErrForbidden, p.Name, catalog)
	}
	return nil
}

// principal is who signed a request.
type principal struct {
	admin     bool
	publisher *catalogapi.Publisher // set for publishers
	relay     *relay                // set for known relays
	indexer   *indexer              // set for indexers uploading their index
	// key is the signing key, named by fingerprint (its identity) and keyID (shown).
	key         minisign.PublicKey
	fingerprint string
	keyID       string
	claims      sign.Claims
	uri         string
}

// smallBodyMax caps the bodies of admin requests and relay registrations: a few fields.
// Manifests (declare, commit) take up to manifest.MaxBytes, heartbeats heartbeatBodyMax.
const smallBodyMax = 64 << 10

// holdingJSONMax is what one holding takes in a heartbeat's JSON, with room to spare:
// {"infohash":"<40 hex digits>","bytes_complete":<19 digits>,"verified":false} is 89.
const holdingJSONMax = 160

// heartbeatBodyMax caps a heartbeat's body: MaxHoldings holdings and a few fields.
func (c RelaysConfig) heartbeatBodyMax() int64 {
	return smallBodyMax + int64(c.MaxHoldings)*holdingJSONMax
}

// bodyWait is how long a signed request waits for room for its body before it is
// answered 503: long enough to ride out a burst, short enough that holding the
// connection is worse than the client's retry.
const bodyWait = 2 * time.Second

// bodyMemory bounds the memory that signed bodies hold at once, across all requests.
type bodyMemory struct {
	sem  *semaphore.Weighted
	wait time.Duration
}

func newBodyMemory(size int64) *bodyMemory {
	return &bodyMemory{sem: semaphore.NewWeighted(size), wait: bodyWait}
}

// read reads r's body, at most maxBody bytes, once it has taken their memory: the
// Content-Length, or maxBody when the length is unknown. release gives it back.
func (m *bodyMemory) read(ctx context.Context, r *http.Request, maxBody int64) (body []byte, release func(), err error) {
	if r.ContentLength > maxBody {
		return nil, nil, fmt.Errorf("%w: a body of %d bytes; this request takes at most %d", ErrTooLarge, r.ContentLength, maxBody)
	}
	n := maxBody
	if r.ContentLength >= 0 {
		n = r.ContentLength
	}
	wait, cancel := context.WithTimeout(ctx, m.wait)
	defer cancel()
	if err := m.sem.Acquire(wait, n); err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("read body: %w", ctx.Err())
		}
		return nil, nil, busy(m.wait, "request bodies fill the memory this directory gives them (max_body_memory)")
	}
	release = func() { m.sem.Release(n) }
	if r.ContentLength >= 0 {
		body = make([]byte, n)
		_, err = io.ReadFull(r.Body, body)
	} else if body, err = io.ReadAll(io.LimitReader(r.Body, n+1)); err == nil && int64(len(body)) > n {
		err = fmt.Errorf("%w: a body of more than %d bytes; this request takes at most %d", ErrTooLarge, n, n)
	}
	if err != nil {
		release()
		if !errors.Is(err, ErrTooLarge) {
			err = fmt.Errorf("%w: read body: %w", ErrInvalid, err)
		}
		return nil, nil, err
	}
	return body, release, nil
}

// resolver finds who holds the key a request names (p.key) and fills it in on p. An
// unknown key is err, given before the signature is checked (public keys are no secret)
// and before any byte of the body is read. A non-nil deny is the refusal to give once
// the signature has verified (for example a revoked key), so that a forger learns
// nothing.
type resolver func(ctx context.Context, p *principal) (deny, err error)

// readSigned checks a signed request and hands fn its signer and body. Everything that
// needs no body is checked before it is read, cheapest first: the headers' form, the
// date, the key (an unknown one is refused at once), the signature (for this directory's
// origin, over the digest the headers claim), the nonce. Then the body: its size against
// maxBody (Content-Length first), room for it in MaxBodyMemory, and its digest. fn runs
// while the body's memory is held.
func (c *Catalog) readSigned(r *http.Request, maxBody int64, resolve resolver, fn func(p *principal, body []byte) error) error {
	claims, err := sign.ParseRequest(r.Header)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	now := c.now()
	if err := claims.Fresh(now, c.cfg.MaxClockSkew); err != nil {
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	ctx := r.Context()
	p := &principal{key: claims.PublicKey, fingerprint: sign.Fingerprint(claims.PublicKey), keyID: sign.KeyID(claims.KeyID),
		claims: claims, uri: r.URL.RequestURI()}
	deny, err := resolve(ctx, p)
	if err != nil {
		return err
	}
	if err := claims.Verify(p.key, c.origin, r.Method, p.uri); err != nil {
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	if deny != nil {
		return deny
	}
	if err := c.db.spendNonce(ctx, p.fingerprint, claims.Nonce, now, now.Add(c.cfg.MaxClockSkew*2)); err != nil {
		return err
	}
	body, release, err := c.bodies.read(ctx, r, maxBody)
	if err != nil {
		return err
	}
	defer release()
	if err := claims.CheckContent(sha256.Sum256(body)); err != nil {
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	return fn(p, body)
}

// adminOrPublisher resolves admin keys (from the config) and publisher keys.
func (c *Catalog) adminOrPublisher(ctx context.Context, p *principal) (deny, err error) {
	if _, ok := c.admins[p.fingerprint]; ok {
		p.admin = true
		return nil, nil
	}
	pub, err := c.publisher(ctx, p.key)
	if err != nil {
		return nil, err
	}
	p.publisher = pub
	if pub.Revoked {
		return fmt.Errorf("%w: publisher %s is revoked", ErrForbidden, pub.Name), nil
	}
	return nil, nil
}

// publisher finds a publisher by its whole public key, static ones first.
func (c *Catalog) publisher(ctx context.Context, key minisign.PublicKey) (*catalogapi.Publisher, error) {
	text := key.String()
	for i := range c.static {
		if c.static[i].PublicKey == text {
			return &c.static[i], nil
		}
	}
	p, err := c.db.publisherByKey(ctx, text)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: key %s (%s) is not a known publisher or admin", ErrUnauthorized, sign.KeyID(key.ID()), sign.Fingerprint(key))
	}
	return p, err
}

// publisherRef is one entry of Config.Publishers, parsed.
type publisherRef struct {
	name     string
	catalogs []string // nil: any
	key      string   // a .pub file or a key line
}

// parsePublisherRef reads "[NAME[:SCOPE]=]KEY". A config key is scoped like any other:
// without SCOPE it publishes to the catalog NAME only, so "debian=KEY" cannot publish
// into ubuntu; SCOPE lists catalogs ("ubuntu,kubuntu"), or is "*" for any. Without
// NAME, the name is the .pub file's (a key line needs a NAME).
func parsePublisherRef(ref string) (publisherRef, error) {
	label, key, err := splitKeyRef(ref, "[NAME[:SCOPE]=]KEY")
	if err != nil {
		return publisherRef{}, err
	}
	name, scope, scoped := strings.Cut(label, ":")
	if err := names.CheckSegment("publisher name", name); err != nil {
		return publisherRef{}, fmt.Errorf("%q: %w", ref, err)
	}
	out := publisherRef{name: name, key: key, catalogs: []string{name}}
	switch {
	case !scoped:
	case scope == "*":
		out.catalogs = nil
	default:
		out.catalogs = strings.Split(scope, ",")
		for _, cat := range out.catalogs {
			if err := names.CheckSegment("catalog", cat); err != nil {
				return publisherRef{}, fmt.Errorf("%q: scope: %w", ref, err)
			}
		}
	}
	return out, nil
}

// splitKeyRef reads a config entry "[LABEL=]KEY" of the given form, where KEY is a .pub
// file or a key's base64 line. Without LABEL, the label is the file's name without
// ".pub"; a key line needs one.
func splitKeyRef(ref, form string) (label, key string, err error) {
	label, key, named := strings.Cut(ref, "=")
	if !named {
		key = ref
		if sign.IsPublicKeyText(key) {
			return "", "", fmt.Errorf("%q: a key given as its base64 line needs a NAME= (%s)", ref, form)
		}
		label = strings.TrimSuffix(filepath.Base(key), ".pub")
	}
	if key == "" {
		return "", "", fmt.Errorf("%q is not %s", ref, form)
	}
	return label, key, nil
}

// parseIndexerRef reads an entry of Config.Indexers, "[NAME=]KEY".
func parseIndexerRef(ref string) (name, key string, err error) {
	name, key, err = splitKeyRef(ref, "[NAME=]KEY")
	if err != nil {
		return "", "", err
	}
	if err := checkIndexerName(name); err != nil {
		return "", "", fmt.Errorf("%q: %w", ref, err)
	}
	return name, key, nil
}

// loadKeys reads the configured admin keys (by fingerprint) and publisher keys.
func loadKeys(cfg Config) (map[string]minisign.PublicKey, []catalogapi.Publisher, error) {
	admins := map[string]minisign.PublicKey{}
	for _, ref := range cfg.AdminKeys {
		k, err := sign.ParsePublicKey(ref)
		if err != nil {
			return nil, nil, fmt.Errorf("admin_keys: %w", err)
		}
		admins[sign.Fingerprint(k)] = k
	}
	var pubs []catalogapi.Publisher
	for _, ref := range cfg.Publishers {
		pr, err := parsePublisherRef(ref)
		if err != nil {
			return nil, nil, fmt.Errorf("publishers: %w", err)
		}
		k, err := sign.ParsePublicKey(pr.key)
		if err != nil {
			return nil, nil, fmt.Errorf("publishers: %w", err)
		}
		if _, isAdmin := admins[sign.Fingerprint(k)]; isAdmin {
			return nil, nil, fmt.Errorf("publishers: key %s is also an admin key; use separate keys", sign.KeyID(k.ID()))
		}
		for _, p := range pubs {
			if p.Name == pr.name || p.PublicKey == k.String() {
				return nil, nil, fmt.Errorf("publishers: %s and %s: one name or key twice", p.Name, pr.name)
			}
		}
		pubs = append(pubs, catalogapi.Publisher{Name: pr.name, KeyID: sign.KeyID(k.ID()), PublicKey: k.String(), Catalogs: pr.catalogs, Static: true})
	}
	return admins, pubs, nil
}

// spendNonce records a nonce, refusing one already seen for the key (by fingerprint).
// Expired nonces are purged in the same transaction, so the table holds one skew window
// of requests.
func (s *store) spendNonce(ctx context.Context, key, nonce string, now, expires time.Time) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM nonces WHERE expires_at < ?`, now.Unix()); err != nil {
			return fmt.Errorf("purge nonces: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO nonces (key_id, nonce, expires_at) VALUES (?, ?, ?)`, key, nonce, expires.Unix())
		if isUnique(err) {
			return fmt.Errorf("%w: replayed request (nonce already used)", ErrUnauthorized)
		}
		if err != nil {
			return fmt.Errorf("record nonce: %w", err)
		}
		return nil
	})
}

const publisherColumns = `name, key_id, public_key, catalogs, added_at, revoked_at`

func scanPublisher(row interface{ Scan(...any) error }) (*catalogapi.Publisher, error) {
	var (
		p        catalogapi.Publisher
		catalogs string
		added    int64
		revoked  sql.NullInt64
	)
	if err := row.Scan(&p.Name, &p.KeyID, &p.PublicKey, &catalogs, &added, &revoked); err != nil {
		return nil, err
	}
	p.Catalogs = strings.Fields(catalogs)
	p.AddedAt = time.Unix(added, 0).UTC()
	p.Revoked = revoked.Valid
	return &p, nil
}

func (s *store) publisherByKey(ctx context.Context, publicKey string) (*catalogapi.Publisher, error) {
	p, err := scanPublisher(s.r.QueryRowContext(ctx, `SELECT `+publisherColumns+` FROM publishers WHERE public_key = ?`, publicKey))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find publisher: %w", err)
	}
	return p, nil
}

func (s *store) publishers(ctx context.Context) ([]catalogapi.Publisher, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+publisherColumns+` FROM publishers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list publishers: %w", err)
	}
	defer rows.Close()
	var out []catalogapi.Publisher
	for rows.Next() {
		p, err := scanPublisher(rows)
		if err != nil {
			return nil, fmt.Errorf("list publishers: %w", err)
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

func (s *store) addPublisher(ctx context.Context, p catalogapi.Publisher) error {
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO publishers (name, key_id, public_key, catalogs, added_at) VALUES (?, ?, ?, ?, ?)`,
			p.Name, p.KeyID, p.PublicKey, strings.Join(p.Catalogs, " "), p.AddedAt.Unix())
		return err
	})
	if isUnique(err) {
		return fmt.Errorf("add publisher %s: name or key %w", p.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add publisher %s: %w", p.Name, err)
	}
	return nil
}

func (s *store) revokePublisher(ctx context.Context, name string, at time.Time) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE publishers SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL`, at.Unix(), name)
		if err != nil {
			return fmt.Errorf("revoke publisher %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("revoke publisher %s: %w (or already revoked)", name, ErrNotFound)
		}
		return nil
	})
}
