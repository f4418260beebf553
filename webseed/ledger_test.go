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
	"sync/atomic"
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
	return NewLedger(LedgerConfig{Serves: serves, Window: time.Minute, RelayFirst: 2 * time.Minute, Now: c.now})
}

func ihOf(b byte) (ih metainfo.Hash) {
	ih[0] = b
	return ih
}

// A torrent of 9.5 pieces: its last piece is half long.
const (
	P          = 64 << 10
	testLength = 9*P + P/2
)

// ask is a client's ask for bytes [off, off+n) of the test torrent, inside one file.
func ask(who string, off, n int64) Ask {
	return Ask{Length: testLength, PieceLength: P, Off: off, N: n, Who: Requester{Key: who}}
}

func TestLedgerGrant(t *testing.T) {
	type step struct {
		advance time.Duration
		ask     Ask
		sent    int64 // passed to Done; -1 sends all of the grant
		want    int64
		retry   time.Duration
	}
	relay := func(a Ask) Ask { a.Who = Requester{Key: "relay-1", Relay: true}; return a }
	files := func(a Ask, start, end bool) Ask { a.FileStart, a.FileEnd = start, end; return a }
	due := func(a Ask) Ask { a.RelaysDue = true; return a }
	// relayEvery9s: a relay asks for one of pieces 0-8 at 0 s and every 9 s after, n times more.
	relayEvery9s := func(n int) []step {
		steps := []step{{ask: relay(ask("", 0, P)), sent: -1, want: P}}
		for i := 1; i <= n; i++ {
			steps = append(steps, step{advance: 9 * time.Second, ask: relay(ask("", int64(i%9)*P, P)), sent: -1, want: P})
		}
		return steps
	}
	tests := []struct {
		name   string
		serves int
		steps  []step
	}{
		{"a first range goes out whole", 1, []step{
			{ask: ask("a", 0, testLength), sent: -1, want: testLength},
		}},
		{"the same pieces again wait for the window", 1, []step{
			{ask: ask("a", 0, 4*P), sent: -1, want: 4 * P},
			{advance: 20 * time.Second, ask: ask("b", 0, 4*P), want: 0, retry: 40 * time.Second},
			{ask: ask("b", 3*P, P), want: 0, retry: 40 * time.Second},
		}},
		{"the requester a piece went to gets it again", 1, []step{
			{ask: ask("a", 0, 4*P), sent: -1, want: 4 * P},
			{advance: 20 * time.Second, ask: ask("a", P, 2*P), sent: -1, want: 2 * P},
			{ask: ask("a", 3*P, 2*P), sent: -1, want: 2 * P}, // 3 is a's, 4 is new
			{ask: ask("b", 4*P, P), want: 0, retry: time.Minute},
		}},
		{"a range running into someone else's pieces is cut before them", 1, []step{
			{ask: ask("a", 3*P, 2*P), sent: -1, want: 2 * P},                       // pieces 3 and 4
			{ask: ask("b", 0, testLength), sent: -1, want: 3 * P},                  // 0-2, stops at 3
			{ask: ask("c", 5*P, testLength-5*P), sent: -1, want: testLength - 5*P}, // 5-9, the short last one
		}},
		{"pieces covered in part inside a file go along, unrecorded", 1, []step{
			{ask: ask("a", P/2, 2*P), sent: -1, want: 2 * P}, // half of 0, all of 1, half of 2
			{ask: ask("b", 0, P), sent: -1, want: P},         // piece 0 was not recorded
			{ask: ask("c", 2*P, P), sent: -1, want: P},       // nor piece 2
			{ask: ask("d", P, P), want: 0, retry: time.Minute},
			{ask: ask("d", P+100, 2*P), want: 0, retry: time.Minute}, // 1 is a's
			{ask: ask("d", 10, 100), want: 0, retry: time.Minute},    // 0 is b's now
		}},
		{"a piece that spans files is granted by its parts, to one requester", 1, []step{
			// Files end at 3P/2 and 5P/2: piece 1 spans both.
			{ask: files(ask("a", 0, 3*P/2), true, true), sent: -1, want: 3 * P / 2}, // 0 and part of 1
			{ask: files(ask("b", 3*P/2, P), true, true), want: 0, retry: time.Minute},
			{ask: files(ask("a", 3*P/2, P), true, true), sent: -1, want: P}, // the rest of 1, part of 2
			{ask: files(ask("b", 5*P/2, P), true, false), want: 0, retry: time.Minute},
		}},
		{"after the window the pieces go out again", 1, []step{
			{ask: ask("a", 0, testLength), sent: -1, want: testLength},
			{advance: time.Minute, ask: ask("b", 0, testLength), sent: -1, want: testLength},
		}},
		{"two serves per window", 2, []step{
			{ask: ask("a", 0, 2*P), sent: -1, want: 2 * P},
			{advance: time.Second, ask: ask("b", 0, 2*P), sent: -1, want: 2 * P},
			{advance: time.Second, ask: ask("c", 0, 2*P), want: 0, retry: 58 * time.Second},
		}},
		{"pieces not sent whole are taken back", 1, []step{
			{ask: ask("a", 0, 5*P), sent: 2*P + 100, want: 5 * P}, // pieces 0 and 1 sent, 2-4 not
			{ask: ask("b", 0, P), want: 0, retry: time.Minute},
			{ask: ask("b", 2*P, 3*P), sent: -1, want: 3 * P},
		}},
		{"malformed asks are not rationed", 1, []step{
			{ask: ask("a", -1, 10), want: 10},
			{ask: ask("a", 9*P, P), want: P}, // past the end
			{ask: ask("a", 0, 0), want: 0},
			{ask: Ask{Length: testLength, Off: 0, N: P}, want: P},      // no piece length
			{ask: ask("b", 0, testLength), sent: -1, want: testLength}, // nothing was recorded
		}},
		{"relays come first, and are rationed among themselves", 1, []step{
			{ask: relay(ask("", 0, P)), sent: -1, want: P},
			{advance: time.Second, ask: ask("a", P, P), want: 0, retry: RelayQuiet},
			{ask: Ask{Length: testLength, PieceLength: P, Off: 0, N: P, Who: Requester{Key: "relay-2", Relay: true}}, want: 0, retry: 59 * time.Second},
			{advance: RelayQuiet, ask: ask("a", P, P), sent: -1, want: P}, // the relays went quiet
			{ask: ask("a", 0, P), want: 0, retry: 49 * time.Second},       // piece 0 went to a relay
		}},
		{"clients wait for relays that are due, until the relays have come", 1, []step{
			{ask: due(ask("a", 0, P)), want: 0, retry: RelayQuiet},
			{ask: relay(ask("", 0, P)), sent: -1, want: P},
			{ask: due(ask("a", P, P)), want: 0, retry: RelayQuiet}, // the relays fill it
			{advance: RelayQuiet, ask: due(ask("a", P, P)), sent: -1, want: P},
		}},
		{"relays come first within RelayFirst of their first request", 1, []step{
			{ask: relay(ask("", 0, P)), sent: -1, want: P},
			{advance: RelayQuiet, ask: ask("a", P, P), sent: -1, want: P}, // quiet: served
			{ask: relay(ask("", 2*P, P)), sent: -1, want: P},
			{ask: ask("a", 3*P, P), want: 0, retry: RelayQuiet}, // asking again: first again
			{advance: 55 * time.Second, ask: relay(ask("", 4*P, P)), sent: -1, want: P},
			{advance: 56 * time.Second, ask: relay(ask("", 5*P, P)), sent: -1, want: P}, // at 121 s
			{ask: ask("a", 3*P, P), sent: -1, want: P},                                  // but not past RelayFirst
		}},
		{"relays come first for RelayFirst at most", 1, append(relayEvery9s(13),
			step{ask: ask("a", 9*P, P/2), want: 0, retry: 3 * time.Second}, // at 117 s of 120
			step{advance: 3 * time.Second, ask: ask("a", 9*P, P/2), sent: -1, want: P / 2},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			l := clock.ledger(tt.serves)
			for i, s := range tt.steps {
				clock.add(s.advance)
				g := l.Grant(ihOf(1), s.ask)
				if g.N != s.want || g.RetryAfter != s.retry {
					t.Fatalf("step %d: %s asks for %d+%d: granted %d bytes, retry after %s; want %d, %s",
						i, s.ask.Who.Key, s.ask.Off, s.ask.N, g.N, g.RetryAfter, s.want, s.retry)
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
	l.Grant(ihOf(1), ask("a", 0, testLength)).Done(testLength)
	if g := l.Grant(ihOf(2), ask("b", 0, testLength)); g.N != testLength {
		t.Fatalf("another torrent's pieces: granted %d, want %d", g.N, testLength)
	}
	clock.add(time.Minute)
	l.Grant(ihOf(3), ask("c", 0, P))
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
		{LedgerConfig{Serves: 1, Window: time.Minute, RelayFirst: -time.Second}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidLedgerConfig)) {
			t.Errorf("%+v: Validate() = %v, want ok %v", tt.cfg, err, tt.ok)
		}
	}
}

// offsetStore serves one file of fileLength bytes as the second file of a torrent whose
// first file is half a piece, so rationing must add the file's offset.
type offsetStore struct{ path string }

const fileLength = 8 * P

func (s offsetStore) Open(context.Context, metainfo.Hash, string) (File, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return File{}, err
	}
	return File{Content: f, ModTime: time.Unix(1700000000, 0), Offset: P / 2, TorrentLength: P/2 + fileLength, PieceLength: P}, nil
}

func TestHandlerRations(t *testing.T) {
	content := strings.Repeat("0123456789abcdef", fileLength/16)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	crowded := true
	// Requesters name themselves here; the directory tells them apart by address and
	// relay token.
	who := func(r *http.Request) Requester { return Requester{Key: r.Header.Get("Who")} }
	var refused atomic.Int64
	h := New(offsetStore{path}, slog.New(slog.DiscardHandler)).Ration(Rationing{
		Ledger: clock.ledger(1), Crowded: func(metainfo.Hash) bool { return crowded }, Who: who, Refused: &refused,
	})
	srv := httptest.NewServer(http.StripPrefix("/ws", h))
	t.Cleanup(srv.Close)
	url := srv.URL + "/ws/" + ih1 + "/pkg/f"

	get := func(requester, rng string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		req.Header.Set("Who", requester)
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
		who          string
		crowded      bool
		rng          string
		status       int
		contentRange string
		retryAfter   string
	}{
		// File byte x is torrent byte x + P/2.
		{"first range whole (pieces 1, 2)", "a", true, rng(P/2, 5*P/2), http.StatusPartialContent, cr(P/2, 5*P/2), ""},
		{"same range, another client: busy", "b", true, rng(P/2, 5*P/2), http.StatusServiceUnavailable, "", "60"},
		{"same range, the same client again", "a", true, rng(P/2, 5*P/2), http.StatusPartialContent, cr(P/2, 5*P/2), ""},
		{"starts in a piece out (2)", "b", true, rng(3*P/2, 7*P/2), http.StatusServiceUnavailable, "", "60"},
		{"fresh pieces (3-8)", "b", true, rng(5*P/2, fileLength), http.StatusPartialContent, cr(5*P/2, fileLength), ""},
		{"a whole-file GET gets its part of piece 0, up to piece 1", "c", true, "", http.StatusPartialContent, cr(0, P/2), ""},
		{"an empty swarm gets everything", "d", false, rng(P/2, 5*P/2), http.StatusPartialContent, cr(P/2, 5*P/2), ""},
	}
	for _, tt := range tests {
		crowded = tt.crowded
		status, hdr, body := get(tt.who, tt.rng)
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
	if n := refused.Load(); n != 2 {
		t.Errorf("Rationing.Refused counted %d 503s, want 2", n)
	}

	// After the window, a range over fresh pieces and another's is cut where the other's
	// begins.
	clock.add(time.Minute)
	crowded = true
	if status, hdr, _ := get("d", rng(5*P/2, 7*P/2)); status != http.StatusPartialContent { // piece 3
		t.Fatalf("after the window: %d %q", status, hdr.Get("Content-Range"))
	}
	status, hdr, body := get("e", "bytes=0-")
	if want := cr(0, 5*P/2); status != http.StatusPartialContent || hdr.Get("Content-Range") != want || body != content[:5*P/2] {
		t.Errorf("a range into another's piece: %d, Content-Range %q (%d bytes); want 206, %s", status, hdr.Get("Content-Range"), len(body), want)
	}
}

func TestLedgerRelaysFilling(t *testing.T) {
	clock := newFakeClock()
	l := clock.ledger(1)
	relay := Ask{Length: testLength, PieceLength: P, Off: 0, N: P, Who: Requester{Key: "relay-1", Relay: true}}
	if l.RelaysFilling(ihOf(1)) {
		t.Fatal("relays filling a torrent no relay asked for")
	}
	l.Grant(ihOf(1), ask("a", 0, P)).Done(P)
	if l.RelaysFilling(ihOf(1)) {
		t.Fatal("a client's request made relays filling")
	}
	l.Grant(ihOf(1), relay).Done(P)
	if !l.RelaysFilling(ihOf(1)) || l.RelaysFilling(ihOf(2)) {
		t.Fatal("after a relay's request: not filling, or filling another torrent")
	}
	clock.add(RelayQuiet)
	if l.RelaysFilling(ihOf(1)) {
		t.Fatal("relays quiet for RelayQuiet still count as filling")
	}
}

// TestLedgerReclaim: pieces granted to a relay that evicted the torrent since go to the
// next requester at once; those of a relay that keeps it, or has not said, wait out the
// window.
func TestLedgerReclaim(t *testing.T) {
	c := newFakeClock()
	ih := ihOf(1)
	var dropped map[string]time.Time // relay -> when it said it let ih go
	l := c.ledger(1).Reclaim(func(who string, got metainfo.Hash, since time.Time) bool {
		at, ok := dropped[who]
		return got == ih && ok && at.After(since)
	})
	grant := func(who string) int64 {
		g := l.Grant(ih, ask(who, 0, 2*P))
		g.Done(g.N)
		return g.N
	}
	if n := grant("relay-1"); n != 2*P {
		t.Fatalf("the first relay is granted %d bytes, want %d", n, 2*P)
	}
	c.add(time.Second)
	if n := grant("relay-2"); n != 0 {
		t.Fatalf("while relay-1 keeps the pieces, relay-2 is granted %d bytes, want 0", n)
	}
	dropped = map[string]time.Time{"relay-1": c.now().Add(-2 * time.Second)} // before its grant
	if n := grant("relay-2"); n != 0 {
		t.Fatalf("relay-1 let go before its grant, and relay-2 is granted %d bytes, want 0", n)
	}
	c.add(time.Second)
	dropped = map[string]time.Time{"relay-1": c.now()}
	if n := grant("relay-2"); n != 2*P {
		t.Fatalf("relay-1 evicted the torrent, and relay-2 is granted %d bytes, want %d", n, 2*P)
	}
	if n := grant("relay-3"); n != 0 {
		t.Fatalf("relay-2 keeps the pieces, and relay-3 is granted %d bytes, want 0", n)
	}
}
