// Command placement simulates the directory's relay placement (catalog/placement) on a
// synthetic catalog and reports how good and how stable the plans are. It is run by
// scripts/bench/placement.sh.
//
// The catalog: -artifacts artifacts with sizes log-uniform in [-min-mib, -max-mib], demand
// Zipf-distributed with exponent -zipf over a random ranking (so demand does not follow
// size), all in one catalog. The relays: -relays relays in -regions regions (round robin),
// quotas log-uniform within a factor of 4 of each other and summing to -quota of all
// artifact bytes.
//
// Rounds: every round plans, then applies the plans as if every fetch had completed: a
// relay holds Keep and Fetch, deletes Expunged, and evicts Drop from the front only as far
// as its quota requires (as odi relay does). From empty relays it runs until a round
// fetches nothing (converged), then reports:
//
//   - coverage: the demand of artifacts with at least one healthy replica ÷ all demand,
//     against the fractional-knapsack bound (placement.ServedDemandBound over the summed
//     quotas), and their ratio (target >= 0.95);
//   - spare fill: the share of capacity holding copies beyond what demand places (the
//     plan with NoSpareFill for the same holdings), and the replicas of the hottest
//     artifacts with and without spare fill;
//   - churn after a demand shift: every artifact's demand is scaled by (1 - shift) and the
//     removed mass, shift × total, is handed to artifacts/100 artifacts drawn uniformly at
//     random, split among them by Zipf weights 1/i^zipf in draw order: new favourites
//     appear, everything else fades a little. The total-variation distance between the old
//     and new demand distributions is at most shift (reported exactly). Churn is the bytes
//     in the next round's Fetch lists ÷ the summed quotas (target <= 10%), with the
//     configured hysteresis and, for comparison, without (1);
//   - churn after noise: every demand times a factor uniform in [1-noise, 1+noise];
//   - churn after one relay (the largest) goes down;
//   - churn after artifacts/100 new artifacts are published, without demand yet.
//
// Every scenario starts from the same converged state, and again from a state converged
// without spare fill, for comparison. With spare fill, the bytes of spare copies evicted
// in the round after each change are reported too: the part of the churn that is spare
// copies giving way to demanded ones. The program only reports; it exits non-zero only on
// bad flags.
package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/opendist/odi/catalog/placement"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "placement:", err)
		os.Exit(2)
	}
}

type options struct {
	seed                 uint64
	relays, artifacts    int
	regions              int
	zipf                 float64
	quota                float64
	shift, noise         float64
	minMiB, maxMiB       float64
	hysteresis, replicas float64
	spare                bool
	maxRounds            int
}

func run(args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("placement", flag.ContinueOnError)
	fs.Uint64Var(&o.seed, "seed", 1, "random seed; the same seed gives the same report")
	fs.IntVar(&o.relays, "relays", 50, "number of relays")
	fs.IntVar(&o.artifacts, "artifacts", 5000, "number of artifacts")
	fs.IntVar(&o.regions, "regions", 4, "number of regions the relays are spread over")
	fs.Float64Var(&o.zipf, "zipf", 1.1, "Zipf exponent s of demand: the artifact ranked i gets 1/i^s")
	fs.Float64Var(&o.quota, "quota", 0.30, "relay quotas summed, as a fraction of all artifact bytes")
	fs.Float64Var(&o.shift, "shift", 0.05, "fraction of demand mass moved to new favourites")
	fs.Float64Var(&o.noise, "noise", 0.10, "per-artifact demand noise, ± this fraction")
	fs.Float64Var(&o.minMiB, "min-mib", 10, "smallest artifact, MiB")
	fs.Float64Var(&o.maxMiB, "max-mib", 4096, "largest artifact, MiB")
	fs.Float64Var(&o.hysteresis, "hysteresis", placement.DefaultConfig().Hysteresis, "placement Hysteresis")
	fs.Float64Var(&o.replicas, "replica-factor", placement.DefaultConfig().ReplicaFactor, "placement ReplicaFactor")
	fs.BoolVar(&o.spare, "spare", !placement.DefaultConfig().NoSpareFill, "fill the quota demand leaves free (placement NoSpareFill off)")
	fs.IntVar(&o.maxRounds, "max-rounds", 20, "give up converging after this many rounds")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return fmt.Errorf("parse flags: %w", err)
	}
	if err := o.check(); err != nil {
		return fmt.Errorf("check flags: %w", err)
	}
	cfg := placement.Config{ReplicaFactor: o.replicas, Hysteresis: o.hysteresis, NoSpareFill: !o.spare}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("check flags: %w", err)
	}
	return simulate(out, o, cfg)
}

