package links

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"aead.dev/minisign"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/boundedget"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/follow"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/netcheck"
	"github.com/opendist/odi/internal/sign"
)

// DefaultInterval is how often a link polls the other directory's index by default: an
// expunge there is carried out here within about that long.
const DefaultInterval = time.Minute

// Bounds on what the other directory sends: a torrent (its info dict lists every piece
// hash: 40 KiB for 2,000 pieces), and the catalog's artifact list.
const (
	maxTorrent = 16 << 20
	maxList    = 64 << 20
)

// What another directory may add to this one's torrents, per artifact: its relays
// beyond these are found through the swarm.
const (
	maxLinkedSeeds    = 16
	maxLinkedTrackers = 4
)

// requestTimeout bounds one request for a torrent or a list, body included.
const requestTimeout = 2 * time.Minute

// Config is one federation.links entry: this directory serves Catalog of the directory
// at Directory, as the index signed by IndexKey lists it.
type Config struct {
	// Directory is the other directory's public URL.
	Directory string `mapstructure:"directory"`
	// Catalog is the catalog linked: only its entries of the index are served here.
	Catalog string `mapstructure:"catalog"`
	// IndexKey is the public key (a .pub file or its base64 line) whose index of the
	// other directory lists the catalog: its own index key, or an indexer's.
	IndexKey string `mapstructure:"index_key"`
	// Interval is how often the index is polled; DefaultInterval when zero.
	Interval time.Duration `mapstructure:"interval"`
}

// Validate checks c's form; New checks the directory's address.
func (c Config) Validate() error {
	if err := netcheck.CheckBaseURL(context.Background(), c.Directory, true); err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	if err := names.CheckComponent(c.Catalog); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	if c.IndexKey == "" {
		return errors.New("index_key: missing: the public key whose index lists the catalog")
	}
	if _, err := sign.ParsePublicKey(c.IndexKey); err != nil {
		return fmt.Errorf("index_key: %w", err)
	}
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < time.Second) {
		return fmt.Errorf("interval: %s is below 1s", c.Interval)
	}
	return nil
}

// Catalog is what a link needs of this directory's catalog.
type Catalog interface {
	// Holds reports the infohash (hex) and state of the artifact id ("C/N/V"), and
	// whether the catalog has it at all, tombstones included.
	Holds(id string) (infohash string, state catalogapi.State, ok bool)
	// Import publishes the files at paths as m, whose info dict must come out as info,
	// byte for byte, from the files' bytes; v says who vouched for it.
	Import(ctx context.Context, m *manifest.Manifest, paths []string, info []byte, v Voucher) error
	// Expunge turns the published artifact id into a tombstone, saying why.
	Expunge(ctx context.Context, id, reason string) error
	// CheckSeed fetches a piece of the artifact with infohash ih from the web seed seed
	// and checks it against its hash: ErrCorrupt when it does not match, ErrNotHere for
	// an artifact not published here.
	CheckSeed(ctx context.Context, seed string, ih metainfo.Hash) error
}

// Voucher is what a linked artifact is published on: the other directory's signed
// index, and the artifact's entry in it.
type Voucher struct {
	Publisher string    // "link:<the other directory's host>"
	Entry     []byte    // the entry, as JSON
	KeyID     string    // of the index's key
	Issued    time.Time // of the index version
	IndexURL  string    // where the index is served, with "#version=N"
}

// Fetcher downloads an artifact from another directory.
type Fetcher interface {
	// Fetch downloads the artifact id from the directory at base into the folder out,
	// every piece verified against the torrent with infohash ih, and returns each file's
	// local path in the torrent's order. What arrived before a failure stays in out for
	// the next Fetch to resume.
	Fetch(ctx context.Context, base, id string, ih metainfo.Hash, out string) (paths []string, err error)
}

// Deps are what links use of the directory.
type Deps struct {
	Catalog Catalog
	Fetcher Fetcher
	// DataDir holds each link's follow state and downloads, under DataDir/links.
	DataDir string
	// AllowPrivate lets links reach directories on private and loopback addresses
	// (directory.relays.allow_private_urls), and directories that link this one be
	// there.
	AllowPrivate bool
	// PublicURL is this directory's: what a link tells the other directory it serves
	// the catalog at, and what a directory linking this one must name as its source.
	PublicURL string
	// Serves reports whether this directory has artifacts of a catalog: only those
	// may be linked from here.
	Serves func(catalog string) bool
	// Now is the clock indexes expire by; nil for time.Now.
	Now func() time.Time
}

