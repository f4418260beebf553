package tracker

import (
	"bytes"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/opendist/odi/internal/relayapi"
)

// peerKey is a peer's address: 16 bytes of IP (IPv4 mapped into IPv6) and the port.
// A fixed array keeps map keys small and free of pointers.
type peerKey [18]byte

func keyOf(ap netip.AddrPort) peerKey {
	var k peerKey
	ip := ap.Addr().As16()
	copy(k[:16], ip[:])
	k[16], k[17] = byte(ap.Port()>>8), byte(ap.Port())
	return k
}

// is4 reports whether the key holds an IPv4 address (::ffff:a.b.c.d).
func (k *peerKey) is4() bool {
	for _, b := range k[:10] {
		if b != 0 {
			return false
		}
	}
	return k[10] == 0xff && k[11] == 0xff
}

type peer struct {
	id      [20]byte
	expires int64 // unix seconds
}

// decayed is a count that halves every half-life: the demand signal. It is stored as
// its value at a moment, and brought forward when read or added to.
type decayed struct {
	value float64
	at    int64 // unix nanoseconds of value
}

// valueAt is d's value at now.
func (d decayed) valueAt(now int64, halfLife time.Duration) float64 {
	if d.value == 0 || now <= d.at {
		return d.value
	}
	return d.value * math.Exp2(-float64(now-d.at)/float64(halfLife))
}

// add brings d forward to now and adds x.
func (d *decayed) add(now int64, halfLife time.Duration, x float64) {
	d.value = d.valueAt(now, halfLife) + x
	if now > d.at {
		d.at = now
	}
}

type swarm struct {
	seeders  map[peerKey]peer
	leechers map[peerKey]peer
	// peak is the most peers the maps held since they were last allocated: Go maps do
	// not shrink, so a swarm that had a flash crowd is rebuilt once it is small again.
	peak      int
	completed int64
	redirects int64
	demand    decayed
	dirty     bool // counters changed since the last flush
}

func newSwarm() *swarm {
	return &swarm{seeders: map[peerKey]peer{}, leechers: map[peerKey]peer{}}
}

func (s *swarm) size() int { return len(s.seeders) + len(s.leechers) }

type shard struct {
	mu     sync.Mutex
	swarms map[[20]byte]*swarm
}

// swarms holds every swarm, in shards by the infohash's first byte.
type swarms struct {
	shards   [256]shard
	maxPeers int
	halfLife time.Duration
}

func newSwarms(maxPeers int, halfLife time.Duration) *swarms {
	s := &swarms{maxPeers: maxPeers, halfLife: halfLife}
	for i := range s.shards {
		s.shards[i].swarms = map[[20]byte]*swarm{}
	}
	return s
}

func (s *swarms) shard(ih [20]byte) *shard { return &s.shards[ih[0]] }

// chosen is one peer handed out in an announce answer.
type chosen struct {
	key peerKey
	id  [20]byte
}

// announceResult is what an announce answers besides the peers.
type announceResult struct {
	seeders, leechers int
	completed         int64
}

// relayPeerIDPrefix marks the announces of relays, which are supply, not demand.
var relayPeerIDPrefix = []byte(relayapi.PeerIDPrefix)

