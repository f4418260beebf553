package history

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/opendist/odi/internal/fsutil"
)

// Config sizes a History. Zero values are the defaults.
type Config struct {
	// Interval is the time one sample covers: a minute.
	Interval time.Duration
	// Samples is the intervals kept: 1440, a day of minutes.
	Samples int
	// MaxArtifacts bounds the artifacts whose demand is kept, the busiest: 1000, which
	// take about 6 MB at a day of minutes (4 bytes a sample), however many artifacts
	// the directory has.
	MaxArtifacts int
	// Now is the clock: time.Now.
	Now func() time.Time
}

// Defaults.
const (
	DefaultInterval     = time.Minute
	DefaultSamples      = 24 * 60
	DefaultMaxArtifacts = 1000
)

// maxSamples bounds Samples: a week of minutes.
const maxSamples = 7 * 24 * 60

// Validate says what is wrong with c, if anything.
func (c Config) Validate() error {
	var errs []error
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval %s is negative", c.Interval))
	}
	if c.Samples < 0 || c.Samples > maxSamples {
		errs = append(errs, fmt.Errorf("samples %d is not 0 (the default) to %d", c.Samples, maxSamples))
	}
	if c.MaxArtifacts < 0 {
		errs = append(errs, fmt.Errorf("max artifacts %d is negative", c.MaxArtifacts))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Samples == 0 {
		c.Samples = DefaultSamples
	}
	if c.MaxArtifacts == 0 {
		c.MaxArtifacts = DefaultMaxArtifacts
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Counters are the directory's traffic: totals when a Source reads them, the traffic of
// one interval in a Window.
type Counters struct {
	OriginBytes int64 `json:"origin_bytes"` // sent by the origin copy (/ws/, /dl/)
	RelayBytes  int64 `json:"relay_bytes"`  // served by relays, as their heartbeats report
	Redirects   int64 `json:"redirects"`    // answered by /r/ (and /blob/)
	Announces   int64 `json:"announces"`    // answered by the tracker
	// PeerBytes is what BitTorrent clients report downloading, from any source, in their
	// announces (the tracker's ReportedDownloaded): their own word. A file saved before it
	// was kept reads as 0.
	PeerBytes int64 `json:"peer_bytes"`
}

// Add returns c plus o.
func (c Counters) Add(o Counters) Counters {
	return Counters{c.OriginBytes + o.OriginBytes, c.RelayBytes + o.RelayBytes, c.Redirects + o.Redirects, c.Announces + o.Announces,
		c.PeerBytes + o.PeerBytes}
}

// since is what the totals c counted since the totals prev: per counter the difference,
// or c's whole value where it went down (it restarted from zero).
func (c Counters) since(prev Counters) Counters {
	d := func(now, before int64) int64 {
		if now < before {
			return now
		}
		return now - before
	}
	return Counters{d(c.OriginBytes, prev.OriginBytes), d(c.RelayBytes, prev.RelayBytes),
		d(c.Redirects, prev.Redirects), d(c.Announces, prev.Announces), d(c.PeerBytes, prev.PeerBytes)}
}

// Demand is an artifact's demand as the tracker has it now.
type Demand struct {
	InfoHash [20]byte
	Demand   float64
}

// Window is the last Samples intervals, oldest first: Values[i] covers the interval that
// ends at End - (len(Values)-1-i)*Interval. Intervals with no sample are zero.
type Window[T any] struct {
	End      time.Time
	Interval time.Duration
	Values   []T
}

// History is the rings. Its methods are safe for concurrent use.
type History struct {
	cfg Config

	mu      sync.Mutex
	newest  int64      // the interval number (Unix time / Interval) of the newest sample; 0 none
	at      []int64    // the interval number each slot holds; 0 for none
	traffic []Counters // per slot
	// demand is per artifact, per slot; at most MaxArtifacts.
	demand   map[[20]byte][]float32
	prev     Counters // the totals of the last sample
	havePrev bool     // false until a sample of this process
}

// New returns an empty history.
func New(cfg Config) (*History, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	cfg = cfg.withDefaults()
	return &History{cfg: cfg, at: make([]int64, cfg.Samples), traffic: make([]Counters, cfg.Samples),
		demand: map[[20]byte][]float32{}}, nil
}

// Record adds a sample taken at now: totals, and the demand of the artifacts that have
// any. The first sample of a History (or of one restored) only sets the totals the next
// is measured from. Samples of one interval add up; a sample older than the newest (the
// clock went back) counts in the newest.
func (h *History) Record(now time.Time, totals Counters, demand []Demand) {
	n := max(now.UnixNano()/int64(h.cfg.Interval), 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	n = max(n, h.newest)
	h.advance(n)
	i := h.slot(n)
	if h.havePrev {
		h.traffic[i] = h.traffic[i].Add(totals.since(h.prev))
	}
	h.prev, h.havePrev, h.at[i] = totals, true, n
	h.keepDemand(i, demand)
}

func (h *History) slot(n int64) int { return int(n % int64(h.cfg.Samples)) }

// holds returns the slot of interval m, if a sample of m is in one (caller holds the lock).
func (h *History) holds(m int64) (int, bool) {
	if m <= 0 {
		return 0, false
	}
	i := h.slot(m)
	return i, h.at[i] == m
}

// advance makes n the newest interval, emptying the slots of the intervals in between.
func (h *History) advance(n int64) {
	if n == h.newest {
		return
	}
	if h.newest == 0 || n-h.newest >= int64(h.cfg.Samples) {
		clear(h.at)
		clear(h.traffic)
		for _, s := range h.demand {
			clear(s)
		}
		h.newest = n
		return
	}
	for m := h.newest + 1; m <= n; m++ {
		i := h.slot(m)
		h.at[i], h.traffic[i] = 0, Counters{}
		for _, s := range h.demand {
			s[i] = 0
		}
	}
	h.newest = n
}

// keepDemand puts demand in slot i: the MaxArtifacts busiest artifacts now, then, while
// room remains, those that were kept and still have a value in the window (by infohash,
// so that which is a rule).
func (h *History) keepDemand(i int, demand []Demand) {
	busy := make([]Demand, 0, len(demand))
	for _, d := range demand {
		if quantize(d.Demand) > 0 {
			busy = append(busy, d)
		}
	}
	slices.SortFunc(busy, func(a, b Demand) int {
		return cmp.Or(cmp.Compare(b.Demand, a.Demand), slices.Compare(a.InfoHash[:], b.InfoHash[:]))
	})
	busy = busy[:min(len(busy), h.cfg.MaxArtifacts)]
	next := make(map[[20]byte][]float32, len(busy))
	for _, d := range busy {
		s := h.demand[d.InfoHash]
		if s == nil {
			s = make([]float32, h.cfg.Samples)
		}
		s[i] = quantize(d.Demand)
		next[d.InfoHash] = s
	}
	var quiet [][20]byte
	for ih, s := range h.demand {
		if _, ok := next[ih]; !ok {
			s[i] = 0
			if slices.ContainsFunc(s, func(v float32) bool { return v != 0 }) {
				quiet = append(quiet, ih)
			}
		}
	}
	slices.SortFunc(quiet, func(a, b [20]byte) int { return slices.Compare(a[:], b[:]) })
	for _, ih := range quiet[:min(len(quiet), h.cfg.MaxArtifacts-len(next))] {
		next[ih] = h.demand[ih]
	}
	h.demand = next
}

// quantize keeps demand to a hundredth, which a chart cannot show finer, and which keeps
// the file short.
func quantize(d float64) float32 {
	if math.IsNaN(d) || d < 0 {
		return 0
	}
	return float32(math.Round(d*100) / 100)
}

// Network is the traffic per interval over the window.
func (h *History) Network() Window[Counters] {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.window()
	out := Window[Counters]{End: w.End, Interval: w.Interval, Values: make([]Counters, len(w.Values))}
	for k, m := range w.Values {
		if i, ok := h.holds(m); ok {
			out.Values[k] = h.traffic[i]
		}
	}
	return out
}

// Demand is the demand of the artifact ih per interval over the window; no values when
// the history keeps none for it.
func (h *History) Demand(ih [20]byte) Window[float64] {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.window()
	out := Window[float64]{End: w.End, Interval: w.Interval}
	s := h.demand[ih]
	if s == nil {
		return out
	}
	out.Values = make([]float64, len(w.Values))
	for k, m := range w.Values {
		if i, ok := h.holds(m); ok {
			out.Values[k] = float64(s[i])
		}
	}
	return out
}

// window is the interval numbers of the window, oldest first, ending at the newest
// sample (caller holds the lock).
func (h *History) window() Window[int64] {
	iv := h.cfg.Interval
	newest := h.newest
	if newest == 0 {
		newest = h.cfg.Now().UnixNano() / int64(iv)
	}
	w := Window[int64]{End: time.Unix(0, (newest+1)*int64(iv)), Interval: iv, Values: make([]int64, h.cfg.Samples)}
	for k := range w.Values {
		w.Values[k] = newest - int64(h.cfg.Samples-1-k)
	}
	return w
}

// Artifacts is how many artifacts' demand the history keeps.
func (h *History) Artifacts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.demand)
}

// fileVersion is the version of the file's format.
const fileVersion = 1

// file is a History as saved: its samples, oldest first.
type file struct {
	Version  int        `json:"version"`
	Interval int64      `json:"interval_ns"`
	At       []int64    `json:"at"` // the interval number of each sample
	Traffic  []Counters `json:"traffic"`
	// Demand is per artifact (hex infohash), a value per sample.
	Demand map[string][]float32 `json:"demand"`
}

// MarshalJSON is the history as Restore reads it: its samples, without the totals they
// were measured from (a new process counts from zero).
func (h *History) MarshalJSON() ([]byte, error) {
	h.mu.Lock()
	f := file{Version: fileVersion, Interval: int64(h.cfg.Interval), At: []int64{}, Traffic: []Counters{}, Demand: map[string][]float32{}}
	var slots []int
	for m := h.newest - int64(h.cfg.Samples) + 1; m <= h.newest; m++ {
		if i, ok := h.holds(m); ok {
			slots = append(slots, i)
			f.At, f.Traffic = append(f.At, m), append(f.Traffic, h.traffic[i])
		}
	}
	for ih, s := range h.demand {
		v := make([]float32, len(slots))
		for k, i := range slots {
			v[k] = s[i]
		}
		f.Demand[hex.EncodeToString(ih[:])] = v
	}
	h.mu.Unlock()
	return json.Marshal(f)
}

// Restore replaces the history's samples with those of data (MarshalJSON's). Samples
// older than the window are dropped, and artifacts past MaxArtifacts (the busiest at the
// newest sample are kept). The next Record only sets the totals it measures from.
func (h *History) Restore(data []byte) error {
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	switch {
	case f.Version != fileVersion:
		return fmt.Errorf("history: version %d; this odi reads version %d", f.Version, fileVersion)
	case f.Interval != int64(h.cfg.Interval):
		return fmt.Errorf("history: samples of %s; this directory samples every %s", time.Duration(f.Interval), h.cfg.Interval)
	case len(f.Traffic) != len(f.At):
		return fmt.Errorf("history: %d samples of traffic at %d times", len(f.Traffic), len(f.At))
	}
	for k, m := range f.At {
		if m <= 0 || (k > 0 && m <= f.At[k-1]) {
			return fmt.Errorf("history: sample %d at interval %d is not after the one before", k, m)
		}
	}
	type kept struct {
		ih [20]byte
		v  []float32
	}
	arts := make([]kept, 0, len(f.Demand))
	for key, v := range f.Demand {
		var ih [20]byte
		if n, err := hex.Decode(ih[:], []byte(key)); err != nil || n != len(ih) || len(key) != 2*len(ih) {
			return fmt.Errorf("history: artifact %.50q is not a hex infohash", key)
		}
		if len(v) != len(f.At) {
			return fmt.Errorf("history: artifact %s has %d samples of %d", key, len(v), len(f.At))
		}
		arts = append(arts, kept{ih, v})
	}
	last := func(v []float32) float32 {
		if len(v) == 0 {
			return 0
		}
		return v[len(v)-1]
	}
	slices.SortFunc(arts, func(a, b kept) int {
		return cmp.Or(cmp.Compare(last(b.v), last(a.v)), slices.Compare(a.ih[:], b.ih[:]))
	})
	arts = arts[:min(len(arts), h.cfg.MaxArtifacts)]

	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.at)
	clear(h.traffic)
	h.demand = make(map[[20]byte][]float32, len(arts))
	for _, a := range arts {
		h.demand[a.ih] = make([]float32, h.cfg.Samples)
	}
	h.newest, h.havePrev = 0, false
	if len(f.At) == 0 {
		return nil
	}
	h.newest = f.At[len(f.At)-1]
	for k, m := range f.At {
		if m <= h.newest-int64(h.cfg.Samples) {
			continue
		}
		i := h.slot(m)
		h.at[i], h.traffic[i] = m, f.Traffic[k]
		for _, a := range arts {
			h.demand[a.ih][i] = a.v[k]
		}
	}
	return nil
}

