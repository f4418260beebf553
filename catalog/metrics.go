package catalog

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opendist/odi/catalog/placement"
)

// publishMetrics count the artifacts published here (odi publish and origin pulls), and
// the moves of the placement plans that spread them over relays.
type publishMetrics struct {
	publishes prometheus.Counter
	bytes     prometheus.Counter
	seconds   prometheus.Histogram
	moves     *prometheus.HistogramVec // move: fetch, drop
}

func newPublishMetrics(reg prometheus.Registerer) *publishMetrics {
	m := &publishMetrics{
		publishes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "odi", Subsystem: "directory", Name: "publishes_total",
			Help: "Artifacts published (odi publish and federation origin pulls).",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "odi", Subsystem: "directory", Name: "published_bytes_total",
			Help: "Bytes of the artifacts published.",
		}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "odi", Subsystem: "directory", Name: "publish_duration_seconds",
			Help: "Seconds from a publish's declaration to its artifact being published (upload, hashing and commit).",
			// A small file takes well under a second on loopback; a DVD image over a
			// slow uplink, an hour.
			Buckets: prometheus.ExponentialBuckets(0.1, 4, 9),
		}),
		moves: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "odi", Subsystem: "directory", Name: "placement_plan_moves",
			Help: "Moves in each placement plan computed, summed over relays, by kind: fetch (an artifact a relay is to get) or drop (one it may evict).",
			// From a settled network (none) to a release landing on a hundred relays.
			Buckets: prometheus.ExponentialBuckets(1, 4, 7),
		}, []string{"move"}),
	}
	m.moves.WithLabelValues("fetch")
	m.moves.WithLabelValues("drop")
	if reg != nil {
		reg.MustRegister(m.publishes, m.bytes, m.seconds, m.moves)
	}
	return m
}

// published counts an artifact of size bytes published took since its declaration.
func (m *publishMetrics) published(size int64, took time.Duration) {
	m.publishes.Inc()
	m.bytes.Add(float64(size))
	m.seconds.Observe(took.Seconds())
}

// planned counts the moves of a placement plan just computed.
func (m *publishMetrics) planned(all map[string]placement.RelayPlan) {
	fetches, drops := 0, 0
	for _, p := range all {
		fetches += len(p.Fetch)
		drops += len(p.Drop)
	}
	m.moves.WithLabelValues("fetch").Observe(float64(fetches))
	m.moves.WithLabelValues("drop").Observe(float64(drops))
}

// relayGauges reports, at each scrape, the relays by status and the bytes they say they
// served: the directory's view, which holds even for relays Prometheus cannot reach.
type relayGauges struct{ c *Catalog }

var (
	relaysDesc = prometheus.NewDesc("odi_directory_relays", "Relays known to the directory, by status (up, suspect, suspended, down, quarantined, testing, pending, revoked).",
		[]string{"status"}, nil)
	relayServedDesc = prometheus.NewDesc("odi_directory_relay_bytes_served_total", "Bytes all relays served over HTTP and BitTorrent, as their heartbeats reported them.",
		nil, nil)
	relayStatuses = []string{StatusUp, StatusSuspect, StatusSuspended, StatusDown, StatusQuarantined, StatusTesting, StatusPending, StatusRevoked}
)

func (g relayGauges) Describe(ch chan<- *prometheus.Desc) { ch <- relaysDesc; ch <- relayServedDesc }

func (g relayGauges) Collect(ch chan<- prometheus.Metric) {
	counts := make(map[string]int, len(relayStatuses))
	now := g.c.now()
	g.c.relays.mu.RLock()
	for _, r := range g.c.relays.byID {
		s, _ := g.c.status(r, now)
		counts[s]++
	}
	g.c.relays.mu.RUnlock()
	for _, s := range relayStatuses {
		ch <- prometheus.MustNewConstMetric(relaysDesc, prometheus.GaugeValue, float64(counts[s]), s)
	}
	ch <- prometheus.MustNewConstMetric(relayServedDesc, prometheus.CounterValue, float64(g.c.RelayBytesServed()))
}
