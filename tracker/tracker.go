package tracker

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Catalog tells the tracker which swarms it may track: the catalog's published artifacts.
type Catalog interface {
	// Trackable returns the artifact's total length in bytes for an infohash that may be
	// tracked, or an error whose text tells the client why not (unknown, or expunged and
	// why). The length caps what one announce may add to ReportedDownloaded.
	Trackable(ih [20]byte) (length int64, err error)
	// Trackables lists every infohash that may be tracked, for a full scrape.
	Trackables() [][20]byte
}

// CounterStore keeps swarm counters across restarts.
type CounterStore interface {
	LoadSwarmCounters(ctx context.Context) ([]Counters, error)
	SaveSwarmCounters(ctx context.Context, cs []Counters) error
}

// Tracker is the directory's tracker. Mount HTTPHandler at /announce and /scrape, run
// ServeUDP on a packet socket, and Run for expiry and counter flushes.
type Tracker struct {
	cfg     Config
	catalog Catalog
	store   CounterStore
	log     *slog.Logger
	now     func() time.Time
	swarms  *swarms
	proxies []netip.Prefix
	connKey [32]byte // keys UDP connection ids
	metrics *metrics

	fullMu sync.Mutex // guards full and fullAt: the last full scrape's answer
	full   []byte
	fullAt time.Time
}

// New returns a tracker and restores its saved counters.
func New(ctx context.Context, cfg Config, catalog Catalog, store CounterStore, reg prometheus.Registerer, log *slog.Logger) (*Tracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tracker config: %w", err)
	}
	proxies, _ := cfg.Proxies()
	sw := newSwarms(cfg)
	t := &Tracker{
		cfg:     cfg,
		catalog: catalog,
		store:   store,
		log:     log,
		now:     time.Now,
		swarms:  sw,
		proxies: proxies,
		metrics: newMetrics(reg, sw.reportedDownloaded),
	}
	rand.Read(t.connKey[:])
	saved, err := store.LoadSwarmCounters(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracker: %w", err)
	}
	var kept []Counters
	for _, c := range saved {
		if _, err := catalog.Trackable(c.InfoHash); err == nil {
			kept = append(kept, c)
		}
	}
	t.swarms.restore(kept)
	return t, nil
}

// tracks reports whether the catalog lets the tracker track ih.
func (t *Tracker) tracks(ih [20]byte) bool {
	_, err := t.catalog.Trackable(ih)
	return err == nil
}

// ReportedDownloaded is the bytes clients (not relays) said they downloaded since this
// process started: the sum of the rises of each listed peer's BEP 3 "downloaded" between
// two of its announces, each capped at the artifact's length. It is the clients' own word,
// from every source (the origin, relays, other peers), and any client can inflate it
// by up to one copy of the artifact per announce.
func (t *Tracker) ReportedDownloaded() int64 { return t.swarms.reportedDownloaded() }

// Stats returns the counters of the swarm of ih (zero when it has none).
func (t *Tracker) Stats(ih [20]byte) Stats {
	s, _ := t.swarms.stats(ih, t.now())
	return s
}

// Peers are up to n peers of the swarm of ih, seeders first: what a DHT node of the
// directory answers get_peers with, so that clients that find peers only through the
// DHT see those the tracker lists. None for an infohash the catalog does not track.
func (t *Tracker) Peers(ih [20]byte, n int) []netip.AddrPort {
	if n <= 0 || !t.tracks(ih) {
		return nil
	}
	picked := t.swarms.peersOf(ih, n, make([]chosen, 0, n))
	out := make([]netip.AddrPort, len(picked))
	for i := range picked {
		out[i] = picked[i].addrPort()
	}
	return out
}

// CountRedirects adds n plain HTTP downloads of ih, sent to a copy by the directory's
// redirector, to the swarm's demand. Only catalog swarms count. Unlike announces, which
// count once per host and interval, each redirect counts: the redirector answers one per
// request, and bounding what one client may ask of it is the HTTP edge's job.
func (t *Tracker) CountRedirects(ih [20]byte, n int64) {
	if n > 0 && t.tracks(ih) {
		t.swarms.redirected(ih, n, t.now())
	}
}

