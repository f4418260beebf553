package dhtnode

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/krpc"
	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent/metainfo"
)

// recordingConn is a real UDP socket that notes where it sends.
type recordingConn struct {
	net.PacketConn
	mu sync.Mutex
	to map[netip.AddrPort]bool
}

func (r *recordingConn) WriteTo(p []byte, a net.Addr) (int, error) {
	r.mu.Lock()
	r.to[addrOf(a)] = true
	r.mu.Unlock()
	return r.PacketConn.WriteTo(p, a)
}

func (r *recordingConn) sentTo() []netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []netip.AddrPort
	for a := range r.to {
		out = append(out, a)
	}
	return out
}

// TestClosedNetwork: a node talks to its bootstrap node and to those who talk to it, and
// to nobody else; the public routers are a bootstrap node only when Public says so.
func TestClosedNetwork(t *testing.T) {
	a := mustNode(t, testConfig("127.0.0.1"), Deps{})
	pc, err := net.ListenPacket("udp4", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingConn{PacketConn: pc, to: map[netip.AddrPort]bool{}}
	cfg := testConfig("127.0.0.2")
	cfg.Bootstrap = []string{a.Addr().String()}
	b, err := newNode(cfg, Deps{}, quietLog(), rec)
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, b)
	cfg = testConfig("127.0.0.3")
	cfg.Bootstrap = []string{b.Addr().String()}
	c := mustNode(t, cfg, Deps{})
	waitFor(t, "b and c bootstrapped", func() bool { return b.Stats().GoodNodes >= 1 && c.Stats().GoodNodes >= 1 })
	// b answers c; its walks may also query its own address, as a names it back.
	for _, to := range rec.sentTo() {
		if to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port()); to != a.Addr() && to != c.Addr() && to != b.Addr() {
			t.Errorf("b sent to %s: not its bootstrap node %s, c %s or itself", to, a.Addr(), c.Addr())
		}
	}
	if hps := b.bootstrapHostPorts(); !slices.Equal(hps, []string{a.Addr().String()}) {
		t.Errorf("b bootstraps from %v", hps)
	}
	if addrs, err := b.startingNodes(); err != nil || len(addrs) != 1 || addrs[0].String() != a.Addr().String() {
		t.Errorf("b's starting nodes: %v, %v", addrs, err)
	}
	public := &Node{cfg: Config{Public: true, Bootstrap: []string{"127.0.0.1:1"}}}
	if hps := public.bootstrapHostPorts(); len(hps) != 1+len(dht.DefaultGlobalBootstrapHostPorts) || hps[0] != "127.0.0.1:1" {
		t.Errorf("public node bootstraps from %v", hps)
	}
}

// TestTokens: announce_peer is stored only with the token a get_peers gave that address.
func TestTokens(t *testing.T) {
	n := mustNode(t, testConfig("127.0.0.1"), Deps{})
	c := newRawClient(t, "127.0.0.1")
	bad, good := randomHash(), randomHash()
	_, m := c.query(n.Addr(), "get_peers", "g", krpc.MsgArgs{InfoHash: krpc.ID(good)})
	if m.R == nil || m.R.Token == nil || len(*m.R.Token) == 0 {
		t.Fatalf("get_peers gave no token: %+v", m)
	}
	token := *m.R.Token
	port := 6881
	other := newRawClient(t, "127.0.0.2") // another address's token is no good either
	for _, tc := range []struct {
		c     *rawClient
		token string
	}{{c, ""}, {c, "forged token"}, {c, token[:len(token)-1] + "x"}, {other, token}} {
		tc.c.send(n.Addr(), encodeQuery("announce_peer", "bad", &krpc.MsgArgs{ID: tc.c.id, InfoHash: krpc.ID(bad), Token: tc.token, Port: &port}))
	}
	if _, m := c.query(n.Addr(), "announce_peer", "ok", krpc.MsgArgs{InfoHash: krpc.ID(good), Token: token, Port: &port}); m.R == nil {
		t.Fatalf("announce with the token: %+v", m)
	}
	waitFor(t, "the announce stored", func() bool { return n.Stats().Peers == 1 })
	if got := n.store.GetPeers(good); len(got) != 1 || got[0].String() != "127.0.0.1:6881" {
		t.Errorf("stored %v", got)
	}
	if got := n.store.GetPeers(bad); len(got) != 0 {
		t.Errorf("announces with bad tokens stored: %v", got)
	}
	if s := n.Stats(); s.InfoHashes != 1 || s.Answered != 2 {
		t.Errorf("stats %+v: bad-token announces answered or stored", s)
	}
}