// Source is what a History samples.
type Source interface {
	// Totals are the directory's counters now.
	Totals() Counters
	// Demand is the demand of the artifacts that have any, now.
	Demand() []Demand
}

// saveEvery is how many samples go by between saves: a crash loses at most as many
// intervals of charts, and a save of the largest history (1,000 artifacts' day) writes
// about 8 MB.
const saveEvery = 10

// Load restores the history saved at path, if there is one.
func (h *History) Load(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := h.Restore(data); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Save writes the history to path, whole or not at all.
func (h *History) Save(path string) error {
	data, err := h.MarshalJSON()
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := fsutil.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

// Run samples src at once, then every Interval, and saves the history to path every
// saveEvery samples, until ctx ends; then it samples and saves once more. A save that
// fails is logged: charts are not worth stopping a directory for.
func (h *History) Run(ctx context.Context, src Source, path string, log *slog.Logger) {
	tick := time.NewTicker(h.cfg.Interval)
	defer tick.Stop()
	for n := 0; ; n++ {
		h.Record(h.cfg.Now(), src.Totals(), src.Demand())
		if n%saveEvery == saveEvery-1 {
			if err := h.Save(path); err != nil {
				log.Error("saving the charts' history", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			h.Record(h.cfg.Now(), src.Totals(), src.Demand())
			if err := h.Save(path); err != nil {
				log.Error("saving the charts' history", "err", err)
			}
			return
		case <-tick.C:
		}
	}
}
