package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/catalogapi"
)

// TestRedirectCacheFollowsTheCatalog checks that the redirector's cache of artifacts
// never outlives a change to the catalog: a new version is "latest" and an expunged one
// is gone from the next redirect on. And that its redirect counts reach the artifact's
// demand, all of them, including those made just before the directory stops.
func TestRedirectCacheFollowsTheCatalog(t *testing.T) {
	data := t.TempDir()
	tn := startTestDirectory(t, func(c *DirectoryConfig) { c.DataDir = data })
	ctx := context.Background()
	src := t.TempDir()
	writeFiles(t, src, 5, map[string]int{"art.iso": 40 << 10})
	v1, err := client.Publish(ctx, tn.publisher, ident("1"), filepath.Join(src, "art.iso"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	redirect := func(method, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, tn.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	for range 3 {
		if code, loc := redirect(http.MethodGet, "/r/test/art/latest"); code != http.StatusFound || !strings.Contains(loc, v1.InfoHash) {
			t.Fatalf("latest before v2: %d %s; want 302 to %s", code, loc, v1.InfoHash)
		}
	}
	writeFiles(t, src, 6, map[string]int{"art.iso": 40 << 10})
	v2, err := client.Publish(ctx, tn.publisher, ident("2"), filepath.Join(src, "art.iso"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if code, loc := redirect(http.MethodGet, "/r/test/art/latest"); code != http.StatusFound || !strings.Contains(loc, v2.InfoHash) {
		t.Fatalf("latest right after v2 was published: %d %s; want 302 to %s", code, loc, v2.InfoHash)
	}
	if err := run(ctx, []string{"admin", "--directory", tn.base, "--key", tn.adminKey, "expunge", "test/art/1", "--reason", "superseded"}); err != nil {
		t.Fatal(err)
	}
	if code, _ := redirect(http.MethodGet, "/r/test/art/1"); code != http.StatusGone {
		t.Fatalf("v1 right after its expunge: %d; want 410", code)
	}

	// v2 has had 1 GET; 4 more and 2 HEADs, which are not downloads.
	for range 4 {
		redirect(http.MethodGet, "/r/test/art/2")
	}
	for range 2 {
		redirect(http.MethodHead, "/r/test/art/latest")
	}
	redirects := func(base string) int64 {
		t.Helper()
		_, body := get(t, base+"/api/v1/artifacts/test/art/2")
		var j catalogapi.Artifact
		if err := json.Unmarshal(body, &j); err != nil || j.Swarm == nil {
			t.Fatalf("artifact JSON: %v: %s", err, body)
		}
		return j.Swarm.Redirects
	}
	deadline := time.Now().Add(10 * redirectFlushInterval)
	for redirects(tn.base) != 5 && time.Now().Before(deadline) {
		time.Sleep(redirectFlushInterval / 10)
	}
	if got := redirects(tn.base); got != 5 {
		t.Fatalf("v2's redirects = %d; want 5, the GETs", got)
	}

	// Redirects made just before a stop are in its saved counters.
	for range 3 {
		redirect(http.MethodGet, "/r/test/art/latest")
	}
	tn.stop()
	again := startTestDirectory(t, func(c *DirectoryConfig) { c.DataDir = data })
	if got := redirects(again.base); got != 8 {
		t.Fatalf("v2's redirects after a restart = %d; want 8", got)
	}
}

// TestRedirectByFileName checks, through a real directory, that a single file's URL may
// end in its name and that its download is named: what curl -O or wget save it as.
func TestRedirectByFileName(t *testing.T) {
	tn := startTestDirectory(t)
	src := t.TempDir()
	writeFiles(t, src, 5, map[string]int{"art.iso": 40 << 10})
	if _, err := client.Publish(context.Background(), tn.publisher, ident("1"), filepath.Join(src, "art.iso"), io.Discard); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path   string
		status int
		want   string // Content-Disposition of a file, or a part of the problem's detail
	}{
		{"/r/test/art/latest", http.StatusOK, `attachment; filename="art.iso"`},
		{"/r/test/art/1/art.iso", http.StatusOK, `attachment; filename="art.iso"`},
		{"/r/test/art/latest/art.iso", http.StatusOK, `attachment; filename="art.iso"`},
		{"/r/test/art/latest/other.iso", http.StatusNotFound, `test/art/1 is the single file "art.iso", not "other.iso"`},
	}
	for _, tt := range tests {
		resp, body := get(t, tn.base+tt.path)
		got := resp.Header.Get("Content-Disposition")
		if tt.status != http.StatusOK {
			var p struct{ Detail string }
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("GET %s: problem %q: %v", tt.path, body, err)
			}
			got = p.Detail
		}
		if resp.StatusCode != tt.status || !strings.Contains(got, tt.want) {
			t.Errorf("GET %s -L = %s, %q; want %d with %q", tt.path, resp.Status, got, tt.status, tt.want)
		}
	}
}
