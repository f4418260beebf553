package boundedget

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/doc":
			w.Header().Set("ETag", `"v1"`)
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Write([]byte("hello"))
		case "/endless": // no Content-Length, never ends
			for r.Context().Err() == nil {
				if _, err := w.Write([]byte(strings.Repeat("x", 1<<16))); err != nil {
					return
				}
			}
		case "/big":
			w.Header().Set("Content-Length", "1000000")
			w.Write(make([]byte, 1000000))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c := &http.Client{Timeout: 10 * time.Second}

	body, tag, err := Get(ctx, c, srv.URL+"/doc", "", 10)
	if err != nil || string(body) != "hello" || tag != `"v1"` {
		t.Fatalf("Get = %q, %q, %v", body, tag, err)
	}
	if body, tag, err = Get(ctx, c, srv.URL+"/doc", `"v1"`, 10); err != nil || body != nil || tag != `"v1"` {
		t.Errorf("unchanged: %q, %q, %v; want no body", body, tag, err)
	}
	if _, _, err = Get(ctx, c, srv.URL+"/doc", "", 4); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a body over the bound: %v", err)
	}
	if _, _, err = Get(ctx, c, srv.URL+"/big", "", 1000); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "1000000 bytes") {
		t.Errorf("a Content-Length over the bound: %v", err)
	}
	start := time.Now()
	if _, _, err = Get(ctx, c, srv.URL+"/endless", "", 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Errorf("endless body: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("endless body refused after %v", d)
	}
	var se *StatusError
	if _, _, err = Get(ctx, c, srv.URL+"/nothing", "", 10); !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Errorf("404: %v", err)
	}
}
