package webseed

import (
	"context"
	"errors"
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
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock      { return &fakeClock{t: time.Unix(1700000000, 0)} }
func (c *fakeClock) now() time.Time { return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.t = c.t.Add(d)
}

// ledger returns a Ledger on c with a one-minute window.
func (c *fakeClock) ledger(serves int) *Ledger {
	return NewLedger(LedgerConfig{Serves: serves, Window: time.Minute, Now: c.now})
}

func ihOf(b byte) (ih metainfo.Hash) {
	ih[0] = b
	return ih
}

// A torrent of 10 pieces of 100 bytes, the last one 50: 950 bytes.
const (
	testPiece  = 100
	testLength = 950
)

func TestLedgerGrant(t *testing.T) {
	type step struct {
		advance time.Duration
		off, n  int64
		sent    int64 // passed to Done; -1 sends all of the grant
		want    int64
		retry   time.Duration
	}
	tests := []struct {
		name   string
		serves int
		steps  []step
	}{
		{"a first range goes out whole", 1, []step{
			{off: 0, n: 950, sent: -1, want: 950},
		}},
		{"the same pieces again wait for the window", 1, []step{
			{off: 0, n: 400, sent: -1, want: 400},
			{advance: 20 * time.Second, off: 0, n: 400, want: 0, retry: 40 * time.Second},
			{off: 350, n: 100, want: 0, retry: 40 * time.Second}, // starts inside piece 3
		}},
		{"a range running into pieces out is cut before them", 1, []step{
			{off: 300, n: 200, sent: -1, want: 200}, // pieces 3 and 4
			{off: 0, n: 950, sent: -1, want: 300},   // pieces 0-2, stops at 3
			{off: 500, n: 450, sent: -1, want: 450}, // pieces 5-9, the short last one
		}},
		{"a range cut mid-piece counts the piece", 1, []step{
			{off: 150, n: 100, sent: -1, want: 100}, // bytes of pieces 1 and 2
			{off: 100, n: 50, want: 0, retry: time.Minute},
			{off: 250, n: 10, want: 0, retry: time.Minute},
		}},
		{"after the window the pieces go out again", 1, []step{
			{off: 0, n: 950, sent: -1, want: 950},
			{advance: time.Minute, off: 0, n: 950, sent: -1, want: 950},
		}},
		{"two serves per window", 2, []step{
			{off: 0, n: 200, sent: -1, want: 200},
			{advance: time.Second, off: 0, n: 200, sent: -1, want: 200},
			{advance: time.Second, off: 0, n: 200, want: 0, retry: 58 * time.Second},
		}},
		{"pieces not sent whole are taken back", 1, []step{
			{off: 0, n: 500, sent: 250, want: 500}, // pieces 0 and 1 sent, 2-4 not
			{off: 0, n: 100, want: 0, retry: time.Minute},
			{off: 200, n: 300, sent: -1, want: 300},
		}},
		{"malformed ranges are not rationed", 1, []step{
			{off: -1, n: 10, want: 10},
			{off: 900, n: 100, want: 100}, // past the end
			{off: 0, n: 0, want: 0},
			{off: 0, n: 950, sent: -1, want: 950}, // nothing was recorded
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			l := clock.ledger(tt.serves)
			for i, s := range tt.steps {
				clock.add(s.advance)
				g := l.Grant(ihOf(1), testPiece, testLength, s.off, s.n)
				if g.N != s.want || g.RetryAfter != s.retry {
					t.Fatalf("step %d: Grant(%d, %d) = %d bytes, retry after %s; want %d, %s", i, s.off, s.n, g.N, g.RetryAfter, s.want, s.retry)
				}
				sent := s.sent
				if sent < 0 {
					sent = g.N
				}
				g.Done(sent)
			}
		})
	}
}

func TestLedgerTorrentsApartAndForgotten(t *testing.T) {
	clock := newFakeClock()
	l := clock.ledger(1)
	l.Grant(ihOf(1), testPiece, testLength, 0, 950).Done(950)
	if g := l.Grant(ihOf(2), testPiece, testLength, 0, 950); g.N != 950 {
		t.Fatalf("another torrent's pieces: granted %d, want 950", g.N)
	}
	clock.add(time.Minute)
	l.Grant(ihOf(3), testPiece, testLength, 0, 100)
	if _, ok := l.torrents[ihOf(1)]; ok || len(l.torrents) != 1 {
		t.Errorf("after a quiet window the ledger keeps %d torrents, want only the one just sent", len(l.torrents))
	}
}

func TestLedgerConfigValidate(t *testing.T) {
	tests := []struct {
		cfg LedgerConfig
		ok  bool
	}{
		{DefaultLedgerConfig(), true},
		{LedgerConfig{}, true}, // off
		{LedgerConfig{Serves: 3, Window: time.Second}, true},
		{LedgerConfig{Serves: -1, Window: time.Minute}, false},
		{LedgerConfig{Serves: 1, Window: 500 * time.Millisecond}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidLedgerConfig)) {
			t.Errorf("%+v: Validate() = %v, want ok %v", tt.cfg, err, tt.ok)
		}
	}
}

