package tracker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/tracker/udp"

	"github.com/opendist/odi/internal/relayapi"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

const ttl = 20 * time.Minute

func addr(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func ann(left int64, ev Event) *Announce {
	return &Announce{InfoHash: testIH, PeerID: testPeer, Port: 1, Left: left, Event: ev, NumWant: -1, Compact: true}
}

// testSwarms returns swarms of the default config but for maxPeers and halfLife.
func testSwarms(maxPeers int, halfLife time.Duration) *swarms {
	cfg := DefaultConfig()
	cfg.MaxPeersPerSwarm, cfg.DemandHalfLife = maxPeers, halfLife
	return newSwarms(cfg)
}

func TestSwarmAnnounce(t *testing.T) {
	s := testSwarms(1000, time.Hour)
	// Three leechers and two seeders.
	for i, a := range []string{"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"} {
		res, _ := s.announce(ann(100, EventStarted), 0, addr(a), t0, ttl, 50, nil)
		if res.leechers != i+1 {
			t.Fatalf("leechers %d after %d announces", res.leechers, i+1)
		}
	}
	for _, a := range []string{"10.0.1.1:1", "[2001:db8::1]:1"} {
		s.announce(ann(0, EventStarted), 0, addr(a), t0, ttl, 50, nil)
	}

	// A seeder gets leechers only, never itself or other seeders.
	res, peers := s.announce(ann(0, EventNone), 0, addr("10.0.1.1:1"), t0, ttl, 50, nil)
	if res.seeders != 2 || res.leechers != 3 || len(peers) != 3 {
		t.Fatalf("seeder's answer: %+v, %d peers", res, len(peers))
	}
	for _, p := range peers {
		if ap := p.addrPort(); ap.Addr().String()[:7] != "10.0.0." {
			t.Fatalf("a seeder was handed %v", ap)
		}
	}
	// A magnet client's first announce says left=0 before it knows the size: it gets
	// seeders too, which are all a swarm of relays has to offer it.
	magnet := ann(0, EventStarted)
	_, peers = s.announce(magnet, 0, addr("10.0.2.1:1"), t0, ttl, 50, nil)
	seeders := 0
	for _, p := range peers {
		if a := p.addrPort().Addr().String(); a == "10.0.1.1" || a == "2001:db8::1" {
			seeders++
		}
	}
	if seeders != 2 {
		t.Fatalf("a magnet client's first announce got %d seeders among %d peers, want 2", seeders, len(peers))
	}
	s.announce(ann(0, EventStopped), 0, addr("10.0.2.1:1"), t0, ttl, 0, nil)
	// A leecher gets both kinds, never itself.
	_, peers = s.announce(ann(50, EventNone), 0, addr("10.0.0.1:1"), t0, ttl, 50, nil)
	if len(peers) != 4 {
		t.Fatalf("leecher got %d peers, want 4", len(peers))
	}
	for _, p := range peers {
		if p.addrPort() == addr("10.0.0.1:1") {
			t.Fatal("a leecher was handed itself")
		}
	}
	// numwant bounds the answer.
	if _, peers = s.announce(ann(50, EventNone), 0, addr("10.0.0.1:1"), t0, ttl, 2, nil); len(peers) != 2 {
		t.Fatalf("numwant 2 gave %d peers", len(peers))
	}
	// completed moves a leecher to the seeders and counts once.
	res, _ = s.announce(ann(0, EventCompleted), 0, addr("10.0.0.2:1"), t0, ttl, 0, nil)
	if res.seeders != 3 || res.leechers != 2 || res.completed != 1 {
		t.Fatalf("after completed: %+v", res)
	}
	if res, _ = s.announce(ann(0, EventCompleted), 0, addr("10.0.0.2:1"), t0, ttl, 0, nil); res.completed != 1 {
		t.Fatalf("a repeated completed counted again: %+v", res)
	}
	// stopped removes the peer.
	if res, _ = s.announce(ann(50, EventStopped), 0, addr("10.0.0.3:1"), t0, ttl, 50, nil); res.leechers != 1 {
		t.Fatalf("after stopped: %+v", res)
	}
}

func TestSwarmExpiry(t *testing.T) {
	s := testSwarms(1000, time.Hour)
	s.announce(ann(10, EventStarted), 0, addr("10.0.0.1:1"), t0, ttl, 0, nil)
	s.announce(ann(10, EventStarted), 0, addr("10.0.0.2:1"), t0.Add(15*time.Minute), ttl, 0, nil)
	all := func([20]byte) bool { return true }
	if n := s.sweep(t0.Add(ttl-time.Second), all); n != 2 {
		t.Fatalf("before the TTL: %d peers", n)
	}
	if n := s.sweep(t0.Add(ttl+time.Second), all); n != 1 {
		t.Fatalf("after the first peer's TTL: %d peers, want 1", n)
	}
	if n := s.sweep(t0.Add(time.Hour), all); n != 0 {
		t.Fatalf("after both TTLs: %d peers", n)
	}
	// A swarm that may no longer be tracked (expunged) goes with its counters.
	s.announce(ann(10, EventStarted), 0, addr("10.0.0.1:1"), t0, ttl, 0, nil)
	s.sweep(t0, func([20]byte) bool { return false })
	if _, ok := s.stats(testIH, t0); ok {
		t.Fatal("an untrackable swarm survived the sweep")
	}
}

func TestSwarmCap(t *testing.T) {
	s := testSwarms(3, time.Hour)
	for i := range 5 {
		s.announce(ann(10, EventNone), 0, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 1), t0, ttl, 0, nil)
	}
	st, _ := s.stats(testIH, t0)
	if st.Leechers != 3 {
		t.Fatalf("swarm holds %d peers, cap 3", st.Leechers)
	}
	// A listed peer can still move from leecher to seeder at the cap.
	if res, _ := s.announce(ann(0, EventCompleted), 0, addr("10.0.0.0:1"), t0, ttl, 0, nil); res.seeders != 1 || res.leechers != 2 {
		t.Fatalf("at the cap: %+v", res)
	}
}

