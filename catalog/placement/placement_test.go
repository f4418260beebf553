package placement

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func key(id byte) Key { return Key{id} }

// ks lists keys by their first byte; nil when empty, as Plan leaves empty lists.
func ks(ids ...byte) []Key {
	var out []Key
	for _, id := range ids {
		out = append(out, key(id))
	}
	return out
}

func art(id byte, catalog string, size int64, demand float64) Artifact {
	return Artifact{Key: key(id), Catalog: catalog, SizeBytes: size, Demand: demand}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default", DefaultConfig(), true},
		{"zero means default", Config{}, true},
		{"hysteresis off", Config{ReplicaFactor: 2, Hysteresis: 1}, true},
		{"negative replica factor", Config{ReplicaFactor: -1}, false},
		{"NaN replica factor", Config{ReplicaFactor: math.NaN()}, false},
		{"infinite replica factor", Config{ReplicaFactor: math.Inf(1)}, false},
		{"hysteresis below 1", Config{Hysteresis: 0.9}, false},
		{"NaN hysteresis", Config{Hysteresis: math.NaN()}, false},
		{"infinite hysteresis", Config{Hysteresis: math.Inf(1)}, false},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.ok && err != nil {
			t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidConfig", tt.name, err)
		}
	}
}

func TestPlanInvalidInput(t *testing.T) {
	ok := Relay{ID: "r", QuotaBytes: 10, Healthy: true}
	tests := []struct {
		name   string
		relays []Relay
		arts   []Artifact
	}{
		{"duplicate relay", []Relay{ok, ok}, nil},
		{"negative quota", []Relay{{ID: "r", QuotaBytes: -1}}, nil},
		{"negative weight", []Relay{{ID: "r", Weight: -1}}, nil},
		{"NaN weight", []Relay{{ID: "r", Weight: math.NaN()}}, nil},
		{"duplicate artifact", []Relay{ok}, []Artifact{art(1, "", 1, 1), art(1, "", 2, 2)}},
		{"negative size", []Relay{ok}, []Artifact{art(1, "", -1, 1)}},
		{"negative demand", []Relay{ok}, []Artifact{art(1, "", 1, -1)}},
		{"NaN demand", []Relay{ok}, []Artifact{art(1, "", 1, math.NaN())}},
		{"infinite demand", []Relay{ok}, []Artifact{art(1, "", 1, math.Inf(1))}},
	}
	for _, tt := range tests {
		if _, err := Plan(DefaultConfig(), tt.relays, tt.arts); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: Plan() error = %v, want ErrInvalidInput", tt.name, err)
		}
	}
	if _, err := Plan(Config{Hysteresis: 0.5}, []Relay{ok}, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad config: Plan() error = %v, want ErrInvalidConfig", err)
	}
}

