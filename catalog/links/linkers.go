package links

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/netcheck"
)

// LinkersPath is where a directory takes a LinkerNotice (POST).
const LinkersPath = "/api/v1/federation/linkers"

// Errors of Notice. Each is wrapped with the details.
var (
	// ErrBadNotice: the notice is malformed (its catalog or URL).
	ErrBadNotice = errors.New("invalid linker notice")
	// ErrNotServed: this directory has no artifact of the catalog named.
	ErrNotServed = errors.New("catalog not served here")
	// ErrNotLinked: the directory named could not be read, or does not say that it
	// links the catalog from this directory.
	ErrNotLinked = errors.New("the directory does not link the catalog from here")
	// ErrNotHere and ErrCorrupt are what Catalog.CheckSeed returns (wrapped) for an
	// artifact this directory does not serve, and for a piece that does not match its hash.
	ErrNotHere = errors.New("no such artifact here")
	ErrCorrupt = errors.New("bad piece")
	// ErrLinkersFull: as many directories as LinkersConfig.Max link this one already,
	// or as many notices as are checked at once are being checked; try again later.
	ErrLinkersFull = errors.New("no room for another linking directory")
)

// errLinksElsewhere: the directory answers, and no longer links the catalog from here.
var errLinksElsewhere = errors.New("links it from elsewhere")

// LinkersConfig is how a directory treats the directories that link its catalogs
// (directory.federation.linkers).
type LinkersConfig struct {
	// Max bounds the (directory, catalog) pairs listed at once; 0 lists none.
	Max int `mapstructure:"max"`
	// Refresh is how often each one's sources are read again: its relays come and go,
	// and one that stops answering or linking is no longer listed.
	Refresh time.Duration `mapstructure:"refresh"`
}

// DefaultLinkersConfig lists up to 16 linking directories, read every 30 s.
func DefaultLinkersConfig() LinkersConfig { return LinkersConfig{Max: 16, Refresh: 30 * time.Second} }

// Validate checks c's bounds.
func (c LinkersConfig) Validate() error {
	if c.Max < 0 || c.Max > 1024 {
		return fmt.Errorf("max: %d is not in [0, 1024]", c.Max)
	}
	if c.Refresh < time.Second {
		return fmt.Errorf("refresh: %s is below 1s", c.Refresh)
	}
	return nil
}

// What one linking directory may add to this one's torrents per artifact, and all of
// them together: the rest of their relays are found through the swarm.
const (
	linkerTrackers     = 2
	linkerSeeds        = 4
	linkersTrackersMax = 8
	linkersSeedsMax    = 32
)

const (
	linkerFailures      = 3                // refreshes failed in a row before one is dropped
	noticeCheckTimeout  = 10 * time.Second // reading the linking directory's sources
	concurrentNoticeChk = 2                // notices checked at once; more are told to retry
	// A linking directory's web seeds are listed by host (its origin copy, each of its
	// relays) once a piece fetched from the host checked out against its hash, for
	// seedTrust; a host is checked again, with another piece, after half of it, and up
	// to seedChecksPerRefresh hosts of a linker are checked at each refresh. A host
	// that served a bad piece is not checked again, nor listed, for seedTrust.
	seedTrust            = time.Hour
	seedChecksPerRefresh = 4
)

// linkers are the directories that serve a catalog of this one through a link of
// theirs: they say so (Notice), this one checks it with them, and lists their trackers
// and web seeds in its torrents of the catalog while they go on saying it. They are
// kept in memory: each notices again at each of its polls, so a restart forgets them
// for one poll of theirs at most.
type linkers struct {
	cfg    LinkersConfig
	deps   Deps
	http   *http.Client
	checks chan struct{} // a slot per notice being checked
	wake   chan struct{} // kick
	log    *slog.Logger

	mu  sync.Mutex
	all map[linkerKey]*linker
}

type linkerKey struct{ url, catalog string }

// linker is one directory linking one catalog of this one.
type linker struct {
	linkerKey
	since       time.Time
	lastRefresh time.Time
	src         *sources // nil after a failed refresh: nothing of it is listed then
	hosts       map[string]*hostCheck
	err         string
	failures    int
}

// hostCheck is the last piece check of a web seed host of a linker.
type hostCheck struct {
	at      time.Time
	ok      bool
	corrupt bool // the piece did not match its hash
	err     string
}

func (h *hostCheck) listed(now time.Time) bool { return h.ok && now.Sub(h.at) < seedTrust }

func (h *hostCheck) due(now time.Time) bool {
	switch {
	case h.ok:
		return now.Sub(h.at) >= seedTrust/2
	case h.corrupt:
		return now.Sub(h.at) >= seedTrust
	}
	return true // failed otherwise (down, not holding it): tried again at once
}

func newLinkers(cfg LinkersConfig, deps Deps, log *slog.Logger) *linkers {
	return &linkers{
		cfg: cfg, deps: deps, http: netcheck.Client(noticeCheckTimeout, deps.AllowPrivate),
		checks: make(chan struct{}, concurrentNoticeChk), wake: make(chan struct{}, 1), log: log, all: map[linkerKey]*linker{},
	}
}

