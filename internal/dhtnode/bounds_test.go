package dhtnode

import (
	"expvar"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"testing"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/metainfo"
)

// maxAmplification is the most a reply may outweigh the query that asked for it. With the
// default MaxValues (32) the worst reply measured is 7.0× its query (770 bytes: 32 IPv6 values
// asked for with want n4+n6, 110 bytes); find_node's 8 nodes are 3.0×, get_peers' 32 IPv4
// values 3.8×. At MaxValues 64 the IPv6 worst case is 13.1× (1442 bytes). Open resolvers' DNS
// (28-54×) and memcached (>10000×) are what amplification attacks seek; a 10× bound with a
// per-source query rate and a per-destination byte budget leaves nothing worth forging for.
const maxAmplification = 10

// peersOf returns n distinct addresses in prefix p's range, port 6881.
func peersOf(p string, n int) []netip.AddrPort {
	a := netip.MustParseAddr(p)
	var out []netip.AddrPort
	for range n {
		a = a.Next()
		out = append(out, netip.AddrPortFrom(a, 6881))
	}
	return out
}

// TestReplySizes measures every reply to the smallest queries a forger can send, against a
// node with a full answer to give: 8 good nodes in its table and more known peers than
// MaxValues.
func TestReplySizes(t *testing.T) {
	ih4, ih6 := randomHash(), randomHash()
	known := func(ih metainfo.Hash) []netip.AddrPort {
		switch ih {
		case ih4:
			return peersOf("10.0.0.0", 100)
		case ih6:
			return peersOf("2001:db8::", 100)
		}
		return nil
	}
	s := mustNode(t, testConfig("127.0.0.1"), Deps{Peers: known})
	var others []string
	for i := range 8 {
		others = append(others, mustNode(t, testConfig(fmt.Sprintf("127.0.0.%d", 11+i)), Deps{}).Addr().String())
	}
	s.AddNodes(others)
	waitFor(t, "8 good nodes", func() bool { return s.Stats().GoodNodes >= 8 })

	c := newRawClient(t, "127.0.0.1")
	_, m := c.query(s.Addr(), "get_peers", "x", krpc.MsgArgs{InfoHash: krpc.ID(ih4)})
	token := *m.R.Token
	port := 1
	both := []krpc.Want{krpc.WantNodes, krpc.WantNodes6}
	for _, tc := range []struct {
		name   string
		q      string
		a      krpc.MsgArgs
		values int
		nodes  int // negative: at most -nodes
	}{
		{"ping", "ping", krpc.MsgArgs{}, 0, 0},
		// anacrolix v2.23.0 answers find_node with the nodes closest to "info_hash" (not
		// "target"), from the target's bucket down, so a find_node gets up to 8 nodes.
		{"find_node", "find_node", krpc.MsgArgs{Target: s.Server().ID()}, 0, -8},
		// Aimed at the node's own ID, a get_peers gets all 8: the largest nodes answer.
		{"get_peers, no peers", "get_peers", krpc.MsgArgs{InfoHash: s.Server().ID()}, 0, 8},
		{"get_peers, IPv4 peers", "get_peers", krpc.MsgArgs{InfoHash: krpc.ID(ih4)}, 32, 0},
		{"get_peers, IPv6 peers", "get_peers", krpc.MsgArgs{InfoHash: krpc.ID(ih6), Want: both}, 32, 0},
		{"announce_peer", "announce_peer", krpc.MsgArgs{InfoHash: krpc.ID(ih4), Token: token, Port: &port}, 0, 0},
	} {
		q := len(encodeQuery(tc.q, "x", &krpc.MsgArgs{ID: c.id, InfoHash: tc.a.InfoHash, Target: tc.a.Target, Token: tc.a.Token, Port: tc.a.Port, Want: tc.a.Want}))
		b, m := c.query(s.Addr(), tc.q, "x", tc.a)
		if m.R == nil {
			t.Fatalf("%s: no reply: %+v", tc.name, m)
		}
		f := float64(len(b)) / float64(q)
		t.Logf("%-22s query %4d bytes, reply %4d bytes: %.1f×", tc.name, q, len(b), f)
		if len(m.R.Values) != tc.values || (tc.nodes >= 0 && len(m.R.Nodes) != tc.nodes) || len(m.R.Nodes) > max(tc.nodes, -tc.nodes) {
			t.Errorf("%s: %d values and %d nodes, want %d and %d", tc.name, len(m.R.Values), len(m.R.Nodes), tc.values, tc.nodes)
		}
		if f > maxAmplification {
			t.Errorf("%s: reply %d bytes is %.1f× the query's %d, over %d×", tc.name, len(b), f, q, maxAmplification)
		}
	}

	// At the largest MaxValues, IPv6 values still fit one 1500-byte frame and maxPacket.
	cfg := testConfig("127.0.0.1")
	cfg.MaxValues = maxValuesLimit
	big := mustNode(t, cfg, Deps{Peers: known})
	q := len(encodeQuery("get_peers", "x", &krpc.MsgArgs{ID: c.id, InfoHash: krpc.ID(ih6), Want: both}))
	b, m := c.query(big.Addr(), "get_peers", "x", krpc.MsgArgs{InfoHash: krpc.ID(ih6), Want: both})
	t.Logf("MaxValues %d, IPv6: query %d bytes, reply %d bytes: %.1f×", maxValuesLimit, q, len(b), float64(len(b))/float64(q))
	if len(m.R.Values) != maxValuesLimit || len(b) > 1452 || len(b) > maxPacket {
		t.Errorf("%d values in %d bytes, want %d in at most 1452", len(m.R.Values), len(b), maxValuesLimit)
	}
}

