package limit

import (
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rates is a token bucket per client address. Its memory is bounded: a bucket that has
// refilled is the same as none and is swept when its shard is full, and addresses beyond
// the bound share one bucket (a flood of forged UDP sources then limits itself).
type Rates struct {
	limit      rate.Limit
	burst      int
	perShard   int
	seed       maphash.Seed
	shards     [rateShards]rateShard
	sharedOnce sync.Once
	shared     *rate.Limiter
}

const rateShards = 64

type rateShard struct {
	mu        sync.Mutex
	buckets   map[netip.Addr]*rate.Limiter
	nextSweep time.Time
}

// NewRates returns buckets of r for at most maxAddrs addresses at once; nil when r is off.
func NewRates(r Rate, maxAddrs int) *Rates {
	if r.PerSecond <= 0 {
		return nil
	}
	rs := &Rates{limit: rate.Limit(r.PerSecond), burst: r.Burst, perShard: max(1, maxAddrs/rateShards), seed: maphash.MakeSeed()}
	for i := range rs.shards {
		rs.shards[i].buckets = map[netip.Addr]*rate.Limiter{}
	}
	return rs
}

// Allow takes a token from a's bucket (a is keyed by AddrKey). When there is none it says
// how long until there is. A nil Rates allows everything.
func (rs *Rates) Allow(a netip.Addr, now time.Time) (ok bool, retryAfter time.Duration) {
	if rs == nil {
		return true, 0
	}
	b := rs.bucket(a, now)
	if b.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.TokensAt(now)
	return false, time.Duration(math.Ceil(missing / float64(rs.limit) * float64(time.Second)))
}

// AllowN takes n tokens at once from a's bucket (e.g. the bytes of a datagram), or none
// when it has fewer. A nil Rates allows everything.
func (rs *Rates) AllowN(a netip.Addr, n int, now time.Time) bool {
	return rs == nil || rs.bucket(a, now).AllowN(now, n)
}

// bucket is a's bucket (a is keyed by AddrKey), made if need be.
func (rs *Rates) bucket(a netip.Addr, now time.Time) *rate.Limiter {
	a = AddrKey(a)
	s := &rs.shards[maphash.Comparable(rs.seed, a)%rateShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.buckets[a]; b != nil {
		return b
	}
	return rs.add(s, a, now)
}

// add makes a's bucket; s is locked. A full shard first drops its full buckets (at most
// once a second, so a shard full of busy addresses is not swept on every request).
func (rs *Rates) add(s *rateShard, a netip.Addr, now time.Time) *rate.Limiter {
	if len(s.buckets) >= rs.perShard && now.After(s.nextSweep) {
		for k, b := range s.buckets {
			if b.TokensAt(now) >= float64(rs.burst) {
				delete(s.buckets, k)
			}
		}
		s.nextSweep = now.Add(time.Second)
	}
	if len(s.buckets) >= rs.perShard {
		rs.sharedOnce.Do(func() { rs.shared = rate.NewLimiter(rs.limit, rs.burst) })
		return rs.shared
	}
	b := rate.NewLimiter(rs.limit, rs.burst)
	s.buckets[a] = b
	return b
}

// RetryAfterSeconds is d as a Retry-After value: whole seconds, at least 1.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
