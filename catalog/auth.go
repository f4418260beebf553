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

	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/sign"
)

// Publisher is a key allowed to publish.
type Publisher struct {
	Name      string    `json:"name"`
	KeyID     string    `json:"key_id"`
	PublicKey string    `json:"public_key"`
	Catalogs  []string  `json:"catalogs,omitempty"` // empty: any catalog
	AddedAt   time.Time `json:"added_at"`
	Revoked   bool      `json:"revoked"`
	Static    bool      `json:"static"` // from the directory's configuration
}

// mayPublishTo reports whether the publisher's scope covers catalog.
func (p *Publisher) mayPublishTo(catalog string) bool {
	return len(p.Catalogs) == 0 || slices.Contains(p.Catalogs, catalog)
}

// principal is who signed a request.
type principal struct {
	admin     bool
	publisher *Publisher // set for publishers
	relay     *Relay     // set for relays
	keyID     string
	claims    sign.Claims
	uri       string
}

// maxSignedBody bounds the body of signed requests held in memory (manifests included).
const maxSignedBody = 32 << 20

// resolver finds the public key a request claims to be signed by, and fills in who the
// signer is. A non-nil deny is the refusal to give once the signature has verified (for
// example a revoked key), so that a forger learns nothing.
type resolver func(ctx context.Context, p *principal, body []byte) (key minisign.PublicKey, deny error, err error)

// readSigned reads a signed request's body (bounded), checks its digest, signature, date
// and nonce, and returns the signer and the body.
func (c *Catalog) readSigned(r *http.Request, resolve resolver) (*principal, []byte, error) {
	claims, err := sign.ParseRequest(r.Header)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSignedBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: read body: %w", ErrInvalid, err)
	}
	if len(body) > maxSignedBody {
		return nil, nil, fmt.Errorf("%w: body larger than %d bytes", ErrTooLarge, maxSignedBody)
	}
	if err := claims.CheckContent(sha256.Sum256(body)); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	ctx := r.Context()
	p := &principal{keyID: sign.KeyID(claims.KeyID), claims: claims, uri: r.URL.RequestURI()}
	key, deny, err := resolve(ctx, p, body)
	if err != nil {
		return nil, nil, err
	}
	now := c.now()
	if err := claims.Verify(key, r.Method, p.uri, now, c.cfg.MaxClockSkew); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	if deny != nil {
		return nil, nil, deny
	}
	if err := c.db.spendNonce(ctx, p.keyID, claims.Nonce, now, now.Add(c.cfg.MaxClockSkew*2)); err != nil {
		return nil, nil, err
	}
	return p, body, nil
}

// adminOrPublisher resolves admin keys (from the config) and publisher keys.
func (c *Catalog) adminOrPublisher(ctx context.Context, p *principal, _ []byte) (minisign.PublicKey, error, error) {
	if k, ok := c.admins[p.claims.KeyID]; ok {
		p.admin = true
		return k, nil, nil
	}
	pub, err := c.publisher(ctx, p.keyID)
	if err != nil {
		return minisign.PublicKey{}, nil, err
	}
	var key minisign.PublicKey
	if err := key.UnmarshalText([]byte(pub.PublicKey)); err != nil {
		return key, nil, fmt.Errorf("publisher %s: stored key: %w", pub.Name, err)
	}
	p.publisher = pub
	if pub.Revoked {
		return key, fmt.Errorf("%w: publisher %s is revoked", ErrForbidden, pub.Name), nil
	}
	return key, nil, nil
}

// publisher finds a publisher by key id, static ones first.
func (c *Catalog) publisher(ctx context.Context, keyID string) (*Publisher, error) {
	for i := range c.static {
		if c.static[i].KeyID == keyID {
			return &c.static[i], nil
		}
	}
	p, err := c.db.publisherByKeyID(ctx, keyID)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: key %s is not a known publisher or admin", ErrUnauthorized, keyID)
	}
	return p, err
}

// loadKeys reads the configured admin and publisher keys.
func loadKeys(cfg Config) (map[uint64]minisign.PublicKey, []Publisher, error) {
	admins := map[uint64]minisign.PublicKey{}
	for _, ref := range cfg.AdminKeys {
		k, err := sign.ParsePublicKey(ref)
		if err != nil {
			return nil, nil, fmt.Errorf("admin_keys: %w", err)
		}
		admins[k.ID()] = k
	}
	var pubs []Publisher
	for _, ref := range cfg.Publishers {
		name, keyRef, named := strings.Cut(ref, "=")
		if !named {
			keyRef = ref
			name = strings.TrimSuffix(filepath.Base(ref), ".pub")
		}
		k, err := sign.ParsePublicKey(keyRef)
		if err != nil {
			return nil, nil, fmt.Errorf("publishers: %w", err)
		}
		if !named && strings.HasPrefix(keyRef, "RW") {
			name = sign.KeyID(k.ID())
		}
		if err := names.CheckSegment("publisher name", name); err != nil {
			return nil, nil, fmt.Errorf("publishers: %w", err)
		}
		if _, isAdmin := admins[k.ID()]; isAdmin {
			return nil, nil, fmt.Errorf("publishers: key %s is also an admin key; use separate keys", sign.KeyID(k.ID()))
		}
		pubs = append(pubs, Publisher{Name: name, KeyID: sign.KeyID(k.ID()), PublicKey: k.String(), Static: true})
	}
	return admins, pubs, nil
}

// spendNonce records a nonce, refusing one already seen for the key. Expired nonces are
// purged in the same transaction, so the table holds one skew window of requests.
func (s *store) spendNonce(ctx context.Context, keyID, nonce string, now, expires time.Time) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM nonces WHERE expires_at < ?`, now.Unix()); err != nil {
			return fmt.Errorf("purge nonces: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO nonces (key_id, nonce, expires_at) VALUES (?, ?, ?)`, keyID, nonce, expires.Unix())
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

func scanPublisher(row interface{ Scan(...any) error }) (*Publisher, error) {
	var (
		p        Publisher
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

func (s *store) publisherByKeyID(ctx context.Context, keyID string) (*Publisher, error) {
	p, err := scanPublisher(s.r.QueryRowContext(ctx, `SELECT `+publisherColumns+` FROM publishers WHERE key_id = ?`, keyID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find publisher: %w", err)
	}
	return p, nil
}

func (s *store) publishers(ctx context.Context) ([]Publisher, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+publisherColumns+` FROM publishers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list publishers: %w", err)
	}
	defer rows.Close()
	var out []Publisher
	for rows.Next() {
		p, err := scanPublisher(rows)
		if err != nil {
			return nil, fmt.Errorf("list publishers: %w", err)
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

func (s *store) addPublisher(ctx context.Context, p Publisher) error {
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