func TestDemandDecay(t *testing.T) {
	const half = time.Hour
	var d decayed
	d.add(t0.UnixNano(), half, 4)
	tests := []struct {
		after time.Duration
		want  float64
	}{{0, 4}, {half, 2}, {2 * half, 1}, {-time.Minute, 4}}
	for _, tt := range tests {
		if got := d.valueAt(t0.Add(tt.after).UnixNano(), half); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("after %s: %v, want %v", tt.after, got, tt.want)
		}
	}
	d.add(t0.Add(half).UnixNano(), half, 1)
	if got := d.valueAt(t0.Add(half).UnixNano(), half); math.Abs(got-3) > 1e-9 {
		t.Errorf("2 decayed + 1 = %v, want 3", got)
	}

	// A host's leecher announces count once a window, and its completion once; seeder
	// re-announces and stops do not count.
	s := testSwarms(100, half)
	s.announce(ann(10, EventStarted), 0, addr("10.0.0.1:1"), t0, ttl, 0, nil)
	s.announce(ann(10, EventNone), 0, addr("10.0.0.1:1"), t0, ttl, 0, nil)
	s.announce(ann(0, EventCompleted), 0, addr("10.0.0.1:1"), t0, ttl, 0, nil)
	s.announce(ann(0, EventNone), 0, addr("10.0.0.1:1"), t0, ttl, 0, nil)
	s.announce(ann(0, EventStopped), 0, addr("10.0.0.1:1"), t0, ttl, 0, nil)
	// Redirects count like leecher announces, with the same half-life; the directory
	// hands them on in batches.
	s.redirected(testIH, 2, t0)
	want := func(st Stats) bool {
		return math.Abs(st.Demand-2) < 1e-9 && st.Completed == 1 && st.Redirects == 2
	}
	if st, _ := s.stats(testIH, t0.Add(half)); !want(st) {
		t.Fatalf("stats an hour later: %+v, want demand 2, completed 1, redirects 2", st)
	}
	cs := s.dirtyCounters()
	if len(cs) != 1 || cs[0].Completed != 1 || len(s.dirtyCounters()) != 0 {
		t.Fatalf("dirty counters: %+v", cs)
	}
	r := testSwarms(100, half)
	r.restore(cs)
	if st, _ := r.stats(testIH, t0.Add(half)); !want(st) {
		t.Fatalf("restored: %+v", st)
	}
}

