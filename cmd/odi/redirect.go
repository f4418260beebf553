package main

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/catalog"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/webseed"
)

// redirectTargets shows the catalog to the redirector: the artifact, and the relays that
// may be sent its users right now. It answers most redirects from a cache of Targets
// keyed by the URL's catalog, name and version: one map lookup, where asking the catalog
// (the artifact, then its relays) and decoding its info dict cost more than the redirect.
// The redirector counts each artifact's redirects in its Targets' counter, which Run hands
// on to the tracker as demand every redirectFlushInterval.
type redirectTargets struct {
	cat    *catalog.Catalog
	demand redirectDemand
	seed   maphash.Seed
	shards [targetShards]targetShard

	countsMu sync.Mutex
	counts   map[metainfo.Hash]*atomic.Int64 // per artifact, shared by its Targets
	total    atomic.Int64                    // every artifact's, as flushed: for the charts
	byRelay  map[string]*atomic.Int64        // GETs sent to each relay, for metrics (under countsMu)
}

// redirectDemand is where redirect counts go: the tracker's popularity counters.
type redirectDemand interface {
	CountRedirects(ih [20]byte, n int64)
}

// redirectFlushInterval is how late redirects show in an artifact's demand: counting
// each one in the tracker's swarm map was a fifth of the redirector's own CPU time
// (perf over scripts/bench/redirect.sh), cache misses in two maps of every artifact.
const redirectFlushInterval = time.Second

// targetShards spreads the cache over locks, so that concurrent redirects do not all
// take turns on one.
const targetShards = 64

type targetShard struct {
	mu sync.RWMutex
	m  map[targetKey]*cachedTarget
}

type targetKey struct{ catalog, name, version string }

// cachedTarget is a Target as it was under one catalog generation. A new generation
// (a publish or an expunge) sends the next redirect back to the catalog; the artifact's
// relays are asked again once until has passed.
type cachedTarget struct {
	a          *catalog.Artifact
	base       *webseed.Target // prepared, without mirrors: artifacts are immutable
	t          *webseed.Target // base with the relays listed at the time
	generation uint64
	until      int64 // Unix nanoseconds
}

// mirrorsTTL is how long a redirect may send users by a list of an artifact's relays
// already built: a relay found down or quarantined leaves redirects this much later than
// url-lists, next to the probe intervals (a minute) that find it out.
const mirrorsTTL = time.Second

func newRedirectTargets(cat *catalog.Catalog, demand redirectDemand) *redirectTargets {
	rt := &redirectTargets{cat: cat, demand: demand, seed: maphash.MakeSeed(), counts: map[metainfo.Hash]*atomic.Int64{},
		byRelay: map[string]*atomic.Int64{}}
	for i := range rt.shards {
		rt.shards[i].m = map[targetKey]*cachedTarget{}
	}
	return rt
}

var _ webseed.Resolver = (*redirectTargets)(nil)

func (rt *redirectTargets) Resolve(cat, name, version string) (*webseed.Target, error) {
	key := targetKey{cat, name, version}
	sh := &rt.shards[maphash.String(rt.seed, name)%targetShards]
	sh.mu.RLock()
	c := sh.m[key]
	sh.mu.RUnlock()
	generation := rt.cat.Generation()
	now := time.Now().UnixNano()
	if c != nil && c.generation == generation && now < c.until {
		return c.t, nil
	}

	a, err := rt.artifact(cat, name, version)
	if err != nil {
		return nil, err
	}
	next := &cachedTarget{a: a, generation: generation, until: now + int64(mirrorsTTL)}
	if c != nil && c.a == a {
		next.base = c.base
	} else if next.base, err = rt.base(a); err != nil {
		return nil, err
	}
	t := *next.base
	mirrors := rt.cat.Mirrors(a.InfoHash)
	t.Mirrors = make([]webseed.Mirror, len(mirrors))
	for i, m := range mirrors {
		t.Mirrors[i] = webseed.Mirror{Base: m.Base, Country: m.Country, Continent: m.Continent,
			CapacityBytes: m.CapacityBytes, Load: m.Load, Redirects: rt.relayCounter(m.Relay)}
	}
	t.Prepare()
	next.t = &t
	sh.mu.Lock()
	sh.m[key] = next
	sh.mu.Unlock()
	return next.t, nil
}

