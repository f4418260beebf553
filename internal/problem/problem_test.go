package problem

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestGuard(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f", time.Time{}, strings.NewReader("0123456789"))
	})
	mux.HandleFunc("GET /plain", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the plain sentence", http.StatusTeapot)
	})
	mux.HandleFunc("GET /problem", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3")
		Write(w, http.StatusServiceUnavailable, "come back")
	})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	srv := httptest.NewServer(Guard(slog.New(slog.DiscardHandler), mux))
	defer srv.Close()

	for _, c := range []struct {
		method, path, rng string
		status            int
		detail            string
	}{
		{"GET", "/nowhere", "", 404, "nothing at /nowhere"},
		{"POST", "/ok", "", 405, "POST is not allowed on /ok; use GET, HEAD"},
		{"GET", "/plain", "", 418, "the plain sentence"},
		{"GET", "/problem", "", 503, "come back"},
		{"GET", "/panic", "", 500, "internal error"},
		{"GET", "/ok", "bytes=x", 416, "invalid range"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p Problem
		if err := json.Unmarshal(body, &p); err != nil || resp.StatusCode != c.status || resp.Header.Get("Content-Type") != ContentType ||
			p.Status != c.status || !strings.Contains(p.Detail, c.detail) {
			t.Errorf("%s %s: %d %s %q (%v), want %d with detail %q", c.method, c.path, resp.StatusCode,
				resp.Header.Get("Content-Type"), body, err, c.status, c.detail)
		}
		if c.path == "/problem" && resp.Header.Get("Retry-After") != "3" {
			t.Errorf("Retry-After lost: %v", resp.Header)
		}
	}

	resp, err := http.Get(srv.URL + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "0123456789" {
		t.Errorf("GET /ok = %d %q, want the content untouched", resp.StatusCode, body)
	}
}
