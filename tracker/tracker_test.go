package tracker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/tracker/udp"
)

// catalogOf is a catalog of the given infohashes and their artifacts' lengths. The
// tracker cannot import the real catalog (domain packages do not import each other);
// cmd/odi's tests run the two together.
type catalogOf map[[20]byte]int64

func (c catalogOf) Trackable(ih [20]byte) (int64, error) {
	length, ok := c[ih]
	if !ok {
		return 0, errors.New("not in this catalog")
	}
	return length, nil
}

// testLength is the length of the artifacts of mustNewTracker's catalog.
const testLength = 1 << 20

func (c catalogOf) Trackables() [][20]byte {
	out := make([][20]byte, 0, len(c))
	for ih := range c {
		out = append(out, ih)
	}
	return out
}

// noCounters saves nothing and has nothing saved.
type noCounters struct{}

func (noCounters) LoadSwarmCounters(context.Context) ([]Counters, error) { return nil, nil }
func (noCounters) SaveSwarmCounters(context.Context, []Counters) error   { return nil }

// mustNewTracker returns a tracker of cfg whose catalog holds ihs.
func mustNewTracker(tb testing.TB, cfg Config, ihs ...[20]byte) *Tracker {
	tb.Helper()
	cat := catalogOf{}
	for _, ih := range ihs {
		cat[ih] = testLength
	}
	tr, err := New(context.Background(), cfg, cat, noCounters{}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	return tr
}

// TestHTTPFairDemand replays issue 13's attacks over HTTP, behind a trusted proxy whose
// X-Forwarded-For names each client: one address announcing from 500 ports (and peer
// ids) must count as one leecher, hold two entries of the swarm, and be at most two
// peers of any answer, while 50 real leechers count 50.
func TestHTTPFairDemand(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TrustedProxies = []string{"127.0.0.0/8"}
	wanted, spammed := testIH, testIH
	spammed[1] ^= 1
	tr := mustNewTracker(t, cfg, wanted, spammed)
	srv := httptest.NewServer(tr.HTTPHandler())
	t.Cleanup(srv.Close)
	announce := func(ih [20]byte, client string, port int) []byte {
		t.Helper()
		id := fmt.Sprintf("-TS0001-%012d", port)
		u := srv.URL + "/announce?info_hash=" + escaped(ih) + "&peer_id=" + id + "&port=" + strconv.Itoa(port) + "&left=10"
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Forwarded-For", client)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct {
			Failure string `bencode:"failure reason"`
			Peers   []byte `bencode:"peers"`
		}
		if err := bencode.NewDecoder(resp.Body).Decode(&r); err != nil || r.Failure != "" {
			t.Fatalf("announce from %s:%d: %v %q", client, port, err, r.Failure)
		}
		return r.Peers
	}
	for port := 1; port <= 500; port++ {
		announce(spammed, "192.0.2.66", port)
	}
	for i := range 50 {
		announce(wanted, fmt.Sprintf("198.51.100.%d", i), 6881)
	}
	perIP := map[string]int{}
	peers := announce(spammed, "203.0.113.1", 6881)
	for i := 0; i+6 <= len(peers); i += 6 {
		perIP[net.IP(peers[i:i+4]).String()]++
	}
	if perIP["192.0.2.66"] != 2 || len(peers) != 2*6 {
		t.Errorf("a leecher of the attacked swarm was handed %x: %v; want 192.0.2.66 twice", peers, perIP)
	}
	w, sp := tr.Stats(wanted), tr.Stats(spammed)
	if math.Round(w.Demand) != 50 || math.Round(sp.Demand) != 2 || sp.Leechers != 3 {
		t.Errorf("demand %.2f for 50 leechers, %.2f for 500 announces of one address and one more leecher (%d listed); want 50, 2, 3",
			w.Demand, sp.Demand, sp.Leechers)
	}
}

// TestFullScrapeShared checks that full scrapes within fullScrapeTTL share one answer,
// built once, while a scrape that names its infohashes is always fresh.
func TestFullScrapeShared(t *testing.T) {
	tr := mustNewTracker(t, DefaultConfig(), testIH)
	var clock atomic.Int64 // the server's goroutines read it
	clock.Store(t0.UnixNano())
	tr.now = func() time.Time { return time.Unix(0, clock.Load()) }
	srv := httptest.NewServer(tr.HTTPHandler())
	t.Cleanup(srv.Close)
	leechers := func(query string) int {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + "/scrape" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct {
			Files map[string]struct {
				Incomplete int `bencode:"incomplete"`
			} `bencode:"files"`
		}
		if err := bencode.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return r.Files[string(testIH[:])].Incomplete
	}
	a := ann(10, EventStarted)
	tr.announce(a, addr("192.0.2.1:1"), nil)
	if n := leechers(""); n != 1 {
		t.Fatalf("full scrape: %d leechers, want 1", n)
	}
	tr.announce(a, addr("192.0.2.2:1"), nil)
	clock.Add(int64(fullScrapeTTL - time.Second))
	if n := leechers(""); n != 1 {
		t.Errorf("full scrape within its TTL: %d leechers, want the shared answer's 1", n)
	}
	if n := leechers("?info_hash=" + escaped(testIH)); n != 2 {
		t.Errorf("named scrape: %d leechers, want 2", n)
	}
	clock.Add(int64(time.Second))
	if n := leechers(""); n != 2 {
		t.Errorf("full scrape after its TTL: %d leechers, want 2", n)
	}
}

