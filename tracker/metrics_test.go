package tracker

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// A sweep sets the swarms and peers gauges to what it kept: a swarm whose artifact left
// the catalog is no longer counted.
func TestSweepGauges(t *testing.T) {
	kept, gone := testIH, testIH
	gone[1] ^= 1
	cat := catalogOf{kept: testLength, gone: testLength}
	reg := prometheus.NewRegistry()
	tr, err := New(context.Background(), DefaultConfig(), cat, noCounters{}, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, ih := range [][20]byte{kept, kept, gone} {
		a := ann(10, EventStarted)
		a.InfoHash = ih
		tr.swarms.announce(a, 0, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 1), now, time.Hour, 50, nil)
	}
	tr.sweep()
	if s, p := gaugeValue(t, tr.metrics.swarms), gaugeValue(t, tr.metrics.peers); s != 2 || p != 3 {
		t.Fatalf("after a sweep: %v swarms, %v peers; want 2, 3", s, p)
	}
	delete(cat, gone)
	tr.sweep()
	if s, p := gaugeValue(t, tr.metrics.swarms), gaugeValue(t, tr.metrics.peers); s != 1 || p != 2 {
		t.Fatalf("after the artifact left: %v swarms, %v peers; want 1, 2", s, p)
	}
}

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
