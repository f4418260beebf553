package catalog

import (
	"slices"
	"sort"

	"github.com/anacrolix/torrent/metainfo"
)

// planRelay is what the planner knows of one relay.
type planRelay struct {
	quota    int64
	catalogs []string // empty: any
	held     map[metainfo.Hash]bool
}

// planned is a relay's plan before it is put on the wire.
type planned struct {
	fetch    []*Artifact     // most wanted first
	keep     []*Artifact     // most wanted first
	drop     []metainfo.Hash // least wanted first: evict these when room is needed
	expunged []metainfo.Hash // delete now
}

// simplePlan fills a relay's quota with the most demanded published artifacts its
// catalog filter accepts. It is greedy: an artifact that does not fit in what is left is
// skipped and smaller ones after it may still fit. Ties in demand go to what the relay
// already holds (no churn), then to the newest. Pure: no I/O, no clock.
func simplePlan(r planRelay, arts []*Artifact, demand func(metainfo.Hash) float64) planned {
	type cand struct {
		a *Artifact
		d float64
	}
	var cands []cand
	var p planned
	for _, a := range arts {
		switch {
		case a.State == Expunged:
			if r.held[a.InfoHash] {
				p.expunged = append(p.expunged, a.InfoHash)
			}
		case len(r.catalogs) == 0 || slices.Contains(r.catalogs, a.Catalog):
			cands = append(cands, cand{a, demand(a.InfoHash)})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		ci, cj := cands[i], cands[j]
		if ci.d != cj.d {
			return ci.d > cj.d
		}
		if hi, hj := r.held[ci.a.InfoHash], r.held[cj.a.InfoHash]; hi != hj {
			return hi
		}
		if !ci.a.PublishedAt.Equal(cj.a.PublishedAt) {
			return ci.a.PublishedAt.After(cj.a.PublishedAt)
		}
		return ci.a.ID() < cj.a.ID()
	})
	budget := r.quota
	var unselected []cand
	for _, c := range cands {
		if c.a.Size > budget {
			unselected = append(unselected, c)
			continue
		}
		budget -= c.a.Size
		if r.held[c.a.InfoHash] {
			p.keep = append(p.keep, c.a)
		} else {
			p.fetch = append(p.fetch, c.a)
		}
	}
	for i := len(unselected) - 1; i >= 0; i-- { // least wanted first
		if c := unselected[i]; r.held[c.a.InfoHash] {
			p.drop = append(p.drop, c.a.InfoHash)
		}
	}
	return p
}
