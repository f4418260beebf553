package placement

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Key identifies an artifact by its BitTorrent v1 infohash (BEP 3); a metainfo.Hash
// converts to it directly.
type Key [20]byte

// String returns the key in hex, as magnet links and logs show infohashes.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

var (
	// ErrInvalidConfig is returned when a Config field is out of range.
	ErrInvalidConfig = errors.New("invalid placement config")
	// ErrInvalidInput is returned by Plan when the relays or artifacts are malformed: a
	// duplicate relay ID or artifact key, a negative size or quota, a demand or weight that
	// is negative or not a finite number.
	ErrInvalidInput = errors.New("invalid placement input")
)

// Config tunes the planner. A zero field means its default (DefaultConfig).
type Config struct {
	// ReplicaFactor sets how many replicas demand earns: an artifact with share s of all
	// demand wants ceil(ReplicaFactor × s × healthy relays) replicas, at least 1 and at
	// most the relays able to hold it. At 1, each replica of a hot artifact carries about
	// the demand an average relay carries in all, so no relay serves far more than its
	// share because of one artifact.
	ReplicaFactor float64
	// Hysteresis is how much more a copy a relay would have to fetch must be worth than
	// one it holds to take its place (1.25: 25% more), and how far above its replica
	// target an artifact's held copies may be before they are dropped. 1 turns it off.
	// The default 1.25 absorbs ±10% noise in demand: 1.1/0.9 ≈ 1.22 < 1.25.
	Hysteresis float64
	// NoSpareFill leaves the quota demand does not claim empty. By default it is filled,
	// because volunteers give their bytes to be used and a copy already on relays spares
	// the origin the first users of a new artifact: first with a copy of every artifact
	// that has none on a healthy relay (one a relay holds before one it would fetch), then
	// with further replicas of demanded artifacts (worth demand per byte ÷ replica number,
	// as for demand), then with further replicas of artifacts nobody has asked for yet, a
	// second of each before a third of any, smaller ones first. Demand comes first: a
	// spare copy takes only room no copy placed for demand wants, and gives it up when
	// one does. A first copy takes the room of held spare copies that are extra ones if it
	// must; otherwise a relay keeps a spare copy while it fits, so spare copies do not
	// displace one another.
	NoSpareFill bool
}

// DefaultConfig returns the configuration the directory runs with.
func DefaultConfig() Config {
	return Config{ReplicaFactor: 1, Hysteresis: 1.25}
}

// Validate reports the first out-of-range field. Zero fields are valid: they mean the
// default.
func (c Config) Validate() error {
	if c.ReplicaFactor < 0 || math.IsNaN(c.ReplicaFactor) || math.IsInf(c.ReplicaFactor, 0) {
		return fmt.Errorf("check ReplicaFactor %v: not a positive finite number: %w", c.ReplicaFactor, ErrInvalidConfig)
	}
	if c.Hysteresis != 0 && !(c.Hysteresis >= 1 && !math.IsInf(c.Hysteresis, 0)) {
		return fmt.Errorf("check Hysteresis %v: not a finite number >= 1: %w", c.Hysteresis, ErrInvalidConfig)
	}
	return nil
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.ReplicaFactor == 0 {
		c.ReplicaFactor = d.ReplicaFactor
	}
	if c.Hysteresis == 0 {
		c.Hysteresis = d.Hysteresis
	}
	return c
}

// Relay is what the planner knows of one relay.
type Relay struct {
	ID         string
	QuotaBytes int64    // bytes the relay gives to artifacts
	Catalogs   []string // catalogs it accepts; empty accepts every catalog
	Held       []Key    // artifacts it holds complete now
	// Healthy is false for a relay that is down or quarantined: it gets no new work and
	// its copies are not counted as replicas, yet its plan keeps what it holds, so a
	// relay that is briefly away does not come back to an order to delete everything.
	Healthy bool
	Region  string // "" when unknown
	// Weight is the relay's serving capacity relative to others (its upload bandwidth,
	// say): new replicas go preferably where free bytes × Weight is largest. 0 means 1.
	Weight float64
}