// TestRelaysAreNotDemand checks that a relay filling its disk (its peer ID says it is
// one) is listed and its completion counted, but adds nothing to the artifact's demand,
// while a user's client doing the same does.
func TestRelaysAreNotDemand(t *testing.T) {
	var relayID, userID [20]byte
	copy(relayID[:], relayapi.PeerIDPrefix+"relay")
	copy(userID[:], "-GT0003-user")
	s := testSwarms(100, time.Hour)
	fill := func(id [20]byte, from string) {
		for _, a := range []*Announce{
			{InfoHash: testIH, PeerID: id, Port: 1, Left: 100, Event: EventStarted, NumWant: -1, Compact: true},
			{InfoHash: testIH, PeerID: id, Port: 1, Left: 50, Event: EventNone, NumWant: -1, Compact: true},
			{InfoHash: testIH, PeerID: id, Port: 1, Left: 0, Event: EventCompleted, NumWant: -1, Compact: true},
		} {
			s.announce(a, 0, addr(from), t0, ttl, 50, nil)
		}
	}
	fill(relayID, "10.0.0.1:1")
	if st, _ := s.stats(testIH, t0); st.Demand != 0 || st.Completed != 1 || st.Seeders != 1 {
		t.Fatalf("after a relay's fill: %+v; want demand 0, completed 1, 1 seeder", st)
	}
	fill(userID, "10.0.0.2:1")
	if st, _ := s.stats(testIH, t0); st.Demand != 2 || st.Completed != 2 || st.Seeders != 2 {
		t.Fatalf("after a user's download: %+v; want demand 2 (a host leeching, a completion), completed 2, 2 seeders", st)
	}
}

// TestSoakMemoryBounded announces two million distinct peers across a few swarms while
// the clock moves, and checks that memory follows the live peers, not the total seen.
func TestSoakMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	cfg := DefaultConfig()
	cfg.Interval, cfg.MinInterval = time.Minute, time.Minute
	s := newSwarms(cfg)
	all := func([20]byte) bool { return true }
	const total, perMinute = 2_000_000, 50_000
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	var peak uint64
	a := ann(10, EventNone)
	now := t0
	for i := range total {
		a.InfoHash[0] = byte(i % 4)
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		s.announce(a, 0, netip.AddrPortFrom(ip, uint16(i%60000+1)), now, 2*time.Minute, 0, nil)
		if i%perMinute == perMinute-1 {
			now = now.Add(time.Minute)
			live := s.sweep(now, all)
			// Peers live two minutes: at most three minutes' worth are listed.
			if live > 3*perMinute {
				t.Fatalf("after %d announces %d peers are listed", i+1, live)
			}
			if i > total/2 {
				peak = max(peak, heap())
			}
		}
	}
	s.sweep(now.Add(time.Hour), all)
	idle := heap()
	t.Logf("heap in use: %d MiB at peak, %d MiB once the swarms are idle", peak>>20, idle>>20)
	if peak > 256<<20 {
		t.Fatalf("heap reached %d MiB for ~150k live peers", peak>>20)
	}
	if idle > 64<<20 {
		t.Fatalf("idle swarms still hold %d MiB: maps did not shrink", idle>>20)
	}
}