func TestSingleRange(t *testing.T) {
	tests := []struct {
		header   string
		start, n int64
		ok       bool
	}{
		{"bytes=0-99", 0, 100, true},
		{"bytes=900-", 900, 50, true},
		{"bytes=900-5000", 900, 50, true},
		{"bytes=-10", 940, 10, true},
		{"bytes=-5000", 0, 950, true},
		{"bytes= 5 - 9", 5, 5, true},
		{"", 0, 0, false},
		{"bytes=0-1,5-6", 0, 0, false},
		{"bytes=950-", 0, 0, false},
		{"bytes=9-5", 0, 0, false},
		{"bytes=-0", 0, 0, false},
		{"bytes=a-b", 0, 0, false},
		{"items=0-5", 0, 0, false},
		{"bytes=5", 0, 0, false},
	}
	for _, tt := range tests {
		start, n, ok := singleRange(tt.header, testLength)
		if start != tt.start || n != tt.n || ok != tt.ok {
			t.Errorf("singleRange(%q) = %d, %d, %v; want %d, %d, %v", tt.header, start, n, ok, tt.start, tt.n, tt.ok)
		}
	}
}

// pieceStore serves one file of testLength bytes as the second file of a torrent whose
// first file is 50 bytes, so rationing must add the file's offset.
type pieceStore struct{ path string }

func (s pieceStore) Open(context.Context, metainfo.Hash, string) (File, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return File{}, err
	}
	return File{Content: f, ModTime: time.Unix(1700000000, 0), Offset: 50, PieceLength: testPiece, TorrentLength: 50 + testLength}, nil
}

func TestHandlerRations(t *testing.T) {
	content := strings.Repeat("0123456789", testLength/10)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	crowded := true
	h := New(pieceStore{path}, slog.New(slog.DiscardHandler)).Ration(clock.ledger(1), func(metainfo.Hash) bool { return crowded })
	srv := httptest.NewServer(http.StripPrefix("/ws", h))
	t.Cleanup(srv.Close)
	url := srv.URL + "/ws/" + ih1 + "/pkg/f"

	get := func(rng string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	tests := []struct {
		name         string
		crowded      bool
		rng          string
		status       int
		contentRange string
		retryAfter   string
	}{
		// Torrent bytes 50-449: pieces 0-4.
		{"first range whole", true, "bytes=0-399", http.StatusPartialContent, "bytes 0-399/950", ""},
		{"same range: busy", true, "bytes=0-399", http.StatusServiceUnavailable, "", "60"},
		// Torrent bytes 450-...: piece 4 is out, so it starts busy.
		{"starts in a piece out", true, "bytes=400-949", http.StatusServiceUnavailable, "", "60"},
		// Torrent bytes 500-999 (pieces 5-9): all fresh.
		{"fresh pieces", true, "bytes=450-949", http.StatusPartialContent, "bytes 450-949/950", ""},
		{"a whole-file GET asks for every piece", true, "", http.StatusServiceUnavailable, "", "60"},
		{"an empty swarm gets everything", false, "bytes=0-399", http.StatusPartialContent, "bytes 0-399/950", ""},
	}
	for _, tt := range tests {
		crowded = tt.crowded
		status, hdr, body := get(tt.rng)
		if status != tt.status || hdr.Get("Content-Range") != tt.contentRange || hdr.Get("Retry-After") != tt.retryAfter {
			t.Errorf("%s: %d, Content-Range %q, Retry-After %q; want %d, %q, %q", tt.name, status,
				hdr.Get("Content-Range"), hdr.Get("Retry-After"), tt.status, tt.contentRange, tt.retryAfter)
			continue
		}
		var first, last int64
		if _, err := fmt.Sscanf(tt.contentRange, "bytes %d-%d/", &first, &last); err == nil && body != content[first:last+1] {
			t.Errorf("%s: body differs from the file's bytes %d-%d", tt.name, first, last)
		}
	}

	// A range over pieces out and fresh ones is cut where the first out piece begins:
	// file bytes 0-399 went out a minute ago less a second, 400-949 not at all.
	clock.add(time.Minute)
	crowded = true
	if status, hdr, _ := get("bytes=0-99"); status != http.StatusPartialContent {
		t.Fatalf("after the window: %d %q", status, hdr.Get("Content-Range"))
	}
	clock.add(time.Minute)
	get("bytes=250-349") // torrent bytes 300-399: pieces 3 only
	status, hdr, body := get("bytes=0-949")
	if status != http.StatusPartialContent || hdr.Get("Content-Range") != "bytes 0-249/950" || body != content[:250] {
		t.Errorf("a range into a piece out: %d, Content-Range %q (%d bytes); want 206, bytes 0-249/950",
			status, hdr.Get("Content-Range"), len(body))
	}
}