// Notice takes n: the directory at n.URL says it links n.Catalog from this one. A new
// one is checked with that directory before it is listed; one listed already is
// checked at each refresh instead.
func (ls *linkers) notice(ctx context.Context, n catalogapi.LinkerNotice) (catalogapi.LinkerStatus, error) {
	if err := names.CheckComponent(n.Catalog); err != nil {
		return catalogapi.LinkerStatus{}, fmt.Errorf("%w: catalog: %w", ErrBadNotice, err)
	}
	if err := netcheck.CheckBaseURL(ctx, n.URL, ls.deps.AllowPrivate); err != nil {
		return catalogapi.LinkerStatus{}, fmt.Errorf("%w: url: %w", ErrBadNotice, err)
	}
	k := linkerKey{url: strings.TrimRight(n.URL, "/"), catalog: n.Catalog}
	if sameDirectory(k.url, ls.deps.PublicURL) {
		return catalogapi.LinkerStatus{}, fmt.Errorf("%w: url: %s is this directory", ErrBadNotice, n.URL)
	}
	if ls.deps.Serves == nil || !ls.deps.Serves(n.Catalog) {
		return catalogapi.LinkerStatus{}, fmt.Errorf("%w: %s", ErrNotServed, n.Catalog)
	}
	ls.mu.Lock()
	l, known := ls.all[k]
	full := len(ls.all) >= ls.cfg.Max
	ls.mu.Unlock()
	switch {
	case known:
		return ls.status(l), nil
	case ls.cfg.Max == 0:
		return catalogapi.LinkerStatus{}, fmt.Errorf("%w: this directory lists no linking directories (federation.linkers.max is 0)", ErrLinkersFull)
	case full:
		return catalogapi.LinkerStatus{}, fmt.Errorf("%w: %d directories link this one (federation.linkers.max)", ErrLinkersFull, ls.cfg.Max)
	}
	select {
	case ls.checks <- struct{}{}:
		defer func() { <-ls.checks }()
	default:
		return catalogapi.LinkerStatus{}, fmt.Errorf("%w: other notices are being checked", ErrLinkersFull)
	}
	src, err := ls.check(ctx, k)
	if err != nil {
		return catalogapi.LinkerStatus{}, err
	}
	now := ls.now()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if l, known := ls.all[k]; known { // checked meanwhile by another notice
		return ls.statusLocked(l), nil
	}
	if len(ls.all) >= ls.cfg.Max {
		return catalogapi.LinkerStatus{}, fmt.Errorf("%w: %d directories link this one (federation.linkers.max)", ErrLinkersFull, ls.cfg.Max)
	}
	l = &linker{linkerKey: k, since: now, lastRefresh: now, src: src, hosts: map[string]*hostCheck{}}
	ls.all[k] = l
	ls.log.Info("linked by another directory: its trackers go into this one's torrents of the catalog, its web seeds once checked",
		"linker", k.url, "catalog", k.catalog, "artifacts", len(src.seeds))
	ls.kick()
	return ls.statusLocked(l), nil
}

// check reads k's sources, and whether it says it links k.catalog from here.
func (ls *linkers) check(ctx context.Context, k linkerKey) (*sources, error) {
	ctx, cancel := context.WithTimeout(ctx, noticeCheckTimeout)
	defer cancel()
	src, err := fetchSources(ctx, ls.http, k.url, k.catalog, linkerTrackers, linkerSeeds)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotLinked, err)
	}
	if !sameDirectory(src.linkedFrom, ls.deps.PublicURL) {
		from := src.linkedFrom
		if from == "" {
			from = "no directory"
		}
		return nil, fmt.Errorf("%w: %w: %s%s?catalog=%s names %s as where it links %s from, not %s",
			ErrNotLinked, errLinksElsewhere, k.url, SourcesPath, k.catalog, from, k.catalog, ls.deps.PublicURL)
	}
	return src, nil
}

func (ls *linkers) now() time.Time {
	if ls.deps.Now != nil {
		return ls.deps.Now()
	}
	return time.Now()
}

// kick has run refresh every linker now: a new one's web seeds are checked then.
func (ls *linkers) kick() {
	select {
	case ls.wake <- struct{}{}:
	default:
	}
}

// run refreshes every linker each Refresh, and when kicked, until ctx ends.
func (ls *linkers) run(ctx context.Context) {
	t := time.NewTicker(ls.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-ls.wake:
		}
		ls.mu.Lock()
		all := make([]*linker, 0, len(ls.all))
		for _, l := range ls.all {
			all = append(all, l)
		}
		ls.mu.Unlock()
		var wg sync.WaitGroup
		for _, l := range all {
			wg.Go(func() { ls.refresh(ctx, l) })
		}
		wg.Wait()
	}
}