func TestPlan(t *testing.T) {
	// Demand per byte: 1 → 2.0, 2 → 1.0, 3 → 1.5, 4 → 1.2, 5 → 1.3.
	base := []Artifact{
		art(1, "debian", 4, 8),
		art(2, "debian", 5, 5),
		art(3, "ubuntu", 2, 3),
		art(4, "debian", 5, 6),
		art(5, "debian", 5, 6.5),
	}
	expunged := art(9, "debian", 3, 100)
	expunged.Expunged = true
	unheld := func(id string, quota int64) Relay { return Relay{ID: id, QuotaBytes: quota, Healthy: true} }
	holding := func(r Relay, ids ...byte) Relay { r.Held = ks(ids...); return r }
	noExtra := Config{ReplicaFactor: 0.01} // one replica each: isolates what is chosen
	demandOnly := Config{ReplicaFactor: 0.01, NoSpareFill: true}

	tests := []struct {
		name   string
		cfg    Config
		relays []Relay
		arts   []Artifact
		want   map[string]RelayPlan
	}{
		{
			name:   "densest first, smaller ones fill the gap",
			relays: []Relay{unheld("a", 11)},
			arts:   base,
			// 1 (4), 3 (2), 5 (5) fill 11; 4 and 2 no longer fit.
			want: map[string]RelayPlan{"a": {Fetch: ks(1, 3, 5)}},
		},
		{
			name:   "held copy kept within the hysteresis",
			relays: []Relay{holding(unheld("a", 5), 2)},
			arts:   []Artifact{art(2, "", 5, 5), art(4, "", 5, 6)}, // 1.2 < 1.25 × 1.0
			want:   map[string]RelayPlan{"a": {Keep: ks(2)}},
		},
		{
			name:   "held copy replaced beyond the hysteresis",
			relays: []Relay{holding(unheld("a", 5), 2)},
			arts:   []Artifact{art(2, "", 5, 5), art(5, "", 5, 6.5)}, // 1.3 > 1.25 × 1.0
			want:   map[string]RelayPlan{"a": {Fetch: ks(5), Drop: ks(2)}},
		},
		{
			name:   "hysteresis 1 replaces on any gain",
			cfg:    Config{Hysteresis: 1},
			relays: []Relay{holding(unheld("a", 5), 2)},
			arts:   []Artifact{art(2, "", 5, 5), art(4, "", 5, 6)},
			want:   map[string]RelayPlan{"a": {Fetch: ks(4), Drop: ks(2)}},
		},
		{
			name: "catalog filter",
			relays: []Relay{
				{ID: "deb", QuotaBytes: 100, Healthy: true, Catalogs: []string{"debian"}},
				{ID: "ubu", QuotaBytes: 100, Healthy: true, Catalogs: []string{"ubuntu"}},
			},
			arts: base,
			cfg:  noExtra,
			want: map[string]RelayPlan{
				"deb": {Fetch: ks(1, 5, 4, 2)},
				"ubu": {Fetch: ks(3)},
			},
		},
		{
			name:   "expunged: deleted where held, never fetched, not even into spare room",
			relays: []Relay{holding(unheld("a", 100), 9, 1), unheld("b", 100)},
			arts:   []Artifact{art(1, "", 4, 8), expunged},
			cfg:    noExtra,
			want: map[string]RelayPlan{
				"a": {Keep: ks(1), Expunged: ks(9)},
				"b": {Fetch: ks(1)},
			},
		},
		{
			name: "unhealthy relay keeps its data, a healthy one takes its share",
			relays: []Relay{
				{ID: "down", QuotaBytes: 4, Held: ks(1, 2, 9, 7)}, // 7: unknown
				unheld("up", 100),
			},
			arts: []Artifact{art(1, "", 4, 8), art(2, "", 5, 5), expunged},
			cfg:  noExtra,
			want: map[string]RelayPlan{
				"down": {Keep: ks(1, 2), Drop: ks(7), Expunged: ks(9)},
				"up":   {Fetch: ks(1, 2)},
			},
		},
		{
			name:   "without spare fill, zero demand is dropped, never fetched",
			cfg:    Config{NoSpareFill: true},
			relays: []Relay{holding(unheld("a", 100), 1), unheld("b", 100)},
			arts:   []Artifact{art(1, "", 4, 0), art(2, "", 4, 0)},
			want:   map[string]RelayPlan{"a": {Drop: ks(1)}, "b": {}},
		},
		{
			name:   "drop: unknown, then other catalogs, then least wanted",
			relays: []Relay{{ID: "a", QuotaBytes: 2, Healthy: true, Catalogs: []string{"debian"}, Held: ks(1, 2, 3, 8)}},
			arts:   base,
			// Nothing of debian fits in 2 bytes; 3 is ubuntu.
			want: map[string]RelayPlan{"a": {Drop: ks(8, 3, 2, 1)}},
		},
		{
			name:   "quota shrank below holdings: the least wanted go",
			relays: []Relay{holding(unheld("a", 9), 1, 2, 5)},
			arts:   base,
			cfg:    noExtra,
			want:   map[string]RelayPlan{"a": {Keep: ks(1, 5), Drop: ks(2)}},
		},
		{
			name: "replicas of a hot artifact spread over regions",
			cfg:  Config{ReplicaFactor: 2}, // share 1 of 3 relays: 6, capped at 3
			relays: []Relay{
				{ID: "a", QuotaBytes: 10, Healthy: true, Region: "eu"},
				{ID: "b", QuotaBytes: 20, Healthy: true, Region: "eu"},
				{ID: "c", QuotaBytes: 5, Healthy: true, Region: "us"},
			},
			arts: []Artifact{art(1, "", 4, 8)},
			want: map[string]RelayPlan{"a": {Fetch: ks(1)}, "b": {Fetch: ks(1)}, "c": {Fetch: ks(1)}},
		},
		{
			name: "second replica goes to a new region before a roomier relay",
			cfg:  Config{NoSpareFill: true}, // spare fill would give b a copy of 2
			relays: []Relay{
				{ID: "a", QuotaBytes: 50, Healthy: true, Region: "eu"},
				{ID: "b", QuotaBytes: 40, Healthy: true, Region: "eu"},
				{ID: "c", QuotaBytes: 5, Healthy: true, Region: "us"},
			},
			// 1 holds 3/4 of demand: ceil(3/4 × 3) = 3 replicas; 2 wants ceil(1/4 × 3) = 1.
			arts: []Artifact{art(1, "", 4, 6), art(2, "", 4, 2)},
			// 2 goes to the roomiest relay, a; 1's second replica to c, not b.
			want: map[string]RelayPlan{
				"a": {Fetch: ks(1, 2)},
				"b": {Fetch: ks(1)},
				"c": {Fetch: ks(1)},
			},
		},
		{
			name: "held replicas above target kept within the hysteresis, not fetched anew",
			cfg:  Config{ReplicaFactor: 1, Hysteresis: 1.5, NoSpareFill: true},
			relays: []Relay{
				holding(unheld("a", 10), 1), holding(unheld("b", 10), 1),
				unheld("c", 10), unheld("d", 10),
			},
			// 1 has 0.225 of demand over 4 relays: 0.9 wants 1 replica; held copies may
			// be up to ceil(0.9 × 1.5) = 2. 2 wants ceil(3.1) = 4.
			arts: []Artifact{art(1, "", 4, 0.9), art(2, "", 4, 3.1)},
			want: map[string]RelayPlan{
				"a": {Fetch: ks(2), Keep: ks(1)}, "b": {Fetch: ks(2), Keep: ks(1)},
				"c": {Fetch: ks(2)}, "d": {Fetch: ks(2)},
			},
		},
		{
			name: "held replicas above target dropped without hysteresis",
			cfg:  Config{ReplicaFactor: 1, Hysteresis: 1, NoSpareFill: true},
			relays: []Relay{
				holding(unheld("a", 10), 1), holding(unheld("b", 10), 1),
				unheld("c", 10), unheld("d", 10),
			},
			arts: []Artifact{art(1, "", 4, 0.9), art(2, "", 4, 3.1)},
			want: map[string]RelayPlan{
				"a": {Fetch: ks(2), Keep: ks(1)}, "b": {Fetch: ks(2), Drop: ks(1)},
				"c": {Fetch: ks(2)}, "d": {Fetch: ks(2)},
			},
		},
		{
			name: "weight steers new replicas",
			cfg:  demandOnly,
			relays: []Relay{
				{ID: "a", QuotaBytes: 10, Healthy: true},
				{ID: "b", QuotaBytes: 8, Healthy: true, Weight: 2},
			},
			arts: []Artifact{art(1, "", 4, 8)},
			want: map[string]RelayPlan{"a": {}, "b": {Fetch: ks(1)}},
		},
		{
			name:   "zero demand held is kept, and fetched where room is left",
			relays: []Relay{holding(unheld("a", 100), 1), unheld("b", 100)},
			arts:   []Artifact{art(1, "", 4, 0), art(2, "", 4, 0)},
			// A replica of each first: a keeps 1, 2 goes to a too (first in rank order,
			// weights equal: by ID), then second replicas, 1 and 2 to b.
			want: map[string]RelayPlan{"a": {Fetch: ks(2), Keep: ks(1)}, "b": {Fetch: ks(1, 2)}},
		},
		{
			name:   "ample quotas, no demand: every relay takes everything",
			relays: []Relay{unheld("a", 100), unheld("b", 100)},
			arts:   []Artifact{art(1, "", 4, 0), art(2, "", 5, 0)},
			want:   map[string]RelayPlan{"a": {Fetch: ks(1, 2)}, "b": {Fetch: ks(1, 2)}},
		},
		{
			name:   "spare room takes zero demand smaller first",
			relays: []Relay{unheld("a", 10)},
			arts:   []Artifact{art(1, "", 4, 0), art(2, "", 5, 0), art(3, "", 3, 0)},
			// 3 and 1 fill 7 of 10; 2 no longer fits.
			want: map[string]RelayPlan{"a": {Fetch: ks(3, 1)}},
		},
		{
			name:   "spare room takes a first copy of zero demand before a second of demand",
			cfg:    noExtra,
			relays: []Relay{unheld("a", 4), unheld("b", 4)},
			arts:   []Artifact{art(1, "", 4, 8), art(2, "", 4, 0)},
			want:   map[string]RelayPlan{"a": {Fetch: ks(1)}, "b": {Fetch: ks(2)}},
		},
		{
			name:   "spare room takes more replicas of demanded artifacts before zero demand",
			cfg:    noExtra,
			relays: []Relay{unheld("a", 4), unheld("b", 4), unheld("c", 4)},
			arts:   []Artifact{art(1, "", 4, 8), art(2, "", 4, 0)},
			want:   map[string]RelayPlan{"a": {Fetch: ks(1)}, "b": {Fetch: ks(2)}, "c": {Fetch: ks(1)}},
		},
		{
			name:   "a spare copy stays while it fits, before a smaller newcomer",
			cfg:    noExtra,
			relays: []Relay{holding(unheld("a", 8), 2)},
			arts:   []Artifact{art(1, "", 4, 8), art(2, "", 4, 0), art(3, "", 2, 0)},
			want:   map[string]RelayPlan{"a": {Fetch: ks(1), Keep: ks(2)}},
		},
		{
			name:   "demand evicts spare copies, and they leave first, largest first",
			cfg:    noExtra,
			relays: []Relay{holding(unheld("a", 10), 2, 3, 4)},
			// 1 (density 1) takes 8 of 10: nothing else fits, 4 (density 0.2) included.
			arts: []Artifact{art(1, "", 8, 8), art(2, "", 4, 0), art(3, "", 3, 0), art(4, "", 5, 1)},
			want: map[string]RelayPlan{"a": {Fetch: ks(1), Drop: ks(2, 3, 4)}},
		},
		{
			// Relays that registered one after another, each planned before the others
			// reported what they fetch, all took the same artifact. Coverage is worth the
			// churn: one copy stays (on the first relay in ID order, all else equal) and
			// the other two make room for the artifacts no relay holds.
			name: "a copy of every artifact before a second of any, even a held one",
			relays: []Relay{
				holding(unheld("r1", 10), 3), holding(unheld("r2", 10), 3), holding(unheld("r3", 10), 3),
			},
			arts: []Artifact{art(1, "", 10, 0), art(2, "", 10, 0), art(3, "", 10, 0)},
			want: map[string]RelayPlan{
				"r1": {Keep: ks(3)},
				"r2": {Fetch: ks(1), Drop: ks(3)},
				"r3": {Fetch: ks(2), Drop: ks(3)},
			},
		},
		{
			name: "a first copy fetched goes where it evicts no spare copy",
			relays: []Relay{
				holding(unheld("r1", 10), 3), holding(unheld("r2", 10), 3), unheld("r3", 10),
			},
			arts: []Artifact{art(1, "", 10, 0), art(2, "", 10, 0), art(3, "", 10, 0)},
			// 3 stays on r1; 1 goes to the empty r3 before r2 gives up its copy of 3 for 2.
			want: map[string]RelayPlan{
				"r1": {Keep: ks(3)},
				"r2": {Fetch: ks(2), Drop: ks(3)},
				"r3": {Fetch: ks(1)},
			},
		},
		{
			// 2 gets hot and wants all three relays; r1 must give up one of its copies.
			// Its copy of 3 is the only one, its copy of 1 one of three: the first
			// copy of 1 is kept elsewhere, so 3 never has none (it did, while r1
			// evicted it and r2 fetched it in place of its extra copy of 1).
			name: "a relay keeps its only copy of one artifact before its extra of another",
			relays: []Relay{
				holding(unheld("r1", 25), 1, 3), holding(unheld("r2", 25), 1, 2), holding(unheld("r3", 25), 1, 2),
			},
			arts: []Artifact{art(1, "", 10, 0), art(2, "", 10, 100), art(3, "", 10, 0)},
			want: map[string]RelayPlan{
				"r1": {Fetch: ks(2), Keep: ks(3), Drop: ks(1)},
				"r2": {Keep: ks(2, 1)},
				"r3": {Keep: ks(2, 1)},
			},
		},
		{
			name: "held replica above target stays as a spare copy, even without hysteresis",
			cfg:  Config{ReplicaFactor: 1, Hysteresis: 1},
			relays: []Relay{
				holding(unheld("a", 8), 1), holding(unheld("b", 8), 1),
				unheld("c", 4), unheld("d", 4),
			},
			// As above: 1 wants 1 replica, 2 wants 4; c and d have room for 2 only.
			arts: []Artifact{art(1, "", 4, 0.9), art(2, "", 4, 3.1)},
			want: map[string]RelayPlan{
				"a": {Fetch: ks(2), Keep: ks(1)}, "b": {Fetch: ks(2), Keep: ks(1)},
				"c": {Fetch: ks(2)}, "d": {Fetch: ks(2)},
			},
		},
	}
	for _, tt := range tests {
		cfg := tt.cfg
		if cfg == (Config{}) {
			cfg = DefaultConfig()
		}
		got, err := Plan(cfg, tt.relays, tt.arts)
		if err != nil {
			t.Errorf("%s: Plan() error = %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %v\nwant %v", tt.name, got, tt.want)
		}
	}
}