// Artifact is what the planner knows of one artifact.
type Artifact struct {
	Key       Key
	Catalog   string
	SizeBytes int64
	// Demand is the decayed demand score, >= 0. At 0 the artifact gets only room demand
	// leaves free, and none with Config.NoSpareFill.
	Demand float64
	// Expunged artifacts are never planned; relays holding one are told to delete it.
	Expunged bool
}

// RelayPlan is what one relay is told to do.
type RelayPlan struct {
	Fetch []Key // not held, planned: most wanted first
	Keep  []Key // held, planned: most wanted first
	// Drop is held and not planned, least wanted first: the relay may keep serving these
	// and evicts them from the front only when it needs room for Fetch.
	Drop     []Key
	Expunged []Key // held and expunged: delete now (sorted by key)
}

// Plan places artifacts on relays and returns a plan for every relay, by ID. It fails
// only on an invalid cfg or malformed input, with an error wrapping ErrInvalidConfig or
// ErrInvalidInput.
//
// Guarantees, for every healthy relay: Fetch and Keep together fit in QuotaBytes, hold
// only artifacts of its catalogs that are not expunged (and, with Config.NoSpareFill,
// have demand > 0), and never name an artifact twice;
// Keep ⊆ Held and Fetch ∩ Held = ∅; every held key is in exactly one of Keep, Drop and
// Expunged. An unhealthy relay fetches nothing and keeps every held artifact that is
// known and not expunged. Spare fill (unless Config.NoSpareFill) only adds copies: Fetch
// and Keep begin with those of the plan without it; it gives each artifact without a
// healthy replica one where it still fits, before it gives any artifact a further one
// beyond demand's, whatever the relays hold; and it leaves no healthy relay with a quota
// room enough for an artifact of its catalogs it is not planned to hold, so one whose
// quota fits them all gets them all.
func Plan(cfg Config, relays []Relay, artifacts []Artifact) (map[string]RelayPlan, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p, err := newPlanner(cfg.withDefaults(), relays, artifacts)
	if err != nil {
		return nil, err
	}
	p.place()
	if p.short != nil {
		// Slot by slot, where a copy goes is decided by room alone, and it can fill the
		// one relay a later replica could have gone to: three relays holding b, c and
		// a, c and b, c kept c on the second and left a hot b a replica short. A second
		// pass keeps copies, held or fetched, off the relays the missing replicas
		// wanted where another relay can take them, and is taken if it places more.
		// (From some holdings convergence then takes one round more: see
		// TestPropertyConverges.)
		q, _ := newPlanner(cfg.withDefaults(), relays, artifacts) // the same input: no error
		q.avoid = p.short
		q.place()
		if q.placed > p.placed {
			p = q
		}
	}
	if !cfg.NoSpareFill {
		p.spare()
	}
	return p.plans(), nil
}

// ServedDemandBound is the most demand any placement into capacityBytes of relay space can
// cover with one replica each: the fractional-knapsack optimum, which takes artifacts by
// demand per byte and a fraction of the last one. It measures a plan's coverage
// (covered demand ÷ bound); catalog filters and quotas split into relays only lower what
// is reachable.
func ServedDemandBound(capacityBytes int64, artifacts []Artifact) float64 {
	type item struct {
		size   int64
		demand float64
	}
	var items []item
	for _, a := range artifacts {
		if !a.Expunged && a.Demand > 0 && a.SizeBytes >= 0 {
			items = append(items, item{a.SizeBytes, a.Demand})
		}
	}
	slices.SortFunc(items, func(x, y item) int {
		// x.demand/x.size > y.demand/y.size, without dividing by a zero size.
		return cmp.Compare(y.demand*float64(x.size), x.demand*float64(y.size))
	})
	left, bound := float64(capacityBytes), 0.0
	for _, it := range items {
		if float64(it.size) <= left {
			left -= float64(it.size)
			bound += it.demand
			continue
		}
		return bound + it.demand*left/float64(it.size)
	}
	return bound
}

// relayState is one relay during planning; relays are indexed in ID order.
type relayState struct {
	Relay
	accepts map[string]bool // nil: every catalog
	weight  float64
	held    []int32 // known artifacts it holds, deduplicated
	unknown []Key   // held keys no artifact has
	region  int32   // index of Region among the relays' regions; -1 when unknown
	room    int64   // quota left after what is planned so far
	// pending is the bytes of held copies whose fate is still open: room−pending is what
	// the relay can take without dropping anything, the measure for where fetches go.
	pending int64
	// byWorth lists the artifacts counted in pending, least demand per byte first: the
	// copies a new one would push out. Entries already decided are skipped when read.
	byWorth []int32
	planned []int32 // in placement order: most wanted first
}