func TestAppendAnnounce(t *testing.T) {
	ans := answer{announceResult: announceResult{seeders: 2, leechers: 3, completed: 7}, peers: []chosen{
		{key: keyOf(addr("10.1.2.3:6881")), id: testPeer},
		{key: keyOf(addr("[2001:db8::5]:51413")), id: testPeer},
	}}
	var compact struct {
		Complete    int    `bencode:"complete"`
		Downloaded  int    `bencode:"downloaded"`
		Incomplete  int    `bencode:"incomplete"`
		Interval    int    `bencode:"interval"`
		MinInterval int    `bencode:"min interval"`
		Peers       []byte `bencode:"peers"`
		Peers6      []byte `bencode:"peers6"`
	}
	b := appendAnnounce(nil, &Announce{Compact: true}, ans, 10*time.Minute, 5*time.Minute)
	if err := bencode.Unmarshal(b, &compact); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	if compact.Complete != 2 || compact.Incomplete != 3 || compact.Downloaded != 7 || compact.Interval != 600 || compact.MinInterval != 300 {
		t.Fatalf("counters: %+v", compact)
	}
	if !bytes.Equal(compact.Peers, []byte{10, 1, 2, 3, 0x1a, 0xe1}) {
		t.Fatalf("peers %x", compact.Peers)
	}
	if len(compact.Peers6) != 18 || compact.Peers6[0] != 0x20 || binary.BigEndian.Uint16(compact.Peers6[16:]) != 51413 {
		t.Fatalf("peers6 %x", compact.Peers6)
	}

	var full struct {
		Peers []struct {
			IP     string `bencode:"ip"`
			PeerID string `bencode:"peer id"`
			Port   int    `bencode:"port"`
		} `bencode:"peers"`
	}
	b = appendAnnounce(nil, &Announce{}, ans, time.Minute, time.Minute)
	if err := bencode.Unmarshal(b, &full); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	if len(full.Peers) != 2 || full.Peers[0].IP != "10.1.2.3" || full.Peers[1].IP != "2001:db8::5" || full.Peers[0].PeerID != string(testPeer[:]) {
		t.Fatalf("non-compact: %+v", full)
	}
	b = appendAnnounce(nil, &Announce{NoPeerID: true}, ans, time.Minute, time.Minute)
	if bytes.Contains(b, []byte("peer id")) {
		t.Fatal("no_peer_id ignored")
	}
	var fail struct {
		Reason string `bencode:"failure reason"`
	}
	if err := bencode.Unmarshal(appendFailure(nil, fmt.Errorf("nope")), &fail); err != nil || fail.Reason != "nope" {
		t.Fatalf("failure: %+v %v", fail, err)
	}
}

func udpPacket(action udp.Action, body []byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, 42)
	b = binary.BigEndian.AppendUint32(b, uint32(action))
	b = binary.BigEndian.AppendUint32(b, 7)
	return append(b, body...)
}

func udpAnnounceBody(event uint32, numWant int32, port uint16, left int64) []byte {
	b := append(append([]byte{}, testIH[:]...), testPeer[:]...)
	b = binary.BigEndian.AppendUint64(b, 1)
	b = binary.BigEndian.AppendUint64(b, uint64(left))
	b = binary.BigEndian.AppendUint64(b, 3)
	b = binary.BigEndian.AppendUint32(b, event)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 99)
	b = binary.BigEndian.AppendUint32(b, uint32(numWant))
	return binary.BigEndian.AppendUint16(b, port)
}