// TestBoundedUnderFlood sends 100,000 distinct get_peers queries (distinct infohashes, and
// sender IDs aimed at every bucket of the routing table) and announces with valid tokens for
// 20,000 distinct infohashes, from loopback, answered one by one. The store keeps
// MaxInfoHashes infohashes, the table at most 160 buckets × 8 nodes, anacrolix's expvars do
// not grow per query, and the heap grows by less than heapBound.
func TestBoundedUnderFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 queries")
	}
	const (
		queries   = 100_000
		senders   = 4
		announce  = 5       // every 5th query is followed by an announce
		heapBound = 4 << 20 // measured: +1.2 MB (4096 stored peers, 1263 table nodes)
	)
	cfg := testConfig("127.0.0.1")
	cfg.QueryRate, cfg.QueryBurst, cfg.SendRate = 1e9, 1e9, 1e9 // answer everything
	n := mustNode(t, cfg, Deps{})
	dhtVars := expvar.Get("dht").(*expvar.Map)
	varsBefore := countVars(dhtVars)
	heapBefore := heapAlloc()

	root := n.Server().ID()
	var wg sync.WaitGroup
	for w := range senders {
		c := newRawClient(t, fmt.Sprintf("127.0.0.%d", 20+w))
		wg.Go(func() {
			port := 6881
			var token string
			for i := w; i < queries; i += senders {
				// An ID in bucket i%160: it shares i%160 leading bits with the node's.
				id := krpc.ID(randomHash())
				b := i % 160
				for bit := range b {
					mask := byte(0x80 >> (bit % 8))
					id[bit/8] = id[bit/8]&^mask | root[bit/8]&mask
				}
				mask := byte(0x80 >> (b % 8))
				id[b/8] = id[b/8]&^mask | ^root[b/8]&mask
				c.id = id
				ih := krpc.ID(randomHash())
				_, m := c.query(n.Addr(), "get_peers", "g", krpc.MsgArgs{InfoHash: ih})
				if m.R == nil || m.R.Token == nil {
					t.Errorf("query %d: %+v", i, m)
					return
				}
				token = *m.R.Token
				if i%announce == 0 {
					if _, m := c.query(n.Addr(), "announce_peer", "a", krpc.MsgArgs{InfoHash: ih, Token: token, Port: &port}); m.R == nil {
						t.Errorf("announce %d: %+v", i, m)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, "every announce stored or refused", func() bool {
		s := n.Stats()
		return int64(s.InfoHashes)+s.AnnouncesRefused == queries/announce
	})
	heapAfter := heapAlloc()
	s := n.Stats()
	t.Logf("after %d get_peers and %d announces: heap %d → %d bytes (+%d), %d infohashes, %d announces refused, %d nodes in the table",
		queries, queries/announce, heapBefore, heapAfter, int64(heapAfter)-int64(heapBefore), s.InfoHashes, s.AnnouncesRefused, s.Nodes)
	if s.InfoHashes != cfg.MaxInfoHashes || s.Peers != cfg.MaxInfoHashes {
		t.Errorf("store holds %d infohashes, %d peers; want %d each", s.InfoHashes, s.Peers, cfg.MaxInfoHashes)
	}
	if s.Nodes > 160*8 || s.Nodes < 160 {
		t.Errorf("%d nodes in the table, want at most 160 × 8 (and some in every bucket)", s.Nodes)
	}
	if grew := countVars(dhtVars) - varsBefore; grew > 10 {
		t.Errorf("anacrolix's expvars grew by %d keys", grew)
	}
	if int64(heapAfter)-int64(heapBefore) > heapBound {
		t.Errorf("heap grew by %d bytes, over %d", int64(heapAfter)-int64(heapBefore), heapBound)
	}
}

func countVars(m *expvar.Map) (n int) {
	m.Do(func(expvar.KeyValue) { n++ })
	return n
}

// heapAlloc is the live heap after a full collection.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
