package references

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzRedirect: whatever a request's path and query, the handler either leaves it to the
// directory or redirects it to a referenced directory with the same path and query, and
// never panics.
func FuzzRedirect(f *testing.F) {
	for _, s := range []string{"/r/c/a/1", "/t/c/a/1.torrent", "/m/c", "/api/v1/artifacts/c/a/1/SHA256SUMS",
		"/api/v1/artifacts?catalog=c&name=a", "/api/v1/artifacts?catalog=%zz", "/r/", "/r//c", "/r/c%2Fa/1", "/x"} {
		f.Add(s)
	}
	rs, err := New(context.Background(), []Config{{Catalog: "c", Directories: []Directory{
		{URL: "http://127.0.0.1:1/base/", Regions: []string{"DE"}}, {URL: "http://127.0.0.2:1", Regions: []string{"default"}},
	}}}, Deps{AllowPrivateURLs: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	ref := rs.byCatalog["c"]
	for _, d := range ref.dirs {
		d.healthy = true
	}
	ref.rebuild()
	h := rs.Handler(func(*http.Request) netip.Addr { return netip.MustParseAddr("192.0.2.1") })
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		req := &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}, RequestURI: target}
		if !rs.Owns(req) {
			return
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		loc := w.Header().Get("Location")
		if w.Code != http.StatusFound && w.Code != http.StatusTemporaryRedirect {
			t.Fatalf("%q: %d", target, w.Code)
		}
		tail, ok := strings.CutPrefix(loc, "http://127.0.0.1:1/base")
		if !ok {
			tail, ok = strings.CutPrefix(loc, "http://127.0.0.2:1")
		}
		want := u.EscapedPath()
		if u.RawQuery != "" {
			want += "?" + u.RawQuery
		}
		if !ok || tail != want {
			t.Fatalf("%q redirected to %q", target, loc)
		}
	})
}
