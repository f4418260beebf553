package catalog

import (
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

func planArt(id byte, catalog string, size int64, state State) *Artifact {
	a := &Artifact{Size: size, State: state, PublishedAt: time.Unix(int64(id), 0)}
	a.Catalog, a.Name, a.Version = catalog, "a", string('0'+rune(id))
	a.InfoHash[0] = id
	return a
}

func ids(arts []*Artifact) []byte {
	var out []byte
	for _, a := range arts {
		out = append(out, a.InfoHash[0])
	}
	return out
}

func hashes(hs []metainfo.Hash) []byte {
	var out []byte
	for _, h := range hs {
		out = append(out, h[0])
	}
	return out
}

func TestSimplePlan(t *testing.T) {
	arts := []*Artifact{
		planArt(1, "debian", 40, Published),
		planArt(2, "debian", 30, Published),
		planArt(3, "debian", 50, Published),
		planArt(4, "ubuntu", 10, Published),
		planArt(5, "debian", 10, Expunged),
		planArt(6, "debian", 5, Published),
	}
	demand := map[byte]float64{1: 10, 2: 30, 3: 20, 4: 50, 5: 99, 6: 0}
	dem := func(h metainfo.Hash) float64 { return demand[h[0]] }
	held := func(ids ...byte) map[metainfo.Hash]bool {
		m := map[metainfo.Hash]bool{}
		for _, id := range ids {
			var h metainfo.Hash
			h[0] = id
			m[h] = true
		}
		return m
	}
	tests := []struct {
		name                  string
		r                     planRelay
		fetch, keep, drop, ex string
	}{
		{"empty relay, room for all", planRelay{quota: 1000, held: held()}, "\x04\x02\x03\x01\x06", "", "", ""},
		{"quota: most wanted first, smaller ones fill the gap", planRelay{quota: 90, held: held()}, "\x04\x02\x03", "", "", ""},
		{"catalog filter", planRelay{quota: 1000, catalogs: []string{"ubuntu"}, held: held()}, "\x04", "", "", ""},
		{"holdings kept, cold one dropped, expunged deleted", planRelay{quota: 90, held: held(1, 2, 5)}, "\x04\x03", "\x02", "\x01", "\x05"},
		{"nothing fits", planRelay{quota: 4, held: held(6)}, "", "", "\x06", ""},
	}
	for _, tt := range tests {
		p := simplePlan(tt.r, arts, dem)
		if got := string(ids(p.fetch)); got != tt.fetch {
			t.Errorf("%s: fetch %v, want %v", tt.name, []byte(got), []byte(tt.fetch))
		}
		if got := string(ids(p.keep)); got != tt.keep {
			t.Errorf("%s: keep %v, want %v", tt.name, []byte(got), []byte(tt.keep))
		}
		if got := string(hashes(p.drop)); got != tt.drop {
			t.Errorf("%s: drop %v, want %v", tt.name, []byte(got), []byte(tt.drop))
		}
		if got := string(hashes(p.expunged)); got != tt.ex {
			t.Errorf("%s: expunged %v, want %v", tt.name, []byte(got), []byte(tt.ex))
		}
		var total int64
		for _, a := range append(p.fetch, p.keep...) {
			total += a.Size
		}
		if total > tt.r.quota {
			t.Errorf("%s: plan holds %d bytes, quota %d", tt.name, total, tt.r.quota)
		}
	}
}
