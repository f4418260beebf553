package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"aead.dev/minisign"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/fsutil"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/sign"
)

// Catalog is a directory's catalog: its database, its origin copies and its view.
type Catalog struct {
	cfg    Config
	log    *slog.Logger
	db     *store
	now    func() time.Time
	admins map[string]minisign.PublicKey // by fingerprint
	static []catalogapi.Publisher
	// indexers are the configured indexer keys, the directory's own last (indexes.go).
	indexers []indexer
	indexes  *hosting
	// origin is this directory's identity in signatures: its public URL's scheme and host
	// (sign.Origin). Requests signed for another origin are refused.
	origin string
	// bodies bounds the memory signed request bodies hold at once (MaxBodyMemory).
	bodies *bodyMemory

	// view is replaced whole under mu; readers load it without locking.
	view atomic.Pointer[view]
	// mu serializes changes to artifacts (commit, expunge), so that the checks a change
	// makes against the view still hold when it lands.
	mu sync.Mutex

	uploads *uploads
	space   *diskSpace
	relays  *relays
	metrics *relayMetrics
	// pubMetrics counts publishes and placement plans (metrics.go).
	pubMetrics *publishMetrics
	// bg runs the relay checks; Run and Close stop it and wait for them.
	bg    *background
	plans plans
	deps  Deps
	// tokenKey keys the origin tokens of relays (origintoken.go).
	tokenKey []byte

	originDir, stagingDir, trashDir string
}

// New opens (or creates) the catalog under cfg.DataDir, migrates its database, and
// removes what an interrupted publish or expunge left behind.
func New(ctx context.Context, cfg Config, deps Deps, log *slog.Logger) (*Catalog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("catalog config: %w", err)
	}
	admins, static, err := loadKeys(cfg)
	if err != nil {
		return nil, fmt.Errorf("catalog config: %w", err)
	}
	indexers, ownKey, err := loadIndexers(cfg)
	if err != nil {
		return nil, fmt.Errorf("catalog config: %w", err)
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("catalog config: public_url: %w", err)
	}
	origin, err := sign.Origin(u)
	if err != nil {
		return nil, fmt.Errorf("catalog config: public_url: %w", err)
	}
	c := &Catalog{
		cfg:        cfg,
		deps:       deps,
		log:        log,
		now:        time.Now,
		admins:     admins,
		static:     static,
		origin:     origin,
		bodies:     newBodyMemory(int64(cfg.MaxBodyMemory)),
		originDir:  filepath.Join(cfg.DataDir, "origin"),
		stagingDir: filepath.Join(cfg.DataDir, "staging"),
		trashDir:   filepath.Join(cfg.DataDir, "trash"),
		tokenKey:   newTokenKey(),
	}
	c.uploads = newUploads()
	c.space = newDiskSpace(c.stagingDir, int64(cfg.MinFreeSpace))
	c.relays = newRelays(cfg.Relays)
	c.metrics = newRelayMetrics(deps.Metrics)
	c.pubMetrics = newPublishMetrics(deps.Metrics)
	if deps.Metrics != nil {
		deps.Metrics.MustRegister(relayGauges{c})
	}
	c.bg = newBackground()
	for _, d := range []string{cfg.DataDir, c.originDir, c.stagingDir, c.trashDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open catalog: %w", err)
		}
	}
	if c.db, err = openStore(ctx, filepath.Join(cfg.DataDir, "catalog.db"), c.space); err != nil {
		return nil, err
	}
	arts, err := c.db.loadArtifacts(ctx)
	if err != nil {
		c.db.close()
		return nil, err
	}
	c.view.Store(newView(arts))
	if c.relays.byID, err = c.db.loadRelays(ctx, c.log); err != nil {
		c.db.close()
		return nil, err
	}
	if err := c.cleanup(); err != nil {
		c.db.close()
		return nil, err
	}
	if err := c.openIndexes(ctx, indexers, ownKey); err != nil {
		c.db.close()
		return nil, err
	}
	return c, nil
}

// Close stops the relay checks and closes the database. Uploads in progress are
// abandoned; the next start removes them.
func (c *Catalog) Close() error {
	c.bg.stop()
	return c.db.close()
}

