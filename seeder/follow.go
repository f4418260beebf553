package seeder

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/relayapi"
)

// A following relay (Config.Follow) carries only what indexes signed by the keys it
// follows list as published (issue 15). Per directory, an internal/follow Follower
// polls and accepts each followed key's index, kept in the relay's data dir, and the
// indexes it accepted go to carry, which the plans pass through. One follower per
// directory: an indexer signs one index per directory, each with versions of its own.

// FollowStatus counts the keys followed at each directory by the state of their index:
// current (accepted, unexpired), expired, or missing (none accepted). All zero when the
// relay follows no key.
func (r *Relay) FollowStatus() (current, expired, missing int) {
	for _, f := range r.follow {
		c, e, m := f.Status()
		current, expired, missing = current+c, expired+e, missing+m
	}
	return current, expired, missing
}

// pollFollowed polls every directory's indexes at once, then has the plans applied
// again, so that what an index no longer vouches for is dropped without waiting for a
// plan.
func (r *Relay) pollFollowed(ctx context.Context) {
	var wg sync.WaitGroup
	for _, f := range r.follow {
		wg.Go(func() { f.Poll(ctx) })
	}
	wg.Wait()
	select {
	case r.reconcile <- struct{}{}:
	default:
	}
}

// vouchers gathers what the followed keys' indexes vouch for, over every directory;
// nil when the relay follows no key.
func (r *Relay) vouchers() *vouchers {
	if len(r.follow) == 0 {
		return nil
	}
	var all []*index.Index
	for _, f := range r.follow {
		all = append(all, f.Indexes()...)
	}
	return newVouchers(all, r.follow[0].Now())
}

// vouchers is what indexes say about artifacts at one instant.
type vouchers struct {
	published map[string]index.Entry // by artifact id and infohash, in a current index
	listed    map[string]string      // by artifact id: who lists it with which infohash
	expunged  map[string]string      // by infohash: why, from a current index
	expired   map[string]string      // by artifact id and infohash: which index expired
}

// newVouchers reads indexes at now: an expired index vouches for nothing, and an
// expunge in any current index outweighs a listing in another.
func newVouchers(indexes []*index.Index, now time.Time) *vouchers {
	v := &vouchers{published: map[string]index.Entry{}, listed: map[string]string{}, expunged: map[string]string{}, expired: map[string]string{}}
	for _, idx := range indexes {
		current := now.Before(idx.Expires)
		for _, e := range idx.Entries {
			k := e.ID() + " " + e.InfoHash
			switch {
			case !current:
				if e.State == index.StatePublished {
					v.expired[k] = fmt.Sprintf("index of key %s expired at %s", idx.Key, idx.Expires.Format(time.RFC3339))
				}
			case e.State == index.StateExpunged:
				v.expunged[e.InfoHash] = fmt.Sprintf("expunged in the index of key %s: %s", idx.Key, e.Reason)
			default:
				v.published[k] = e
				v.listed[e.ID()] = fmt.Sprintf("the index of key %s lists infohash %s", idx.Key, e.InfoHash)
			}
		}
	}
	return v
}

// judge returns the entry that vouches for it, or why none does.
func (v *vouchers) judge(it relayapi.Item) (*index.Entry, string) {
	k := it.ID + " " + it.InfoHash
	if why, ok := v.expunged[it.InfoHash]; ok {
		return nil, why
	}
	if e, ok := v.published[k]; ok {
		return &e, ""
	}
	if why, ok := v.listed[it.ID]; ok {
		return nil, fmt.Sprintf("infohash %s differs: %s", it.InfoHash, why)
	}
	if why, ok := v.expired[k]; ok {
		return nil, why
	}
	return nil, "not listed in a current index of a followed key"
}

// verdict is an artifact refused, and why.
type verdict struct {
	item relayapi.Item
	why  string
}

// carry applies v to a plan: of the artifacts to fetch, those a current index lists as
// published with that infohash (fill), and the rest, with why (skip); of the holdings,
// those no current index so lists (drop). A nil v (not following) vouches for all.
func carry(v *vouchers, fetch, held []relayapi.Item) (fill []relayapi.Item, skip, drop []verdict) {
	if v == nil {
		return fetch, nil, nil
	}
	for _, it := range fetch {
		if _, why := v.judge(it); why != "" {
			skip = append(skip, verdict{it, why})
			continue
		}
		fill = append(fill, it)
	}
	for _, it := range held {
		if _, why := v.judge(it); why != "" {
			drop = append(drop, verdict{it, why})
		}
	}
	return fill, skip, drop
}

// entry is the index entry vouching for it; nil when not following.
func (v *vouchers) entry(it relayapi.Item) *index.Entry {
	if v == nil {
		return nil
	}
	e, _ := v.judge(it)
	return e
}
