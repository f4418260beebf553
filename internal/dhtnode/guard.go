package dhtnode

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/bencode"

	"github.com/opendist/odi/internal/limit"
)

// maxPacket is the largest datagram the node reads or, by construction, writes. BEP 5 queries
// are under 300 bytes (announce_peer with a 20-byte token: ~150); the largest replies are
// find_node/get_peers with 8 IPv4 and 8 IPv6 nodes (~650 bytes) or maxValuesLimit IPv6
// values (~1450 bytes, TestReplySizes), and other implementations keep theirs within one
// 1500-byte frame too (libtorrent caps values at 100 IPv4 peers, ~900 bytes). 2 KiB leaves
// room for those and keeps anything bigger from ever reaching a decoder.
const maxPacket = 2048

// maxRateAddrs bounds the addresses each rate table tracks at once (limit.Rates: beyond, they
// share one bucket): about 150 bytes each, so at most ~2.5 MiB a table.
const maxRateAddrs = 1 << 14

// allowedQueries are the BEP 5 queries. Any other "q" is dropped before anacrolix sees it:
// its handleQuery counts every distinct query name in an expvar map that only grows, and
// answers BEP 44 put/get from an in-memory store of items.
var allowedQueries = map[string]bool{"ping": true, "find_node": true, "get_peers": true, "announce_peer": true}

// counters are what the guard and the store count, read by Stats and the metrics.
type counters struct {
	answered, rateLimited, notAllowed, oversize, malformed, sendsDropped atomic.Int64
}

// guard is the net.PacketConn anacrolix's server reads and writes: it drops what must not
// reach anacrolix (oversized, malformed, not BEP 5, over the source's query rate) and what
// must not leave (more bytes a second to one address than its query rate's worth of
// replies). Dropping is what UDP does anyway, so anacrolix needs no news of it.
type guard struct {
	net.PacketConn
	in, out *limit.Rates
	now     func() time.Time
	n       *counters

	mu      sync.Mutex
	cond    sync.Cond // signalled when reading drops to 0
	closed  bool
	reading int
}

func newGuard(pc net.PacketConn, cfg Config, n *counters) *guard {
	g := &guard{
		PacketConn: pc,
		in:         limit.NewRates(limit.Rate{PerSecond: cfg.QueryRate, Burst: cfg.QueryBurst}, maxRateAddrs),
		// A source within its query rate always has room for its replies (each is at most
		// maxPacket bytes); no address gets more however our traffic to it arises (a forged
		// source, our own lookups, a torrent's list of nodes naming it many times).
		out: limit.NewRates(limit.Rate{PerSecond: cfg.QueryRate * maxPacket, Burst: cfg.QueryBurst * maxPacket}, maxRateAddrs),
		now: time.Now,
		n:   n,
	}
	g.cond.L = &g.mu
	return g
}

// ReadFrom returns the next admitted packet. Read errors other than a closed socket are
// skipped: anacrolix's read loop panics on any error it gets while its server is open.
func (g *guard) ReadFrom(b []byte) (int, net.Addr, error) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return 0, nil, net.ErrClosed
	}
	g.reading++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		if g.reading--; g.reading == 0 {
			g.cond.Broadcast()
		}
		g.mu.Unlock()
	}()
	for {
		n, addr, err := g.PacketConn.ReadFrom(b)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return n, addr, err
			}
			continue
		}
		if g.admit(b[:n], addr) {
			return n, addr, nil
		}
	}
}

// admit decides on one packet. It decodes it as anacrolix will (krpc.Msg, anacrolix's
// bencode), so a packet anacrolix could not decode never reaches it (it would log each);
// the size cap bounds that work.
func (g *guard) admit(p []byte, from net.Addr) bool {
	if len(p) > maxPacket {
		g.n.oversize.Add(1)
		return false
	}
	var m krpc.Msg
	if err := bencode.Unmarshal(p, &m); err != nil {
		g.n.malformed.Add(1)
		return false
	}
	switch m.Y {
	case krpc.YResponse, krpc.YError:
		return true // anacrolix drops any that answers no query of its own
	case krpc.YQuery:
	default:
		g.n.malformed.Add(1)
		return false
	}
	// BEP 5 queries all carry "a" (at least the sender's id); anacrolix v2.23.0 dereferences
	// it unchecked for announce_peer, so one without would panic its read loop.
	if !allowedQueries[m.Q] || m.A == nil {
		g.n.notAllowed.Add(1)
		return false
	}
	if ok, _ := g.in.Allow(addrOf(from).Addr(), g.now()); !ok {
		g.n.rateLimited.Add(1)
		return false
	}
	return true
}

// WriteTo sends p unless its destination's byte budget is spent; then p is dropped as the
// network might, and reported sent. Replies and errors are counted as queries answered.
func (g *guard) WriteTo(p []byte, to net.Addr) (int, error) {
	if !g.out.AllowN(addrOf(to).Addr(), len(p), g.now()) {
		g.n.sendsDropped.Add(1)
		return len(p), nil
	}
	if isAnswer(p) {
		g.n.answered.Add(1) // before the write: whoever reads the answer sees it counted
	}
	return g.PacketConn.WriteTo(p, to)
}

// isAnswer reports whether p, a KRPC message anacrolix encoded, is a reply or an error:
// bencoded dicts sort their keys, and "y" sorts after every other key of a KRPC message.
func isAnswer(p []byte) bool {
	return bytes.HasSuffix(p, []byte("1:y1:re")) || bytes.HasSuffix(p, []byte("1:y1:ee"))
}

// Close closes the socket; later reads fail at once.
func (g *guard) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	g.mu.Unlock()
	return g.PacketConn.Close()
}

// waitReads returns once no read is in progress; after Close, none starts again.
func (g *guard) waitReads() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.reading > 0 {
		g.cond.Wait()
	}
}

// addrOf is a UDP address as netip; the zero AddrPort for any other kind (none occurs).
func addrOf(a net.Addr) netip.AddrPort {
	if ua, ok := a.(*net.UDPAddr); ok {
		return ua.AddrPort()
	}
	return netip.AddrPort{}
}