// artifact asks the catalog for a published artifact.
func (rt *redirectTargets) artifact(cat, name, version string) (*catalog.Artifact, error) {
	var a *catalog.Artifact
	var err error
	if strings.EqualFold(version, names.Latest) {
		a, err = rt.cat.Latest(cat, name)
	} else {
		a, err = rt.cat.Artifact(cat, name, version)
	}
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return nil, classed{err, webseed.ErrNotFound}
	case err != nil:
		return nil, err
	case a.State == catalogapi.Expunged:
		return nil, classed{fmt.Errorf("%s was expunged: %s", a.ID(), a.Reason), webseed.ErrGone}
	}
	return a, nil
}

// classed is err, which already says what went wrong (users read it as the answer's
// detail), marked as also being class, a sentinel of another package, without saying
// it twice ("not found: artifact x: not found").
type classed struct{ err, class error }

func (c classed) Error() string   { return c.err.Error() }
func (c classed) Unwrap() []error { return []error{c.err, c.class} }

// base builds what never changes of a's Target.
func (rt *redirectTargets) base(a *catalog.Artifact) (*webseed.Target, error) {
	var info metainfo.Info
	if err := bencode.Unmarshal(a.Info, &info); err != nil {
		return nil, fmt.Errorf("info dict of %s: %w", a.ID(), err)
	}
	t := &webseed.Target{
		Manifest: a.Manifest, InfoHash: a.InfoHash, PieceLength: a.PieceLength, Pieces: info.Pieces,
		TorrentURL: rt.cat.TorrentURL(a), Origin: rt.cat.OriginSeed(a), OriginDownload: rt.cat.OriginDownload(a),
		Redirects: rt.counter(a.InfoHash),
	}
	t.Prepare()
	return t, nil
}

// counter returns ih's redirect counter, the same for every Target of the artifact, so
// that no count is lost when a Target is replaced while requests still use it.
func (rt *redirectTargets) counter(ih metainfo.Hash) *atomic.Int64 {
	rt.countsMu.Lock()
	defer rt.countsMu.Unlock()
	c := rt.counts[ih]
	if c == nil {
		c = new(atomic.Int64)
		rt.counts[ih] = c
	}
	return c
}

// relayCounter returns the counter of the redirects sent to relay id, one per relay: the
// relays the directory ever listed, bounded by its relays.
func (rt *redirectTargets) relayCounter(id string) *atomic.Int64 {
	rt.countsMu.Lock()
	defer rt.countsMu.Unlock()
	c := rt.byRelay[id]
	if c == nil {
		c = new(atomic.Int64)
		rt.byRelay[id] = c
	}
	return c
}

// relayRedirects returns each relay's redirect count.
func (rt *redirectTargets) relayRedirects() map[string]int64 {
	rt.countsMu.Lock()
	defer rt.countsMu.Unlock()
	out := make(map[string]int64, len(rt.byRelay))
	for id, c := range rt.byRelay {
		out[id] = c.Load()
	}
	return out
}

// Run hands the redirect counts on every redirectFlushInterval until ctx ends. The
// directory calls flush once more after its HTTP server has stopped.
func (rt *redirectTargets) Run(ctx context.Context) error {
	tick := time.NewTicker(redirectFlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			rt.flush()
		}
	}
}

// flush hands the counts made since the last flush on to the tracker.
func (rt *redirectTargets) flush() {
	rt.countsMu.Lock()
	defer rt.countsMu.Unlock()
	for ih, c := range rt.counts {
		if n := c.Swap(0); n > 0 {
			rt.demand.CountRedirects(ih, n)
			rt.total.Add(n)
		}
	}
}
