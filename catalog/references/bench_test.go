package references

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// BenchmarkRedirect is the meta-directory's hot path, Owns then Handler, for a user of a
// known country among three healthy directories: what scripts/bench/redirect.sh's META=1
// rows add to net/http's own cost.
func BenchmarkRedirect(b *testing.B) {
	rs, err := New(context.Background(), []Config{{Catalog: "c", Directories: []Directory{
		{URL: "http://127.0.0.1:1", Regions: []string{"DE"}}, {URL: "http://127.0.0.2:1", Regions: []string{"US", "default"}},
		{URL: "http://127.0.0.3:1", Regions: []string{"EU"}},
	}}}, Deps{AllowPrivateURLs: true, Locator: mapLocator{"192.0.2.1": {"DE", "EU"}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ref := rs.byCatalog["c"]
	for _, d := range ref.dirs {
		d.healthy = true
	}
	ref.rebuild()
	user := netip.MustParseAddr("192.0.2.1")
	h := rs.Handler(func(*http.Request) netip.Addr { return user })
	req := httptest.NewRequest(http.MethodGet, "/r/c/art/1/a.bin", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		if !rs.Owns(req) {
			b.Fatal("not owned")
		}
		clear(w.Header())
		h.ServeHTTP(w, req)
	}
}
