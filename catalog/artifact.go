package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/version"
)

// Artifact is one published (or expunged) artifact. It is immutable: changes make a new
// value, so the view can hand out pointers freely.
type Artifact struct {
	manifest.Manifest
	InfoHash    metainfo.Hash
	PieceLength int64
	Size        int64
	Info        []byte // bencoded info dict
	Publisher   string
	Signed      SignedManifest
	State       catalogapi.State
	PublishedAt time.Time
	ExpungedAt  time.Time
	Reason      string // why it was expunged

	byPath map[string]int // file index by path, for packages
}

// SignedManifest is the publisher's signature over the manifest, kept so anyone with the
// publisher's public key can check it again (see internal/sign for the message). For an
// artifact pulled from an origin (PublishLocal, catalog/originpull) it is the project's
// signed listing instead: Manifest the SHA256SUMS bytes, Signature their minisig (a
// plain minisign signature of those bytes, trusted comment included), KeyID the
// project's key, URI the listing's URL, Date when it was pulled, no Nonce.
type SignedManifest struct {
	Manifest  []byte // the exact JSON that was signed
	KeyID     string
	Date      string
	Nonce     string
	URI       string
	Signature []byte // minisign signature text
}

// File returns the index of the file at path ("" for a single-file artifact).
func (a *Artifact) File(path string) (int, bool) {
	if a.SingleFile() {
		return 0, path == ""
	}
	i, ok := a.byPath[path]
	return i, ok
}

func (a *Artifact) index() {
	if a.SingleFile() {
		return
	}
	a.byPath = make(map[string]int, len(a.Files))
	for i, f := range a.Files {
		a.byPath[f.Path] = i
	}
}

// view is an immutable snapshot of every artifact, tombstones included.
type view struct {
	generation uint64 // one more than the view it replaced
	byID       map[string]*Artifact
	byHash     map[metainfo.Hash]*Artifact
	sorted     []*Artifact          // by catalog, name, version
	latest     map[string]*Artifact // highest published version by "catalog/name" (version.Newer)
	bySHA256   map[string][]FileRef // every file by its hex sha256, in identity order (blob.go)
}

func newView(arts []*Artifact) *view {
	v := &view{
		byID:   make(map[string]*Artifact, len(arts)),
		byHash: make(map[metainfo.Hash]*Artifact, len(arts)),
		sorted: arts,
		latest: map[string]*Artifact{},
	}
	sort.Slice(arts, func(i, j int) bool { return arts[i].ID() < arts[j].ID() })
	v.bySHA256 = indexBySHA256(arts)
	for _, a := range arts {
		v.byID[a.ID()] = a
		v.byHash[a.InfoHash] = a
		if a.State != catalogapi.Published {
			continue
		}
		key := a.Catalog + "/" + a.Name
		if l := v.latest[key]; l == nil || version.Newer(a.Version, a.PublishedAt, l.Version, l.PublishedAt) {
			v.latest[key] = a
		}
	}
	return v
}

// with returns a copy of v where a replaces the artifact of the same identity.
func (v *view) with(a *Artifact) *view {
	arts := make([]*Artifact, 0, len(v.sorted)+1)
	for _, old := range v.sorted {
		if old.ID() != a.ID() {
			arts = append(arts, old)
		}
	}
	nv := newView(append(arts, a))
	nv.generation = v.generation + 1
	return nv
}