// Ping checks that the database answers and the data dir is writable, for readiness.
func (c *Catalog) Ping(ctx context.Context) error {
	if err := c.db.r.PingContext(ctx); err != nil {
		return fmt.Errorf("catalog database: %w", err)
	}
	f, err := os.CreateTemp(c.stagingDir, ".ready-*")
	if err != nil {
		return fmt.Errorf("catalog data dir not writable: %w", err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// cleanup removes staging and trash leftovers and origin copies with no published row:
// what a crash during a publish (before its row landed) or an expunge (after) left.
func (c *Catalog) cleanup() error {
	v := c.view.Load()
	var removed int
	for _, dir := range []string{c.stagingDir, c.trashDir} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("clean %s: %w", dir, err)
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("clean %s: %w", dir, err)
			}
			removed++
		}
	}
	entries, err := os.ReadDir(c.originDir)
	if err != nil {
		return fmt.Errorf("clean origin: %w", err)
	}
	for _, e := range entries {
		var ih metainfo.Hash
		if ih.FromHexString(e.Name()) == nil {
			if a := v.byHash[ih]; a != nil && a.State == catalogapi.Published {
				continue
			}
		}
		c.log.Warn("removing origin copy without a published artifact", "dir", e.Name())
		if err := os.RemoveAll(filepath.Join(c.originDir, e.Name())); err != nil {
			return fmt.Errorf("clean origin: %w", err)
		}
		removed++
	}
	if removed > 0 {
		c.log.Info("removed leftovers of interrupted publishes and expunges", "count", removed)
		return fsutil.SyncDir(c.originDir)
	}
	return nil
}

// Generation changes whenever an artifact is published or expunged: what Artifact and
// Latest answered holds while it stays the same, so callers may keep what they derived
// from an artifact that long.
func (c *Catalog) Generation() uint64 { return c.view.Load().generation }

// Artifact returns the artifact "<catalog>/<name>/<version>", tombstones included.
func (c *Catalog) Artifact(catalog, name, version string) (*Artifact, error) {
	a := c.view.Load().byID[catalog+"/"+name+"/"+version]
	if a == nil {
		return nil, fmt.Errorf("artifact %s/%s/%s: %w", catalog, name, version, ErrNotFound)
	}
	return a, nil
}

// ByInfoHash returns the artifact with infohash ih, tombstones included.
func (c *Catalog) ByInfoHash(ih metainfo.Hash) (*Artifact, error) {
	a := c.view.Load().byHash[ih]
	if a == nil {
		return nil, fmt.Errorf("infohash %s: %w", ih.HexString(), ErrNotFound)
	}
	return a, nil
}

// Artifacts lists artifacts sorted by identity; empty filters match all.
func (c *Catalog) Artifacts(catalog, name string) []*Artifact {
	var out []*Artifact
	for _, a := range c.view.Load().sorted {
		if (catalog == "" || a.Catalog == catalog) && (name == "" || a.Name == name) {
			out = append(out, a)
		}
	}
	return out
}

// OriginFile is an open file of an artifact's origin copy.
type OriginFile struct {
	*os.File
	Artifact *Artifact
	Index    int // in Artifact.Files
}

// OpenOrigin opens the file at path (the artifact's root, then the path inside a
// package) of the artifact with infohash ih. It returns ErrNotFound for an unknown
// infohash or path and ErrExpunged for a tombstone.
func (c *Catalog) OpenOrigin(ih metainfo.Hash, path string) (*OriginFile, error) {
	a, err := c.ByInfoHash(ih)
	if err != nil {
		return nil, err
	}
	if a.State != catalogapi.Published {
		return nil, fmt.Errorf("%s: %w: %s", a.ID(), ErrExpunged, a.Reason)
	}
	rel, ok := strings.CutPrefix(path, a.Root)
	if ok && rel != "" {
		rel, ok = strings.CutPrefix(rel, "/")
	}
	i, found := a.File(rel)
	if !ok || !found {
		return nil, fmt.Errorf("%s has no file %q: %w", a.ID(), path, ErrNotFound)
	}
	root, err := os.OpenRoot(filepath.Join(c.originDir, a.InfoHash.HexString()))
	if err != nil {
		return nil, fmt.Errorf("open origin of %s: %w", a.ID(), err)
	}
	defer root.Close()
	f, err := root.Open(a.LocalPath(i))
	if err != nil {
		return nil, fmt.Errorf("open origin of %s: %w", a.ID(), err)
	}
	return &OriginFile{File: f, Artifact: a, Index: i}, nil
}

