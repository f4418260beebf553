package seeder

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/opendist/odi/internal/relayapi"
)

// The token goes with requests to its directory's origin, and to nothing else: not to
// another host, not to the host the origin redirects to, not after it is withdrawn.
func TestOriginTokenTransport(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{} // path -> Authorization
	record := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path] = r.Header.Get("Authorization")
		mu.Unlock()
	}
	relay := httptest.NewServer(http.HandlerFunc(record))
	t.Cleanup(relay.Close)
	dir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(w, r)
		if r.URL.Path == "/ws/ih/deflected" {
			http.Redirect(w, r, relay.URL+"/ws/ih/deflected", http.StatusFound)
		}
	}))
	t.Cleanup(dir.Close)

	var tokens originTokens
	tokens.set(dir.URL+"/ws/", "tok-1")
	c := &http.Client{Transport: tokens.transport(http.DefaultTransport)}
	get := func(u string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get(dir.URL + "/ws/ih/file")
	get(dir.URL + "/api/v1/artifacts")
	get(dir.URL + "/ws/ih/deflected")
	get(relay.URL + "/ws/ih/other")
	tokens.set(dir.URL+"/ws/", "")
	get(dir.URL + "/ws/ih/after")

	want := relayapi.OriginAuthScheme + " tok-1"
	for path, auth := range map[string]string{
		"/ws/ih/file": want, "/api/v1/artifacts": "", "/ws/ih/other": "", "/ws/ih/after": "",
	} {
		if seen[path] != auth {
			t.Errorf("%s: Authorization %q, want %q", path, seen[path], auth)
		}
	}
	if relayGot := seen["/ws/ih/deflected"]; relayGot != "" {
		t.Errorf("the host the origin redirected to got Authorization %q", relayGot)
	}
}
