package main

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opendist/odi/seeder"
)

// registerMetrics exposes what the directory's own handlers count: the origin's bytes
// by path, its rationing's 503s and the redirects /r/ answered, in all and by relay. Labels are fixed paths, never a request's.
func (d *directory) registerMetrics() {
	for path, n := range map[string]*atomic.Int64{"/ws/": &d.originSent, "/dl/": &d.originDL} {
		d.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "odi_directory_origin_bytes_sent_total",
			Help:        "Bytes of artifacts the directory's origin copy served, by path: /ws/ (web seeds, rationed in a crowd) or /dl/ (plain HTTP users /r/ sent to the origin).",
			ConstLabels: prometheus.Labels{"path": path},
		}, func() float64 { return float64(n.Load()) }))
	}
	d.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "odi_directory_origin_rationed_total",
		Help: "Requests to the origin's /ws/ answered 503 by its rationing in a crowd (origin.serves): their bytes left the origin moments ago.",
	}, func() float64 { return float64(d.rationed.Load()) }))
	d.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "odi_directory_redirects_total",
		Help: "GET redirects /r/ answered, to a relay or the origin (counted once a second).",
	}, func() float64 { return float64(d.redirects.total.Load()) }))
	d.reg.MustRegister(relayRedirects{d.redirects})
}

// relayRedirects reports the GET redirects /r/ sent to each relay, labelled by the
// relay's id: as many series as relays the directory listed.
type relayRedirects struct{ rt *redirectTargets }

var relayRedirectsDesc = prometheus.NewDesc("odi_directory_relay_redirects_total",
	"GET redirects /r/ sent to a relay, by the relay's id (the rest of odi_directory_redirects_total went to the origin).", []string{"relay"}, nil)

func (r relayRedirects) Describe(ch chan<- *prometheus.Desc) { ch <- relayRedirectsDesc }

func (r relayRedirects) Collect(ch chan<- prometheus.Metric) {
	for id, n := range r.rt.relayRedirects() {
		ch <- prometheus.MustNewConstMetric(relayRedirectsDesc, prometheus.CounterValue, float64(n), id)
	}
}

// registerServedMetrics exposes the bytes a relay served since it started, over HTTP
// (served: its /ws/ and /blob/) and BitTorrent, and its quota.
func registerServedMetrics(reg *prometheus.Registry, r *seeder.Relay, served *atomic.Int64, quota int64) {
	help := "Bytes of artifacts the relay served since it started, by protocol (http: /ws/ and /blob/; bittorrent: pieces to peers)."
	for protocol, f := range map[string]func() int64{"http": served.Load, "bittorrent": r.UploadedBitTorrent} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "odi", Subsystem: "relay", Name: "bytes_served_total", Help: help,
			ConstLabels: prometheus.Labels{"protocol": protocol},
		}, func() float64 { return float64(f()) }))
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "odi", Subsystem: "relay", Name: "quota_bytes",
		Help: "The bytes of artifacts the relay may hold (relay.quota); odi_relay_reserved_bytes is its use.",
	}, func() float64 { return float64(quota) }))
}