func TestParseUDP(t *testing.T) {
	req, err := ParseUDPRequest(udpPacket(udp.ActionAnnounce, nil))
	if err != nil || req.ConnectionID != 42 || req.Action != udp.ActionAnnounce || req.TransactionID != 7 {
		t.Fatalf("header: %+v %v", req, err)
	}
	if _, err := ParseUDPRequest(make([]byte, 15)); err == nil {
		t.Fatal("15-byte packet accepted")
	}
	a, err := ParseUDPAnnounce(udpPacket(udp.ActionAnnounce, udpAnnounceBody(2, -1, 6881, 5)))
	if err != nil || a.InfoHash != testIH || a.PeerID != testPeer || a.Event != EventStarted || a.NumWant != -1 || a.Port != 6881 || a.Left != 5 {
		t.Fatalf("announce: %+v %v", a, err)
	}
	if a, _ := ParseUDPAnnounce(udpPacket(udp.ActionAnnounce, udpAnnounceBody(0, 5, 1, -1))); a.Left != -1 {
		t.Fatalf("unknown left: %+v", a)
	}
	withOptions := append(udpPacket(udp.ActionAnnounce, udpAnnounceBody(0, 5, 1, 0)), 2, 4, '/', 'a', 'n', 'n')
	if _, err := ParseUDPAnnounce(withOptions); err != nil {
		t.Fatalf("BEP 41 options: %v", err)
	}
	for name, p := range map[string][]byte{
		"short":         udpPacket(udp.ActionAnnounce, udpAnnounceBody(0, 5, 1, 0))[:97],
		"bad event":     udpPacket(udp.ActionAnnounce, udpAnnounceBody(9, 5, 1, 0)),
		"port 0":        udpPacket(udp.ActionAnnounce, udpAnnounceBody(0, 5, 0, 0)),
		"numwant -2":    udpPacket(udp.ActionAnnounce, udpAnnounceBody(0, -2, 1, 0)),
		"header only":   udpPacket(udp.ActionAnnounce, nil),
		"empty":         nil,
		"negative down": append(udpPacket(udp.ActionAnnounce, udpAnnounceBody(0, 5, 1, 0))[:56], append(bytes.Repeat([]byte{0xff}, 8), udpAnnounceBody(0, 5, 1, 0)[48:]...)...),
	} {
		if _, err := ParseUDPAnnounce(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ihs, err := ParseUDPScrape(udpPacket(udp.ActionScrape, append(testIH[:], testPeer[:]...)))
	if err != nil || len(ihs) != 2 || ihs[1] != testPeer {
		t.Fatalf("scrape: %x %v", ihs, err)
	}
	for name, p := range map[string][]byte{
		"no hashes":   udpPacket(udp.ActionScrape, nil),
		"partial":     udpPacket(udp.ActionScrape, testIH[:19]),
		"over the 74": udpPacket(udp.ActionScrape, make([]byte, 75*20)),
	} {
		if _, err := ParseUDPScrape(p); err == nil {
			t.Errorf("scrape %s: accepted", name)
		}
	}
}

func FuzzParseUDP(f *testing.F) {
	f.Add(udpPacket(udp.ActionAnnounce, udpAnnounceBody(2, -1, 6881, 5)))
	f.Add(udpPacket(udp.ActionScrape, testIH[:]))
	f.Add(udpPacket(udp.ActionConnect, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseUDPRequest(b)
		if err != nil {
			return
		}
		switch req.Action {
		case udp.ActionAnnounce:
			if a, err := ParseUDPAnnounce(b); err == nil && (a.Port == 0 || a.Left < -1 || a.NumWant < -1) {
				t.Fatalf("accepted %+v", a)
			}
		case udp.ActionScrape:
			if ihs, err := ParseUDPScrape(b); err == nil && (len(ihs) == 0 || len(ihs) > udpMaxScrape) {
				t.Fatalf("accepted %d infohashes", len(ihs))
			}
		}
	})
}

func TestHostOf(t *testing.T) {
	tests := []struct{ a, b string }{
		{"192.0.2.7:6881", "192.0.2.7:51413"},                      // one IPv4 host, two ports
		{"[2001:db8:1:2::7]:6881", "[2001:db8:1:2:aaaa::9]:51413"}, // one /64
		{"[::ffff:192.0.2.7]:1", "192.0.2.7:2"},                    // mapped or not
	}
	for _, tt := range tests {
		if a, b := hostOf(keyOf(addr(tt.a))), hostOf(keyOf(addr(tt.b))); a != b {
			t.Errorf("%s and %s are different hosts: %x, %x", tt.a, tt.b, a, b)
		}
	}
	apart := []struct{ a, b string }{
		{"192.0.2.7:6881", "192.0.2.8:6881"},
		{"[2001:db8:1:2::7]:6881", "[2001:db8:1:3::7]:6881"}, // next /64
		{"[::c000:207]:1", "192.0.2.7:1"},                    // IPv4-compatible is not IPv4
		{"127.0.0.1:6881", "127.0.0.1:6882"},                 // loopback: one host per socket
		{"[::1]:6881", "[::1]:6882"},
	}
	for _, tt := range apart {
		if a, b := hostOf(keyOf(addr(tt.a))), hostOf(keyOf(addr(tt.b))); a == b {
			t.Errorf("%s and %s are one host, %x", tt.a, tt.b, a)
		}
	}
}

// step is one announce of a table test: from an address, at an offset from t0.
type step struct {
	from   string
	left   int64
	event  Event
	after  time.Duration
	peerID byte
}

func (st step) announce(s *swarms) (announceResult, []chosen) {
	a := ann(st.left, st.event)
	a.PeerID[19] = st.peerID
	return s.announce(a, 0, addr(st.from), t0.Add(st.after), ttl, 50, nil)
}

// repeat is n announces from host, each from another port and peer id.
func repeat(n int, host string, left int64) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = step{from: netip.AddrPortFrom(netip.MustParseAddr(host), uint16(1+i)).String(), left: left, peerID: byte(i)}
	}
	return out
}