// refresh reads l's sources again and checks a piece from each of its web seed hosts
// that is due (hostCheck). A failure takes its sources out of the torrents at once;
// linkerFailures in a row, or a directory that no longer links the catalog from here,
// forget it until it notices again.
func (ls *linkers) refresh(ctx context.Context, l *linker) {
	src, err := ls.check(ctx, l.linkerKey)
	if ctx.Err() != nil {
		return
	}
	if err == nil {
		ls.checkSeeds(ctx, l, src)
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l.lastRefresh, l.src, l.err = ls.now(), src, ""
	if err == nil {
		l.failures = 0
		return
	}
	l.err = err.Error()
	l.failures++
	if l.failures >= linkerFailures || errors.Is(err, errLinksElsewhere) {
		delete(ls.all, l.linkerKey)
		ls.log.Warn("no longer linked by a directory", "linker", l.url, "catalog", l.catalog, "failures", l.failures, "err", err)
	}
}

// checkSeeds checks a piece from up to seedChecksPerRefresh of src's web seed hosts
// that are due, each from one of its seeds drawn at random.
func (ls *linkers) checkSeeds(ctx context.Context, l *linker, src *sources) {
	type pick struct {
		seed string
		ih   metainfo.Hash
	}
	now := ls.now()
	ls.mu.Lock()
	byHost := map[string][]pick{}
	for ih, seeds := range src.seeds {
		for _, seed := range seeds {
			host := seedHost(seed)
			if h := l.hosts[host]; h == nil || h.due(now) {
				byHost[host] = append(byHost[host], pick{seed, ih})
			}
		}
	}
	for host := range l.hosts {
		if !src.hasHost(host) {
			delete(l.hosts, host) // no longer one of its seeds
		}
	}
	ls.mu.Unlock()
	n := 0
	for host, picks := range byHost { // map order: a random choice of hosts when more are due
		if n == seedChecksPerRefresh || ctx.Err() != nil {
			return
		}
		p := picks[rand.IntN(len(picks))]
		err := ls.deps.Catalog.CheckSeed(ctx, p.seed, p.ih)
		if errors.Is(err, ErrNotHere) || ctx.Err() != nil {
			continue // an artifact this directory does not serve (now): nothing to check it against
		}
		n++
		h := &hostCheck{at: ls.now(), ok: err == nil, corrupt: errors.Is(err, ErrCorrupt)}
		if err != nil {
			h.err = err.Error()
			ls.log.Warn("a linking directory's web seed failed its check: not listed", "linker", l.url, "seed", p.seed, "err", err)
		}
		ls.mu.Lock()
		l.hosts[host] = h
		ls.mu.Unlock()
	}
}

// seedHost is the scheme and host of a web seed: the unit its checks vouch for.
func seedHost(seed string) string {
	u, err := url.Parse(seed)
	if err != nil {
		return seed
	}
	return u.Scheme + "://" + u.Host
}

// sources appends the trackers and web seeds the linkers list for ih, oldest linker
// first, up to the bounds for all of them, to trackers and webSeeds.
func (ls *linkers) sources(ih metainfo.Hash, trackers, webSeeds []string) ([]string, []string) {
	now := ls.now()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var with []*linker
	for _, l := range ls.all {
		if l.src != nil && l.src.seeds[ih] != nil {
			with = append(with, l)
		}
	}
	slices.SortFunc(with, func(a, b *linker) int {
		return cmp.Or(a.since.Compare(b.since), cmp.Compare(a.url, b.url))
	})
	var nt, ns int
	for _, l := range with {
		for _, t := range l.src.trackers {
			if nt < linkersTrackersMax && !slices.Contains(trackers, t) {
				trackers, nt = append(trackers, t), nt+1
			}
		}
		for _, s := range l.src.seeds[ih] {
			if h := l.hosts[seedHost(s)]; h != nil && h.listed(now) && ns < linkersSeedsMax && !slices.Contains(webSeeds, s) {
				webSeeds, ns = append(webSeeds, s), ns+1
			}
		}
	}
	return trackers, webSeeds
}

func (ls *linkers) status(l *linker) catalogapi.LinkerStatus {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.statusLocked(l)
}

func (ls *linkers) statusLocked(l *linker) catalogapi.LinkerStatus {
	s := catalogapi.LinkerStatus{URL: l.url, Catalog: l.catalog, Since: l.since, LastRefresh: l.lastRefresh,
		Error: l.err, Failures: l.failures, Trackers: []string{}, SeedHosts: []string{}}
	if l.src != nil {
		s.Artifacts, s.Trackers = len(l.src.seeds), slices.Clone(l.src.trackers)
	}
	now := ls.now()
	for host, h := range l.hosts {
		switch {
		case h.listed(now):
			s.SeedHosts = append(s.SeedHosts, host)
		case h.err != "":
			s.SeedsRefused = append(s.SeedsRefused, host+": "+h.err)
		}
	}
	slices.Sort(s.SeedHosts)
	slices.Sort(s.SeedsRefused)
	return s
}

// statuses describe every linker, by catalog and URL.
func (ls *linkers) statuses() []catalogapi.LinkerStatus {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	out := make([]catalogapi.LinkerStatus, 0, len(ls.all))
	for _, l := range ls.all {
		out = append(out, ls.statusLocked(l))
	}
	slices.SortFunc(out, func(a, b catalogapi.LinkerStatus) int {
		return cmp.Or(strings.Compare(a.Catalog, b.Catalog), strings.Compare(a.URL, b.URL))
	})
	return out
}
