package webui

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/manifest"
)

// fakeCatalog is a directory of n artifacts and relays relays, each relay holding every
// artifact: the scale the issue asks pages to stay fast at, without a database.
type fakeCatalog struct {
	gen    uint64
	arts   []Summary
	relays []catalogapi.Relay
}

func newFakeCatalog(n, relays int) *fakeCatalog {
	f := &fakeCatalog{}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		f.arts = append(f.arts, Summary{Catalog: fmt.Sprintf("cat%d", i%20), Name: fmt.Sprintf("name%d", i%500),
			Version: fmt.Sprintf("1.%d", i), Size: int64(i) << 20, Files: 1 + i%7, Expunged: i%97 == 0,
			PublishedAt: start.Add(time.Duration(i) * time.Minute)})
	}
	for i := range relays {
		f.relays = append(f.relays, catalogapi.Relay{ID: fmt.Sprintf("%032x", i), PublicURL: fmt.Sprintf("https://relay%d.example.org", i),
			Quota: 500 << 30, Free: 100 << 30, Country: "DE", Status: "up", Up: true, BytesServed: int64(i) << 30,
			LastSeen: start, Holdings: []catalogapi.RelayHolding{{InfoHash: "00", BytesComplete: 1 << 30, Verified: true, Checked: true}}})
	}
	return f
}

func (f *fakeCatalog) Generation() uint64   { return f.gen }
func (f *fakeCatalog) Summaries() []Summary { return f.arts }

func (f *fakeCatalog) Artifact(c, n, v string) (catalogapi.Artifact, bool) {
	for _, s := range f.arts {
		if s.Catalog == c && s.Name == n && s.Version == v {
			a := catalogapi.Artifact{ID: c + "/" + n + "/" + v, Catalog: c, Name: n, Version: v, Root: n, State: catalogapi.Published,
				InfoHash: fmt.Sprintf("%040x", 1), Size: s.Size, PieceLength: 1 << 20, FileCount: s.Files, Publisher: "p",
				PublishedAt: s.PublishedAt, TorrentURL: "https://dir.example.org/t/" + c + "/" + n + "/" + v + ".torrent",
				Magnet: "magnet:?xt=urn:btih:" + fmt.Sprintf("%040x", 1), SHA256SumsURL: "https://dir.example.org/api/v1/artifacts/x/SHA256SUMS",
				Swarm: &catalogapi.Popularity{Seeders: 3, Leechers: 2, Completed: 40}}
			for i := range s.Files {
				a.Files = append(a.Files, manifest.File{Path: fmt.Sprintf("dir/file %d.bin", i), Size: 1 << 20, SHA256: fmt.Sprintf("%064x", i)})
			}
			return a, true
		}
	}
	return catalogapi.Artifact{}, false
}

func (f *fakeCatalog) Holders(string) []catalogapi.Relay { return f.relays }

func (f *fakeCatalog) Relays(string, int) catalogapi.RelayPage {
	return catalogapi.RelayPage{Relays: f.relays}
}

// BenchmarkPages renders each page of a directory with 10,000 artifacts and 100 relays,
// each of which holds the artifact shown. The bound is 50 ms a page.
func BenchmarkPages(b *testing.B) {
	f := newFakeCatalog(10_000, 100)
	p, err := New(Config{PublicURL: "https://dir.example.org"}, f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	h := http.NewServeMux()
	p.Mount(h, func(h http.Handler) http.Handler { return h })
	last := f.arts[len(f.arts)-1]
	for _, bc := range []struct{ name, path string }{
		{"list", "/"},
		{"list page 100", "/?page=100"},
		{"search", "/?q=name42"},
		{"artifact", artifactURL(last.Catalog, last.Name, last.Version)},
		{"relays", "/relays"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, bc.path, nil))
				if w.Code != http.StatusOK {
					b.Fatalf("GET %s: %d", bc.path, w.Code)
				}
			}
		})
	}
}

// BenchmarkList100k is the list of 100,000 artifacts: a page, a search through all of
// them, and the first page after a publish, which sorts them anew.
func BenchmarkList100k(b *testing.B) {
	f := newFakeCatalog(100_000, 0)
	p, err := New(Config{PublicURL: "https://dir.example.org"}, f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	h := http.NewServeMux()
	p.Mount(h, func(h http.Handler) http.Handler { return h })
	get := func(b *testing.B, path string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK {
			b.Fatalf("GET %s: %d", path, w.Code)
		}
	}
	b.Run("page 1000", func(b *testing.B) {
		for b.Loop() {
			get(b, "/?page=1000")
		}
	})
	b.Run("search", func(b *testing.B) {
		for b.Loop() {
			get(b, "/?q=NAME42/1.9")
		}
	})
	b.Run("after a publish", func(b *testing.B) {
		for b.Loop() {
			f.gen++
			get(b, "/")
		}
	})
}