var errFlag = errors.New("out of range")

func (o options) check() error {
	switch {
	case o.relays < 1, o.artifacts < 1, o.regions < 1, o.maxRounds < 1:
		return fmt.Errorf("-relays, -artifacts, -regions and -max-rounds must be >= 1: %w", errFlag)
	case !(o.zipf > 0):
		return fmt.Errorf("-zipf %v must be > 0: %w", o.zipf, errFlag)
	case !(o.quota > 0):
		return fmt.Errorf("-quota %v must be > 0: %w", o.quota, errFlag)
	case !(o.shift >= 0 && o.shift <= 1), !(o.noise >= 0 && o.noise <= 1):
		return fmt.Errorf("-shift and -noise must be in [0, 1]: %w", errFlag)
	case !(o.minMiB > 0 && o.maxMiB >= o.minMiB):
		return fmt.Errorf("-min-mib and -max-mib must satisfy 0 < min <= max: %w", errFlag)
	}
	return nil
}

// world is the simulated state: what every relay holds, and the catalog.
type world struct {
	cfg      placement.Config
	relays   []placement.Relay
	arts     []placement.Artifact
	size     map[placement.Key]int64
	capacity int64 // summed quotas
	planTime []time.Duration
}

func newWorld(rng *rand.Rand, o options, cfg placement.Config) *world {
	w := &world{cfg: cfg, size: map[placement.Key]int64{}}
	rank := rng.Perm(o.artifacts)
	var total int64
	for i := range o.artifacts {
		a := w.publish(rng, o, 1/math.Pow(float64(rank[i]+1), o.zipf))
		total += a.SizeBytes
	}
	scale := make([]float64, o.relays)
	sum := 0.0
	for i := range scale {
		scale[i] = math.Exp(math.Log(4) * rng.Float64())
		sum += scale[i]
	}
	for i := range o.relays {
		q := int64(o.quota * float64(total) * scale[i] / sum)
		w.relays = append(w.relays, placement.Relay{
			ID: fmt.Sprintf("relay-%02d", i), QuotaBytes: q, Healthy: true, Region: fmt.Sprintf("region-%d", i%o.regions),
		})
		w.capacity += q
	}
	return w
}

// publish adds an artifact of random size and the given demand.
func (w *world) publish(rng *rand.Rand, o options, demand float64) placement.Artifact {
	const mib = 1 << 20
	lo, hi := math.Log(o.minMiB*mib), math.Log(o.maxMiB*mib)
	var k placement.Key
	for j := range k {
		k[j] = byte(rng.UintN(256))
	}
	a := placement.Artifact{Key: k, SizeBytes: int64(math.Exp(lo + (hi-lo)*rng.Float64())), Demand: demand}
	w.arts = append(w.arts, a)
	w.size[k] = a.SizeBytes
	return a
}

func (w *world) clone() *world {
	c := *w
	c.relays = slices.Clone(w.relays)
	c.arts = slices.Clone(w.arts)
	c.size = maps.Clone(w.size)
	c.planTime = nil
	return &c
}

// round plans, applies the plans and returns the bytes fetched.
func (w *world) round() (int64, map[string]placement.RelayPlan) {
	start := time.Now()
	plans, err := placement.Plan(w.cfg, w.relays, w.arts)
	w.planTime = append(w.planTime, time.Since(start))
	if err != nil {
		panic(err) // flags and world were validated: a bug
	}
	var fetched int64
	for i, r := range w.relays {
		pl := plans[r.ID]
		held := slices.Concat(pl.Keep, pl.Fetch)
		var used int64
		for _, k := range pl.Fetch {
			fetched += w.size[k]
		}
		for _, k := range slices.Concat(held, pl.Drop) {
			used += w.size[k]
		}
		drop := pl.Drop
		for ; len(drop) > 0 && used > r.QuotaBytes; drop = drop[1:] {
			used -= w.size[drop[0]]
		}
		w.relays[i].Held = append(held, drop...)
	}
	return fetched, plans
}