// artState is one artifact during planning; artifacts are indexed in key order, so that
// index order breaks ties deterministically.
type artState struct {
	Artifact
	wanted   bool    // demand > 0 and not expunged: to be placed
	density  float64 // demand per byte
	holders  []int32 // healthy relays holding it that may keep it
	placed   []int32 // relays planned to hold it
	released bool    // holders not placed no longer count as pending
	// on and regions index placed: with spare fill an artifact may be on every relay, and
	// pick asks both of every candidate.
	on      []uint64 // bit per relay index
	regions []uint64 // bit per relayState.region
	// spareHolders are the healthy relays that hold it, may keep it and were not planned
	// to for demand: each keeps it as a spare copy if it still has room.
	spareHolders []int32
}

func (a *artState) isOn(ri int32) bool { return hasBit(a.on, ri) }

func hasBit(set []uint64, i int32) bool {
	return int(i/64) < len(set) && set[i/64]&(1<<(i%64)) != 0
}

func setBit(set []uint64, i int32, n int) []uint64 {
	if set == nil {
		set = make([]uint64, (n+63)/64)
	}
	set[i/64] |= 1 << (i % 64)
	return set
}

// slot is the n-th replica of an artifact, worth value; coverage (n = 1) comes before all
// extra replicas, so every demanded artifact gets a copy before any gets a second.
type slot struct {
	value    float64
	art      int32
	n        int32 // 1-based
	fresh    bool  // may be fetched; otherwise only a holder may fill it
	held     bool  // a holder may fill it; value includes the hysteresis
	lastHeld bool  // after it, holders not placed are no longer pending
	coverage bool
}

type planner struct {
	cfg      Config
	relays   []relayState
	arts     []artState
	byCat    map[string][]int32 // healthy relays accepting a catalog
	slots    []slot
	hasHeld  []map[int32]bool // per relay
	nRegions int
	// placed sums the values (without hysteresis) of the demand slots filled; short marks
	// the relays that could have taken a replica place found no room for (nil if none);
	// a relay avoid marks takes a copy only when no other candidate can.
	placed       float64
	short, avoid []bool
}

