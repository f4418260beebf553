package dhtnode

import (
	"bytes"
	"expvar"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/prometheus/client_golang/prometheus"
)

func TestBindsListenHostExactly(t *testing.T) {
	n := mustNode(t, testConfig("127.0.0.3"), Deps{})
	if got := n.Addr(); got.Addr() != netip.MustParseAddr("127.0.0.3") || got.Port() == 0 {
		t.Errorf("Addr = %s, want 127.0.0.3 and a port", got)
	}
	if got := n.Server().Addr().String(); got != n.Addr().String() {
		t.Errorf("server on %s, node on %s", got, n.Addr())
	}
	cfg := testConfig("127.0.0.3")
	cfg.Listen = n.Addr().String()
	if _, err := New(cfg, Deps{}, quietLog()); err == nil || !strings.Contains(err.Error(), n.Addr().String()) {
		t.Errorf("second bind of %s: %v, want the bind error", n.Addr(), err)
	}
	cfg.Listen = "localhost:0"
	if _, err := New(cfg, Deps{}, quietLog()); err == nil || !strings.HasPrefix(err.Error(), "listen:") {
		t.Errorf("listen on a name: %v", err)
	}
}

// TestGuardDrops sends what must never reach anacrolix: each is dropped unanswered, counted,
// and leaves no trace in anacrolix's expvars; the node still answers afterwards.
func TestGuardDrops(t *testing.T) {
	n := mustNode(t, testConfig("127.0.0.1"), Deps{})
	c := newRawClient(t, "127.0.0.1")
	to := n.Addr()
	args := &krpc.MsgArgs{ID: c.id, InfoHash: krpc.ID(randomHash()), Target: krpc.ID(randomHash())}
	huge := encodeQuery("ping", strings.Repeat("t", maxPacket), args)
	c.send(to, huge)
	for _, junk := range [][]byte{[]byte("not bencode"), []byte("d1:y1:xe"), []byte("de"), append(encodeQuery("ping", "tt", args), "trailing"...)} {
		c.send(to, junk)
	}
	notAllowed := []string{"put", "get", "sample_infohashes", "vote", "zzz-odi-test"}
	for _, q := range notAllowed {
		c.send(to, encodeQuery(q, "q-"+q, args))
	}
	// announce_peer without "a" would nil-dereference in anacrolix v2.23.0's handleQuery.
	c.send(to, []byte("d1:q13:announce_peer1:t2:aa1:y1:qe"))
	c.send(to, []byte("d1:q4:ping1:t2:ab1:y1:qe"))

	// Packets are read in order: once the ping after them is answered, all were decided.
	if _, m := c.query(to, "ping", "ok", krpc.MsgArgs{}); m.R == nil {
		t.Fatalf("ping after the junk: %+v", m)
	}
	s := n.Stats()
	if s.Oversize != 1 || s.Malformed != 4 || s.NotAllowed != int64(len(notAllowed))+2 || s.Answered != 1 {
		t.Errorf("stats %+v, want 1 oversize, 4 malformed, %d not allowed, 1 answered", s, len(notAllowed)+2)
	}
	m := expvar.Get("dht").(*expvar.Map)
	for _, q := range notAllowed {
		if v := m.Get(fmt.Sprintf("received query %q", q)); v != nil {
			t.Errorf("anacrolix saw query %q: %v", q, v)
		}
	}
	if v := m.Get(`received query "ping"`); v == nil {
		t.Errorf("anacrolix never counted the ping: is the expvar check blind?")
	}
}

func TestQueryRateLimit(t *testing.T) {
	cfg := testConfig("127.0.0.1")
	cfg.QueryRate, cfg.QueryBurst = 0.001, 5 // refills one query in 1000 s: none during the test
	n := mustNode(t, cfg, Deps{})
	c := newRawClient(t, "127.0.0.1")
	for i := range 20 {
		var a krpc.MsgArgs
		a.ID = c.id
		c.send(n.Addr(), encodeQuery("ping", fmt.Sprint(i), &a))
	}
	waitFor(t, "20 pings decided", func() bool { s := n.Stats(); return s.RateLimited+s.Answered == 20 })
	if s := n.Stats(); s.RateLimited != 15 || s.Answered != 5 {
		t.Fatalf("stats %+v, want 5 answered and 15 rate limited", s)
	}
	// The node may query us too (its table maintenance); replies are y=r. They come in any
	// order (anacrolix replies from a goroutine each).
	var answered []string
	for len(answered) < 5 {
		if _, m := c.read(); m.Y == "r" {
			answered = append(answered, m.T)
		}
	}
	if slices.Sort(answered); !slices.Equal(answered, []string{"0", "1", "2", "3", "4"}) {
		t.Errorf("answered %q, want the first 5", answered)
	}
	other := newRawClient(t, "127.0.0.2")
	if _, m := other.query(n.Addr(), "ping", "x", krpc.MsgArgs{}); m.R == nil {
		t.Errorf("another address was limited too: %+v", m)
	}
}

// TestSendBudget: however the node's traffic to one address arises, it gets no more bytes
// than its query rate's worth of replies.
func TestSendBudget(t *testing.T) {
	cfg := testConfig("127.0.0.1")
	cfg.QueryRate, cfg.QueryBurst = 0.001, 1
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var cs counters
	g := newGuard(pc, cfg, &cs)
	sink := newRawClient(t, "127.0.0.1")
	to := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(sink.conn.LocalAddr().String()))
	reply := bytes.Repeat([]byte("r"), 1000)
	for range 5 {
		if n, err := g.WriteTo(reply, to); n != len(reply) || err != nil {
			t.Fatalf("WriteTo = %d, %v", n, err)
		}
	}
	// The budget is QueryBurst × maxPacket = 2048 bytes: two 1000-byte packets.
	if got := cs.sendsDropped.Load(); got != 3 {
		t.Errorf("%d sends dropped, want 3", got)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := mustNode(t, testConfig("127.0.0.1"), Deps{Metrics: reg, Subsystem: "relay"})
	c := newRawClient(t, "127.0.0.1")
	c.query(n.Addr(), "ping", "1", krpc.MsgArgs{})
	c.send(n.Addr(), encodeQuery("put", "2", &krpc.MsgArgs{ID: c.id}))
	c.query(n.Addr(), "ping", "3", krpc.MsgArgs{})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "," + l.GetValue()
			}
			got[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for name, v := range map[string]float64{
		"odi_relay_dht_queries_total,answered": 2, "odi_relay_dht_queries_total,not_allowed": 1,
		"odi_relay_dht_queries_total,rate_limited": 0, "odi_relay_dht_peers": 0, "odi_relay_dht_nodes,all": 1,
	} {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", name, g, ok, v)
		}
	}
	if len(got) != 11 {
		t.Errorf("%d metrics, want 11: %v", len(got), got)
	}
	if _, err := New(testConfig("127.0.0.1"), Deps{Metrics: reg, Subsystem: "relay"}, quietLog()); err == nil {
		t.Error("a second node registered the same metrics")
	}
}
