package apiclient

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{"0", time.Second}, // "now" still waits a moment rather than spin
		{"-3", 0},
		{"86401", 0}, // a day and more is no wait a caller should sit through
		{"1.5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), time.Second},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.header, now); got != tt.want {
			t.Errorf("Retry-After %q: %s, want %s", tt.header, got, tt.want)
		}
	}
}

// closedAddr is a loopback address nothing listens on: dialling it is refused.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestDoTellsWhoAnswered(t *testing.T) {
	serve := func(contentType string, status int, body string) string {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if contentType != "" {
				w.Header().Set("Content-Type", contentType)
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
		t.Cleanup(ts.Close)
		return ts.URL
	}
	refused := "http://" + closedAddr(t)
	html404 := serve("text/html; charset=utf-8", http.StatusNotFound, "<html><body>Not Found</body></html>")
	html200 := serve("text/html", http.StatusOK, "<!doctype html><title>parked</title>")
	text403 := serve("text/plain", http.StatusForbidden, "forbidden")
	bare404 := serve("", http.StatusNotFound, "")
	problem404 := serve("application/problem+json", http.StatusNotFound, `{"type":"about:blank","title":"Not Found","status":404,"detail":"relay x: not found"}`)
	echo401 := serve("application/json; charset=UTF-8", http.StatusUnauthorized, `{"message":"Unauthorized"}`)
	proxy502 := serve("text/html", http.StatusBadGateway, "<html><head><title>502 Bad Gateway</title></head></html>")
	tests := []struct {
		name   string
		base   string
		status int    // StatusOf the error
		want   string // the error's text
		is     error  // errors.Is the error, when not nil
	}{
		{"refused", refused, 0, "cannot reach the directory at " + refused + ": connection refused", syscall.ECONNREFUSED},
		{"no such host", "http://odi-test.invalid", 0, "cannot reach the directory at http://odi-test.invalid: lookup odi-test.invalid: ", nil},
		{"foreign HTML 404", html404, 0, html404 + " does not look like an odi directory (GET /api/v1/relays answered 404 text/html)", nil},
		{"foreign HTML 200", html200, 0, html200 + " does not look like an odi directory (GET /api/v1/relays answered 200 text/html)", nil},
		{"foreign text 403", text403, 0, text403 + " does not look like an odi directory (GET /api/v1/relays answered 403 text/plain)", nil},
		{"foreign 404 without a type", bare404, 0, bare404 + " does not look like an odi directory (GET /api/v1/relays answered 404 without a Content-Type)", nil},
		{"directory refusal", problem404, http.StatusNotFound, "directory answered 404 Not Found: relay x: not found", nil},
		{"JSON refusal without detail", echo401, http.StatusUnauthorized, `directory answered 401 Unauthorized: {"message":"Unauthorized"}`, nil},
		{"proxy in front", proxy502, http.StatusBadGateway, "directory answered 502 Bad Gateway: an HTML page, not the directory's answer (from a proxy in front of it?)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.base, nil)
			if err != nil {
				t.Fatal(err)
			}
			// An HTTP_PROXY of the machine running the test would answer for odi-test.invalid.
			c.HTTP.Transport.(*http.Transport).Proxy = nil
			var out map[string]any
			err = c.Call(context.Background(), http.MethodGet, "/api/v1/relays?after=", nil, &out)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if got := err.Error(); !strings.HasPrefix(got, tt.want) {
				t.Errorf("error %q, want %q", got, tt.want)
			}
			if got := StatusOf(err); got != tt.status {
				t.Errorf("StatusOf %d, want %d", got, tt.status)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
		})
	}
}

// A dial the caller cancels is the caller's doing: it is not reported as an unreachable
// directory, and stays context.Canceled.
func TestDoCanceledIsNotUnreachable(t *testing.T) {
	c, err := New("http://"+closedAddr(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = c.Call(ctx, http.MethodGet, "/api/v1/relays", nil, nil)
	var u *UnreachableError
	if errors.As(err, &u) || !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v (%T), want context.Canceled and not unreachable", err, err)
	}
}