func newPlanner(cfg Config, relays []Relay, artifacts []Artifact) (*planner, error) {
	p := &planner{cfg: cfg, byCat: map[string][]int32{}}

	p.arts = make([]artState, len(artifacts))
	for i, a := range artifacts {
		switch {
		case a.SizeBytes < 0:
			return nil, fmt.Errorf("check artifact %v: size %d: %w", a.Key, a.SizeBytes, ErrInvalidInput)
		case !(a.Demand >= 0) || math.IsInf(a.Demand, 0):
			return nil, fmt.Errorf("check artifact %v: demand %v: %w", a.Key, a.Demand, ErrInvalidInput)
		}
		p.arts[i] = artState{Artifact: a}
	}
	slices.SortFunc(p.arts, func(x, y artState) int { return slices.Compare(x.Key[:], y.Key[:]) })
	byKey := make(map[Key]int32, len(p.arts))
	for i := range p.arts {
		a := &p.arts[i]
		if i > 0 && a.Key == p.arts[i-1].Key {
			return nil, fmt.Errorf("check artifact %v: duplicate key: %w", a.Key, ErrInvalidInput)
		}
		byKey[a.Key] = int32(i)
		if a.wanted = !a.Expunged && a.Demand > 0; a.wanted {
			// A zero size still costs a file on disk: count it as one byte.
			a.density = a.Demand / float64(max(a.SizeBytes, 1))
		}
	}

	p.relays = make([]relayState, len(relays))
	for i, r := range relays {
		switch {
		case r.QuotaBytes < 0:
			return nil, fmt.Errorf("check relay %q: quota %d: %w", r.ID, r.QuotaBytes, ErrInvalidInput)
		case !(r.Weight >= 0) || math.IsInf(r.Weight, 0):
			return nil, fmt.Errorf("check relay %q: weight %v: %w", r.ID, r.Weight, ErrInvalidInput)
		}
		p.relays[i] = relayState{Relay: r, weight: r.Weight, room: r.QuotaBytes}
		if r.Weight == 0 {
			p.relays[i].weight = 1
		}
	}
	slices.SortFunc(p.relays, func(x, y relayState) int { return cmp.Compare(x.ID, y.ID) })
	p.hasHeld = make([]map[int32]bool, len(p.relays))
	regions := map[string]int32{}
	for i := range p.relays {
		r := &p.relays[i]
		r.region = -1
		if r.Region != "" {
			if _, ok := regions[r.Region]; !ok {
				regions[r.Region] = int32(len(regions))
			}
			r.region = regions[r.Region]
		}
		if i > 0 && r.ID == p.relays[i-1].ID {
			return nil, fmt.Errorf("check relay %q: duplicate ID: %w", r.ID, ErrInvalidInput)
		}
		if len(r.Catalogs) > 0 {
			r.accepts = make(map[string]bool, len(r.Catalogs))
			for _, c := range r.Catalogs {
				r.accepts[c] = true
			}
		}
		held := make(map[int32]bool, len(r.Held))
		unknown := map[Key]bool{}
		for _, k := range r.Held {
			ai, ok := byKey[k]
			switch {
			case !ok:
				if !unknown[k] {
					unknown[k] = true
					r.unknown = append(r.unknown, k)
				}
			case !held[ai]:
				held[ai] = true
				r.held = append(r.held, ai)
			}
		}
		slices.Sort(r.held)
		slices.SortFunc(r.unknown, func(x, y Key) int { return slices.Compare(x[:], y[:]) })
		p.hasHeld[i] = held
	}
	p.nRegions = len(regions)

	for i := range p.relays {
		r := &p.relays[i]
		if !r.Healthy {
			continue
		}
		for _, ai := range r.held {
			if a := &p.arts[ai]; a.wanted && r.accept(a.Catalog) {
				a.holders = append(a.holders, int32(i))
				r.pending += a.SizeBytes
				r.byWorth = append(r.byWorth, ai)
			}
		}
		// Not a stable sort: with spare copies a relay holds thousands, and the key
		// breaks ties as well.
		slices.SortFunc(r.byWorth, func(x, y int32) int {
			return cmp.Or(cmp.Compare(p.arts[x].density, p.arts[y].density), cmp.Compare(x, y))
		})
	}
	p.makeSlots()
	return p, nil
}

func (r *relayState) accept(catalog string) bool {
	return r.accepts == nil || r.accepts[catalog]
}

// eligible returns the healthy relays that accept catalog, in ID order.
func (p *planner) eligible(catalog string) []int32 {
	if rs, ok := p.byCat[catalog]; ok {
		return rs
	}
	rs := []int32{}
	for i := range p.relays {
		if r := &p.relays[i]; r.Healthy && r.QuotaBytes > 0 && r.accept(catalog) {
			rs = append(rs, int32(i))
		}
	}
	p.byCat[catalog] = rs
	return rs
}

// makeSlots turns demand into replica slots. The replica target grows with the
// artifact's share of demand; held copies may exceed it by the hysteresis factor before
// they are let go, so a target that wobbles around an integer does not fetch and drop the
// same copy round after round.
func (p *planner) makeSlots() {
	healthy, total := 0, 0.0
	for i := range p.relays {
		if p.relays[i].Healthy && p.relays[i].QuotaBytes > 0 {
			healthy++
		}
	}
	for i := range p.arts {
		if p.arts[i].wanted {
			total += p.arts[i].Demand
		}
	}
	h := p.cfg.Hysteresis
	for i := range p.arts {
		a := &p.arts[i]
		if !a.wanted {
			continue
		}
		able := 0
		for _, ri := range p.eligible(a.Catalog) {
			if p.relays[ri].QuotaBytes >= a.SizeBytes {
				able++
			}
		}
		if able == 0 {
			continue
		}
		want := p.cfg.ReplicaFactor * a.Demand / total * float64(healthy)
		target := ceilClamp(want, able)
		keepTarget := max(target, ceilClamp(want*h, able))
		held := len(a.holders)
		n := max(target, min(held, keepTarget))
		lastHeld := min(held, n)
		for j := 1; j <= n; j++ {
			s := slot{
				value:    a.density / float64(j),
				art:      int32(i),
				n:        int32(j),
				fresh:    j <= target,
				lastHeld: j == lastHeld,
				coverage: j == 1,
			}
			if j <= held {
				s.held = true
				s.value *= h
			}
			p.slots = append(p.slots, s)
		}
	}
	slices.SortFunc(p.slots, compareSlots)
}

