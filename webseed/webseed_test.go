package webseed

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/problem"
)

// dirStore serves torrents laid out as <dir>/<infohash>/<name>[/<path>], the way both
// the directory's origin and a relay keep them; gone lists expunged infohashes.
type dirStore struct {
	dir  string
	gone map[metainfo.Hash]bool
}

func (s dirStore) Open(_ context.Context, ih metainfo.Hash, path string) (File, error) {
	if s.gone[ih] {
		return File{}, fmt.Errorf("%s: %w", ih.HexString(), ErrGone)
	}
	root, err := os.OpenRoot(filepath.Join(s.dir, ih.HexString()))
	if err != nil {
		return File{}, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	defer root.Close()
	f, err := root.Open(path)
	if err != nil {
		return File{}, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return File{Content: f, ModTime: time.Unix(1700000000, 0), SHA256: "abc123"}, nil
}

const (
	ih1 = "0123456789abcdef0123456789abcdef01234567"
	ih2 = "89abcdef0123456789abcdef0123456789abcdef"
)

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	write := func(p, content string) {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(ih1+"/disk.iso", "0123456789abcdefghij")
	write(ih1+"/pkg/docs/a b.txt", "spaced")
	write(ih1+"/empty", "")
	write("secret", "outside any torrent")
	var gone metainfo.Hash
	gone.FromHexString(ih2)
	h := New(dirStore{dir: dir, gone: map[metainfo.Hash]bool{gone: true}}, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	mux.Handle("/ws/", http.StripPrefix("/ws", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestServe(t *testing.T) {
	srv := newTestServer(t)
	tests := []struct {
		name     string
		method   string
		path     string
		header   map[string]string
		status   int
		body     string
		wantHead map[string]string
	}{
		{name: "whole file", path: "/ws/" + ih1 + "/disk.iso", status: 200, body: "0123456789abcdefghij",
			wantHead: map[string]string{"ETag": `"abc123"`, "Accept-Ranges": "bytes", "Content-Length": "20",
				"Content-Disposition": `attachment; filename="disk.iso"`}},
		{name: "upper-case infohash", path: "/ws/" + strings.ToUpper(ih1) + "/disk.iso", status: 200, body: "0123456789abcdefghij"},
		{name: "range", path: "/ws/" + ih1 + "/disk.iso", header: map[string]string{"Range": "bytes=5-9"}, status: 206, body: "56789",
			wantHead: map[string]string{"Content-Range": "bytes 5-9/20", "Content-Disposition": `attachment; filename="disk.iso"`}},
		{name: "suffix range", path: "/ws/" + ih1 + "/disk.iso", header: map[string]string{"Range": "bytes=-3"}, status: 206, body: "hij"},
		{name: "unsatisfiable range", path: "/ws/" + ih1 + "/disk.iso", header: map[string]string{"Range": "bytes=50-60"}, status: 416,
			wantHead: map[string]string{"Content-Disposition": ""}},
		{name: "if-range same etag", path: "/ws/" + ih1 + "/disk.iso", header: map[string]string{"Range": "bytes=0-1", "If-Range": `"abc123"`}, status: 206, body: "01"},
		{name: "if-range other etag", path: "/ws/" + ih1 + "/disk.iso", header: map[string]string{"Range": "bytes=0-1", "If-Range": `"other"`}, status: 200, body: "0123456789abcdefghij"},
		{name: "if-none-match", path: "/ws/" + ih1 + "/disk.iso", header: map[string]string{"If-None-Match": `"abc123"`}, status: 304,
			wantHead: map[string]string{"Content-Disposition": ""}},
		{name: "head", method: "HEAD", path: "/ws/" + ih1 + "/disk.iso", status: 200,
			wantHead: map[string]string{"Content-Length": "20", "Content-Disposition": `attachment; filename="disk.iso"`}},
		{name: "escaped package path", path: "/ws/" + ih1 + "/pkg/docs/a%20b.txt", status: 200, body: "spaced",
			wantHead: map[string]string{"Content-Disposition": `attachment; filename="a b.txt"`}},
		{name: "unknown infohash", path: "/ws/" + strings.Repeat("f", 40) + "/disk.iso", status: 404},
		{name: "expunged", path: "/ws/" + ih2 + "/disk.iso", status: 410},
		{name: "unknown file", path: "/ws/" + ih1 + "/nope", status: 404, wantHead: map[string]string{"Content-Disposition": ""}},
		{name: "folder", path: "/ws/" + ih1 + "/pkg", status: 404},
		{name: "no name", path: "/ws/" + ih1 + "/", status: 404},
		{name: "short infohash", path: "/ws/0123/disk.iso", status: 404},
		{name: "encoded traversal", path: "/ws/" + ih1 + "/%2e%2e/secret", status: 404},
		{name: "encoded slash traversal", path: "/ws/" + ih1 + "/..%2fsecret", status: 404},
		{name: "backslash traversal", path: "/ws/" + ih1 + `/..%5csecret`, status: 404},
		{name: "post", method: "POST", path: "/ws/" + ih1 + "/disk.iso", status: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			req, err := http.NewRequest(method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.status, body)
			}
			if resp.StatusCode >= 400 {
				assertProblem(t, resp, body)
			}
			if tt.body != "" && string(body) != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
			if strings.Contains(string(body), "outside any torrent") {
				t.Errorf("served a file outside the torrent")
			}
			for k, v := range tt.wantHead {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestParsePath(t *testing.T) {
	for _, p := range []string{"/" + ih1 + "/../x", "/" + ih1 + "/a/../../x", "/" + ih1 + "//x", "/" + ih1 + "/a\x00b", "/zz" + ih1[2:] + "/x"} {
		if _, _, err := parsePath(p); err == nil {
			t.Errorf("parsePath(%q) accepted", p)
		}
	}
}

// assertProblem checks that an error answer is an RFC 9457 problem that says something.
func assertProblem(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	var p problem.Problem
	if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("%d answered as %q, want %s (body %q)", resp.StatusCode, ct, problem.ContentType, body)
		return
	}
	if resp.Request.Method == http.MethodHead {
		return
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Status != resp.StatusCode || p.Detail == "" {
		t.Errorf("problem body %q (%v): want status %d and a detail", body, err, resp.StatusCode)
	}
	if strings.Contains(p.Detail, "not found: not found") {
		t.Errorf("detail repeats itself: %q", p.Detail)
	}
}

// problemDetail is the detail of a problem body, or the body if it is not one.
func problemDetail(body string) string {
	var p problem.Problem
	if json.Unmarshal([]byte(body), &p) != nil {
		return body
	}
	return p.Detail
}