// Relays that all took the same artifact into room for one settle in one round: after the
// plan that spreads them, the next keeps everything and fetches nothing.
func TestPlanFirstCopiesConverge(t *testing.T) {
	var relays []Relay
	for _, id := range []string{"r1", "r2", "r3"} {
		relays = append(relays, Relay{ID: id, QuotaBytes: 10, Healthy: true, Held: ks(3)})
	}
	arts := []Artifact{art(1, "", 10, 0), art(2, "", 10, 0), art(3, "", 10, 0)}
	plans, err := Plan(DefaultConfig(), relays, arts)
	if err != nil {
		t.Fatalf("Plan() error = %v", err)
	}
	relays = apply(relays, arts, plans)
	plans, err = Plan(DefaultConfig(), relays, arts)
	if err != nil {
		t.Fatalf("Plan() error = %v", err)
	}
	want := map[string]RelayPlan{"r1": {Keep: ks(3)}, "r2": {Keep: ks(1)}, "r3": {Keep: ks(2)}}
	if !reflect.DeepEqual(plans, want) {
		t.Errorf("second round:\n got %v\nwant %v", plans, want)
	}
}

func TestServedDemandBound(t *testing.T) {
	arts := []Artifact{art(1, "", 4, 8), art(2, "", 5, 5), art(3, "", 2, 3), art(4, "", 0, 1), art(5, "", 9, 0)}
	gone := art(6, "", 1, 100)
	gone.Expunged = true
	arts = append(arts, gone)
	tests := []struct {
		capacity int64
		want     float64
	}{
		{0, 1},         // the empty artifact needs no room
		{4, 1 + 8},     // then 1 (density 2)
		{6, 1 + 8 + 3}, // then 3 (1.5)
		{7, 1 + 8 + 3 + 1},
		{100, 1 + 8 + 3 + 5},
	}
	for _, tt := range tests {
		if got := ServedDemandBound(tt.capacity, arts); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("ServedDemandBound(%d) = %v, want %v", tt.capacity, got, tt.want)
		}
	}
}