// compareSlots orders slots as they are filled: coverage first, then most valuable, then
// by artifact key and replica number.
func compareSlots(x, y slot) int {
	if x.coverage != y.coverage {
		if x.coverage {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(y.value, x.value); c != 0 {
		return c
	}
	if c := cmp.Compare(x.art, y.art); c != 0 {
		return c
	}
	return cmp.Compare(x.n, y.n)
}

// ceilClamp is ceil(x) within [1, hi], safe for x beyond int range.
func ceilClamp(x float64, hi int) int {
	if x >= float64(hi) {
		return hi
	}
	return max(1, int(math.Ceil(x)))
}

// place fills slots most valuable first. A slot goes to a relay that already holds the
// artifact if one has room: that costs no transfer. If none has, and the slot may be
// fetched, the fetch competes at the slot's value without the hysteresis: a copy pushed
// off its relay by a more valuable newcomer moves elsewhere only if it beats what is held
// there by the hysteresis factor too, so one newcomer does not set off a chain of moves.
func (p *planner) place() {
	// Deferred slots are made in the order slots are filled, and dividing by the
	// hysteresis keeps that order: the queue stays sorted, a merge suffices.
	var deferred []slot
	for next := 0; next < len(p.slots) || len(deferred) > 0; {
		if len(deferred) > 0 && (next == len(p.slots) || compareSlots(deferred[0], p.slots[next]) < 0) {
			s := deferred[0]
			deferred = deferred[1:]
			if a := &p.arts[s.art]; len(a.placed) < int(s.n) {
				p.fetch(s, a)
			}
			continue
		}
		s := p.slots[next]
		next++
		a := &p.arts[s.art]
		if len(a.placed) < int(s.n) {
			switch ri := p.pick(a, a.holders, false); {
			case ri >= 0:
				p.assign(s.art, ri)
				p.placed += a.density / float64(s.n)
			case s.fresh && s.held:
				s.value /= p.cfg.Hysteresis
				deferred = append(deferred, s)
			case s.fresh:
				p.fetch(s, a)
			}
		}
		if s.lastHeld && !a.released {
			a.released = true
			for _, ri := range a.holders {
				if !a.isOn(ri) {
					p.relays[ri].pending -= a.SizeBytes
				}
			}
		}
	}
}

// fetch fills slot s of a with a copy to be fetched, where pick finds room; where it
// finds none, it marks the relays that could hold a's copy but for what is planned there.
func (p *planner) fetch(s slot, a *artState) {
	if ri := p.pick(a, p.eligible(a.Catalog), true); ri >= 0 {
		p.assign(s.art, ri)
		p.placed += a.density / float64(s.n)
		return
	}
	for _, ri := range p.eligible(a.Catalog) {
		if !a.isOn(ri) && p.relays[ri].QuotaBytes >= a.SizeBytes {
			if p.short == nil {
				p.short = make([]bool, len(p.relays))
			}
			p.short[ri] = true
		}
	}
}

// pick returns the best relay among candidates for one more replica of a, or -1. Order:
// a relay avoid does not mark; a region a has no replica in (or an unknown region); for a fetch, the least wanted
// held copy it would push out (none is best); the most bytes free, scaled by weight;
// relay ID.
//
// Bytes free leave out pending copies for a fetch, which would push them out, but not
// among holders: the holder picked must be the relay the fetch that placed the copy
// chose, room for room. Otherwise the next round with the same input, where spare copies
// add holders and every held copy is pending until decided, hands the copy to another
// holder and opens room for a fetch the applied plan had found no room for.
func (p *planner) pick(a *artState, candidates []int32, fetch bool) int32 {
	best, bestUsed, bestAvoided, bestCost, bestScore := int32(-1), false, false, 0.0, 0.0
	for _, ri := range candidates {
		r := &p.relays[ri]
		if r.room < a.SizeBytes || a.isOn(ri) {
			continue
		}
		avoided := p.avoid != nil && p.avoid[ri]
		if best >= 0 && avoided && !bestAvoided {
			continue
		}
		used := r.region >= 0 && hasBit(a.regions, r.region)
		if best >= 0 && used && !bestUsed && avoided == bestAvoided {
			continue
		}
		cost := 0.0
		if fetch {
			cost = p.evictionCost(ri, a.SizeBytes)
		}
		free := r.room
		if fetch {
			free -= r.pending
		}
		score := float64(free) * r.weight
		if best < 0 || (!avoided && bestAvoided) || (!used && bestUsed) || cost < bestCost || (cost == bestCost && score > bestScore) {
			best, bestUsed, bestAvoided, bestCost, bestScore = ri, used, avoided, cost, score
		}
	}
	return best
}

// evictionCost is the demand per byte of the most wanted held copy relay ri would have to
// let go to take size more bytes: 0 when it has that much beyond its pending copies.
func (p *planner) evictionCost(ri int32, size int64) float64 {
	r := &p.relays[ri]
	need := size - (r.room - r.pending)
	cost := 0.0
	for _, ai := range r.byWorth {
		if need <= 0 {
			break
		}
		if a := &p.arts[ai]; !a.released && !a.isOn(ri) {
			need -= a.SizeBytes
			cost = a.density
		}
	}
	return cost
}

func (p *planner) assign(ai, ri int32) {
	a, r := &p.arts[ai], &p.relays[ri]
	a.placed = append(a.placed, ri)
	a.on = setBit(a.on, ri, len(p.relays))
	if r.region >= 0 {
		a.regions = setBit(a.regions, r.region, p.nRegions)
	}
	r.room -= a.SizeBytes
	r.planned = append(r.planned, ai)
	if !a.released && slices.Contains(a.holders, ri) {
		r.pending -= a.SizeBytes
	}
}

// spare fills the room demand left on healthy relays. It runs after every demand slot is
// decided and only takes room that is still free, so it never displaces a copy placed for
// demand; demand in turn sees spare copies as free room (an artifact without demand has
// no holders, and held replicas beyond what demand keeps are released with the
// artifact's last slot), so the next round's demand evicts them before anything it
// values.
//
// First copies come before extra ones: every artifact no healthy relay is planned to hold
// gets a copy if one fits, before any artifact gets a further one, held or not. Held
// first copies come first, one per artifact: relays that all took the same artifact,
// planned before any knew what the others fetch, keep one copy of it and free the others'
// room; the copy kept is on a relay where it leaves room for the only copies of the
// others, so that making room for demand never moves an only copy while an extra one
// could go. Then first copies are fetched, where they push out no held copy if they can;
// otherwise a held copy that is only an extra one gives way: coverage is worth that
// churn. Then extra copies: held ones stay while they fit, which makes a round with
// unchanged input fetch nothing; then new ones, most valuable first: replicas of demanded
// artifacts, each worth demand per byte ÷ replica number as in place; then artifacts
// without demand, a replica for each before a second for any, smaller ones first since
// they cost less room for the same head start.
//
// Which held copy is the first one must not change from round to round, or the room it
// leaves would let another artifact in next round: held and fetched first copies are
// taken in the same order, and pickFirst picks by rank, not by room.
func (p *planner) spare() {
	var demanded, idle []int32
	for i := range p.arts {
		a := &p.arts[i]
		a.released = true // demand is decided: holders are the spare phase's now
		switch {
		case a.Expunged:
		case a.wanted:
			demanded = append(demanded, int32(i))
		default:
			idle = append(idle, int32(i))
		}
	}
	slices.SortStableFunc(idle, func(x, y int32) int { return cmp.Compare(p.arts[x].SizeBytes, p.arts[y].SizeBytes) })
	for i := range p.relays {
		r := &p.relays[i]
		r.pending = 0 // now the held copies left for the spare phase to decide
		if !r.Healthy || r.QuotaBytes == 0 {
			continue
		}
		for _, ai := range r.held {
			if a := &p.arts[ai]; !a.Expunged && r.accept(a.Catalog) && !a.isOn(int32(i)) {
				a.spareHolders = append(a.spareHolders, int32(i))
				r.pending += a.SizeBytes
			}
		}
	}

	// Demanded artifacts demand found no room for fit nowhere now, since room only
	// shrinks; they are listed for completeness, densest first as in place.
	var uncovered []int32
	for _, ai := range demanded {
		if len(p.arts[ai].placed) == 0 {
			uncovered = append(uncovered, ai)
		}
	}
	slices.SortStableFunc(uncovered, func(x, y int32) int { return cmp.Compare(p.arts[y].density, p.arts[x].density) })
	uncovered = append(uncovered, idle...)
	// sole is, per relay, the bytes of the artifacts still to decide here of which it holds
	// the only copy: a first copy held on several relays is kept where it leaves them room.
	sole := make([]int64, len(p.relays))
	for _, ai := range uncovered {
		if a := &p.arts[ai]; len(a.placed) == 0 && len(a.spareHolders) == 1 {
			sole[a.spareHolders[0]] += a.SizeBytes
		}
	}
	for _, ai := range uncovered {
		a := &p.arts[ai]
		if len(a.placed) > 0 {
			continue
		}
		if len(a.spareHolders) == 1 {
			sole[a.spareHolders[0]] -= a.SizeBytes
		}
		if ri := p.pickFirst(a, a.spareHolders, func(ri int32) int64 { return sole[ri] }); ri >= 0 {
			p.assignSpare(ai, ri)
		}
	}
	for _, ai := range uncovered {
		if a := &p.arts[ai]; len(a.placed) == 0 {
			if ri := p.pickFirst(a, p.eligible(a.Catalog), func(ri int32) int64 { return p.relays[ri].pending }); ri >= 0 {
				p.assignSpare(ai, ri)
			}
		}
	}

	held := func(a *artState) []int32 { return a.spareHolders }
	fresh := func(a *artState) []int32 { return p.eligible(a.Catalog) }
	p.fillDemanded(demanded, held)
	p.fillIdle(idle, held)
	p.fillDemanded(demanded, fresh)
	p.fillIdle(idle, fresh)
}

// pickFirst returns the relay for the first copy of a among candidates (in ID order), or
// -1: of those with room for it, one where it leaves room for what is still wanted there
// (claimed: held copies still undecided, for a fetch; the only copies of other artifacts,
// for a held copy) if there is one, then the first in rank order: most weight, then relay
// ID. The rank does not depend on room, so a copy fetched where nothing claimed was in
// the way (always so from empty relays) is on the relay picked among its holders next
// round: a relay ranked before it had no room for it, and room only shrinks, so it got no
// extra copy of it either; and there it leaves room for the only copies, which all fit.
func (p *planner) pickFirst(a *artState, candidates []int32, claimed func(ri int32) int64) int32 {
	best, bestCrowds := int32(-1), false
	for _, ri := range candidates {
		r := &p.relays[ri]
		if r.room < a.SizeBytes || a.isOn(ri) {
			continue
		}
		crowds := r.room-claimed(ri) < a.SizeBytes
		if best < 0 || (bestCrowds && !crowds) || (crowds == bestCrowds && r.weight > p.relays[best].weight) {
			best, bestCrowds = ri, crowds
		}
	}
	return best
}

// assignSpare plans a on relay ri in the spare phase: a held copy kept is no longer pending.
func (p *planner) assignSpare(ai, ri int32) {
	p.assign(ai, ri)
	if p.hasHeld[ri][ai] {
		p.relays[ri].pending -= p.arts[ai].SizeBytes
	}
}

// fillDemanded gives the artifacts more replicas on candidate relays while any has room,
// always to the artifact whose next replica is worth most. An artifact that fits nowhere
// leaves for good: room only shrinks.
func (p *planner) fillDemanded(arts []int32, candidates func(*artState) []int32) {
	h := make(spareHeap, len(arts))
	for i, ai := range arts {
		h[i] = spareItem{ai, p.arts[ai].nextWorth()}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	for len(h) > 0 {
		ai := h[0].art
		a := &p.arts[ai]
		if ri := p.pick(a, candidates(a), false); ri >= 0 {
			p.assignSpare(ai, ri)
			h[0].worth = a.nextWorth()
		} else {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		h.down(0)
	}
}

// fillIdle gives the artifacts, in the order given, replicas on candidate relays in
// rounds: in round n, one to each that has fewer than n.
func (p *planner) fillIdle(arts []int32, candidates func(*artState) []int32) {
	arts = slices.Clone(arts)
	for n := 1; len(arts) > 0; n++ {
		next := arts[:0]
		for _, ai := range arts {
			a := &p.arts[ai]
			if len(a.placed) >= n {
				next = append(next, ai)
			} else if ri := p.pick(a, candidates(a), false); ri >= 0 {
				p.assignSpare(ai, ri)
				next = append(next, ai)
			}
		}
		arts = next
	}
}

// nextWorth is what one more replica of a demanded artifact is worth, as slot values go.
func (a *artState) nextWorth() float64 { return a.density / float64(len(a.placed)+1) }

type spareItem struct {
	art   int32
	worth float64 // nextWorth of art
}

// spareHeap is a binary heap of demanded artifacts, the one whose next replica is worth
// most on top, then by key. (Not container/heap: its interface calls were a fifth of a
// large plan's time, one sift per spare copy.)
type spareHeap []spareItem

func (h spareHeap) before(i, j int) bool {
	if h[i].worth != h[j].worth {
		return h[i].worth > h[j].worth
	}
	return h[i].art < h[j].art
}

func (h spareHeap) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && h.before(c+1, c) {
			c++
		}
		if !h.before(c, i) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// compareDrop orders the held copies relay r is not planned to keep, least wanted first,
// since the relay evicts from the front only as far as it needs room: what it cannot use
// at all, then copies without demand (of artifacts planned elsewhere first, then in the
// reverse of the order spare room takes them), then by what one more replica of the
// artifact would be worth, so a copy of an artifact with replicas elsewhere goes before
// the last copy of another.
func (p *planner) compareDrop(r *relayState, x, y int32) int {
	ax, ay := &p.arts[x], &p.arts[y]
	tier := func(a *artState) int {
		switch {
		case !r.accept(a.Catalog):
			return 0
		case !a.wanted:
			return 1
		}
		return 2
	}
	if c := cmp.Compare(tier(ax), tier(ay)); c != 0 || tier(ax) == 0 {
		return c
	}
	if !ax.wanted {
		// A copy of an artifact planned elsewhere before the last copy of another.
		if c := cmp.Compare(min(len(ay.placed), 1), min(len(ax.placed), 1)); c != 0 {
			return c
		}
		if c := cmp.Compare(ay.SizeBytes, ax.SizeBytes); c != 0 {
			return c
		}
		return cmp.Compare(y, x)
	}
	return cmp.Compare(ax.nextWorth(), ay.nextWorth())
}

func (p *planner) plans() map[string]RelayPlan {
	out := make(map[string]RelayPlan, len(p.relays))
	for i := range p.relays {
		r := &p.relays[i]
		var pl RelayPlan
		var drop, keepAll []int32
		for _, ai := range r.held {
			switch a := &p.arts[ai]; {
			case a.Expunged:
				pl.Expunged = append(pl.Expunged, a.Key)
			case !r.Healthy:
				keepAll = append(keepAll, ai)
			case !a.isOn(int32(i)):
				drop = append(drop, ai)
			}
		}
		if r.Healthy {
			for _, ai := range r.planned {
				if p.hasHeld[i][ai] {
					pl.Keep = append(pl.Keep, p.arts[ai].Key)
				} else {
					pl.Fetch = append(pl.Fetch, p.arts[ai].Key)
				}
			}
		} else {
			slices.SortStableFunc(keepAll, func(x, y int32) int {
				return cmp.Compare(p.arts[y].density, p.arts[x].density)
			})
			for _, ai := range keepAll {
				pl.Keep = append(pl.Keep, p.arts[ai].Key)
			}
		}
		slices.SortStableFunc(drop, func(x, y int32) int { return p.compareDrop(r, x, y) })
		pl.Drop = append(pl.Drop, r.unknown...)
		for _, ai := range drop {
			pl.Drop = append(pl.Drop, p.arts[ai].Key)
		}
		out[r.ID] = pl
	}
	return out
}
