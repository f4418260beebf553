package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"aead.dev/minisign"
	"github.com/labstack/echo/v4"

	"github.com/opendist/odi/internal/byterange"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/fsutil"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/sign"
)

// Indexes (issue 15, internal/index). The directory hosts the current signed index of
// each indexer key it knows: from its config (Config.Indexers), admitted by an admin
// (AddIndexer), and its own (Config.IndexKey). An upload is accepted only if its
// signature verifies against the indexer's key, it has not expired, its version is above
// the stored one, and every entry matches the catalog; the directory vouches for none of
// it, it only refuses to host what could not be true here. Its bytes are files
// (data/indexes/<key id>/<version>.json and .json.minisig), fsynced before the row that
// makes them current lands; readers are served from those files by what the hosting
// keeps in memory, without SQL.

// OwnIndexer is the name of the directory's own indexer key (Config.IndexKey), which no
// other indexer may take.
const OwnIndexer = "directory"

// maxMismatches is how many entries that do not match the catalog a refusal names: the
// first few say what is wrong, and the count says how much.
const maxMismatches = 5

// indexer is an indexer key as the catalog knows it.
type indexer struct {
	catalogapi.Indexer
	pub minisign.PublicKey
}

func newIndexer(name string, pub minisign.PublicKey) indexer {
	return indexer{pub: pub, Indexer: catalogapi.Indexer{Name: name, Key: sign.KeyID(pub.ID()), PublicKey: pub.String(),
		Fingerprint: sign.Fingerprint(pub)}}
}

func checkIndexerName(name string) error {
	if err := names.CheckSegment("indexer name", name); err != nil {
		return err
	}
	if name == OwnIndexer {
		return fmt.Errorf("indexer name %q is the directory's own (index_key)", name)
	}
	return nil
}

// hostedIndex is the current index of one key, as its row and files hold it.
type hostedIndex struct {
	info catalogapi.IndexInfo // Fingerprint: the key it was accepted from
	doc  string               // the document's file
	sig  []byte               // its minisign signature
	// served: its key is an indexer's, not revoked, and its files are whole. An index
	// not served still bounds the versions its key may upload.
	served bool
}

// hosting is the catalog's indexes.
type hosting struct {
	dir string // data/indexes
	// mu serializes changes: uploads, the own index's signing, indexers added and revoked.
	mu sync.Mutex
	// byKey maps key ids to their current index; replaced whole under mu, read without.
	byKey atomic.Pointer[map[string]*hostedIndex]
	// own is the directory's own indexer and key, when it has one; ownPrev (under mu) is
	// its current index, which the next starts from.
	own     *indexer
	ownKey  minisign.PrivateKey
	ownPrev *index.Index
	// resign asks the own index's signer to sign again (publish, expunge); one pending
	// request stands for any number.
	resign chan struct{}
}

func (h *hosting) get(key string) *hostedIndex { return (*h.byKey.Load())[key] }

// set replaces key's index (nil: removes it); the caller holds mu.
func (h *hosting) set(key string, hi *hostedIndex) {
	m := make(map[string]*hostedIndex, len(*h.byKey.Load())+1)
	for k, v := range *h.byKey.Load() {
		m[k] = v
	}
	if hi == nil {
		delete(m, key)
	} else {
		m[key] = hi
	}
	h.byKey.Store(&m)
}

// loadIndexers reads the configured indexer keys and the directory's own.
func loadIndexers(cfg Config) ([]indexer, *minisign.PrivateKey, error) {
	var out []indexer
	add := func(ix indexer) error {
		for _, o := range out {
			switch {
			case o.Name == ix.Name:
				return fmt.Errorf("indexers: %s twice", ix.Name)
			case o.PublicKey == ix.PublicKey:
				return fmt.Errorf("indexers: %s and %s are one key", o.Name, ix.Name)
			case o.Key == ix.Key:
				return fmt.Errorf("indexers: %s and %s have keys of one id, %s, which names an index's URL; make one of them a new key", o.Name, ix.Name, ix.Key)
			}
		}
		out = append(out, ix)
		return nil
	}
	for _, ref := range cfg.Indexers {
		name, keyRef, err := parseIndexerRef(ref)
		if err != nil {
			return nil, nil, fmt.Errorf("indexers: %w", err)
		}
		pub, err := sign.ParsePublicKey(keyRef)
		if err != nil {
			return nil, nil, fmt.Errorf("indexers: %s: %w", name, err)
		}
		ix := newIndexer(name, pub)
		ix.Static = true
		if err := add(ix); err != nil {
			return nil, nil, err
		}
	}
	if cfg.IndexKey == "" {
		return out, nil, nil
	}
	key, err := sign.LoadPrivateKey(cfg.IndexKey)
	if err != nil {
		return nil, nil, fmt.Errorf("index_key: %w", err)
	}
	ix := newIndexer(OwnIndexer, key.Public().(minisign.PublicKey))
	ix.Static, ix.Own = true, true
	if err := add(ix); err != nil {
		return nil, nil, fmt.Errorf("index_key: %w", err)
	}
	return out, &key, nil
}