// A copy held on several relays is kept where it leaves room for a hot artifact's next
// replica: 2 wants three copies, and the only relay without one must not spend its room
// keeping 3, which the two relays holding 2 hold too. Applied, the plan stays.
func TestPlanHeldCopyLeavesRoomForAReplica(t *testing.T) {
	relays := []Relay{
		{ID: "1E01", QuotaBytes: 250, Healthy: true, Held: ks(2, 3)},
		{ID: "62BA", QuotaBytes: 250, Healthy: true, Held: ks(3, 1)},
		{ID: "E8D5", QuotaBytes: 250, Healthy: true, Held: ks(2, 3)},
	}
	arts := []Artifact{art(1, "", 100, 6), art(2, "", 100, 106), art(3, "", 100, 9)}
	plans, err := Plan(DefaultConfig(), relays, arts)
	if err != nil {
		t.Fatalf("Plan() error = %v", err)
	}
	reps := replicas(relays, plans)
	if len(reps[key(2)]) != 3 || len(reps[key(1)]) == 0 || len(reps[key(3)]) == 0 {
		t.Fatalf("replicas of 1, 2, 3: %d, %d, %d; want 2 on all three relays and the others kept: %v",
			len(reps[key(1)]), len(reps[key(2)]), len(reps[key(3)]), plans)
	}
	relays = apply(relays, arts, plans)
	again, err := Plan(DefaultConfig(), relays, arts)
	if err != nil {
		t.Fatalf("Plan() error = %v", err)
	}
	if moved := fetchBytes(arts, again); moved != 0 {
		t.Errorf("the next round fetches %d bytes: %v", moved, again)
	}
}