// distinct is one leecher's announce from each of n IPv4 hosts.
func distinct(n int) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = step{from: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 6881).String(), left: 10}
	}
	return out
}

// TestDemandPerHost checks that demand counts hosts, not announces: a host adds to
// demand once per window (Config.Interval) as a leecher and once as a completion.
func TestDemandPerHost(t *testing.T) {
	const interval = 10 * time.Minute
	tests := []struct {
		name          string
		steps         []step
		demand        float64
		completed     int64
		listed, hosts int
	}{
		{"5,000 announces from one address, ports and peer ids varying", repeat(5000, "192.0.2.7", 10), 1, 0, 2, 1},
		{"50 leechers", distinct(50), 50, 0, 50, 50},
		{"one IPv6 /64", []step{{from: "[2001:db8::1]:1", left: 10}, {from: "[2001:db8::2]:1", left: 10}, {from: "[2001:db8::ffff:1]:7", left: 10}}, 1, 0, 2, 1},
		{"two /64s", []step{{from: "[2001:db8::1]:1", left: 10}, {from: "[2001:db8:0:1::1]:1", left: 10}}, 2, 0, 2, 2},
		{"loopback sockets count apart", repeat(3, "127.0.0.1", 10), 3, 0, 3, 3},
		{"the next window counts again", []step{{from: "192.0.2.7:1", left: 10}, {from: "192.0.2.7:1", left: 10, after: interval}}, 2, 0, 1, 1},
		{"stopped and back in the window", []step{{from: "192.0.2.7:1", left: 10}, {from: "192.0.2.7:1", left: 10, event: EventStopped}, {from: "192.0.2.7:1", left: 10}}, 1, 0, 1, 1},
		{"a completion counts once per host", []step{
			{from: "192.0.2.7:1", left: 10},
			{from: "192.0.2.7:1", left: 0, event: EventCompleted},
			{from: "192.0.2.7:2", left: 0, event: EventCompleted},
			{from: "192.0.2.7:3", left: 10}, {from: "192.0.2.7:3", left: 0}, // a listed leecher now complete
		}, 2, 1, 2, 1},
		{"completions of two hosts", []step{{from: "192.0.2.7:1", event: EventCompleted}, {from: "192.0.2.8:1", event: EventCompleted}}, 2, 2, 2, 2},
		{"a completion at stop, then again next window", []step{
			{from: "192.0.2.7:1", left: 10}, {from: "192.0.2.7:1", left: 0, event: EventStopped},
			{from: "192.0.2.7:1", left: 10, after: interval}, {from: "192.0.2.7:1", left: 0, event: EventStopped, after: interval},
		}, 4, 2, 0, 1},
		{"seeders are no demand", []step{{from: "192.0.2.7:1"}, {from: "192.0.2.8:1"}}, 0, 0, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Interval = interval
			s := newSwarms(cfg)
			last := t0
			for _, st := range tt.steps {
				st.announce(s)
				last = t0.Add(st.after)
			}
			got, _ := s.stats(testIH, last)
			// Within a window demand hardly decays (24 h half-life); it counts whole hosts.
			if math.Abs(got.Demand-tt.demand) > 0.01 || got.Completed != tt.completed || got.Seeders+got.Leechers != tt.listed {
				t.Errorf("demand %v, completed %d, %d listed; want %v, %d, %d", got.Demand, got.Completed, got.Seeders+got.Leechers, tt.demand, tt.completed, tt.listed)
			}
			if n := len(s.shard(testIH).swarms[testIH].hosts); n != tt.hosts {
				t.Errorf("%d hosts remembered, want %d", n, tt.hosts)
			}
		})
	}
}