// openIndexes loads the indexers and the current indexes, removes files no row names
// (what a crash during an upload left), and checks that stored indexers agree with the
// configured ones.
func (c *Catalog) openIndexes(ctx context.Context, static []indexer, ownKey *minisign.PrivateKey) error {
	c.indexers = static
	c.indexes = &hosting{dir: filepath.Join(c.cfg.DataDir, "indexes"), resign: make(chan struct{}, 1)}
	if ownKey != nil {
		c.indexes.own, c.indexes.ownKey = &c.indexers[len(c.indexers)-1], *ownKey
	}
	if err := os.MkdirAll(c.indexes.dir, 0o755); err != nil {
		return fmt.Errorf("open indexes: %w", err)
	}
	stored, err := c.db.indexers(ctx)
	if err != nil {
		return err
	}
	for _, s := range stored {
		for _, ix := range static {
			if ix.PublicKey != s.PublicKey && (ix.Name == s.Name || ix.Key == s.Key) {
				return fmt.Errorf("catalog config: indexers: %s (key %s) and the indexer %s (key %s) added with odi admin indexers add share a name or key id; rename or remove one",
					ix.Name, ix.Key, s.Name, s.Key)
			}
		}
	}
	rows, err := c.db.indexRows(ctx)
	if err != nil {
		return err
	}
	m := map[string]*hostedIndex{}
	for _, row := range rows {
		ix, err := c.indexerByID(ctx, row.Key)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if ix != nil && ix.Fingerprint != row.Fingerprint {
			ix = nil
		}
		hi := c.openHosted(row, ix)
		m[row.Key] = hi
		if ix != nil && ix.Own {
			c.indexes.ownPrev = c.readOwn(hi)
		}
	}
	c.indexes.byKey.Store(&m)
	return c.removeStaleIndexFiles()
}

// openHosted reads a row's files: the index is served if ix (its key's indexer, or nil)
// is not revoked and the document's bytes are the ones the row names.
func (c *Catalog) openHosted(row catalogapi.IndexInfo, ix *indexer) *hostedIndex {
	hi := &hostedIndex{info: row, doc: c.indexPath(row.Key, row.Version)}
	if ix == nil {
		return hi
	}
	hi.info.Name, hi.info.PublicKey = ix.Name, ix.PublicKey
	if ix.Revoked {
		return hi
	}
	doc, err := os.ReadFile(hi.doc)
	if err == nil && hexSHA256(doc) != row.SHA256 {
		err = fmt.Errorf("its sha256 is %s, the catalog's row says %s", hexSHA256(doc), row.SHA256)
	}
	if err == nil {
		hi.sig, err = os.ReadFile(hi.doc + ".minisig")
	}
	if err != nil {
		c.log.Error("index not served: its files are damaged", "indexer", ix.Name, "key", row.Key, "version", row.Version, "err", err)
		return hi
	}
	hi.served = true
	return hi
}

// readOwn is the directory's own current index, which the next version starts from.
// Damaged files leave only its version, so versions still only grow.
func (c *Catalog) readOwn(hi *hostedIndex) *index.Index {
	if hi.served {
		doc, err := os.ReadFile(hi.doc)
		if err == nil {
			if idx, err := index.Parse(doc); err == nil {
				return idx
			}
		}
	}
	return &index.Index{Directory: c.cfg.base(), Version: hi.info.Version}
}