// benchPeers is how many peers the announce benchmarks cycle through, in one swarm.
const benchPeers = 1000

// benchAddr is the address of benchmark peer i: each its own host, none on loopback.
func benchAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 6881)
}

// discard is a ResponseWriter that keeps nothing, so that the HTTP benchmark measures the
// tracker rather than a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkAnnounceHTTP measures the handler of a compact HTTP announce: leechers of one
// swarm re-announcing in turn, each asking for 50 peers, as scripts/bench/tracker.sh's
// clients do.
func BenchmarkAnnounceHTTP(b *testing.B) {
	tr := mustNewTracker(b, DefaultConfig(), testIH)
	h := tr.HTTPHandler()
	reqs := make([]*http.Request, benchPeers)
	for i := range reqs {
		q := "/announce?info_hash=" + escaped(testIH) + "&peer_id=" + escaped(testPeer) +
			"&port=6881&uploaded=0&downloaded=0&left=1000&compact=1&numwant=50"
		reqs[i] = httptest.NewRequest(http.MethodGet, q, nil)
		reqs[i].RemoteAddr = benchAddr(i).String()
		h.ServeHTTP(&discard{http.Header{}}, reqs[i])
	}
	w := &discard{http.Header{}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.ServeHTTP(w, reqs[i%benchPeers])
	}
}

// BenchmarkAnnounceUDP measures the answer to a BEP 15 announce with a valid connection
// id, under BenchmarkAnnounceHTTP's load.
func BenchmarkAnnounceUDP(b *testing.B) {
	tr := mustNewTracker(b, DefaultConfig(), testIH)
	now := tr.now()
	window := now.Unix() / int64(connIDWindow.Seconds())
	pkts := make([][]byte, benchPeers)
	for i := range pkts {
		pkts[i] = udpPacket(udp.ActionAnnounce, udpAnnounceBody(0, 50, 6881, 1000))
		binary.BigEndian.PutUint64(pkts[i], tr.connID(benchAddr(i).Addr(), window))
	}
	var out []byte
	var peers []chosen
	for i, p := range pkts {
		out, peers = tr.handleUDP(p, benchAddr(i), out[:0], peers[:0])
		if len(out) < 20 {
			b.Fatalf("announce %d: %d-byte answer %q", i, len(out), out)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		out, peers = tr.handleUDP(pkts[i%benchPeers], benchAddr(i%benchPeers), out[:0], peers[:0])
	}
	b.ReportMetric(float64(len(out)), "answer-bytes")
}

// BenchmarkAnnouncePortCycling measures the eclipse attempt of issue 13 among 1,000
// leechers: one address announcing from ever new ports, each entry replacing the
// address's stalest.
func BenchmarkAnnouncePortCycling(b *testing.B) {
	s := newSwarms(DefaultConfig())
	a := ann(10, EventNone)
	now := t0
	for i := range benchPeers {
		s.announce(a, 0, benchAddr(i), now, ttl, 0, nil)
	}
	attacker := netip.MustParseAddr("192.0.2.66")
	out := make([]chosen, 0, 50)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_, out = s.announce(a, 0, netip.AddrPortFrom(attacker, uint16(1+i%60000)), now, ttl, 50, out[:0])
	}
	if st, _ := s.stats(testIH, now); st.Leechers != benchPeers+2 {
		b.Fatalf("%d leechers listed, want %d", st.Leechers, benchPeers+2)
	}
}

// A peer announcing a swarm outside the catalog is refused, saying why, unless it is
// leaving it ("stopped"): that one is answered with no peers and no error.
func TestUntrackedStopped(t *testing.T) {
	tr := mustNewTracker(t, DefaultConfig())
	srv := httptest.NewServer(tr.HTTPHandler())
	t.Cleanup(srv.Close)
	announce := func(event string) (failure string, peers []byte) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + "/announce?info_hash=" + escaped(testIH) + "&peer_id=-TS0001-000000000001&port=6881&left=0" + event)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct {
			Failure string `bencode:"failure reason"`
			Peers   []byte `bencode:"peers"`
		}
		if err := bencode.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return r.Failure, r.Peers
	}
	if failure, _ := announce(""); !strings.Contains(failure, "not in this catalog") {
		t.Errorf("an announce of an untracked swarm: failure %q, want the catalog's reason", failure)
	}
	if failure, peers := announce("&event=stopped"); failure != "" || len(peers) != 0 {
		t.Errorf("a stopped announce of an untracked swarm: failure %q, %d peer bytes; want neither", failure, len(peers))
	}
	if st := tr.Stats(testIH); st.Leechers+st.Seeders != 0 {
		t.Errorf("the untracked swarm lists %+v", st)
	}
}
