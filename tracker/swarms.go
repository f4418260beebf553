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
	id         [20]byte
	next       peerKey // the next entry of the same host (see host)
	expires    uint32  // unix seconds: 32 bits last until 2106 and keep the maps small
	downloaded int64   // its last announce's BEP 3 "downloaded", the baseline of the next
}

// downloadedDelta is what an announce of downloaded adds to the reported download bytes,
// given the peer's last announced value prev: the rise, at most length (one copy of the
// artifact, so one hostile announce adds no more). A fall is a client that restarted its
// count, and adds nothing; either way downloaded is the next baseline.
func downloadedDelta(prev, downloaded, length int64) int64 {
	if downloaded <= prev {
		return 0
	}
	return min(downloaded-prev, length)
}

// hostOf is the host a peer belongs to, the unit of the per-address cap and of demand:
// its IPv4 address, or its IPv6 /64 (one network's prefix: a host picks any address in
// it, RFC 4291 and 4941), without the port. On loopback each socket is a host of its own:
// only the directory's own machine sends from there (the demo, tests, the benchmarks,
// a relay beside the directory), where one address stands for many peers.
func hostOf(k peerKey) peerKey {
	switch {
	case k.isLoopback():
	case k.is4():
		k[16], k[17] = 0, 0
	default:
		clear(k[8:])
	}
	return k
}

// isLoopback reports whether the key holds an address of 127.0.0.0/8 or ::1.
func (k *peerKey) isLoopback() bool {
	if k.is4() {
		return k[12] == 127
	}
	return [16]byte(k[:16]) == [16]byte{15: 1}
}

// host is what a swarm keeps of one host: its entries, a list that starts at first and
// runs through their peer values' next (newest first), and the demand windows in which
// it last counted. A window is Config.Interval long, aligned to the clock, so a client
// that announces every interval counts about once each time, and one that announces a
// thousand times an interval from any number of ports counts once.
type host struct {
	first     peerKey
	entries   uint8  // at most Config.MaxPeersPerAddress (64)
	wanted    uint32 // the window of its last leecher announce counted as demand
	completed uint32 // the window of its last completion counted
}

// idle reports whether h lists no entry and counted nothing in window w: it may go.
func (h *host) idle(w uint32) bool { return h.entries == 0 && h.wanted != w && h.completed != w }

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
	// hosts holds every host with an entry, and those that counted in the current
	// window; a sweep forgets the others. It holds at most 2 × maxPeers.
	hosts map[peerKey]host
	// peak is the most peers or hosts the maps held since they were last allocated: Go
	// maps do not shrink, so a swarm that had a flash crowd is rebuilt once it is small
	// again.
	peak      int
	completed int64
	redirects int64
	demand    decayed
	dirty     bool // counters changed since the last flush
}

func newSwarm() *swarm {
	return &swarm{seeders: map[peerKey]peer{}, leechers: map[peerKey]peer{}, hosts: map[peerKey]host{}}
}

func (sw *swarm) size() int { return len(sw.seeders) + len(sw.leechers) }

func (sw *swarm) peers(seeders bool) map[peerKey]peer {
	if seeders {
		return sw.seeders
	}
	return sw.leechers
}

// lookup returns k's entry, whether it is listed, and whether as a seeder.
func (sw *swarm) lookup(k peerKey) (p peer, listed, seeder bool) {
	if p, ok := sw.leechers[k]; ok {
		return p, true, false
	}
	p, ok := sw.seeders[k]
	return p, ok, ok
}

// unlist removes k, a listed entry of h, from the swarm and from h's list.
func (sw *swarm) unlist(k peerKey, h *host) {
	p, _, seeder := sw.lookup(k)
	delete(sw.peers(seeder), k)
	h.entries--
	if h.first == k {
		h.first = p.next
		return
	}
	prev := h.first
	for range h.entries {
		pp, _, ps := sw.lookup(prev)
		if pp.next == k {
			pp.next = p.next
			sw.peers(ps)[prev] = pp
			return
		}
		prev = pp.next
	}
}