// removeStaleIndexFiles removes the files of versions that are not current: older ones
// an upload did not get to delete, and newer ones whose row never landed.
func (c *Catalog) removeStaleIndexFiles() error {
	dirs, err := os.ReadDir(c.indexes.dir)
	if err != nil {
		return fmt.Errorf("clean indexes: %w", err)
	}
	for _, d := range dirs {
		var keep string
		if hi := c.indexes.get(d.Name()); hi != nil {
			keep = hi.doc
		}
		if err := c.removeIndexFilesBut(filepath.Join(c.indexes.dir, d.Name()), keep); err != nil {
			return err
		}
	}
	return nil
}

// removeIndexFilesBut removes the files of dir but doc and its signature ("": all).
func (c *Catalog) removeIndexFilesBut(dir, doc string) error {
	files, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("clean indexes: %w", err)
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Name())
		if p == doc || p == doc+".minisig" {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("clean indexes: %w", err)
		}
	}
	return nil
}

// indexPath is where version v of key's index document is stored.
func (c *Catalog) indexPath(key string, v uint64) string {
	return filepath.Join(c.indexes.dir, key, strconv.FormatUint(v, 10)+".json")
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// indexerByKey finds an indexer by its whole public key, configured ones first.
func (c *Catalog) indexerByKey(ctx context.Context, key minisign.PublicKey) (*indexer, error) {
	text := key.String()
	for i := range c.indexers {
		if c.indexers[i].PublicKey == text {
			return &c.indexers[i], nil
		}
	}
	ix, err := c.db.indexerWhere(ctx, "public_key", text)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: key %s (%s) is not a known indexer (the directory's admin adds it: odi admin indexers add NAME KEY.pub)", ErrUnauthorized, sign.KeyID(key.ID()), sign.Fingerprint(key))
	}
	return ix, err
}

// indexerByID finds an indexer by key id, configured ones first.
func (c *Catalog) indexerByID(ctx context.Context, key string) (*indexer, error) {
	for i := range c.indexers {
		if c.indexers[i].Key == key {
			return &c.indexers[i], nil
		}
	}
	return c.db.indexerWhere(ctx, "key_id", key)
}

// Indexers lists the indexer keys, configured ones (the directory's own last) first.
func (c *Catalog) Indexers(ctx context.Context) ([]catalogapi.Indexer, error) {
	stored, err := c.db.indexers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]catalogapi.Indexer, 0, len(c.indexers)+len(stored))
	for _, ix := range c.indexers {
		out = append(out, ix.Indexer)
	}
	for _, ix := range stored {
		if !slices.ContainsFunc(c.indexers, func(s indexer) bool { return s.PublicKey == ix.PublicKey }) {
			out = append(out, ix.Indexer)
		}
	}
	return out, nil
}

