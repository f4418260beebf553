package tracker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"runtime"
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

func TestSwarmAnnounce(t *testing.T) {
	s := newSwarms(1000, time.Hour)
	// Three leechers and two seeders.
	for i, a := range []string{"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"} {
		res, _ := s.announce(ann(100, EventStarted), addr(a), t0, ttl, 50, nil)
		if res.leechers != i+1 {
			t.Fatalf("leechers %d after %d announces", res.leechers, i+1)
		}
	}
	for _, a := range []string{"10.0.1.1:1", "[2001:db8::1]:1"} {
		s.announce(ann(0, EventStarted), addr(a), t0, ttl, 50, nil)
	}

	// A seeder gets leechers only, never itself or other seeders.
	res, peers := s.announce(ann(0, EventNone), addr("10.0.1.1:1"), t0, ttl, 50, nil)
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
	_, peers = s.announce(magnet, addr("10.0.2.1:1"), t0, ttl, 50, nil)
	seeders := 0
	for _, p := range peers {
		if a := p.addrPort().Addr().String(); a == "10.0.1.1" || a == "2001:db8::1" {
			seeders++
		}
	}
	if seeders != 2 {
		t.Fatalf("a magnet client's first announce got %d seeders among %d peers, want 2", seeders, len(peers))
	}
	s.announce(ann(0, EventStopped), addr("10.0.2.1:1"), t0, ttl, 0, nil)
	// A leecher gets both kinds, never itself.
	_, peers = s.announce(ann(50, EventNone), addr("10.0.0.1:1"), t0, ttl, 50, nil)
	if len(peers) != 4 {
		t.Fatalf("leecher got %d peers, want 4", len(peers))
	}
	for _, p := range peers {
		if p.addrPort() == addr("10.0.0.1:1") {
			t.Fatal("a leecher was handed itself")
		}
	}
	// numwant bounds the answer.
	if _, peers = s.announce(ann(50, EventNone), addr("10.0.0.1:1"), t0, ttl, 2, nil); len(peers) != 2 {
		t.Fatalf("numwant 2 gave %d peers", len(peers))
	}
	// completed moves a leecher to the seeders and counts once.
	res, _ = s.announce(ann(0, EventCompleted), addr("10.0.0.2:1"), t0, ttl, 0, nil)
	if res.seeders != 3 || res.leechers != 2 || res.completed != 1 {
		t.Fatalf("after completed: %+v", res)
	}
	if res, _ = s.announce(ann(0, EventCompleted), addr("10.0.0.2:1"), t0, ttl, 0, nil); res.completed != 1 {
		t.Fatalf("a repeated completed counted again: %+v", res)
	}
	// stopped removes the peer.
	if res, _ = s.announce(ann(50, EventStopped), addr("10.0.0.3:1"), t0, ttl, 50, nil); res.leechers != 1 {
		t.Fatalf("after stopped: %+v", res)
	}
}

func TestSwarmExpiry(t *testing.T) {
	s := newSwarms(1000, time.Hour)
	s.announce(ann(10, EventStarted), addr("10.0.0.1:1"), t0, ttl, 0, nil)
	s.announce(ann(10, EventStarted), addr("10.0.0.2:1"), t0.Add(15*time.Minute), ttl, 0, nil)
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
	s.announce(ann(10, EventStarted), addr("10.0.0.1:1"), t0, ttl, 0, nil)
	s.sweep(t0, func([20]byte) bool { return false })
	if _, ok := s.stats(testIH, t0); ok {
		t.Fatal("an untrackable swarm survived the sweep")
	}
}

func TestSwarmCap(t *testing.T) {
	s := newSwarms(3, time.Hour)
	for i := range 5 {
		s.announce(ann(10, EventNone), netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 1), t0, ttl, 0, nil)
	}
	st, _ := s.stats(testIH, t0)
	if st.Leechers != 3 {
		t.Fatalf("swarm holds %d peers, cap 3", st.Leechers)
	}
	// A listed peer can still move from leecher to seeder at the cap.
	if res, _ := s.announce(ann(0, EventCompleted), addr("10.0.0.0:1"), t0, ttl, 0, nil); res.seeders != 1 || res.leechers != 2 {
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

	// Leecher announces and completions count; seeder re-announces and stops do not.
	s := newSwarms(100, half)
	s.announce(ann(10, EventStarted), addr("10.0.0.1:1"), t0, ttl, 0, nil)
	s.announce(ann(10, EventNone), addr("10.0.0.1:1"), t0, ttl, 0, nil)
	s.announce(ann(0, EventCompleted), addr("10.0.0.1:1"), t0, ttl, 0, nil)
	s.announce(ann(0, EventNone), addr("10.0.0.1:1"), t0, ttl, 0, nil)
	s.announce(ann(0, EventStopped), addr("10.0.0.1:1"), t0, ttl, 0, nil)
	// Redirects count like leecher announces, with the same half-life; the directory
	// hands them on in batches.
	s.redirected(testIH, 2, t0)
	want := func(st Stats) bool {
		return math.Abs(st.Demand-2.5) < 1e-9 && st.Completed == 1 && st.Redirects == 2
	}
	if st, _ := s.stats(testIH, t0.Add(half)); !want(st) {
		t.Fatalf("stats an hour later: %+v, want demand 2.5, completed 1, redirects 2", st)
	}
	cs := s.dirtyCounters()
	if len(cs) != 1 || cs[0].Completed != 1 || len(s.dirtyCounters()) != 0 {
		t.Fatalf("dirty counters: %+v", cs)
	}
	r := newSwarms(100, half)
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
	s := newSwarms(100, time.Hour)
	fill := func(id [20]byte, from string) {
		for _, a := range []*Announce{
			{InfoHash: testIH, PeerID: id, Port: 1, Left: 100, Event: EventStarted, NumWant: -1, Compact: true},
			{InfoHash: testIH, PeerID: id, Port: 1, Left: 50, Event: EventNone, NumWant: -1, Compact: true},
			{InfoHash: testIH, PeerID: id, Port: 1, Left: 0, Event: EventCompleted, NumWant: -1, Compact: true},
		} {
			s.announce(a, addr(from), t0, ttl, 50, nil)
		}
	}
	fill(relayID, "10.0.0.1:1")
	if st, _ := s.stats(testIH, t0); st.Demand != 0 || st.Completed != 1 || st.Seeders != 1 {
		t.Fatalf("after a relay's fill: %+v; want demand 0, completed 1, 1 seeder", st)
	}
	fill(userID, "10.0.0.2:1")
	if st, _ := s.stats(testIH, t0); st.Demand != 3 || st.Completed != 2 || st.Seeders != 2 {
		t.Fatalf("after a user's download: %+v; want demand 3 (2 announces leeching, 1 completion), completed 2, 2 seeders", st)
	}
}

// TestSoakMemoryBounded announces two million distinct peers across a few swarms while
// the clock moves, and checks that memory follows the live peers, not the total seen.
func TestSoakMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	s := newSwarms(100_000, time.Hour)
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
		s.announce(a, netip.AddrPortFrom(ip, uint16(i%60000+1)), now, 2*time.Minute, 0, nil)
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
