package dhtnode

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
	"github.com/anacrolix/torrent/metainfo"
)

// store keeps the peers announced to the node (peer_store.Interface), bounded: at most
// maxInfoHashes infohashes of at most maxPerInfoHash peers each, each forgotten ttl after its
// last announce. Its get_peers answer starts with the peers of Deps.Peers.
type store struct {
	maxInfoHashes, maxPerInfoHash, maxValues int
	ttl                                      time.Duration
	now                                      func() time.Time
	known                                    func(metainfo.Hash) []netip.AddrPort

	mu     sync.Mutex
	byHash map[metainfo.Hash][]stored
	peers  int // entries in byHash, for the gauge
	// refused counts announces not stored because maxInfoHashes was reached.
	refused int64
}

var _ peer_store.Interface = (*store)(nil)

// stored is one announced peer and when it last announced.
type stored struct {
	addr netip.AddrPort
	seen time.Time
}

func newStore(cfg Config, known func(metainfo.Hash) []netip.AddrPort, now func() time.Time) *store {
	return &store{
		maxInfoHashes: cfg.MaxInfoHashes, maxPerInfoHash: cfg.MaxPeersPerInfoHash, maxValues: cfg.MaxValues,
		ttl: cfg.PeerTTL, now: now, known: known,
		byHash: map[metainfo.Hash][]stored{},
	}
}

// AddPeer records a peer that announced with a valid token (anacrolix checked it). A peer is
// its address and port, so two relays on one host are two peers; when an infohash's list is
// full the stalest entry of the address holding the most entries goes, so that one host
// announcing many ports pushes out only its own.
func (s *store) AddPeer(ih metainfo.Hash, na krpc.NodeAddr) {
	ip, ok := netip.AddrFromSlice(na.IP)
	if !ok || na.Port < 1 || na.Port > 65535 || ip.IsUnspecified() {
		return
	}
	addr := netip.AddrPortFrom(ip.Unmap(), uint16(na.Port))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	list, ok := s.byHash[ih]
	if !ok && len(s.byHash) >= s.maxInfoHashes {
		s.refused++
		return
	}
	list = s.live(list, now)
	for i := range list {
		if list[i].addr == addr {
			list[i].seen = now
			s.set(ih, list)
			return
		}
	}
	if len(list) >= s.maxPerInfoHash {
		list = evict(list)
	}
	s.set(ih, append(list, stored{addr, now}))
}

// set stores ih's list and keeps the peer count; s.mu is held.
func (s *store) set(ih metainfo.Hash, list []stored) {
	s.peers += len(list) - len(s.byHash[ih])
	if len(list) == 0 {
		delete(s.byHash, ih)
		return
	}
	s.byHash[ih] = list
}

// live drops list's expired entries in place.
func (s *store) live(list []stored, now time.Time) []stored {
	kept := list[:0]
	for _, e := range list {
		if now.Sub(e.seen) < s.ttl {
			kept = append(kept, e)
		}
	}
	clear(list[len(kept):])
	return kept
}

// evict removes the stalest entry of the address with the most entries in list.
func evict(list []stored) []stored {
	count := map[netip.Addr]int{}
	most := 0
	for _, e := range list {
		count[e.addr.Addr()]++
		most = max(most, count[e.addr.Addr()])
	}
	victim := -1
	for i, e := range list {
		if count[e.addr.Addr()] == most && (victim < 0 || e.seen.Before(list[victim].seen)) {
			victim = i
		}
	}
	return append(list[:victim], list[victim+1:]...)
}

// GetPeers is a get_peers reply's values: the peers Deps.Peers knows for ih, then live
// announced ones in random order (so that no few peers get every querier), maxValues in all.
// anacrolix calls it with its server lock held.
func (s *store) GetPeers(ih metainfo.Hash) []krpc.NodeAddr {
	var out []krpc.NodeAddr
	seen := map[netip.AddrPort]bool{}
	add := func(ap netip.AddrPort) {
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if len(out) < s.maxValues && ap.Addr().IsValid() && ap.Port() != 0 && !seen[ap] {
			seen[ap] = true
			out = append(out, krpc.NodeAddr{IP: net.IP(ap.Addr().AsSlice()), Port: int(ap.Port())})
		}
	}
	if s.known != nil {
		for _, ap := range s.known(ih) {
			add(ap)
		}
	}
	if len(out) >= s.maxValues {
		return out
	}
	now := s.now()
	s.mu.Lock()
	list := s.live(s.byHash[ih], now)
	s.set(ih, list)
	picked := make([]netip.AddrPort, len(list))
	for i, e := range list {
		picked[i] = e.addr
	}
	s.mu.Unlock()
	rand.Shuffle(len(picked), func(i, j int) { picked[i], picked[j] = picked[j], picked[i] })
	for _, ap := range picked {
		add(ap)
	}
	return out
}

// sweep forgets expired peers and the infohashes left with none.
func (s *store) sweep() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for ih, list := range s.byHash {
		s.set(ih, s.live(list, now))
	}
}

// counts returns the infohashes and peers stored and the announces refused for want of room.
func (s *store) counts() (infoHashes, peers int, refused int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byHash), s.peers, s.refused
}