// converge runs rounds until one fetches nothing; it returns the rounds run (the last
// fetching nothing) and the plans of the last one.
func (w *world) converge(maxRounds int) (int, map[string]placement.RelayPlan, bool) {
	for n := 1; ; n++ {
		fetched, plans := w.round()
		if fetched == 0 || n == maxRounds {
			return n, plans, fetched == 0
		}
	}
}

// served is the demand of artifacts planned on at least one healthy relay.
func (w *world) served(plans map[string]placement.RelayPlan) (demand float64, covered int) {
	has := map[placement.Key]bool{}
	for _, r := range w.relays {
		if r.Healthy {
			for _, k := range slices.Concat(plans[r.ID].Keep, plans[r.ID].Fetch) {
				has[k] = true
			}
		}
	}
	for _, a := range w.arts {
		if has[a.Key] {
			demand += a.Demand
			covered++
		}
	}
	return demand, covered
}

func totalDemand(arts []placement.Artifact) float64 {
	t := 0.0
	for _, a := range arts {
		t += a.Demand
	}
	return t
}

// shiftDemand moves fraction f of the demand mass to n artifacts drawn at random, split
// by Zipf weights, and returns the total-variation distance between before and after.
func shiftDemand(rng *rand.Rand, arts []placement.Artifact, f, s float64, n int) float64 {
	before := make([]float64, len(arts))
	total := totalDemand(arts)
	for i := range arts {
		before[i] = arts[i].Demand
		arts[i].Demand *= 1 - f
	}
	picked := rng.Perm(len(arts))[:n]
	weights, sum := make([]float64, n), 0.0
	for i := range weights {
		weights[i] = 1 / math.Pow(float64(i+1), s)
		sum += weights[i]
	}
	for i, ai := range picked {
		arts[ai].Demand += f * total * weights[i] / sum
	}
	tv := 0.0
	for i := range arts {
		tv += math.Abs(arts[i].Demand - before[i])
	}
	return tv / 2 / total
}

