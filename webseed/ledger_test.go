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

// A torrent of 9.5 blocks: its last block is half long.
const (
	B          = LedgerBlock
	testLength = 9*B + B/2
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
			{off: 0, n: testLength, sent: -1, want: testLength},
		}},
		{"the same blocks again wait for the window", 1, []step{
			{off: 0, n: 4 * B, sent: -1, want: 4 * B},
			{advance: 20 * time.Second, off: 0, n: 4 * B, want: 0, retry: 40 * time.Second},
			{off: 3 * B, n: B, want: 0, retry: 40 * time.Second},
		}},
		{"a range running into blocks out is cut before them", 1, []step{
			{off: 3 * B, n: 2 * B, sent: -1, want: 2 * B},                       // blocks 3 and 4
			{off: 0, n: testLength, sent: -1, want: 3 * B},                      // blocks 0-2, stops at 3
			{off: 5 * B, n: testLength - 5*B, sent: -1, want: testLength - 5*B}, // 5-9, the short last one
		}},
		{"partial blocks at the ends go along, uncounted", 1, []step{
			{off: B / 2, n: 2 * B, sent: -1, want: 2 * B}, // half of 0, all of 1, half of 2
			{off: 0, n: B, sent: -1, want: B},             // block 0 was not counted
			{off: 2 * B, n: B, sent: -1, want: B},         // nor block 2
			{off: B, n: B, want: 0, retry: time.Minute},   // block 1 was
			{off: B + 100, n: 2 * B, want: 0, retry: time.Minute},
		}},
		{"a range with no whole block is not rationed", 1, []step{
			{off: 0, n: testLength, sent: -1, want: testLength},
			{off: 10, n: 100, want: 100},
			{off: B / 2, n: B, want: B},
		}},
		{"after the window the blocks go out again", 1, []step{
			{off: 0, n: testLength, sent: -1, want: testLength},
			{advance: time.Minute, off: 0, n: testLength, sent: -1, want: testLength},
		}},
		{"two serves per window", 2, []step{
			{off: 0, n: 2 * B, sent: -1, want: 2 * B},
			{advance: time.Second, off: 0, n: 2 * B, sent: -1, want: 2 * B},
			{advance: time.Second, off: 0, n: 2 * B, want: 0, retry: 58 * time.Second},
		}},
		{"blocks not sent whole are taken back", 1, []step{
			{off: 0, n: 5 * B, sent: 2*B + 100, want: 5 * B}, // blocks 0 and 1 sent, 2-4 not
			{off: 0, n: B, want: 0, retry: time.Minute},
			{off: 2 * B, n: 3 * B, sent: -1, want: 3 * B},
		}},
		{"malformed ranges are not rationed", 1, []step{
			{off: -1, n: 10, want: 10},
			{off: 9 * B, n: B, want: B}, // past the end
			{off: 0, n: 0, want: 0},
			{off: 0, n: testLength, sent: -1, want: testLength}, // nothing was recorded
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			l := clock.ledger(tt.serves)
			for i, s := range tt.steps {
				clock.add(s.advance)
				g := l.Grant(ihOf(1), testLength, s.off, s.n)
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
	l.Grant(ihOf(1), testLength, 0, testLength).Done(testLength)
	if g := l.Grant(ihOf(2), testLength, 0, testLength); g.N != testLength {
		t.Fatalf("another torrent's blocks: granted %d, want %d", g.N, testLength)
	}
	clock.add(time.Minute)
	l.Grant(ihOf(3), testLength, 0, B)
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
		start, n, ok := singleRange(tt.header, 950)
		if start != tt.start || n != tt.n || ok != tt.ok {
			t.Errorf("singleRange(%q) = %d, %d, %v; want %d, %d, %v", tt.header, start, n, ok, tt.start, tt.n, tt.ok)
		}
	}
}

// offsetStore serves one file of fileLength bytes as the second file of a torrent whose
// first file is half a block, so rationing must add the file's offset.
type offsetStore struct{ path string }

const fileLength = 8 * B

func (s offsetStore) Open(context.Context, metainfo.Hash, string) (File, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return File{}, err
	}
	return File{Content: f, ModTime: time.Unix(1700000000, 0), Offset: B / 2, TorrentLength: B/2 + fileLength}, nil
}

func TestHandlerRations(t *testing.T) {
	content := strings.Repeat("0123456789abcdef", fileLength/16)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	crowded := true
	h := New(offsetStore{path}, slog.New(slog.DiscardHandler)).Ration(clock.ledger(1), func(metainfo.Hash) bool { return crowded })
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
	// rng is the Range of file bytes [from, to); cr its Content-Range.
	rng := func(from, to int64) string { return fmt.Sprintf("bytes=%d-%d", from, to-1) }
	cr := func(from, to int64) string { return fmt.Sprintf("bytes %d-%d/%d", from, to-1, fileLength) }
	tests := []struct {
		name         string
		crowded      bool
		rng          string
		status       int
		contentRange string
		retryAfter   string
	}{
		// File byte x is torrent byte x + B/2.
		{"first range whole (blocks 1, 2)", true, rng(B/2, 5*B/2), http.StatusPartialContent, cr(B/2, 5*B/2), ""},
		{"same range: busy", true, rng(B/2, 5*B/2), http.StatusServiceUnavailable, "", "60"},
		{"starts in a block out (2)", true, rng(3*B/2, 7*B/2), http.StatusServiceUnavailable, "", "60"},
		{"fresh blocks (3-8)", true, rng(5*B/2, fileLength), http.StatusPartialContent, cr(5*B/2, fileLength), ""},
		{"a whole-file GET asks for every block", true, "", http.StatusServiceUnavailable, "", "60"},
		{"an empty swarm gets everything", false, rng(B/2, 5*B/2), http.StatusPartialContent, cr(B/2, 5*B/2), ""},
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

	// A range over blocks out and fresh ones is cut where the first block out begins.
	clock.add(time.Minute)
	crowded = true
	if status, hdr, _ := get(rng(B/2, 3*B/2)); status != http.StatusPartialContent {
		t.Fatalf("after the window: %d %q", status, hdr.Get("Content-Range"))
	}
	clock.add(time.Minute)
	get(rng(5*B/2, 7*B/2)) // block 3
	status, hdr, body := get("bytes=0-")
	if want := cr(0, 5*B/2); status != http.StatusPartialContent || hdr.Get("Content-Range") != want || body != content[:5*B/2] {
		t.Errorf("a range into a block out: %d, Content-Range %q (%d bytes); want 206, %s", status, hdr.Get("Content-Range"), len(body), want)
	}
}