// announce records the announcing peer (or removes it, on stopped) and appends up to
// numWant other peers to out: seeders get no seeders (save a magnet client's first
// announce, see MayLackMetadata), and leechers get a mix.
// ttl is how long the peer stays without announcing again.
func (s *swarms) announce(a *Announce, from netip.AddrPort, now time.Time, ttl time.Duration, numWant int, out []chosen) (announceResult, []chosen) {
	key := keyOf(from)
	sh := s.shard(a.InfoHash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sw := sh.swarms[a.InfoHash]
	if sw == nil {
		sw = newSwarm()
		sh.swarms[a.InfoHash] = sw
	}
	nowNanos := now.UnixNano()
	_, wasSeeder := sw.seeders[key]
	_, wasLeecher := sw.leechers[key]
	seeder := a.Seeder()
	// Relays fetch what the placement gives them: their announces are not demand.
	wants := !bytes.HasPrefix(a.PeerID[:], relayPeerIDPrefix)
	// A completion is a completed event, or a listed leecher that now has everything:
	// clients that stop right after finishing (aria2c --seed-time=0) send only
	// "stopped" with left=0.
	if !wasSeeder && (a.Event == EventCompleted || (wasLeecher && seeder)) {
		sw.completed++
		if wants {
			sw.demand.add(nowNanos, s.halfLife, 1)
		}
		sw.dirty = true
	}
	if a.Event == EventStopped {
		delete(sw.seeders, key)
		delete(sw.leechers, key)
		return announceResult{len(sw.seeders), len(sw.leechers), sw.completed}, out
	}
	if !seeder && wants {
		sw.demand.add(nowNanos, s.halfLife, 1)
		sw.dirty = true
	}
	p := peer{id: a.PeerID, expires: now.Add(ttl).Unix()}
	mine, other := sw.leechers, sw.seeders
	if seeder {
		mine, other = other, mine
	}
	_, known := mine[key]
	if _, moving := other[key]; moving {
		delete(other, key)
		known = true
	}
	if known || sw.size() < s.maxPeers {
		mine[key] = p
		sw.peak = max(sw.peak, sw.size())
	}

	// Leechers get seeders first, but leave room for leechers: they trade pieces too.
	if numWant > 0 && (!seeder || a.MayLackMetadata()) {
		fromLeechers := min(len(sw.leechers)-1, numWant/2)
		out = pick(out, sw.seeders, key, numWant-max(fromLeechers, 0))
	}
	out = pick(out, sw.leechers, key, numWant-len(out))
	return announceResult{len(sw.seeders), len(sw.leechers), sw.completed}, out
}

// pick appends up to n peers of m other than self. Map iteration starts at a random
// place, which spreads the choice across the swarm.
func pick(out []chosen, m map[peerKey]peer, self peerKey, n int) []chosen {
	if n <= 0 {
		return out
	}
	for k, p := range m {
		if k == self {
			continue
		}
		out = append(out, chosen{key: k, id: p.id})
		if n--; n == 0 {
			break
		}
	}
	return out
}

// Stats are a swarm's counters.
type Stats struct {
	Seeders   int     `json:"seeders"`
	Leechers  int     `json:"leechers"`
	Completed int64   `json:"completed"` // over the artifact's lifetime
	Redirects int64   `json:"redirects"` // plain HTTP downloads sent to a copy, over the lifetime
	Demand    float64 `json:"demand"`    // leecher announces, completions and redirects, decayed
}

func (s *swarms) stats(ih [20]byte, now time.Time) (Stats, bool) {
	sh := s.shard(ih)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sw := sh.swarms[ih]
	if sw == nil {
		return Stats{}, false
	}
	return Stats{
		Seeders: len(sw.seeders), Leechers: len(sw.leechers), Completed: sw.completed, Redirects: sw.redirects,
		Demand: sw.demand.valueAt(now.UnixNano(), s.halfLife),
	}, true
}

// redirected counts n plain HTTP downloads of ih as demand, like leechers' announces: a
// user who never speaks BitTorrent still wants the artifact near them.
func (s *swarms) redirected(ih [20]byte, n int64, now time.Time) {
	sh := s.shard(ih)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sw := sh.swarms[ih]
	if sw == nil {
		sw = newSwarm()
		sh.swarms[ih] = sw
	}
	sw.redirects += n
	sw.demand.add(now.UnixNano(), s.halfLife, float64(n))
	sw.dirty = true
}

// sweep removes expired peers and the swarms that may no longer be tracked, and
// reallocates maps that shrank to a quarter of their peak. It returns the peers left.
func (s *swarms) sweep(now time.Time, trackable func([20]byte) bool) (peers int) {
	cutoff := now.Unix()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for ih, sw := range sh.swarms {
			if !trackable(ih) {
				delete(sh.swarms, ih)
				continue
			}
			for _, m := range []map[peerKey]peer{sw.seeders, sw.leechers} {
				for k, p := range m {
					if p.expires < cutoff {
						delete(m, k)
					}
				}
			}
			if sw.peak > 1024 && sw.size() < sw.peak/4 {
				sw.seeders, sw.leechers = clone(sw.seeders), clone(sw.leechers)
				sw.peak = sw.size()
			}
			peers += sw.size()
		}
		sh.mu.Unlock()
	}
	return peers
}

func clone(m map[peerKey]peer) map[peerKey]peer {
	c := make(map[peerKey]peer, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Counters are what survives a restart of one swarm.
type Counters struct {
	InfoHash  [20]byte
	Completed int64
	Redirects int64
	Demand    float64
	DemandAt  time.Time
}

// dirtyCounters returns the counters changed since the last call and marks them clean.
func (s *swarms) dirtyCounters() []Counters {
	var out []Counters
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for ih, sw := range sh.swarms {
			if sw.dirty {
				out = append(out, Counters{ih, sw.completed, sw.redirects, sw.demand.value, time.Unix(0, sw.demand.at)})
				sw.dirty = false
			}
		}
		sh.mu.Unlock()
	}
	return out
}

// markDirty flags counters whose flush failed, so the next flush retries them.
func (s *swarms) markDirty(cs []Counters) {
	for _, c := range cs {
		sh := s.shard(c.InfoHash)
		sh.mu.Lock()
		if sw := sh.swarms[c.InfoHash]; sw != nil {
			sw.dirty = true
		}
		sh.mu.Unlock()
	}
}

// restore seeds swarms with counters saved before a restart.
func (s *swarms) restore(cs []Counters) {
	for _, c := range cs {
		sh := s.shard(c.InfoHash)
		sh.mu.Lock()
		sw := sh.swarms[c.InfoHash]
		if sw == nil {
			sw = newSwarm()
			sh.swarms[c.InfoHash] = sw
		}
		sw.completed, sw.redirects, sw.demand = c.Completed, c.Redirects, decayed{c.Demand, c.DemandAt.UnixNano()}
		sh.mu.Unlock()
	}
}