// Links are a directory's federation links, and the directories linking it.
type Links struct {
	links   []*link
	linkers *linkers
	log     *slog.Logger
}

// link is one federation link.
type link struct {
	cfg    Config
	key    minisign.PublicKey
	keyID  string
	deps   Deps
	follow *follow.Follower
	http   *http.Client
	dir    string // the link's folder under DataDir
	log    *slog.Logger
	newest atomic.Pointer[index.Index] // latest's answer

	mu        sync.Mutex
	trackers  []string                   // the other directory's, from its last torrent
	seeds     map[metainfo.Hash][]string // its web seeds by infohash, from its list
	lastPoll  time.Time
	lastErr   string
	served    int               // artifacts of the index held here
	pending   map[string]string // listed, not held here yet: why not ("" while fetching)
	conflicts map[string]string // listed with another infohash than the one held here
	// Whether the other directory took the last LinkerNotice, or why not.
	listedThere bool
	noticeErr   string
}

// New checks every link's config and address and loads what each followed before;
// linkers says how directories linking this one are treated.
func New(cfgs []Config, linkers LinkersConfig, deps Deps, log *slog.Logger) (*Links, error) {
	if err := linkers.Validate(); err != nil {
		return nil, fmt.Errorf("federation.linkers.%w", err)
	}
	ls := &Links{log: log, linkers: newLinkers(linkers, deps, log)}
	seen := map[string]bool{}
	for i, c := range cfgs {
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("federation.links[%d].%w", i, err)
		}
		if seen[c.Catalog] {
			return nil, fmt.Errorf("federation.links[%d].catalog: %s is linked twice", i, c.Catalog)
		}
		seen[c.Catalog] = true
		if err := netcheck.CheckBaseURL(context.Background(), c.Directory, deps.AllowPrivate); err != nil {
			return nil, fmt.Errorf("federation.links[%d].directory: %w (directory.relays.allow_private_urls allows private addresses)", i, err)
		}
		if c.Interval == 0 {
			c.Interval = DefaultInterval
		}
		c.Directory = strings.TrimRight(c.Directory, "/")
		key, _ := sign.ParsePublicKey(c.IndexKey) // Validate parsed it
		dir := filepath.Join(deps.DataDir, "links", c.Catalog)
		l := &link{
			cfg: c, key: key, keyID: sign.KeyID(key.ID()), deps: deps, dir: dir,
			http: netcheck.Client(requestTimeout, deps.AllowPrivate),
			log:  log.With("link", c.Catalog, "directory", c.Directory),
		}
		f, err := follow.New(follow.Config{Directory: c.Directory, Keys: []minisign.PublicKey{key},
			Path: follow.Path(dir, c.Directory), Role: "link", Now: deps.Now}, log)
		if err != nil {
			return nil, fmt.Errorf("federation.links[%d]: %w", i, err)
		}
		l.follow = f
		l.take()
		ls.links = append(ls.links, l)
	}
	return ls, nil
}