// TestFairDemandRanks replays the attack of issue 13: one peer's 5,000 announces must
// not outrank an artifact that 50 leechers want.
func TestFairDemandRanks(t *testing.T) {
	s := newSwarms(DefaultConfig())
	wanted, spammed := testIH, testIH
	spammed[1] ^= 1
	for i, st := range repeat(5000, "192.0.2.66", 10) {
		a := ann(10, EventNone)
		a.InfoHash, a.PeerID[19] = spammed, byte(i)
		s.announce(a, 0, addr(st.from), t0.Add(time.Duration(i)*time.Millisecond), ttl, 50, nil)
	}
	for _, st := range distinct(50) {
		st.announce(s)
	}
	w, _ := s.stats(wanted, t0.Add(time.Minute))
	sp, _ := s.stats(spammed, t0.Add(time.Minute))
	if w.Demand <= sp.Demand {
		t.Fatalf("50 leechers' artifact has demand %v, one peer's 5,000 announces %v", w.Demand, sp.Demand)
	}
}

// TestPerAddressCap checks the eclipse defence: a host keeps at most MaxPeersPerAddress
// entries in a swarm, its newest replacing its least recently announced one, and no
// answer lists more than that of one host.
func TestPerAddressCap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxPeersPerSwarm, cfg.MaxPeersPerAddress = 10, 3
	s := newSwarms(cfg)
	at := func(d time.Duration, from string, left int64) []chosen {
		_, peers := s.announce(ann(left, EventNone), 0, addr(from), t0.Add(d), ttl, 50, nil)
		return peers
	}
	at(0, "192.0.2.7:1", 10)
	at(time.Second, "192.0.2.7:2", 10)
	at(2*time.Second, "192.0.2.7:3", 10)
	at(3*time.Second, "192.0.2.7:1", 10) // :1 announces again: :2 is now the stalest
	at(4*time.Second, "192.0.2.7:4", 0)  // a seeder of the same host takes :2's place
	var got []string
	for _, p := range at(5*time.Second, "198.51.100.1:1", 10) {
		got = append(got, p.addrPort().String())
	}
	slices.Sort(got)
	if strings.Join(got, " ") != "192.0.2.7:1 192.0.2.7:3 192.0.2.7:4" {
		t.Fatalf("an outsider was handed %v; want 192.0.2.7's :1, :3 and :4", got)
	}

	// 50 ports of one address and 50 addresses of one /64 leave three entries each, at
	// the swarm's cap too.
	for i := range 50 {
		at(5*time.Second, netip.AddrPortFrom(netip.MustParseAddr("192.0.2.9"), uint16(1+i)).String(), 10)
		at(5*time.Second, netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}), 1).String(), 10)
	}
	for i := range 10 {
		at(6*time.Second, netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 1).String(), 10)
	}
	st, _ := s.stats(testIH, t0)
	if st.Seeders+st.Leechers != 10 {
		t.Fatalf("%d peers listed, cap 10", st.Seeders+st.Leechers)
	}
	perHost := map[peerKey]int{}
	for _, p := range at(7*time.Second, "192.0.2.9:51", 10) {
		perHost[hostOf(p.key)]++
	}
	for h, n := range perHost {
		if n > cfg.MaxPeersPerAddress {
			t.Errorf("an answer lists %d entries of host %x", n, h)
		}
	}
	// The host at its cap got :51 in, in place of its stalest entry.
	if _, listed, _ := s.shard(testIH).swarms[testIH].lookup(keyOf(addr("192.0.2.9:51"))); !listed {
		t.Error("a host at its cap could not replace its own entry in a full swarm")
	}
	checkSwarm(t, s.shard(testIH).swarms[testIH], cfg)
}