// anacrolixServer is a stock anacrolix DHT server on host, starting from one node.
func anacrolixServer(t *testing.T, host string, start netip.AddrPort) *dht.Server {
	t.Helper()
	pc, err := net.ListenPacket("udp4", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := dht.NewDefaultServerConfig()
	cfg.Conn = pc
	cfg.StartingNodes = func() ([]dht.Addr, error) { return []dht.Addr{dht.NewAddr(net.UDPAddrFromAddrPort(start))}, nil }
	cfg.Logger = alog.NewLogger("test").WithFilterLevel(alog.Disabled)
	s, err := dht.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// traverse runs a get_peers traversal (announcing port if not 0) and returns the peers found.
func traverse(t *testing.T, s *dht.Server, ih metainfo.Hash, port int) []string {
	t.Helper()
	var opts []dht.AnnounceOpt
	if port != 0 {
		opts = append(opts, dht.AnnouncePeer(dht.AnnouncePeerOpts{Port: port}))
	}
	a, err := s.AnnounceTraversal(ih, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var found []string
	for pv := range a.Peers {
		for _, p := range pv.Peers {
			found = append(found, p.String())
		}
	}
	return found
}

// TestAgainstAnacrolix: stock anacrolix DHT clients announce through a network of two nodes
// and find the peer, and the directory's known peers, by get_peers traversals.
func TestAgainstAnacrolix(t *testing.T) {
	served := randomHash()
	known := netip.MustParseAddrPort("127.0.0.9:7000")
	a := mustNode(t, testConfig("127.0.0.1"), Deps{Peers: func(ih metainfo.Hash) []netip.AddrPort {
		if ih == served {
			return []netip.AddrPort{known}
		}
		return nil
	}})
	cfg := testConfig("127.0.0.2")
	cfg.Bootstrap = []string{a.Addr().String()}
	b := mustNode(t, cfg, Deps{})
	waitFor(t, "b bootstrapped from a", func() bool { return b.Stats().GoodNodes >= 1 })

	// anacrolix v2.23.0 answers get_peers with good nodes from the target's bucket down to
	// bucket 0 only, skipping the closer nodes of deeper buckets: in a network of two nodes,
	// b may not name a for a random infohash. One next to a's ID is in a's bucket for b, so
	// the announcer learns of a from b and announces to both.
	ih := metainfo.Hash(a.Server().ID())
	ih[19] ^= 1
	announcer := anacrolixServer(t, "127.0.0.3", b.Addr())
	traverse(t, announcer, ih, 6001)
	// The traversal announced to both nodes (each gave a token); anacrolix stores after replying.
	waitFor(t, "the announce stored", func() bool { return a.Stats().Peers == 1 && b.Stats().Peers == 1 })

	seeker := anacrolixServer(t, "127.0.0.4", a.Addr())
	if found := traverse(t, seeker, ih, 0); !slices.Contains(found, "127.0.0.3:6001") {
		t.Errorf("get_peers traversal found %v, want 127.0.0.3:6001", found)
	}
	if found := traverse(t, seeker, served, 0); !slices.Contains(found, known.String()) {
		t.Errorf("traversal of a served infohash found %v, want %s", found, known)
	}
	if found := traverse(t, seeker, randomHash(), 0); len(found) != 0 {
		t.Errorf("traversal of an unknown infohash found %v", found)
	}
}

func TestRunStops(t *testing.T) {
	base := runtime.NumGoroutine()
	cfg := testConfig("127.0.0.1")
	n, err := New(cfg, Deps{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	n.AddNodes([]string{"127.0.0.1:1", "not a node", "127.0.0.1:1"})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.AddNodes([]string{"127.0.0.1:2"})
	if len(n.extra) != 1 {
		t.Errorf("nodes kept: %v", n.extra)
	}
	// The port is free again: the socket is closed.
	cfg.Listen = n.Addr().String()
	pc, err := net.ListenPacket("udp4", cfg.Listen)
	if err != nil {
		t.Fatalf("socket still open: %v", err)
	}
	pc.Close()
	// anacrolix's own goroutines (its read loop's return, replies in flight) end soon after.
	waitFor(t, "goroutines back to where they were", func() bool { return runtime.NumGoroutine() <= base })
}

// TestNodeIDs: our ID is derived from our IP (BEP 42) only where others see that IP; nodes
// of any ID on loopback and private addresses join the table (TestAgainstAnacrolix's
// stock clients have random IDs).
func TestNodeIDs(t *testing.T) {
	for ip, want := range map[string]bool{
		"127.0.0.1": false, "10.1.2.3": false, "192.168.1.1": false, "::1": false, "fd00::1": false,
		"0.0.0.0": false, "::": false, "198.51.100.7": true, "2001:db8::7": true,
	} {
		got := publicIP(netip.MustParseAddr(ip))
		if (got != nil) != want {
			t.Errorf("publicIP(%s) = %v, want public %v", ip, got, want)
		}
		if got != nil {
			var id krpc.ID
			dht.SecureNodeId(&id, got)
			if !dht.NodeIdSecure(id, got) {
				t.Errorf("%s: a secured ID is not secure", ip)
			}
		}
	}
	n := mustNode(t, testConfig("127.0.0.1"), Deps{})
	c := newRawClient(t, "127.0.0.5")
	c.id = krpc.ID{0xff, 0xff, 0xff} // not derived from 127.0.0.5
	c.query(n.Addr(), "ping", "p", krpc.MsgArgs{})
	if nodes := n.Stats().Nodes; nodes != 1 {
		t.Errorf("%d nodes in the table after a query from an arbitrary ID, want 1", nodes)
	}
}

// recordingHandler keeps the records logged to it.
type recordingHandler struct {
	mu   *sync.Mutex
	recs *[]slog.Record
}

func (h recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, r)
	return nil
}
func (h recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordingHandler) WithGroup(string) slog.Handler      { return h }

// TestAnacrolixLogsQuietly: a network's first node has no node to bootstrap from, and
// anacrolix says so as an error every minute; it reaches our log at debug level only.
func TestAnacrolixLogsQuietly(t *testing.T) {
	var recs []slog.Record
	var mu sync.Mutex
	n, err := New(testConfig("127.0.0.1"), Deps{}, slog.New(recordingHandler{&mu, &recs}))
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, n)
	waitFor(t, "anacrolix's bootstrap error", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.ContainsFunc(recs, func(r slog.Record) bool { return strings.Contains(r.Message, "error bootstrapping") })
	})
	mu.Lock()
	defer mu.Unlock()
	for _, r := range recs {
		if r.Level > slog.LevelDebug {
			t.Errorf("logged at %s: %s", r.Level, r.Message)
		}
	}
}