// loadArtifacts reads every artifact with its files.
func (s *store) loadArtifacts(ctx context.Context) ([]*Artifact, error) {
	rows, err := s.r.QueryContext(ctx, `
		SELECT id, catalog, name, version, infohash, root, piece_length, size, info, manifest,
		       publisher, key_id, signed_date, signed_nonce, signed_uri, signature, state,
		       published_at, expunged_at, expunge_reason
		FROM artifacts`)
	if err != nil {
		return nil, fmt.Errorf("load artifacts: %w", err)
	}
	defer rows.Close()
	byRow := map[int64]*Artifact{}
	var arts []*Artifact
	for rows.Next() {
		var (
			a             Artifact
			id, published int64
			ih            string
			expunged      sql.NullInt64
			reason        sql.NullString
		)
		err := rows.Scan(&id, &a.Catalog, &a.Name, &a.Version, &ih, &a.Root, &a.PieceLength, &a.Size,
			&a.Info, &a.Signed.Manifest, &a.Publisher, &a.Signed.KeyID, &a.Signed.Date, &a.Signed.Nonce,
			&a.Signed.URI, &a.Signed.Signature, &a.State, &published, &expunged, &reason)
		if err != nil {
			return nil, fmt.Errorf("load artifacts: %w", err)
		}
		if err := a.InfoHash.FromHexString(ih); err != nil {
			return nil, fmt.Errorf("load artifacts: %s: %w", a.ID(), err)
		}
		a.PublishedAt = time.Unix(published, 0).UTC()
		if expunged.Valid {
			a.ExpungedAt = time.Unix(expunged.Int64, 0).UTC()
		}
		a.Reason = reason.String
		byRow[id] = &a
		arts = append(arts, &a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load artifacts: %w", err)
	}
	frows, err := s.r.QueryContext(ctx, `SELECT artifact_id, path, size, sha256 FROM files ORDER BY artifact_id, idx`)
	if err != nil {
		return nil, fmt.Errorf("load files: %w", err)
	}
	defer frows.Close()
	for frows.Next() {
		var (
			id int64
			f  manifest.File
		)
		if err := frows.Scan(&id, &f.Path, &f.Size, &f.SHA256); err != nil {
			return nil, fmt.Errorf("load files: %w", err)
		}
		if a := byRow[id]; a != nil {
			a.Files = append(a.Files, f)
		}
	}
	if err := frows.Err(); err != nil {
		return nil, fmt.Errorf("load files: %w", err)
	}
	for _, a := range arts {
		a.index()
	}
	return arts, nil
}

// insertArtifact stores a new artifact and its files, creating its catalog if needed.
func (s *store) insertArtifact(ctx context.Context, a *Artifact) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO catalogs (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			a.Catalog, a.PublishedAt.Unix()); err != nil {
			return fmt.Errorf("insert catalog: %w", err)
		}
		res, err := tx.ExecContext(ctx, `
			INSERT INTO artifacts (catalog, name, version, infohash, root, piece_length, size, info,
				manifest, publisher, key_id, signed_date, signed_nonce, signed_uri, signature, state, published_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.Catalog, a.Name, a.Version, a.InfoHash.HexString(), a.Root, a.PieceLength, a.Size, a.Info,
			a.Signed.Manifest, a.Publisher, a.Signed.KeyID, a.Signed.Date, a.Signed.Nonce, a.Signed.URI,
			a.Signed.Signature, a.State, a.PublishedAt.Unix())
		if err != nil {
			if isUnique(err) {
				if strings.Contains(err.Error(), "infohash") {
					return fmt.Errorf("insert %s: %w", a.ID(), ErrDuplicateContent)
				}
				return fmt.Errorf("insert %s: %w", a.ID(), ErrExists)
			}
			return fmt.Errorf("insert %s: %w", a.ID(), err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("insert %s: %w", a.ID(), err)
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO files (artifact_id, idx, path, size, sha256) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("insert files: %w", err)
		}
		defer stmt.Close()
		for i, f := range a.Files {
			if _, err := stmt.ExecContext(ctx, id, i, f.Path, f.Size, f.SHA256); err != nil {
				return fmt.Errorf("insert files: %w", err)
			}
		}
		return nil
	})
}

// markExpunged turns a published artifact into a tombstone.
func (s *store) markExpunged(ctx context.Context, id string, at time.Time, reason string) error {
	c, n, v, _ := splitID(id)
	return s.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE artifacts SET state = 'expunged', expunged_at = ?, expunge_reason = ?
			WHERE catalog = ? AND name = ? AND version = ? AND state = 'published'`,
			at.Unix(), reason, c, n, v)
		if err != nil {
			return fmt.Errorf("expunge %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("expunge %s: %w", id, ErrNotFound)
		}
		return nil
	})
}

// splitID splits "<catalog>/<name>/<version>".
func splitID(id string) (catalog, name, version string, ok bool) {
	parts := strings.Split(id, "/")
	if len(parts) != 3 {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}