// Publishers lists the publishers, static ones first.
func (c *Catalog) Publishers(ctx context.Context) ([]catalogapi.Publisher, error) {
	stored, err := c.db.publishers(ctx)
	if err != nil {
		return nil, err
	}
	return append(append([]catalogapi.Publisher(nil), c.static...), stored...), nil
}

// AddPublisher admits a publisher key, optionally limited to some catalogs.
func (c *Catalog) AddPublisher(ctx context.Context, name, publicKey string, catalogs []string) (*catalogapi.Publisher, error) {
	if err := names.CheckSegment("publisher name", name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var key minisign.PublicKey
	if err := key.UnmarshalText([]byte(publicKey)); err != nil {
		return nil, fmt.Errorf("%w: public key: %w", ErrInvalid, err)
	}
	for _, cat := range catalogs {
		if err := names.CheckSegment("catalog", cat); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	keyID := sign.KeyID(key.ID())
	if _, ok := c.admins[sign.Fingerprint(key)]; ok {
		return nil, fmt.Errorf("%w: key %s is an admin key; use a separate publisher key", ErrInvalid, keyID)
	}
	for _, s := range c.static {
		if s.PublicKey == key.String() || s.Name == name {
			return nil, fmt.Errorf("publisher %s (key %s) is in the directory's config: %w", s.Name, s.KeyID, ErrExists)
		}
	}
	p := catalogapi.Publisher{Name: name, KeyID: keyID, PublicKey: key.String(), Catalogs: catalogs, AddedAt: c.now().UTC().Truncate(time.Second)}
	if err := c.db.addPublisher(ctx, p); err != nil {
		return nil, err
	}
	c.log.Info("publisher added", "name", name, "key_id", keyID, "catalogs", catalogs)
	return &p, nil
}

// RevokePublisher stops a publisher's key from publishing, and aborts its uploads in
// progress at once, freeing their slots. Its artifacts stay.
func (c *Catalog) RevokePublisher(ctx context.Context, name string) error {
	for _, s := range c.static {
		if s.Name == name {
			return fmt.Errorf("%w: publisher %s comes from the directory's config; remove it there and restart", ErrInvalid, name)
		}
	}
	if err := c.db.revokePublisher(ctx, name, c.now()); err != nil {
		return err
	}
	n := c.cancelUploads(func(up *upload) bool { return up.publisher.Name == name },
		fmt.Errorf("%w: publisher %s was revoked", ErrForbidden, name))
	c.log.Info("publisher revoked", "name", name, "uploads_aborted", n)
	return nil
}

// Expunge turns a published artifact into a tombstone and deletes its origin bytes. It is
// final: the name, version and content are never served or published again.
func (c *Catalog) Expunge(ctx context.Context, id, reason string) (*Artifact, error) {
	if reason == "" {
		return nil, fmt.Errorf("%w: expunge needs a reason", ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.view.Load()
	old := v.byID[id]
	switch {
	case old == nil:
		return nil, fmt.Errorf("artifact %s: %w", id, ErrNotFound)
	case old.State == catalogapi.Expunged:
		return nil, fmt.Errorf("artifact %s: already %w", id, ErrExpunged)
	}
	at := c.now().UTC().Truncate(time.Second)
	if err := c.db.markExpunged(ctx, id, at, reason); err != nil {
		return nil, err
	}
	a := *old
	a.State, a.ExpungedAt, a.Reason = catalogapi.Expunged, at, reason
	c.view.Store(v.with(&a))
	c.resignOwnIndex()
	c.log.Info("artifact expunged", "artifact", id, "infohash", a.InfoHash.HexString(), "reason", reason)

	// The row is the truth; the bytes go after it. A crash in between leaves an origin
	// copy without a published row, which the next start removes.
	origin := filepath.Join(c.originDir, a.InfoHash.HexString())
	trash := filepath.Join(c.trashDir, a.InfoHash.HexString())
	if err := os.Rename(origin, trash); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.log.Error("expunge: moving origin copy to trash", "artifact", id, "err", err)
		return &a, nil
	}
	if err := os.RemoveAll(trash); err != nil {
		c.log.Error("expunge: deleting origin copy", "artifact", id, "err", err)
	}
	return &a, nil
}