// oldest is the entry of h that announced least recently; of equals, the one listed
// first.
func (sw *swarm) oldest(h *host) peerKey {
	k, oldest := h.first, h.first
	var at uint32 = math.MaxUint32
	for range h.entries {
		p, _, _ := sw.lookup(k)
		if p.expires <= at {
			at, oldest = p.expires, k
		}
		k = p.next
	}
	return oldest
}

// expire removes the entries that expire before cutoff (unix seconds).
func (sw *swarm) expire(cutoff uint32) {
	for _, seeders := range [2]bool{true, false} {
		for k, p := range sw.peers(seeders) {
			if p.expires < cutoff {
				hk := hostOf(k)
				h := sw.hosts[hk]
				sw.unlist(k, &h)
				sw.hosts[hk] = h
			}
		}
	}
}

type shard struct {
	mu     sync.Mutex
	swarms map[[20]byte]*swarm
	// downloaded is the reported download bytes of the shard's announces (see
	// downloadedDelta): kept per shard, under the lock an announce holds anyway.
	downloaded int64
}

// swarms holds every swarm, in shards by the infohash's first byte.
type swarms struct {
	shards     [256]shard
	maxPeers   int
	perHost    int
	windowSecs int64 // the demand window, Config.Interval
	halfLife   time.Duration
}

func newSwarms(cfg Config) *swarms {
	s := &swarms{
		maxPeers: cfg.MaxPeersPerSwarm, perHost: cfg.MaxPeersPerAddress,
		windowSecs: int64(cfg.Interval / time.Second), halfLife: cfg.DemandHalfLife,
	}
	for i := range s.shards {
		s.shards[i].swarms = map[[20]byte]*swarm{}
	}
	return s
}

func (s *swarms) shard(ih [20]byte) *shard { return &s.shards[ih[0]] }

// window is the number of the demand window that now falls in.
func (s *swarms) window(now time.Time) uint32 { return uint32(now.Unix() / s.windowSecs) }

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
// announce, see MayLackMetadata), and leechers get a mix. A swarm never holds more than
// perHost entries of one host, so no answer does either.
// ttl is how long the peer stays without announcing again; length is the artifact's, which
// caps what the announce adds to the reported download bytes.
func (s *swarms) announce(a *Announce, length int64, from netip.AddrPort, now time.Time, ttl time.Duration, numWant int, out []chosen) (announceResult, []chosen) {
	key := keyOf(from)
	hk := hostOf(key)
	sh := s.shard(a.InfoHash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sw := sh.swarms[a.InfoHash]
	if sw == nil {
		sw = newSwarm()
		sh.swarms[a.InfoHash] = sw
	}
	// A swarm remembers at most twice as many hosts as it may list peers (those listed,
	// and as many that counted in this window and left): past that, a new host is
	// neither listed nor counted until a sweep forgets idle ones. A swarm that large
	// leads any ranking by demand anyway.
	if h, known := sw.hosts[hk]; known || len(sw.hosts) < 2*s.maxPeers {
		was := h
		sh.downloaded += s.record(sw, &h, a, length, key, now, ttl)
		switch {
		case h == was: // a re-announce within the window: nothing to store
		case !h.idle(s.window(now)):
			sw.hosts[hk] = h
			sw.peak = max(sw.peak, sw.size(), len(sw.hosts))
		case known:
			delete(sw.hosts, hk)
		}
	}
	if a.Event == EventStopped {
		return announceResult{len(sw.seeders), len(sw.leechers), sw.completed}, out
	}
	// Leechers get seeders first, but leave room for leechers: they trade pieces too.
	if numWant > 0 && (!a.Seeder() || a.MayLackMetadata()) {
		fromLeechers := min(len(sw.leechers)-1, numWant/2)
		out = pick(out, sw.seeders, key, numWant-max(fromLeechers, 0))
	}
	out = pick(out, sw.leechers, key, numWant-len(out))
	return announceResult{len(sw.seeders), len(sw.leechers), sw.completed}, out
}

// record applies a's announce from key, an address of host h, to sw: it counts demand
// and completions once per host and window, and lists, moves or removes key's entry. It
// returns the announce's reported download bytes: none for a peer not listed before,
// which has no baseline, nor for a relay.
func (s *swarms) record(sw *swarm, h *host, a *Announce, length int64, key peerKey, now time.Time, ttl time.Duration) (downloaded int64) {
	w := s.window(now)
	old, listed, wasSeeder := sw.lookup(key)
	seeder := a.Seeder()
	// Relays fetch what the placement gives them: their announces are not demand, and
	// what they download (from the origin and each other) is counted where it is served.
	wants := !bytes.HasPrefix(a.PeerID[:], relayPeerIDPrefix)
	if listed && wants {
		downloaded = downloadedDelta(old.downloaded, a.Downloaded, length)
	}
	// A completion is a completed event, or a listed leecher that now has everything:
	// clients that stop right after finishing (aria2c --seed-time=0) send only
	// "stopped" with left=0.
	if !wasSeeder && (a.Event == EventCompleted || (listed && seeder)) && h.completed != w {
		h.completed = w
		sw.completed++
		if wants {
			sw.demand.add(now.UnixNano(), s.halfLife, 1)
		}
		sw.dirty = true
	}
	if a.Event == EventStopped {
		if listed {
			sw.unlist(key, h)
		}
		return downloaded
	}
	if !seeder && wants && h.wanted != w {
		h.wanted = w
		sw.demand.add(now.UnixNano(), s.halfLife, 1)
		sw.dirty = true
	}
	p := peer{id: a.PeerID, expires: uint32(now.Add(ttl).Unix()), downloaded: a.Downloaded}
	switch {
	case listed:
		p.next = old.next
		if wasSeeder != seeder {
			delete(sw.peers(wasSeeder), key)
		}
	case int(h.entries) < s.perHost && sw.size() >= s.maxPeers:
		return downloaded // the swarm is full: the peer gets peers but is not listed
	default:
		// At its cap, a host's new entry takes the place of its stalest one.
		if int(h.entries) >= s.perHost {
			sw.unlist(sw.oldest(h), h)
		}
		p.next, h.first = h.first, key
		h.entries++
	}
	sw.peers(seeder)[key] = p
	return downloaded
}

// reportedDownloaded sums the shards' reported download bytes.
func (s *swarms) reportedDownloaded() int64 {
	var n int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += sh.downloaded
		sh.mu.Unlock()
	}
	return n
}

