package dhtnode

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register adds the node's metrics to reg, read from Stats when scraped (Deps.Metrics
// does it at New; a role whose registry comes later calls it):
//
//	odi_<subsystem>_dht_queries_total{result="answered|rate_limited|not_allowed"}
//	odi_<subsystem>_dht_packets_dropped_total{reason="oversize|malformed"}
//	odi_<subsystem>_dht_sends_dropped_total
//	odi_<subsystem>_dht_peers, odi_<subsystem>_dht_infohashes
//	odi_<subsystem>_dht_announces_refused_total
//	odi_<subsystem>_dht_nodes{state="all|good"}
func (n *Node) Register(reg prometheus.Registerer, subsystem string) error {
	if subsystem == "" {
		return errors.New("dht metrics: Subsystem is empty")
	}
	opts := func(name, help string, labels prometheus.Labels) prometheus.Opts {
		return prometheus.Opts{Namespace: "odi", Subsystem: subsystem, Name: "dht_" + name, Help: help, ConstLabels: labels}
	}
	counter := func(o prometheus.Opts, f func(Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts(o), func() float64 { return float64(f(n.Stats())) })
	}
	gauge := func(o prometheus.Opts, f func(Stats) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts(o), func() float64 { return float64(f(n.Stats())) })
	}
	const queries = "DHT queries received, by what became of them."
	const dropped = "Incoming DHT packets dropped before decoding as KRPC queries or replies."
	const nodes = "Nodes in the DHT routing table."
	for _, c := range []prometheus.Collector{
		counter(opts("queries_total", queries, prometheus.Labels{"result": "answered"}), func(s Stats) int64 { return s.Answered }),
		counter(opts("queries_total", queries, prometheus.Labels{"result": "rate_limited"}), func(s Stats) int64 { return s.RateLimited }),
		counter(opts("queries_total", queries, prometheus.Labels{"result": "not_allowed"}), func(s Stats) int64 { return s.NotAllowed }),
		counter(opts("packets_dropped_total", dropped, prometheus.Labels{"reason": "oversize"}), func(s Stats) int64 { return s.Oversize }),
		counter(opts("packets_dropped_total", dropped, prometheus.Labels{"reason": "malformed"}), func(s Stats) int64 { return s.Malformed }),
		counter(opts("sends_dropped_total", "Outgoing DHT packets dropped: their destination's bytes per second were spent.", nil), func(s Stats) int64 { return s.SendsDropped }),
		counter(opts("announces_refused_total", "Valid announce_peer not stored: the peer store holds max_infohashes infohashes.", nil), func(s Stats) int64 { return s.AnnouncesRefused }),
		gauge(opts("peers", "Announced peers stored.", nil), func(s Stats) int { return s.Peers }),
		gauge(opts("infohashes", "Infohashes with announced peers stored.", nil), func(s Stats) int { return s.InfoHashes }),
		gauge(opts("nodes", nodes, prometheus.Labels{"state": "all"}), func(s Stats) int { return s.Nodes }),
		gauge(opts("nodes", nodes, prometheus.Labels{"state": "good"}), func(s Stats) int { return s.GoodNodes }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("dht metrics: %w", err)
		}
	}
	return nil
}