// Run polls every link and refreshes every linking directory until ctx ends, and
// waits for each.
func (ls *Links) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { ls.linkers.run(ctx) })
	for _, l := range ls.links {
		wg.Go(func() {
			for {
				start := time.Now()
				l.poll(ctx)
				select {
				case <-ctx.Done():
					return
				case <-time.After(l.cfg.Interval - time.Since(start)):
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// Sources are the trackers and web seeds the directories linked with this one list of
// their own for the artifact with infohash ih: first the one whose catalog this one
// links, then those linking it from here. The catalog adds them to its torrents, so
// that clients of every directory join one swarm. None for an artifact no link serves.
func (ls *Links) Sources(ih metainfo.Hash) (trackers, webSeeds []string) {
	for _, l := range ls.links {
		l.mu.Lock()
		seeds, ok := l.seeds[ih]
		if ok {
			trackers, webSeeds = slices.Clone(l.trackers), slices.Clone(seeds)
		}
		l.mu.Unlock()
		if ok {
			break
		}
	}
	return ls.linkers.sources(ih, trackers, webSeeds)
}

// Notice takes a LinkerNotice: the directory at n.URL says it links n.Catalog from
// this one. A new one is read at n.URL and listed if it names this directory as its
// source (else ErrNotLinked); the errors are this package's sentinels, wrapped.
func (ls *Links) Notice(ctx context.Context, n catalogapi.LinkerNotice) (catalogapi.LinkerStatus, error) {
	return ls.linkers.notice(ctx, n)
}

// LinkedBy describe the directories linking a catalog of this one.
func (ls *Links) LinkedBy() []catalogapi.LinkerStatus { return ls.linkers.statuses() }

// LinkedFrom is the directory whose catalog this one serves through a link; "" for a
// catalog not linked.
func (ls *Links) LinkedFrom(catalog string) string {
	for _, l := range ls.links {
		if l.cfg.Catalog == catalog {
			return l.cfg.Directory
		}
	}
	return ""
}

// LinkedIndex is the other directory's signed index of key (an id) that a link follows,
// as signed, for this directory to serve alongside its own (never re-signed): followers
// of that key can then check what this directory serves. doc is the document's file.
func (ls *Links) LinkedIndex(key string) (info catalogapi.IndexInfo, doc string, sig []byte, ok bool) {
	for _, l := range ls.links {
		if s, found := l.follow.Signed(key); found {
			return l.indexInfo(s), s.Doc, s.Sig, true
		}
	}
	return catalogapi.IndexInfo{}, "", nil, false
}

// LinkedIndexes describe every index LinkedIndex serves.
func (ls *Links) LinkedIndexes() []catalogapi.IndexInfo {
	var out []catalogapi.IndexInfo
	for _, l := range ls.links {
		for _, idx := range l.follow.Indexes() {
			if s, ok := l.follow.Signed(idx.Key); ok {
				out = append(out, l.indexInfo(s))
			}
		}
	}
	return out
}

func (l *link) indexInfo(s follow.Signed) catalogapi.IndexInfo {
	return catalogapi.IndexInfo{
		Key: s.Index.Key, Name: "link:" + l.host(), PublicKey: sign.PublicKeyText(s.Key), Fingerprint: sign.Fingerprint(s.Key),
		Version: s.Index.Version, Issued: s.Index.Issued, Expires: s.Index.Expires, Entries: len(s.Index.Entries),
		SHA256: s.SHA256, URL: "/indexes/" + s.Index.Key + "/index.json",
	}
}

// Empty reports whether there is no link, so that callers need not ask Stale.
func (ls *Links) Empty() bool { return len(ls.links) == 0 }

// Interval is how often the link of catalog polls; 0 for a catalog not linked.
func (ls *Links) Interval(catalog string) time.Duration {
	for _, l := range ls.links {
		if l.cfg.Catalog == catalog {
			return l.cfg.Interval
		}
	}
	return 0
}

// Stale reports, for a linked catalog, why this directory cannot vouch for it now: no
// current index of the link's key is held. "" when it can, or the catalog is not linked.
func (ls *Links) Stale(catalog string) string {
	for _, l := range ls.links {
		if l.cfg.Catalog == catalog {
			_, why := l.current()
			return why
		}
	}
	return ""
}

// Status describes each link, in config order.
func (ls *Links) Status() []catalogapi.LinkStatus {
	out := make([]catalogapi.LinkStatus, 0, len(ls.links))
	for _, l := range ls.links {
		out = append(out, l.status())
	}
	return out
}

func (l *link) status() catalogapi.LinkStatus {
	s := catalogapi.LinkStatus{Directory: l.cfg.Directory, Catalog: l.cfg.Catalog, KeyID: l.keyID, State: "missing"}
	idx, why := l.current()
	if latest := l.latest(); latest != nil {
		s.IndexVersion, s.IndexIssued, s.IndexExpires = latest.Version, latest.Issued, latest.Expires
		s.State = "current"
	}
	if why != "" {
		s.Stale = why
		if s.State == "current" {
			s.State = "expired"
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s.LastPoll, s.Error, s.Artifacts, s.Pending = l.lastPoll, l.lastErr, l.served, len(l.pending)
	s.ListedThere, s.NoticeError = l.listedThere, l.noticeErr
	if idx != nil && len(l.pending) > 0 {
		s.LagSeconds = max(0, l.now().Sub(idx.Issued).Seconds())
	}
	for _, id := range sortedKeys(l.pending) {
		if why := l.pending[id]; why != "" {
			s.Failures = append(s.Failures, id+": "+why)
		}
	}
	for _, id := range sortedKeys(l.conflicts) {
		s.Failures = append(s.Failures, id+": "+l.conflicts[id])
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (l *link) now() time.Time { return l.follow.Now() }

// latest is the newest index accepted from the link's key or its successors, expired or
// not; nil before any. It changes only when the follower polls (see take), and is read
// on every request for the catalog (Stale).
func (l *link) latest() *index.Index { return l.newest.Load() }

// take notes the newest index the follower holds now.
func (l *link) take() {
	var out *index.Index
	for _, idx := range l.follow.Indexes() {
		if out == nil || idx.Issued.After(out.Issued) {
			out = idx
		}
	}
	l.newest.Store(out)
}

// current is the index the link follows now, or why there is none.
func (l *link) current() (*index.Index, string) {
	idx := l.latest()
	switch {
	case idx == nil:
		return nil, fmt.Sprintf("%s has served no index of key %s this directory accepted", l.cfg.Directory, l.keyID)
	case !l.now().Before(idx.Expires):
		return nil, fmt.Sprintf("the index of key %s from %s expired at %s; this directory takes nothing of catalog %s until a current one arrives",
			idx.Key, l.cfg.Directory, idx.Expires.Format(time.RFC3339), l.cfg.Catalog)
	}
	return idx, ""
}

// poll takes the other directory's index and carries it out: expunges first (they
// are quick, and must not wait behind downloads), then the artifacts not held yet.
func (l *link) poll(ctx context.Context) {
	due := time.Now().Add(l.cfg.Interval)
	l.follow.Poll(ctx)
	l.take()
	idx, why := l.current()
	var err error
	if idx != nil {
		err = l.refreshSeeds(ctx)
		l.notify(ctx)
		l.apply(ctx, idx, due)
	}
	l.mu.Lock()
	l.lastPoll = l.now()
	l.lastErr = why
	if err != nil {
		l.lastErr = err.Error()
	}
	l.mu.Unlock()
}

// apply makes the catalog hold what idx lists of the linked catalog, starting no
// download after due.
func (l *link) apply(ctx context.Context, idx *index.Index, due time.Time) {
	var listed []index.Entry
	for _, e := range idx.Entries {
		if e.Catalog == l.cfg.Catalog {
			listed = append(listed, e)
		}
	}
	pending, conflicts, served := map[string]string{}, map[string]string{}, 0
	var fetch []index.Entry
	for _, e := range listed {
		ih, state, held := l.deps.Catalog.Holds(e.ID())
		switch {
		case held && ih != e.InfoHash:
			conflicts[e.ID()] = fmt.Sprintf("held here with infohash %s; the index lists %s", ih, e.InfoHash)
		case e.State == index.StateExpunged && held && state == catalogapi.Published:
			reason := fmt.Sprintf("expunged in the index of key %s from %s: %s", idx.Key, l.cfg.Directory, e.Reason)
			if err := l.deps.Catalog.Expunge(ctx, e.ID(), reason); err != nil {
				conflicts[e.ID()] = "expunge: " + err.Error()
				continue
			}
			l.log.Info("link: expunged as the index says", "artifact", e.ID(), "reason", e.Reason)
		case e.State == index.StateExpunged:
		case !held:
			pending[e.ID()] = ""
			fetch = append(fetch, e)
		case state == catalogapi.Published:
			served++
		}
	}
	l.mu.Lock()
	l.pending, l.conflicts, l.served = pending, conflicts, served
	l.mu.Unlock()
	for _, e := range fetch {
		// The next poll is due: its expunges come before more downloads.
		if ctx.Err() != nil || !time.Now().Before(due) {
			return
		}
		err := l.importEntry(ctx, idx, e)
		l.mu.Lock()
		if err != nil {
			l.pending[e.ID()] = err.Error()
		} else {
			delete(l.pending, e.ID())
			l.served++
		}
		l.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			l.log.Warn("link: cannot take an artifact the index lists; will retry at the next poll", "artifact", e.ID(), "err", err)
		}
	}
}

// importEntry downloads the artifact e lists and has the catalog publish it, if its
// torrent and bytes are what e says.
func (l *link) importEntry(ctx context.Context, idx *index.Index, e index.Entry) error {
	entry, err := json.Marshal(e)
	if err != nil {
		return err
	}
	v := Voucher{Publisher: "link:" + l.host(), Entry: entry, KeyID: idx.Key, Issued: idx.Issued,
		IndexURL: fmt.Sprintf("%s/indexes/%s/index.json#version=%d", l.cfg.Directory, idx.Key, idx.Version)}
	var ih metainfo.Hash
	if err := ih.FromHexString(e.InfoHash); err != nil {
		return fmt.Errorf("index entry infohash %q: %w", e.InfoHash, err)
	}
	mi, m, err := l.torrent(ctx, e)
	if err != nil {
		return err
	}
	out := filepath.Join(l.dir, "fetch")
	// A download that finished before a crash, and was not published: fetched again
	// (the fetcher resumes only from its partial state, and puts nothing over a file).
	if err := os.RemoveAll(filepath.Join(out, m.Root)); err != nil {
		return err
	}
	start := time.Now()
	paths, err := l.deps.Fetcher.Fetch(ctx, l.cfg.Directory, e.ID(), ih, out)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	err = l.deps.Catalog.Import(ctx, m, paths, mi.InfoBytes, v)
	// Published (its bytes copied into the origin) or refused: the download goes.
	if rerr := os.RemoveAll(filepath.Join(out, m.Root)); rerr != nil {
		l.log.Warn("link: cannot remove a download", "artifact", e.ID(), "err", rerr)
	}
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	l.log.Info("link: artifact taken", "artifact", e.ID(), "infohash", e.InfoHash, "bytes", m.TotalSize(),
		"seconds", time.Since(start).Seconds())
	return nil
}

func (l *link) host() string {
	u, _ := url.Parse(l.cfg.Directory) // Validate parsed it
	return u.Host
}

// torrent fetches the other directory's torrent of e and checks it against e: the
// infohash, and the files' paths and sizes (their sha256 are e's, which the catalog
// checks the bytes against). It returns the torrent and the manifest to publish.
func (l *link) torrent(ctx context.Context, e index.Entry) (*metainfo.MetaInfo, *manifest.Manifest, error) {
	body, err := l.get(ctx, "/t/"+e.ID()+".torrent", maxTorrent)
	if err != nil {
		return nil, nil, err
	}
	mi, err := metainfo.Load(bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("torrent: %w", err)
	}
	if got := mi.HashInfoBytes().HexString(); got != e.InfoHash {
		return nil, nil, fmt.Errorf("%w: the torrent has infohash %s, the index lists %s", index.ErrMismatch, got, e.InfoHash)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, nil, fmt.Errorf("torrent: %w", err)
	}
	files := info.UpvertedFiles()
	if len(files) != len(e.Files) {
		return nil, nil, fmt.Errorf("%w: the torrent has %d files, the index lists %d", index.ErrMismatch, len(files), len(e.Files))
	}
	m := &manifest.Manifest{Catalog: e.Catalog, Name: e.Name, Version: e.Version, Root: info.Name}
	for i, f := range files {
		m.Files = append(m.Files, manifest.File{Path: strings.Join(f.Path, "/"), Size: f.Length, SHA256: e.Files[i].SHA256})
	}
	if err := e.Check(e.InfoHash, index.FilesOf(m)); err != nil {
		return nil, nil, err
	}
	if err := m.Validate(true); err != nil {
		return nil, nil, fmt.Errorf("torrent: %w", err)
	}
	return mi, m, nil
}

// refreshSeeds takes the trackers and web seeds the other directory lists of its own
// for the linked catalog now (its relays come and go).
func (l *link) refreshSeeds(ctx context.Context) error {
	src, err := fetchSources(ctx, l.http, l.cfg.Directory, l.cfg.Catalog, maxLinkedTrackers, maxLinkedSeeds)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.seeds, l.trackers = src.seeds, src.trackers
	l.mu.Unlock()
	return nil
}

// notify tells the other directory that this one links the catalog (LinkerNotice), so
// that its torrents list this one's trackers and web seeds too.
func (l *link) notify(ctx context.Context) {
	if l.deps.PublicURL == "" {
		return
	}
	other := &apiclient.Client{Base: l.cfg.Directory, HTTP: l.http}
	err := other.CallJSON(ctx, http.MethodPost, LinkersPath, catalogapi.LinkerNotice{Catalog: l.cfg.Catalog, URL: l.deps.PublicURL}, nil)
	l.mu.Lock()
	defer l.mu.Unlock()
	was := l.noticeErr
	l.listedThere, l.noticeErr = err == nil, ""
	if err != nil {
		l.noticeErr = err.Error()
		if l.noticeErr != was {
			l.log.Warn("link: the other directory does not list this one in its torrents", "err", err)
		}
	}
}

// get reads path of the other directory, at most limit bytes.
func (l *link) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	body, _, err := boundedget.Get(ctx, l.http, l.cfg.Directory+path, "", limit)
	return body, err
}