// checkSwarm checks what a swarm promises whatever it was sent: each host's list holds
// exactly its listed entries, at most MaxPeersPerAddress of them, and the swarm holds
// at most its caps.
func checkSwarm(t *testing.T, sw *swarm, cfg Config) {
	t.Helper()
	if sw.size() > cfg.MaxPeersPerSwarm || len(sw.hosts) > 2*cfg.MaxPeersPerSwarm {
		t.Fatalf("%d peers and %d hosts, caps %d and %d", sw.size(), len(sw.hosts), cfg.MaxPeersPerSwarm, 2*cfg.MaxPeersPerSwarm)
	}
	listed := map[peerKey]int{}
	for _, m := range []map[peerKey]peer{sw.seeders, sw.leechers} {
		for k := range m {
			listed[hostOf(k)]++
		}
	}
	for _, k := range slices.Collect(maps.Keys(sw.seeders)) {
		if _, ok := sw.leechers[k]; ok {
			t.Fatalf("%x is both a seeder and a leecher", k)
		}
	}
	for hk, h := range sw.hosts {
		if int(h.entries) != listed[hk] || int(h.entries) > cfg.MaxPeersPerAddress {
			t.Fatalf("host %x counts %d entries, %d listed, cap %d", hk, h.entries, listed[hk], cfg.MaxPeersPerAddress)
		}
		seen := map[peerKey]bool{}
		k := h.first
		for range h.entries {
			p, ok, _ := sw.lookup(k)
			if !ok || hostOf(k) != hk || seen[k] {
				t.Fatalf("host %x's list runs into %x (listed %v, seen %v)", hk, k, ok, seen[k])
			}
			seen[k] = true
			k = p.next
		}
		delete(listed, hk)
	}
	if len(listed) > 0 {
		t.Fatalf("entries of hosts the swarm does not know: %v", listed)
	}
}

// TestSwarmInvariants sends random announces from a few crowded hosts, with random
// events, ports and clock steps, and sweeps between them, and checks the swarm's
// promises after each.
func TestSwarmInvariants(t *testing.T) {
	for _, perHost := range []int{1, 2, 5} {
		cfg := DefaultConfig()
		cfg.MaxPeersPerSwarm, cfg.MaxPeersPerAddress, cfg.Interval, cfg.MinInterval = 12, perHost, time.Minute, time.Minute
		s := newSwarms(cfg)
		rng := rand.New(rand.NewPCG(1, uint64(perHost)))
		hosts := []string{"192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2", "2001:db8:1::1", "127.0.0.1", "198.51.100.1", "198.51.100.2"}
		now := t0
		for i := range 20_000 {
			a := ann(int64(rng.IntN(3)), Event(rng.IntN(4)))
			from := netip.AddrPortFrom(netip.MustParseAddr(hosts[rng.IntN(len(hosts))]), uint16(1+rng.IntN(8)))
			_, peers := s.announce(a, 0, from, now, 2*time.Minute, 1+rng.IntN(20), nil)
			count := map[peerKey]int{}
			for _, p := range peers {
				if count[hostOf(p.key)]++; count[hostOf(p.key)] > perHost || p.key == keyOf(from) {
					t.Fatalf("per host %d, announce %d: answer lists %x again", perHost, i, p.key)
				}
			}
			if rng.IntN(50) == 0 {
				now = now.Add(time.Duration(rng.IntN(90)) * time.Second)
				s.sweep(now, func([20]byte) bool { return true })
			}
			checkSwarm(t, s.shard(testIH).swarms[testIH], cfg)
		}
		if s.sweep(now.Add(time.Hour), func([20]byte) bool { return true }); len(s.shard(testIH).swarms[testIH].hosts) != 0 {
			t.Fatalf("per host %d: idle hosts outlive their window", perHost)
		}
	}
}

func TestPeersOf(t *testing.T) {
	s := testSwarms(1000, time.Hour)
	a := ann(100, EventStarted)
	for _, p := range []string{"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"} {
		s.announce(a, 0, addr(p), t0, ttl, 0, nil)
	}
	for _, p := range []string{"10.0.1.1:1", "[2001:db8::1]:1"} {
		s.announce(ann(0, EventStarted), 0, addr(p), t0, ttl, 0, nil)
	}
	isSeeder := func(c chosen) bool {
		ip := c.addrPort().Addr().String()
		return ip == "10.0.1.1" || ip == "2001:db8::1"
	}
	two := s.peersOf(a.InfoHash, 2, nil)
	if len(two) != 2 || !isSeeder(two[0]) || !isSeeder(two[1]) {
		t.Errorf("peersOf(2) = %v, want the two seeders", two)
	}
	all := s.peersOf(a.InfoHash, 10, nil)
	if len(all) != 5 || !isSeeder(all[0]) || !isSeeder(all[1]) || isSeeder(all[2]) {
		t.Errorf("peersOf(10) = %v, want 2 seeders then 3 leechers", all)
	}
	if none := s.peersOf([20]byte{9}, 10, nil); len(none) != 0 {
		t.Errorf("peersOf of an unknown swarm = %v", none)
	}
}