// peersOf appends up to n peers of ih's swarm to out, seeders first.
func (s *swarms) peersOf(ih [20]byte, n int, out []chosen) []chosen {
	sh := s.shard(ih)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sw := sh.swarms[ih]
	if sw == nil {
		return out
	}
	out = pick(out, sw.seeders, peerKey{}, n)
	return pick(out, sw.leechers, peerKey{}, n-len(out))
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
	Demand    float64 `json:"demand"`    // hosts leeching, completions and redirects, decayed (see host)
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
// user who never speaks BitTorrent still wants the artifact near them. They count as
// given (see Tracker.CountRedirects).
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

// sweep removes expired peers, hosts that are idle, and the swarms that may no longer be
// tracked, and reallocates maps that shrank to a quarter of their peak. It returns the
// peers left.
func (s *swarms) sweep(now time.Time, trackable func([20]byte) bool) (peers int) {
	cutoff, w := uint32(now.Unix()), s.window(now)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for ih, sw := range sh.swarms {
			if !trackable(ih) {
				delete(sh.swarms, ih)
				continue
			}
			sw.expire(cutoff)
			for hk, h := range sw.hosts {
				if h.idle(w) {
					delete(sw.hosts, hk)
				}
			}
			if n := max(sw.size(), len(sw.hosts)); sw.peak > 1024 && n < sw.peak/4 {
				sw.seeders, sw.leechers, sw.hosts = clone(sw.seeders), clone(sw.leechers), clone(sw.hosts)
				sw.peak = n
			}
			peers += sw.size()
		}
		sh.mu.Unlock()
	}
	return peers
}

// clone copies m into a map sized for what it holds now.
func clone[V any](m map[peerKey]V) map[peerKey]V {
	c := make(map[peerKey]V, len(m))
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
