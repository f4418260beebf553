package history

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// at is the start of interval n of a minute-sampled history.
func at(n int64) time.Time { return time.Unix(n*60, 0) }

func mustNew(t *testing.T, cfg Config) *History {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func origin(w Window[Counters]) []int64 {
	out := make([]int64, len(w.Values))
	for i, c := range w.Values {
		out[i] = c.OriginBytes
	}
	return out
}

func TestRecord(t *testing.T) {
	type sample struct {
		minute int64
		origin int64
	}
	for _, tt := range []struct {
		name    string
		samples []sample
		want    []int64 // origin bytes per interval, oldest first, over 4 intervals
		wantEnd int64   // the window ends where this interval begins
	}{
		{"first sample sets the base", []sample{{10, 500}}, []int64{0, 0, 0, 0}, 11},
		{"deltas", []sample{{10, 500}, {11, 600}, {12, 600}, {13, 1000}}, []int64{0, 100, 0, 400}, 14},
		{"one interval's samples add up", []sample{{10, 0}, {11, 5}, {11, 7}}, []int64{0, 0, 0, 7}, 12},
		{"a counter that went down restarted from zero", []sample{{10, 500}, {11, 800}, {12, 30}}, []int64{0, 0, 300, 30}, 13},
		{"gaps are zero", []sample{{10, 0}, {11, 5}, {13, 9}}, []int64{0, 5, 0, 4}, 14},
		{"wrap-around drops the oldest", []sample{{10, 0}, {11, 1}, {12, 3}, {13, 6}, {14, 10}, {15, 15}}, []int64{2, 3, 4, 5}, 16},
		{"a gap longer than the window empties it", []sample{{10, 0}, {11, 1}, {30, 3}}, []int64{0, 0, 0, 2}, 31},
		{"the clock going back counts in the newest", []sample{{10, 0}, {12, 1}, {11, 3}}, []int64{0, 0, 0, 3}, 13},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := mustNew(t, Config{Samples: 4})
			for _, s := range tt.samples {
				h.Record(at(s.minute), Counters{OriginBytes: s.origin}, nil)
			}
			w := h.Network()
			got := origin(w)
			if !slices.Equal(got, tt.want) || !w.End.Equal(at(tt.wantEnd)) || w.Interval != time.Minute {
				t.Errorf("origin %v ending %s; want %v ending %s", got, w.End, tt.want, at(tt.wantEnd))
			}
		})
	}
}

func TestSince(t *testing.T) {
	prev := Counters{OriginBytes: 100, RelayBytes: 200, Redirects: 3, Announces: 4, PeerBytes: 1000}
	got := Counters{OriginBytes: 150, RelayBytes: 50, Redirects: 3, Announces: 10, PeerBytes: 1500}.since(prev)
	if want := (Counters{OriginBytes: 50, RelayBytes: 50, Redirects: 0, Announces: 6, PeerBytes: 500}); got != want {
		t.Errorf("since = %+v, want %+v", got, want)
	}
}

func ih(b byte) [20]byte { return [20]byte{b} }

func TestDemandBounded(t *testing.T) {
	h := mustNew(t, Config{Samples: 3, MaxArtifacts: 2})
	// Four artifacts have demand; the two busiest are kept. 0.001 rounds to none.
	h.Record(at(1), Counters{}, []Demand{{ih(1), 1}, {ih(2), 5}, {ih(3), 3}, {ih(4), 0.001}})
	if n := h.Artifacts(); n != 2 {
		t.Fatalf("%d artifacts kept, want 2", n)
	}
	for b, want := range map[byte][]float64{1: nil, 2: {0, 0, 5}, 3: {0, 0, 3}, 4: nil} {
		if got := h.Demand(ih(b)).Values; !slices.Equal(got, want) {
			t.Errorf("artifact %d: demand %v, want %v", b, got, want)
		}
	}
	// Artifact 3 has none now: it keeps its past while there is room, and 2 and 3 stay.
	h.Record(at(2), Counters{}, []Demand{{ih(2), 6.004}})
	if got := h.Demand(ih(3)).Values; !slices.Equal(got, []float64{0, 3, 0}) {
		t.Errorf("artifact 3, quiet: %v", got)
	}
	// A busier one takes 3's place.
	h.Record(at(3), Counters{}, []Demand{{ih(2), 6}, {ih(1), 2}})
	if h.Demand(ih(3)).Values != nil || h.Artifacts() != 2 {
		t.Errorf("artifact 3 kept past the bound: %v", h.Demand(ih(3)).Values)
	}
	if got := h.Demand(ih(2)).Values; !slices.Equal(got, []float64{5, 6, 6}) {
		t.Errorf("artifact 2: %v", got)
	}
	// Past the window, a quiet artifact's values are gone and so is it.
	h.Record(at(4), Counters{}, []Demand{{ih(2), 1}})
	h.Record(at(9), Counters{}, []Demand{{ih(2), 1}})
	if h.Demand(ih(1)).Values != nil || h.Artifacts() != 1 {
		t.Errorf("artifact 1 kept with no value in the window: %v", h.Demand(ih(1)).Values)
	}
}

func TestRestore(t *testing.T) {
	h := mustNew(t, Config{Samples: 4})
	h.Record(at(10), Counters{OriginBytes: 100, Announces: 1}, []Demand{{ih(1), 2.5}})
	h.Record(at(11), Counters{OriginBytes: 150, Announces: 3}, []Demand{{ih(1), 3}})
	h.Record(at(13), Counters{OriginBytes: 170, Announces: 3}, []Demand{{ih(1), 4}, {ih(2), 1}})
	data, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}

	// A new process restores the samples and counts from its own zero.
	r := mustNew(t, Config{Samples: 4})
	if err := r.Restore(data); err != nil {
		t.Fatal(err)
	}
	if got, want := origin(r.Network()), []int64{0, 50, 0, 20}; !slices.Equal(got, want) {
		t.Errorf("restored origin %v, want %v", got, want)
	}
	if got, want := r.Demand(ih(1)).Values, []float64{2.5, 3, 0, 4}; !slices.Equal(got, want) {
		t.Errorf("restored demand %v, want %v", got, want)
	}
	r.Record(at(13), Counters{OriginBytes: 7}, nil) // the new process's first sample
	r.Record(at(14), Counters{OriginBytes: 9}, nil)
	if got, want := origin(r.Network()), []int64{50, 0, 20, 2}; !slices.Equal(got, want) {
		t.Errorf("after restore and two samples: origin %v, want %v", got, want)
	}

	// A smaller history keeps the newest samples and the busiest artifacts.
	small := mustNew(t, Config{Samples: 2, MaxArtifacts: 1})
	if err := small.Restore(data); err != nil {
		t.Fatal(err)
	}
	if got, want := origin(small.Network()), []int64{0, 20}; !slices.Equal(got, want) {
		t.Errorf("smaller: origin %v, want %v", got, want)
	}
	if small.Artifacts() != 1 || small.Demand(ih(1)).Values == nil {
		t.Errorf("smaller: kept %d artifacts, want artifact 1", small.Artifacts())
	}

	// Through a file.
	path := filepath.Join(t.TempDir(), "history.json")
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	f := mustNew(t, Config{Samples: 4})
	if err := f.Load(path); err != nil {
		t.Fatal(err)
	}
	if got := origin(f.Network()); !slices.Equal(got, []int64{0, 50, 0, 20}) {
		t.Errorf("loaded origin %v", got)
	}
	if err := mustNew(t, Config{}).Load(filepath.Join(t.TempDir(), "none.json")); err != nil {
		t.Errorf("no file: %v", err)
	}
}

// A file saved before peer bytes were kept loads, with none; one saved now keeps them.
func TestRestorePeerBytes(t *testing.T) {
	h := mustNew(t, Config{Samples: 2})
	old := `{"version":1,"interval_ns":60000000000,"at":[7,8],"traffic":[{"origin_bytes":5,"relay_bytes":6,"redirects":1,"announces":2},{"origin_bytes":9}],"demand":{}}`
	if err := h.Restore([]byte(old)); err != nil {
		t.Fatal(err)
	}
	want := []Counters{{OriginBytes: 5, RelayBytes: 6, Redirects: 1, Announces: 2}, {OriginBytes: 9}}
	if got := h.Network().Values; !slices.Equal(got, want) {
		t.Errorf("restored %+v, want %+v", got, want)
	}

	h.Record(at(9), Counters{PeerBytes: 100}, nil) // the process's first sample
	h.Record(at(10), Counters{PeerBytes: 700}, nil)
	data, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	r := mustNew(t, Config{Samples: 2})
	if err := r.Restore(data); err != nil {
		t.Fatal(err)
	}
	if got := r.Network().Values; !slices.Equal(got, []Counters{{}, {PeerBytes: 600}}) {
		t.Errorf("peer bytes saved and restored: %+v, want 600 in the newest", got)
	}
}

func TestRestoreRejects(t *testing.T) {
	for _, tt := range []struct{ data, err string }{
		{`nope`, "invalid character"},
		{`{"version":2,"interval_ns":60000000000}`, "version 2"},
		{`{"version":1,"interval_ns":1000000000}`, "samples of 1s; this directory samples every 1m0s"},
		{`{"version":1,"interval_ns":60000000000,"at":[1,2],"traffic":[{}]}`, "1 samples of traffic at 2 times"},
		{`{"version":1,"interval_ns":60000000000,"at":[2,2],"traffic":[{},{}]}`, "sample 1 at interval 2 is not after"},
		{`{"version":1,"interval_ns":60000000000,"at":[-1],"traffic":[{}]}`, "sample 0 at interval -1"},
		{`{"version":1,"interval_ns":60000000000,"at":[1],"traffic":[{}],"demand":{"zz":[1]}}`, `artifact "zz" is not a hex infohash`},
		{`{"version":1,"interval_ns":60000000000,"at":[1],"traffic":[{}],"demand":{"0000000000000000000000000000000000000000":[1,2]}}`, "has 2 samples of 1"},
	} {
		err := mustNew(t, Config{}).Restore([]byte(tt.data))
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Restore(%.60s): %v, want %q", tt.data, err, tt.err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{Interval: -1}, {Samples: -1}, {Samples: maxSamples + 1}, {MaxArtifacts: -1}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}
