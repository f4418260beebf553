package dhtnode

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/metainfo"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"listen name", func(c *Config) { c.Listen = "localhost:0" }, "listen:"},
		{"listen port", func(c *Config) { c.Listen = "127.0.0.1:70000" }, "listen:"},
		{"listen no port", func(c *Config) { c.Listen = "127.0.0.1" }, "listen:"},
		{"bootstrap port 0", func(c *Config) { c.Bootstrap = []string{"127.0.0.1:1", "127.0.0.1:0"} }, "bootstrap[1]:"},
		{"bootstrap no host", func(c *Config) { c.Bootstrap = []string{":6881"} }, "bootstrap[0]:"},
		{"query rate", func(c *Config) { c.QueryRate = 0 }, "query_rate:"},
		{"query burst", func(c *Config) { c.QueryBurst = 0 }, "query_burst:"},
		{"max infohashes", func(c *Config) { c.MaxInfoHashes = 0 }, "max_infohashes:"},
		{"max peers", func(c *Config) { c.MaxPeersPerInfoHash = -1 }, "max_peers_per_infohash:"},
		{"peer ttl", func(c *Config) { c.PeerTTL = time.Second }, "peer_ttl:"},
		{"max values", func(c *Config) { c.MaxValues = 65 }, "max_values:"},
		{"send rate", func(c *Config) { c.SendRate = 0 }, "send_rate:"},
	} {
		cfg := DefaultConfig()
		tc.set(&cfg)
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error starting %q", tc.name, err, tc.want)
		}
	}
	for _, ok := range []string{":6881", "0.0.0.0:0", "[::1]:0", "[2001:db8::1]:6881"} {
		cfg := DefaultConfig()
		cfg.Listen = ok
		if err := cfg.Validate(); err != nil {
			t.Errorf("listen %q: %v", ok, err)
		}
	}
}

// fakeClock is the store's time, moved by the test.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func testStore(cfg Config, known func(metainfo.Hash) []netip.AddrPort) (*store, *fakeClock) {
	clock := &fakeClock{time.Unix(1_000_000, 0)}
	return newStore(cfg, known, clock.now), clock
}

func nodeAddr(s string) krpc.NodeAddr {
	ap := netip.MustParseAddrPort(s)
	return krpc.NodeAddr{IP: net.IP(ap.Addr().AsSlice()), Port: int(ap.Port())}
}

func peerSet(nas []krpc.NodeAddr) []string {
	var out []string
	for _, na := range nas {
		out = append(out, na.String())
	}
	slices.Sort(out)
	return out
}

func TestStoreBounds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxInfoHashes, cfg.MaxPeersPerInfoHash, cfg.MaxValues = 3, 4, 4
	s, clock := testStore(cfg, nil)
	ih := []metainfo.Hash{{1}, {2}, {3}, {4}}
	for i := range 3 {
		s.AddPeer(ih[i], nodeAddr("10.0.0.1:1000"))
	}
	s.AddPeer(ih[3], nodeAddr("10.0.0.1:1000"))
	if ihs, peers, refused := s.counts(); ihs != 3 || peers != 3 || refused != 1 {
		t.Fatalf("after a 4th infohash: %d infohashes, %d peers, %d refused; want 3, 3, 1", ihs, peers, refused)
	}
	if got := s.GetPeers(ih[3]); len(got) != 0 {
		t.Errorf("4th infohash stored: %v", got)
	}

	// Bad ports and unspecified addresses are not stored.
	s.AddPeer(ih[0], krpc.NodeAddr{IP: net.IPv4(10, 0, 0, 2), Port: 0})
	s.AddPeer(ih[0], krpc.NodeAddr{IP: net.IPv4(10, 0, 0, 2), Port: 70000})
	s.AddPeer(ih[0], nodeAddr("0.0.0.0:1"))
	if got := peerSet(s.GetPeers(ih[0])); !slices.Equal(got, []string{"10.0.0.1:1000"}) {
		t.Errorf("invalid peers stored: %v", got)
	}

	// One host announcing many ports pushes out only its own entries.
	clock.t = clock.t.Add(time.Second)
	s.AddPeer(ih[0], nodeAddr("10.0.0.2:2000"))
	for port := 1001; port < 1010; port++ {
		clock.t = clock.t.Add(time.Second)
		s.AddPeer(ih[0], nodeAddr(fmt.Sprintf("10.0.0.1:%d", port)))
	}
	got := peerSet(s.GetPeers(ih[0]))
	if !slices.Equal(got, []string{"10.0.0.1:1007", "10.0.0.1:1008", "10.0.0.1:1009", "10.0.0.2:2000"}) {
		t.Errorf("after one host's flood of ports: %v", got)
	}

	// A re-announce refreshes; the rest expire after PeerTTL, and sweep forgets emptied infohashes.
	clock.t = clock.t.Add(cfg.PeerTTL - time.Second)
	s.AddPeer(ih[0], nodeAddr("10.0.0.2:2000"))
	clock.t = clock.t.Add(2 * time.Second)
	if got := peerSet(s.GetPeers(ih[0])); !slices.Equal(got, []string{"10.0.0.2:2000"}) {
		t.Errorf("after the TTL: %v", got)
	}
	s.sweep()
	if ihs, peers, _ := s.counts(); ihs != 1 || peers != 1 {
		t.Errorf("after sweep: %d infohashes, %d peers; want 1, 1", ihs, peers)
	}
	s.AddPeer(ih[3], nodeAddr("10.0.0.3:3000"))
	if got := s.GetPeers(ih[3]); len(got) != 1 {
		t.Errorf("room after sweep not used: %v", got)
	}
	clock.t = clock.t.Add(cfg.PeerTTL)
	s.sweep()
	if ihs, peers, _ := s.counts(); ihs != 0 || peers != 0 {
		t.Errorf("after everything expired: %d infohashes, %d peers", ihs, peers)
	}
}

func TestStoreKnownPeersFirst(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxValues = 3
	served := metainfo.Hash{9}
	s, _ := testStore(cfg, func(ih metainfo.Hash) []netip.AddrPort {
		if ih != served {
			return nil
		}
		return []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("[::ffff:192.0.2.2]:2"), netip.MustParseAddrPort("192.0.2.1:1")}
	})
	for _, p := range []string{"198.51.100.1:1", "198.51.100.2:2", "198.51.100.3:3"} {
		s.AddPeer(served, nodeAddr(p))
	}
	got := s.GetPeers(served)
	if len(got) != 3 || got[0].String() != "192.0.2.1:1" || got[1].String() != "192.0.2.2:2" || !strings.HasPrefix(got[2].String(), "198.51.100.") {
		t.Errorf("GetPeers = %v, want the 2 known peers (deduplicated, unmapped) then 1 announced", got)
	}
	if got := s.GetPeers(metainfo.Hash{8}); len(got) != 0 {
		t.Errorf("unserved infohash: %v", got)
	}
}

func TestListenFamily(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:0": "127.0.0.1", "[::1]:6881": "::1", "[::ffff:127.0.0.2]:1": "127.0.0.2",
		":6881": "invalid IP", "0.0.0.0:0": "invalid IP", "[::]:6881": "invalid IP",
	} {
		if got := listenFamily(listen).String(); got != want {
			t.Errorf("listenFamily(%q) = %s, want %s", listen, got, want)
		}
	}
}