// AddIndexer admits an indexer key: the directory then hosts its index. Its key id
// names the index's URL, so it may not be another indexer's, revoked ones' included.
func (c *Catalog) AddIndexer(ctx context.Context, name, publicKey string) (*catalogapi.Indexer, error) {
	if err := checkIndexerName(name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var pub minisign.PublicKey
	if err := pub.UnmarshalText([]byte(publicKey)); err != nil {
		return nil, fmt.Errorf("%w: public key: %w", ErrInvalid, err)
	}
	ix := newIndexer(name, pub)
	ix.AddedAt = c.now().UTC().Truncate(time.Second)
	for _, s := range c.indexers {
		if s.Name == ix.Name || s.PublicKey == ix.PublicKey || s.Key == ix.Key {
			return nil, fmt.Errorf("indexer %s (key %s) is in the directory's config, with this name, key or key id: %w", s.Name, s.Key, ErrExists)
		}
	}
	c.indexes.mu.Lock()
	defer c.indexes.mu.Unlock()
	if err := c.db.addIndexer(ctx, ix); err != nil {
		return nil, err
	}
	// A key admitted again (it left the config) gets its index back.
	if hi := c.indexes.get(ix.Key); hi != nil && hi.info.Fingerprint == ix.Fingerprint {
		c.indexes.set(ix.Key, c.openHosted(hi.info, &ix))
	}
	c.log.Info("indexer added", "name", name, "key", ix.Key, "fingerprint", ix.Fingerprint)
	return &ix.Indexer, nil
}

// RevokeIndexer stops an indexer's uploads and the serving of its index at once.
func (c *Catalog) RevokeIndexer(ctx context.Context, name string) error {
	for _, s := range c.indexers {
		if s.Name == name {
			return fmt.Errorf("%w: indexer %s comes from the directory's config; remove it there and restart", ErrInvalid, name)
		}
	}
	c.indexes.mu.Lock()
	defer c.indexes.mu.Unlock()
	key, err := c.db.revokeIndexer(ctx, name, c.now())
	if err != nil {
		return err
	}
	if hi := c.indexes.get(key); hi != nil && hi.served {
		off := *hi
		off.served = false
		c.indexes.set(key, &off)
	}
	c.log.Info("indexer revoked", "name", name, "key", key)
	return nil
}

// Indexes lists the indexes the directory serves, by indexer name.
func (c *Catalog) Indexes() []catalogapi.IndexInfo {
	out := []catalogapi.IndexInfo{}
	for _, hi := range *c.indexes.byKey.Load() {
		if hi.served {
			out = append(out, hi.info)
		}
	}
	if c.deps.LinkedIndexes != nil {
		for _, info := range c.deps.LinkedIndexes.LinkedIndexes() {
			if hi := c.indexes.get(info.Key); hi == nil || !hi.served {
				out = append(out, info)
			}
		}
	}
	slices.SortFunc(out, func(a, b catalogapi.IndexInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// servedIndex is key's index, if the directory serves one: its own, an indexer's, or
// one a federation link follows (Deps.LinkedIndexes).
func (c *Catalog) servedIndex(key string) (*hostedIndex, error) {
	if hi := c.indexes.get(key); hi != nil && hi.served {
		return hi, nil
	}
	if c.deps.LinkedIndexes != nil {
		if info, doc, sig, ok := c.deps.LinkedIndexes.LinkedIndex(key); ok {
			return &hostedIndex{info: info, doc: doc, sig: sig, served: true}, nil
		}
	}
	return nil, fmt.Errorf("%w: no index of key %q here (GET /indexes/ lists them)", ErrNotFound, key)
}

// uploadingIndexer resolves the key of an index upload to /api/v1/indexes/<key>: a known
// indexer's, whose id is key. A revoked one is refused once the signature verified.
func (c *Catalog) uploadingIndexer(key string) resolver {
	return func(ctx context.Context, p *principal) (deny, err error) {
		ix, err := c.indexerByKey(ctx, p.key)
		if err != nil {
			return nil, err
		}
		if ix.Key != key {
			return nil, fmt.Errorf("%w: the request is signed by indexer %s's key %s, not by key %s, whose index this is", ErrUnauthorized, ix.Name, ix.Key, key)
		}
		p.indexer = ix
		switch {
		case ix.Revoked:
			return fmt.Errorf("%w: indexer %s is revoked", ErrUnauthorized, ix.Name), nil
		case ix.Own:
			return fmt.Errorf("%w: the directory signs its own index (%s) itself", ErrForbidden, ix.Name), nil
		}
		return nil, nil
	}
}

// acceptIndex checks an uploaded index (doc, and sig, its .minisig's text in base64) of
// indexer ix, and makes it current.
func (c *Catalog) acceptIndex(ctx context.Context, ix *indexer, doc []byte, sigBase64 string) (*catalogapi.IndexInfo, error) {
	sig, err := base64.StdEncoding.DecodeString(sigBase64)
	if sigBase64 == "" || err != nil {
		return nil, fmt.Errorf("%w: header %s must hold the index's .minisig file in base64", ErrInvalid, catalogapi.IndexSignatureHeader)
	}
	idx, err := index.Verify(ix.pub, doc, sig, c.now())
	if errors.Is(err, index.ErrTooLarge) {
		return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if idx.Version > math.MaxInt64 {
		return nil, fmt.Errorf("%w: version %d is above %d", ErrInvalid, idx.Version, int64(math.MaxInt64))
	}
	if d := strings.TrimRight(idx.Directory, "/"); d != c.cfg.base() {
		return nil, fmt.Errorf("%w: the index is for directory %s; this is %s", ErrInvalid, idx.Directory, c.cfg.base())
	}
	c.indexes.mu.Lock()
	defer c.indexes.mu.Unlock()
	sum := hexSHA256(doc)
	if cur := c.indexes.get(ix.Key); cur != nil && cur.info.Fingerprint == ix.Fingerprint {
		switch {
		case idx.Version < cur.info.Version:
			return nil, fmt.Errorf("%w: version %d is not above %d, the directory's", ErrIndexVersion, idx.Version, cur.info.Version)
		case idx.Version == cur.info.Version && sum == cur.info.SHA256:
			return &cur.info, nil // the same upload again: done already
		case idx.Version == cur.info.Version:
			return nil, fmt.Errorf("%w: version %d is here already with other content (sha256 %s, this one %s); sign a new version",
				ErrIndexVersion, idx.Version, cur.info.SHA256, sum)
		}
	}
	if err := checkEntries(c.view.Load(), idx.Entries); err != nil {
		return nil, err
	}
	info, err := c.storeIndex(ctx, ix, idx, doc, sig)
	if err != nil {
		return nil, err
	}
	c.log.Info("index accepted", "indexer", ix.Name, "key", ix.Key, "version", idx.Version, "entries", len(idx.Entries))
	return info, nil
}

// checkEntries refuses entries that do not match the catalog, naming the first few.
func checkEntries(v *view, entries []index.Entry) error {
	var bad []string
	n := 0
	for _, e := range entries {
		if err := checkEntry(v, e); err != nil {
			if n++; n <= maxMismatches {
				bad = append(bad, err.Error())
			}
		}
	}
	switch {
	case n == 0:
		return nil
	case n > maxMismatches:
		bad = append(bad, fmt.Sprintf("and %d more", n-maxMismatches))
	}
	return fmt.Errorf("%w: %d of %d entries: %s", ErrIndexMismatch, n, len(entries), strings.Join(bad, "; "))
}

// checkEntry compares an entry with the catalog's artifact. An expunged entry may name a
// published artifact: an indexer may withdraw what the directory still serves.
func checkEntry(v *view, e index.Entry) error {
	a := v.byID[e.ID()]
	switch {
	case a == nil:
		return fmt.Errorf("%s is not in the catalog", e.ID())
	case e.State == index.StatePublished && a.State != catalogapi.Published:
		return fmt.Errorf("%s is listed as published, and the catalog expunged it (%s)", e.ID(), a.Reason)
	}
	e.State, e.Reason = index.StatePublished, "" // Check compares content only then
	return e.Check(a.InfoHash.HexString(), index.FilesOf(&a.Manifest))
}

// storeIndex makes idx (doc, signed by sig) ix's current index: the files are written
// and fsynced, then the row lands, then readers see it, then older files go. A crash
// leaves the old index current, and files that the next start removes. The caller holds
// c.indexes.mu.
func (c *Catalog) storeIndex(ctx context.Context, ix *indexer, idx *index.Index, doc, sig []byte) (*catalogapi.IndexInfo, error) {
	dir := filepath.Join(c.indexes.dir, ix.Key)
	path := c.indexPath(ix.Key, idx.Version)
	what := "the index of " + ix.Name
	if err := os.Mkdir(dir, 0o755); err == nil {
		err = fsutil.SyncDir(c.indexes.dir)
		if err != nil {
			return nil, c.space.check(what, 0, fmt.Errorf("store index: %w", err))
		}
	} else if !errors.Is(err, os.ErrExist) {
		return nil, c.space.check(what, 0, fmt.Errorf("store index: %w", err))
	}
	for _, f := range []struct {
		path string
		b    []byte
	}{{path, doc}, {path + ".minisig", sig}} {
		if err := fsutil.WriteFile(f.path, f.b, 0o644); err != nil {
			return nil, c.space.check(what, int64(len(doc)+len(sig)), err)
		}
	}
	info := catalogapi.IndexInfo{
		Key: ix.Key, Name: ix.Name, PublicKey: ix.PublicKey, Fingerprint: ix.Fingerprint,
		Version: idx.Version, Issued: idx.Issued.UTC(), Expires: idx.Expires.UTC(), Entries: len(idx.Entries),
		SHA256: hexSHA256(doc), URL: "/indexes/" + ix.Key + "/index.json",
	}
	if err := c.db.putIndex(ctx, info); err != nil {
		if cur := c.indexes.get(ix.Key); cur == nil || cur.doc != path {
			os.Remove(path)
			os.Remove(path + ".minisig")
		}
		return nil, err
	}
	c.indexes.set(ix.Key, &hostedIndex{info: info, doc: path, sig: sig, served: true})
	if err := c.removeIndexFilesBut(dir, path); err != nil {
		c.log.Warn("removing an older index", "indexer", ix.Name, "err", err)
	}
	return &info, nil
}

// Own index.

// ownIndexAge is how old the directory's own index may grow before it is signed again
// with nothing new: a day, so that it never comes within six days of expiring
// (index.DefaultTTL).
const ownIndexAge = 24 * time.Hour

// ownIndexGap is the least time between two signings of the own index: a burst of
// publishes makes one new version a second, not one each.
const ownIndexGap = time.Second

// ownIndexRetry is how soon a signing that failed (a full disk) is tried again.
const ownIndexRetry = time.Minute

// resignOwnIndex asks for the own index to be signed again, soon.
func (c *Catalog) resignOwnIndex() {
	select {
	case c.indexes.resign <- struct{}{}:
	default:
	}
}

// ownIndexEntries lists every artifact of v, published and expunged, as the
// directory's own index vouches for it.
func ownIndexEntries(v *view) []index.Entry {
	entries := make([]index.Entry, len(v.sorted))
	for i, a := range v.sorted {
		entries[i] = index.Entry{Catalog: a.Catalog, Name: a.Name, Version: a.Version, InfoHash: a.InfoHash.HexString(),
			State: index.StatePublished, Files: index.FilesOf(&a.Manifest)}
		if a.State == catalogapi.Expunged {
			entries[i].State, entries[i].Reason = index.StateExpunged, a.Reason
		}
	}
	// The view sorts by "catalog/name/version"; an index by each field in turn.
	slices.SortFunc(entries, func(a, b index.Entry) int {
		if c := strings.Compare(a.Catalog, b.Catalog); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return entries
}

// ownIndexDue reports whether the own index must be signed now: it has none, it is a day
// old, it is for another public URL, or it lists other artifacts than the catalog has
// (a crash came between a publish and its signing).
func (c *Catalog) ownIndexDue() bool {
	c.indexes.mu.Lock()
	defer c.indexes.mu.Unlock()
	prev := c.indexes.ownPrev
	hi := c.indexes.get(c.indexes.own.Key)
	return prev == nil || hi == nil || !hi.served || !c.now().Before(prev.Issued.Add(ownIndexAge)) ||
		prev.Directory != c.cfg.base() || !slices.EqualFunc(prev.Entries, ownIndexEntries(c.view.Load()), entryEqual)
}

func entryEqual(a, b index.Entry) bool {
	return a.Catalog == b.Catalog && a.Name == b.Name && a.Version == b.Version && a.InfoHash == b.InfoHash &&
		a.State == b.State && a.Reason == b.Reason && slices.Equal(a.Files, b.Files)
}

// signOwnIndex signs the next version of the directory's own index, listing the catalog
// as it is now.
func (c *Catalog) signOwnIndex(ctx context.Context) (*catalogapi.IndexInfo, error) {
	c.indexes.mu.Lock()
	defer c.indexes.mu.Unlock()
	own := c.indexes.own
	idx := index.Next(c.indexes.ownPrev, c.now(), index.DefaultTTL)
	idx.Directory = c.cfg.base()
	idx.Entries = ownIndexEntries(c.view.Load())
	doc, sig, err := index.Sign(c.indexes.ownKey, idx)
	if err != nil {
		return nil, fmt.Errorf("sign the directory's index: %w", err)
	}
	info, err := c.storeIndex(ctx, own, idx, doc, sig)
	if err != nil {
		return nil, fmt.Errorf("sign the directory's index: %w", err)
	}
	c.indexes.ownPrev = idx
	return info, nil
}

// keepOwnIndex signs the directory's own index when it is due at start, after publishes
// and expunges (at most once per ownIndexGap), and when it is ownIndexAge old, until ctx
// ends.
func (c *Catalog) keepOwnIndex(ctx context.Context) {
	due := c.ownIndexDue()
	var last time.Time
	for {
		wait := c.ownIndexAgeLeft()
		if due {
			if !sleepCtx(ctx, time.Until(last.Add(ownIndexGap))) {
				return
			}
			select { // this signing covers what was asked until now
			case <-c.indexes.resign:
			default:
			}
			last = time.Now()
			info, err := c.signOwnIndex(ctx)
			if err != nil {
				c.log.Error("signing the directory's own index", "err", err, "retry_in", ownIndexRetry)
				wait = ownIndexRetry
			} else {
				c.log.Info("directory's index signed", "key", info.Key, "version", info.Version, "entries", info.Entries,
					"seconds", time.Since(last).Seconds())
				wait = c.ownIndexAgeLeft()
			}
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.indexes.resign:
		case <-t.C:
		}
		t.Stop()
		due = true
	}
}

// ownIndexAgeLeft is how long until the own index is ownIndexAge old.
func (c *Catalog) ownIndexAgeLeft() time.Duration {
	c.indexes.mu.Lock()
	defer c.indexes.mu.Unlock()
	if p := c.indexes.ownPrev; p != nil {
		return p.Issued.Add(ownIndexAge).Sub(c.now())
	}
	return 0
}

// sleepCtx waits d (nothing when d <= 0); false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Store.

const indexerColumns = `name, public_key, fingerprint, key_id, added_at, revoked_at`

func scanIndexer(row interface{ Scan(...any) error }) (*indexer, error) {
	var (
		ix      indexer
		added   int64
		revoked sql.NullInt64
	)
	if err := row.Scan(&ix.Name, &ix.PublicKey, &ix.Fingerprint, &ix.Key, &added, &revoked); err != nil {
		return nil, err
	}
	if err := ix.pub.UnmarshalText([]byte(ix.PublicKey)); err != nil {
		return nil, fmt.Errorf("indexer %s: %w", ix.Name, err)
	}
	ix.AddedAt = time.Unix(added, 0).UTC()
	ix.Revoked = revoked.Valid
	return &ix, nil
}

// indexerWhere finds the stored indexer whose column (public_key, key_id) is value.
func (s *store) indexerWhere(ctx context.Context, column, value string) (*indexer, error) {
	ix, err := scanIndexer(s.r.QueryRowContext(ctx, `SELECT `+indexerColumns+` FROM indexers WHERE `+column+` = ?`, value))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find indexer: %w", err)
	}
	return ix, nil
}

func (s *store) indexers(ctx context.Context) ([]indexer, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+indexerColumns+` FROM indexers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list indexers: %w", err)
	}
	defer rows.Close()
	var out []indexer
	for rows.Next() {
		ix, err := scanIndexer(rows)
		if err != nil {
			return nil, fmt.Errorf("list indexers: %w", err)
		}
		out = append(out, *ix)
	}
	return out, rows.Err()
}

func (s *store) addIndexer(ctx context.Context, ix indexer) error {
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO indexers (`+indexerColumns+`) VALUES (?, ?, ?, ?, ?, NULL)`,
			ix.Name, ix.PublicKey, ix.Fingerprint, ix.Key, ix.AddedAt.Unix())
		return err
	})
	if isUnique(err) {
		return fmt.Errorf("add indexer %s: its name, key or key id (%s) is another indexer's: %w", ix.Name, ix.Key, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add indexer %s: %w", ix.Name, err)
	}
	return nil
}

// revokeIndexer revokes the indexer name and returns its key id.
func (s *store) revokeIndexer(ctx context.Context, name string, at time.Time) (key string, err error) {
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE indexers SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL RETURNING key_id`,
			at.Unix(), name).Scan(&key)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("revoke indexer %s: %w (or already revoked)", name, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("revoke indexer %s: %w", name, err)
		}
		return nil
	})
	return key, err
}

// indexRows reads the current index of every key. Name and PublicKey are left to the
// caller, who knows the indexers.
func (s *store) indexRows(ctx context.Context) ([]catalogapi.IndexInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key_id, fingerprint, version, sha256, issued, expires, entries FROM indexes`)
	if err != nil {
		return nil, fmt.Errorf("load indexes: %w", err)
	}
	defer rows.Close()
	var out []catalogapi.IndexInfo
	for rows.Next() {
		var (
			i               catalogapi.IndexInfo
			version         int64
			issued, expires int64
		)
		if err := rows.Scan(&i.Key, &i.Fingerprint, &version, &i.SHA256, &issued, &expires, &i.Entries); err != nil {
			return nil, fmt.Errorf("load indexes: %w", err)
		}
		i.Version, i.Issued, i.Expires = uint64(version), time.Unix(issued, 0).UTC(), time.Unix(expires, 0).UTC()
		i.URL = "/indexes/" + i.Key + "/index.json"
		out = append(out, i)
	}
	return out, rows.Err()
}

// putIndex makes info its key's current index.
func (s *store) putIndex(ctx context.Context, info catalogapi.IndexInfo) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO indexes (key_id, fingerprint, version, sha256, issued, expires, entries) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (key_id) DO UPDATE SET fingerprint = excluded.fingerprint, version = excluded.version,
				sha256 = excluded.sha256, issued = excluded.issued, expires = excluded.expires, entries = excluded.entries`,
			info.Key, info.Fingerprint, int64(info.Version), info.SHA256, info.Issued.Unix(), info.Expires.Unix(), info.Entries)
		if err != nil {
			return fmt.Errorf("store index of key %s: %w", info.Key, err)
		}
		return nil
	})
}

// HTTP.

func (c *Catalog) handleIndexList(ctx echo.Context) error {
	return ctx.JSON(http.StatusOK, catalogapi.IndexList{Indexes: c.Indexes()})
}

// handleIndexFile serves an index's document or signature with its sha256 as strong
// ETag, so that a follower polling an unchanged index gets a 304, and no-cache, so that
// caches ask every time.
func (c *Catalog) handleIndexFile(ctx echo.Context) error {
	key, file := ctx.Param("key"), ctx.Param("file")
	if file != "index.json" && file != "index.json.minisig" {
		return apiError(fmt.Errorf("%w: an index is at /indexes/<key>/index.json, its signature at index.json.minisig", ErrNotFound))
	}
	hi, doc, err := c.openIndexDoc(key)
	if err != nil {
		return apiError(err)
	}
	defer doc.Close()
	h := ctx.Response().Header()
	h.Set("Cache-Control", "no-cache")
	if file == "index.json.minisig" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("ETag", `"`+hexSHA256(hi.sig)+`"`)
		byterange.ServeContent(ctx.Response(), ctx.Request(), "", time.Time{}, bytes.NewReader(hi.sig), int64(len(hi.sig)))
		return nil
	}
	fi, err := doc.Stat()
	if err != nil {
		return fmt.Errorf("serve index of key %s: %w", key, err)
	}
	h.Set("Content-Type", "application/json")
	h.Set("ETag", `"`+hi.info.SHA256+`"`)
	byterange.ServeContent(ctx.Response(), ctx.Request(), "", time.Time{}, doc, fi.Size())
	return nil
}

// openIndexDoc opens key's current document. An upload that replaces it between the
// lookup and the open deletes the file looked up: the new one is then current.
func (c *Catalog) openIndexDoc(key string) (*hostedIndex, *os.File, error) {
	for attempt := 0; ; attempt++ {
		hi, err := c.servedIndex(key)
		if err != nil {
			return nil, nil, err
		}
		f, err := os.Open(hi.doc)
		if errors.Is(err, os.ErrNotExist) && attempt == 0 {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("open index of key %s: %w", key, err)
		}
		return hi, f, nil
	}
}

func (c *Catalog) handleIndexUpload(ctx echo.Context) error {
	r := ctx.Request()
	var info *catalogapi.IndexInfo
	err := c.readSigned(r, c.cfg.indexBodyMax(), c.uploadingIndexer(ctx.Param("key")), func(p *principal, body []byte) error {
		var err error
		info, err = c.acceptIndex(r.Context(), p.indexer, body, r.Header.Get(catalogapi.IndexSignatureHeader))
		return err
	})
	if err != nil {
		return apiError(err)
	}
	return ctx.JSON(http.StatusOK, info)
}

func (c *Catalog) handleListIndexers(ctx echo.Context) error {
	if err := c.readAdmin(ctx, nil); err != nil {
		return err
	}
	ixs, err := c.Indexers(ctx.Request().Context())
	if err != nil {
		return err
	}
	return ctx.JSON(http.StatusOK, map[string]any{"indexers": ixs})
}

func (c *Catalog) handleAddIndexer(ctx echo.Context) error {
	var req catalogapi.AddIndexerRequest
	if err := c.readAdmin(ctx, &req); err != nil {
		return err
	}
	ix, err := c.AddIndexer(ctx.Request().Context(), req.Name, req.PublicKey)
	if err != nil {
		return apiError(err)
	}
	return ctx.JSON(http.StatusCreated, ix)
}

func (c *Catalog) handleRevokeIndexer(ctx echo.Context) error {
	if err := c.readAdmin(ctx, nil); err != nil {
		return err
	}
	if err := c.RevokeIndexer(ctx.Request().Context(), ctx.Param("name")); err != nil {
		return apiError(err)
	}
	return ctx.NoContent(http.StatusNoContent)
}