func simulate(out io.Writer, o options, cfg placement.Config) error {
	rng := rand.New(rand.NewPCG(o.seed, 0))
	w := newWorld(rng, o, cfg)
	var catalogBytes int64
	for _, a := range w.arts {
		catalogBytes += a.SizeBytes
	}
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	p("placement simulation: seed %d, %d relays in %d regions, %d artifacts (%.0f..%.0f MiB log-uniform), Zipf s=%.2f",
		o.seed, o.relays, o.regions, o.artifacts, o.minMiB, o.maxMiB, o.zipf)
	p("config: ReplicaFactor %.2f, Hysteresis %.2f, spare fill %s", cfg.ReplicaFactor, cfg.Hysteresis, onOff(!cfg.NoSpareFill))
	p("catalog %s; relay capacity %s (%.0f%% of catalog; quotas %s..%s)", gib(catalogBytes), gib(w.capacity),
		100*float64(w.capacity)/float64(catalogBytes), gib(minQuota(w.relays)), gib(maxQuota(w.relays)))

	// Without spare fill, for comparison: the same world converged with NoSpareFill.
	var off *world
	if !cfg.NoSpareFill {
		off = w.clone()
		off.cfg.NoSpareFill = true
	}
	rounds, plans, ok := w.converge(o.maxRounds)
	if !ok {
		p("WARNING: not converged after %d rounds", rounds)
	}
	served, covered := w.served(plans)
	total := totalDemand(w.arts)
	bound := placement.ServedDemandBound(w.capacity, w.arts)
	used, reps := usage(w, plans)
	p("")
	p("from empty: converged in %d rounds (the last fetching nothing); each Plan call took at most %s",
		rounds, slices.Max(w.planTime).Round(100*time.Microsecond))
	p("  artifacts covered          %d of %d, %d replicas, %.1f%% of capacity planned", covered, len(w.arts), reps,
		100*float64(used)/float64(w.capacity))
	p("  demand served by relays    %.4f of all demand", served/total)
	p("  fractional-knapsack bound  %.4f", bound/total)
	p("  ratio served / bound       %.4f   (target >= 0.95)", served/bound)
	hot := byDemand(w.arts)
	p("  replicas by demand rank    %s", replicasByRank(w, plans, hot))
	var offPlans map[string]placement.RelayPlan
	if off != nil {
		offRounds, p2, ok := off.converge(o.maxRounds)
		offPlans = p2
		if !ok {
			p("WARNING: not converged without spare fill after %d rounds", offRounds)
		}
		offServed, _ := off.served(offPlans)
		offUsed, _ := usage(off, offPlans)
		p("  without spare fill         ratio %.4f, %.1f%% of capacity planned, converged in %d rounds", offServed/bound,
			pct(offUsed, off.capacity), offRounds)
		p("                             replicas by demand rank %s", replicasByRank(off, offPlans, hot))
		spare := w.spareCopies()
		var spareBytes int64
		for c := range spare {
			spareBytes += w.size[c.key]
		}
		p("  spare copies               %d, %.1f%% of capacity (held beyond the plan without spare fill for the same holdings)",
			len(spare), pct(spareBytes, w.capacity))
	}

	shifted := max(1, o.artifacts/100)
	p("")
	p("bytes moved in the round after a change, as a share of capacity (Fetch bytes ÷ summed quotas);")
	p("new: bytes of artifacts no healthy relay held before (the least any plan must move)")
	columns := []struct {
		name string
		base *world
		h    float64
	}{
		{fmt.Sprintf("hysteresis %.2f", cfg.Hysteresis), w, cfg.Hysteresis},
		{"hysteresis 1.00 (off)", w, 1},
	}
	if off != nil {
		columns = append(columns, struct {
			name string
			base *world
			h    float64
		}{"no spare fill", off, cfg.Hysteresis})
	}
	header := fmt.Sprintf("  %-44s", "change")
	for _, c := range columns {
		header += fmt.Sprintf(" %-24s", c.name)
	}
	p("%s", strings.TrimRight(header, " "))
	scenarios := []struct {
		name   string
		change func(s *world)
	}{
		{fmt.Sprintf("demand shift %.0f%% to %d new favourites", 100*o.shift, shifted), func(s *world) {
			shiftDemand(rand.New(rand.NewPCG(o.seed, 1)), s.arts, o.shift, o.zipf, shifted)
		}},
		{fmt.Sprintf("demand noise ±%.0f%% on every artifact", 100*o.noise), func(s *world) {
			nrng := rand.New(rand.NewPCG(o.seed, 2))
			for i := range s.arts {
				s.arts[i].Demand *= 1 - o.noise + 2*o.noise*nrng.Float64()
			}
		}},
		{"largest relay down", func(s *world) {
			big := 0
			for i, r := range s.relays {
				if r.QuotaBytes > s.relays[big].QuotaBytes {
					big = i
				}
			}
			s.relays[big].Healthy = false
		}},
		{fmt.Sprintf("%d new artifacts published, no demand yet", shifted), func(s *world) {
			prng := rand.New(rand.NewPCG(o.seed, 3))
			for range shifted {
				s.publish(prng, o, 0)
			}
		}},
	}
	var ratios, evicted, published []string
	spare := w.spareCopies()
	for _, sc := range scenarios {
		row := fmt.Sprintf("  %-44s", sc.name)
		for i, c := range columns {
			s := c.base.clone()
			s.cfg.Hysteresis = c.h
			sc.change(s)
			before := s.healthyHeld()
			held := s.copies()
			moved, plans := s.round()
			var fresh int64
			for _, pl := range plans {
				for _, k := range pl.Fetch {
					if !before[k] {
						fresh += s.size[k]
						before[k] = true
					}
				}
			}
			row += fmt.Sprintf(" %-24s", fmt.Sprintf("%5.2f%% (new %5.2f%%)", pct(moved, s.capacity), pct(fresh, s.capacity)))
			if sc.name == scenarios[len(scenarios)-1].name {
				placed := 0
				for _, a := range s.arts[len(c.base.arts):] {
					if before[a.Key] {
						placed++
					}
				}
				published = append(published, fmt.Sprint(placed))
			}
			if i > 0 {
				continue
			}
			served, _ := s.served(plans)
			ratios = append(ratios, fmt.Sprintf("%.4f", served/placement.ServedDemandBound(s.capacity, s.arts)))
			if off != nil {
				after := s.copies()
				var gone int64
				for c := range held {
					if spare[c] && !after[c] {
						gone += s.size[c.key]
					}
				}
				evicted = append(evicted, fmt.Sprintf("%.2f%%", pct(gone, s.capacity)))
			}
		}
		p("%s", strings.TrimRight(row, " "))
	}
	p("  target for the %.0f%% shift: <= 10%%; ratio served / bound after each change: %s", 100*o.shift, strings.Join(ratios, ", "))
	if len(evicted) > 0 {
		p("  spare copies evicted in that round, share of capacity (hysteresis %.2f): %s", cfg.Hysteresis, strings.Join(evicted, ", "))
	}
	p("  new artifacts with a replica after one round, by column: %s of %d", strings.Join(published, ", "), shifted)
	if tv := shiftDemand(rand.New(rand.NewPCG(o.seed, 1)), slices.Clone(w.arts), o.shift, o.zipf, shifted); tv > 0 {
		p("  (the shift's total-variation distance between old and new demand: %.4f)", tv)
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// relayCopy is one artifact on one relay.
type relayCopy struct {
	relay string
	key   placement.Key
}

// copies is what every healthy relay holds now.
func (w *world) copies() map[relayCopy]bool {
	out := map[relayCopy]bool{}
	for _, r := range w.relays {
		if r.Healthy {
			for _, k := range r.Held {
				out[relayCopy{r.ID, k}] = true
			}
		}
	}
	return out
}

// spareCopies is what healthy relays hold beyond what the plan without spare fill would
// have them keep or fetch, for the same holdings and demand.
func (w *world) spareCopies() map[relayCopy]bool {
	cfg := w.cfg
	cfg.NoSpareFill = true
	plans, err := placement.Plan(cfg, w.relays, w.arts)
	if err != nil {
		panic(err) // flags and world were validated: a bug
	}
	out := w.copies()
	for id, pl := range plans {
		for _, k := range slices.Concat(pl.Keep, pl.Fetch) {
			delete(out, relayCopy{id, k})
		}
	}
	return out
}

// byDemand returns the artifacts' keys, most demanded first.
func byDemand(arts []placement.Artifact) []placement.Key {
	sorted := slices.Clone(arts)
	slices.SortStableFunc(sorted, func(x, y placement.Artifact) int { return cmp.Compare(y.Demand, x.Demand) })
	keys := make([]placement.Key, len(sorted))
	for i, a := range sorted {
		keys[i] = a.Key
	}
	return keys
}

// replicasByRank reports how many healthy relays are planned to hold the artifacts of a
// few demand ranks (1 is the most demanded).
func replicasByRank(w *world, plans map[string]placement.RelayPlan, hot []placement.Key) string {
	n := map[placement.Key]int{}
	for _, r := range w.relays {
		if r.Healthy {
			for _, k := range slices.Concat(plans[r.ID].Keep, plans[r.ID].Fetch) {
				n[k]++
			}
		}
	}
	var parts []string
	for _, rank := range []int{1, 2, 3, 10, 30, 100, 300, 1000} {
		if rank <= len(hot) {
			parts = append(parts, fmt.Sprintf("#%d: %d", rank, n[hot[rank-1]]))
		}
	}
	return strings.Join(parts, ", ")
}

// healthyHeld is the set of artifacts some healthy relay holds.
func (w *world) healthyHeld() map[placement.Key]bool {
	out := map[placement.Key]bool{}
	for _, r := range w.relays {
		if r.Healthy {
			for _, k := range r.Held {
				out[k] = true
			}
		}
	}
	return out
}

func pct(n, of int64) float64 { return 100 * float64(n) / float64(of) }

func usage(w *world, plans map[string]placement.RelayPlan) (bytes int64, replicas int) {
	for _, pl := range plans {
		for _, k := range slices.Concat(pl.Keep, pl.Fetch) {
			bytes += w.size[k]
			replicas++
		}
	}
	return bytes, replicas
}

func minQuota(rs []placement.Relay) int64 {
	return slices.MinFunc(rs, func(a, b placement.Relay) int { return cmp.Compare(a.QuotaBytes, b.QuotaBytes) }).QuotaBytes
}

func maxQuota(rs []placement.Relay) int64 {
	return slices.MaxFunc(rs, func(a, b placement.Relay) int { return cmp.Compare(a.QuotaBytes, b.QuotaBytes) }).QuotaBytes
}

func gib(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }
