package warmfill

import (
	"slices"
	"sync"
	"testing"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/storage"
)

func TestWebSeeds(t *testing.T) {
	const self = "http://127.0.0.1:8081"
	for _, tc := range []struct {
		name    string
		urlList []string
		isDir   bool
		want    []string
	}{
		{"relays then origin", []string{"http://r1/ws/ih/", "http://dir/ws/ih/"}, false, []string{"http://r1/ws/ih/", "http://dir/ws/ih/"}},
		{"not itself", []string{self + "/ws/ih/", "http://dir/ws/ih/"}, false, []string{"http://dir/ws/ih/"}},
		{"itself with a trailing slash in its public URL", []string{self + "/ws/ih/"}, false, nil},
		{"a file URL for a single file", []string{"http://dir/ws/ih/a.iso"}, false, []string{"http://dir/ws/ih/a.iso"}},
		{"no file URL for a package", []string{"http://dir/ws/ih/pkg", "http://dir/ws/ih/"}, true, []string{"http://dir/ws/ih/"}},
		{"http(s) only", []string{"ftp://dir/ws/ih/", "https://dir/ws/ih/", "dir/ws/ih/", "http:///ws/"}, false, []string{"https://dir/ws/ih/"}},
		{"unparsable", []string{"http://dir/%zz/", "http://d\x7fir/"}, false, nil},
		{"empty", nil, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := WebSeeds(tc.urlList, self, tc.isDir); !slices.Equal(got, tc.want) {
				t.Errorf("WebSeeds(%q, dir %v) = %q, want %q", tc.urlList, tc.isDir, got, tc.want)
			}
		})
	}
	if got := WebSeeds([]string{self + "/ws/ih/"}, self+"/", false); got != nil {
		t.Errorf("a public URL with a trailing slash: WebSeeds kept itself: %q", got)
	}
}

func TestPieceClaims(t *testing.T) {
	all := func(c *pieceClaims) []int {
		var got []int
		for {
			i, ok := c.claim()
			if !ok {
				return got
			}
			got = append(got, i)
		}
	}
	for _, tc := range []struct {
		n, start, step int
		want           []int
	}{
		{3, 1, -1, []int{1, 0, 2}},
		{3, 0, -1, []int{0, 2, 1}},
		{3, 0, 1, []int{0, 1, 2}},
		{4, 2, 1, []int{2, 3, 0, 1}},
		{1, 0, -1, []int{0}},
		{0, 0, 1, nil},
	} {
		if got := all(newPieceClaims(tc.n, tc.start, tc.step)); !slices.Equal(got, tc.want) {
			t.Errorf("%d pieces from %d by %d: claims %v, want %v", tc.n, tc.start, tc.step, got, tc.want)
		}
	}
	starts := map[int]bool{}
	for range 200 {
		got := all(backwardsFromRandom(3))
		if want := []int{got[0], (got[0] + 2) % 3, (got[0] + 1) % 3}; !slices.Equal(got, want) {
			t.Fatalf("claims %v, want %v", got, want)
		}
		starts[got[0]] = true
	}
	if len(starts) != 3 {
		t.Errorf("200 fills of 3 pieces began at %d different pieces, want all 3", len(starts))
	}
	if _, ok := backwardsFromRandom(0).claim(); ok {
		t.Fatal("a torrent of no pieces gave a claim")
	}

	const n, workers = 10000, 8
	c := backwardsFromRandom(n)
	seen := make([]int, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i, ok := c.claim()
				if !ok {
					return
				}
				mu.Lock()
				seen[i]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i, k := range seen {
		if k != 1 {
			t.Fatalf("piece %d claimed %d times, want once", i, k)
		}
	}
}

func TestUntouched(t *testing.T) {
	known := storage.Completion{Ok: true}
	for _, tc := range []struct {
		name  string
		state torrent.PieceState
		want  bool
	}{
		{"missing", torrent.PieceState{Completion: known}, true},
		{"completion unknown", torrent.PieceState{}, false},
		{"complete", torrent.PieceState{Completion: storage.Completion{Ok: true, Complete: true}}, false},
		{"begun by the client", torrent.PieceState{Completion: known, Partial: true}, false},
		{"being checked", torrent.PieceState{Completion: known, Checking: true}, false},
		{"being marked", torrent.PieceState{Completion: known, Marking: true}, false},
	} {
		if got := untouched(tc.state); got != tc.want {
			t.Errorf("%s: untouched = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWebSeedsExcludingNothing(t *testing.T) {
	list := []string{"http://r1/ws/ih/", "http://dir/ws/ih/", "ftp://x/"}
	if got, want := WebSeeds(list, "", false), list[:2]; !slices.Equal(got, want) {
		t.Errorf("WebSeeds(%q, \"\", false) = %q, want %q", list, got, want)
	}
}