// Run expires peers and flushes counters until ctx ends, then flushes once more.
func (t *Tracker) Run(ctx context.Context) error {
	sweep := time.NewTicker(min(t.cfg.Interval/2, time.Minute))
	flush := time.NewTicker(t.cfg.FlushInterval)
	defer sweep.Stop()
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			// The caller's context is gone; the last flush gets a short one of its own.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			return t.flush(fctx)
		case <-sweep.C:
			t.sweep()
		case <-flush.C:
			if err := t.flush(ctx); err != nil {
				t.log.Error("tracker: saving counters", "err", err)
			}
		}
	}
}

func (t *Tracker) sweep() {
	swarms := 0 // the ones kept: sweep asks once per swarm
	peers := t.swarms.sweep(t.now(), func(ih [20]byte) bool {
		ok := t.tracks(ih)
		if ok {
			swarms++
		}
		return ok
	})
	t.metrics.peers.Set(float64(peers))
	t.metrics.swarms.Set(float64(swarms))
}

// flush writes the counters that changed since the last flush, in one batch.
func (t *Tracker) flush(ctx context.Context) error {
	cs := t.swarms.dirtyCounters()
	if len(cs) == 0 {
		return nil
	}
	if err := t.store.SaveSwarmCounters(ctx, cs); err != nil {
		t.swarms.markDirty(cs)
		return fmt.Errorf("save %d swarm counters: %w", len(cs), err)
	}
	return nil
}

// answer is the outcome of an announce, for either transport to encode.
type answer struct {
	announceResult
	peers []chosen
}

// announce checks that a's swarm may be tracked, records the peer at from, and picks
// peers for it into buf.
func (t *Tracker) announce(a *Announce, from netip.AddrPort, buf []chosen) (answer, error) {
	length, err := t.catalog.Trackable(a.InfoHash)
	if err != nil {
		if a.Event == EventStopped {
			// A peer leaving a swarm that is not tracked (a relay dropping an expunged
			// artifact) is told nothing: it is gone either way, and an error to many
			// such "stopped" at once trips a data race in anacrolix v1.61.0's UDP
			// tracker client (tracker/udp/client.go:235 against :89).
			return answer{}, nil
		}
		return answer{}, err
	}
	numWant := a.NumWant
	if numWant < 0 {
		numWant = t.cfg.DefaultNumWant
	}
	numWant = min(numWant, t.cfg.MaxNumWant)
	res, peers := t.swarms.announce(a, length, from, t.now(), t.cfg.peerTTL(), numWant, buf[:0])
	return answer{res, peers}, nil
}

// scraped is one infohash's scrape result.
type scraped struct {
	Stats
	tracked bool // false for infohashes outside the catalog
}

// scrape returns the counters of each infohash.
func (t *Tracker) scrape(ihs [][20]byte) []scraped {
	now := t.now()
	out := make([]scraped, len(ihs))
	for i, ih := range ihs {
		if t.tracks(ih) {
			out[i].Stats, _ = t.swarms.stats(ih, now)
			out[i].tracked = true
		}
	}
	return out
}

type metrics struct {
	announces *prometheus.CounterVec
	scrapes   *prometheus.CounterVec
	peers     prometheus.Gauge
	swarms    prometheus.Gauge
}

// newMetrics registers the tracker's metrics; reported reads ReportedDownloaded.
func newMetrics(reg prometheus.Registerer, reported func() int64) *metrics {
	m := &metrics{
		announces: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "odi", Subsystem: "tracker", Name: "announces_total",
			Help: "Announces by transport and result (ok, refused, bad_request; UDP: rate_limited packets).",
		}, []string{"transport", "result"}),
		scrapes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "odi", Subsystem: "tracker", Name: "scrapes_total",
			Help: "Scrapes by transport.",
		}, []string{"transport"}),
		peers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "odi", Subsystem: "tracker", Name: "peers",
			Help: "Peers listed across all swarms, as of the last expiry sweep.",
		}),
		swarms: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "odi", Subsystem: "tracker", Name: "swarms",
			Help: "Swarms of published artifacts the tracker keeps, as of the last expiry sweep.",
		}),
	}
	downloaded := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "odi", Subsystem: "tracker", Name: "reported_downloaded_bytes_total",
		Help: "Bytes BitTorrent clients other than relays report downloading, from any source: the rises of each peer's announced downloaded, at most the artifact's length per announce. The clients' own word.",
	}, func() float64 { return float64(reported()) })
	if reg != nil {
		reg.MustRegister(m.announces, m.scrapes, m.peers, m.swarms, downloaded)
	}
	return m
}
