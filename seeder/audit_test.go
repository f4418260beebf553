package seeder

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/useragent"
)

// auditedSeed is a web seed on loopback that an audit fetches from: it serves body at
// /ws/ih/f.bin as respond says, and records what the requests looked like.
type auditedSeed struct {
	url string

	mu       sync.Mutex
	requests []*http.Request
	inFlight atomic.Int64
	maxIn    atomic.Int64
}

func startAuditedSeed(t *testing.T, body []byte, respond func(w http.ResponseWriter, r *http.Request, body []byte)) *auditedSeed {
	t.Helper()
	s := &auditedSeed{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		for m := s.maxIn.Load(); n > m && !s.maxIn.CompareAndSwap(m, n); m = s.maxIn.Load() {
		}
		s.mu.Lock()
		s.requests = append(s.requests, r.Clone(context.Background()))
		s.mu.Unlock()
		respond(w, r, body)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/ws/ih/f.bin"
	return s
}

func serveContent(w http.ResponseWriter, r *http.Request, body []byte) {
	http.ServeContent(w, r, "f.bin", time.Time{}, bytes.NewReader(body))
}

func TestAuditResults(t *testing.T) {
	data := make([]byte, 1<<20)
	rand.Read(data)
	flipped := bytes.Clone(data)
	for i := range flipped {
		flipped[i] ^= 0x5a
	}
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	const off, n = 300_000, 65_536
	want := sum(data[off : off+n])

	honest := startAuditedSeed(t, data, serveContent)
	liar := startAuditedSeed(t, flipped, serveContent)
	busy := startAuditedSeed(t, data, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})
	whole := startAuditedSeed(t, data, func(w http.ResponseWriter, _ *http.Request, body []byte) {
		w.Write(body) // 200, the Range ignored
	})
	shifted := startAuditedSeed(t, data, func(w http.ResponseWriter, _ *http.Request, body []byte) {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off+1, off+n, len(body)))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(body[off+1 : off+n+1])
	})
	short := startAuditedSeed(t, data, func(w http.ResponseWriter, _ *http.Request, body []byte) {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, len(body)))
		w.Header().Set("Content-Length", fmt.Sprint(n))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(body[off : off+n/2]) // then the server closes the connection
	})
	long := startAuditedSeed(t, data, func(w http.ResponseWriter, _ *http.Request, body []byte) {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, len(body)))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(body[off : off+n+10])
	})
	hung := startAuditedSeed(t, data, func(_ http.ResponseWriter, r *http.Request, _ []byte) {
		<-r.Context().Done() // until the audit gives up
	})
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // its port refuses connections

	a := newAuditor(nil, slog.New(slog.DiscardHandler))
	audit := func(id, u string) relayapi.Audit { return relayapi.Audit{ID: id, URL: u, Offset: off, Length: n} }
	asked := []relayapi.Audit{
		audit("honest", honest.url),
		audit("liar", liar.url),
		{ID: "ftp", URL: "ftp://127.0.0.1/ws/ih/f.bin", Offset: off, Length: n},
		{ID: "too long", URL: honest.url, Offset: 0, Length: relayapi.MaxAuditLength + 1},
		{ID: "negative", URL: honest.url, Offset: -1, Length: n},
		audit("busy", busy.url),
		audit("whole", whole.url),
		audit("shifted", shifted.url),
		audit("short", short.url),
		audit("long", long.url),
		audit("gone", gone.URL+"/ws/ih/f.bin"),
	}
	got := a.run(context.Background(), asked)
	a.timeout = 100 * time.Millisecond
	got = append(got, a.run(context.Background(), []relayapi.Audit{audit("hung", hung.url)})...)
	wantResults := []relayapi.AuditResult{
		{ID: "honest", SHA256: want},
		{ID: "liar", SHA256: sum(flipped[off : off+n])},
		{ID: "busy", Error: "answered 503"},
		{ID: "whole", Error: "answered 200"},
		{ID: "shifted", Error: "wrong range"},
		{ID: "short", Error: "short body"},
		{ID: "long", Error: "long body"},
		{ID: "gone", Error: "request failed"},
		{ID: "hung", Error: "timeout"},
	}
	if !slices.Equal(got, wantResults) {
		t.Errorf("results:\n got %+v\nwant %+v", got, wantResults)
	}
	if got[1].SHA256 == want {
		t.Error("the liar's bytes hash as the honest ones")
	}
	// The audits not run (ftp, too long, negative) count nowhere.
	if c, wantCounts := a.counts(), (AuditCounts{Fetched: 2, WrongAnswer: 5, Timeout: 1, Error: 1}); c != wantCounts {
		t.Errorf("counts %+v, want %+v", c, wantCounts)
	}

	// As a plain user: a real client's User-Agent, the Range asked, nothing of odi's.
	for _, s := range []*auditedSeed{honest, liar, busy, whole, shifted, short, long, hung} {
		s.mu.Lock()
		reqs := slices.Clone(s.requests)
		s.mu.Unlock()
		if len(reqs) != 1 {
			t.Fatalf("%s: %d requests, want 1", s.url, len(reqs))
		}
		r := reqs[0]
		if r.Method != http.MethodGet || r.Header.Get("Range") != fmt.Sprintf("bytes=%d-%d", off, off+n-1) {
			t.Errorf("%s: %s with Range %q", s.url, r.Method, r.Header.Get("Range"))
		}
		if !useragent.IsUser(r.UserAgent()) {
			t.Errorf("%s: User-Agent %q is not a known client's", s.url, r.UserAgent())
		}
		for k, vs := range r.Header {
			if strings.Contains(strings.ToLower(k+strings.Join(vs, " ")), "odi") || k == "Authorization" {
				t.Errorf("%s: header %s: %q tells an audit from a user", s.url, k, vs)
			}
		}
	}
}

// At most maxAuditsPerPlan audits of a plan run, auditWorkers at a time.
func TestAuditBounds(t *testing.T) {
	data := make([]byte, 1<<16)
	release := make(chan struct{})
	s := startAuditedSeed(t, data, func(w http.ResponseWriter, r *http.Request, body []byte) {
		<-release
		serveContent(w, r, body)
	})
	var asked []relayapi.Audit
	for i := range 3 * maxAuditsPerPlan {
		asked = append(asked, relayapi.Audit{ID: fmt.Sprint(i), URL: s.url, Offset: int64(i), Length: 100})
	}
	a := newAuditor(nil, slog.New(slog.DiscardHandler))
	done := make(chan []relayapi.AuditResult)
	go func() { done <- a.run(context.Background(), asked) }()
	// Let the requests through one by one: no more than auditWorkers are ever waiting.
	var got []relayapi.AuditResult
	for got == nil {
		select {
		case release <- struct{}{}:
		case got = <-done:
		}
	}
	if len(got) != maxAuditsPerPlan {
		t.Fatalf("%d results for %d audits, want %d", len(got), len(asked), maxAuditsPerPlan)
	}
	for i, r := range got {
		if r.ID != fmt.Sprint(i) || r.Error != "" || r.SHA256 == "" {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	if m := s.maxIn.Load(); m > auditWorkers {
		t.Errorf("%d audits at once, want at most %d", m, auditWorkers)
	}
}

func TestRangeIs(t *testing.T) {
	for _, tc := range []struct {
		cr          string
		first, last int64
		want        bool
	}{
		{"bytes 10-19/100", 10, 19, true},
		{"bytes 10-19/*", 10, 19, true},
		{"bytes 10-19/20", 10, 19, true},
		{"bytes 10-19/19", 10, 19, false}, // the range does not fit the size
		{"bytes 10-20/100", 10, 19, false},
		{"bytes 9-19/100", 10, 19, false},
		{"bytes 10-19/1e3", 10, 19, false},
		{"bytes 10-19/", 10, 19, false},
		{"", 10, 19, false},
		{"items 10-19/100", 10, 19, false},
	} {
		if got := rangeIs(tc.cr, tc.first, tc.last); got != tc.want {
			t.Errorf("rangeIs(%q, %d, %d) = %v, want %v", tc.cr, tc.first, tc.last, got, tc.want)
		}
	}
}

// What a heartbeat carries: bad pieces once each until sent, at most MaxReports; audit
// results a plan's worth at a time; all of it back after a heartbeat that failed.
func TestOutbox(t *testing.T) {
	var o outbox
	bp := func(i int) relayapi.BadPiece {
		return relayapi.BadPiece{InfoHash: "ih", Piece: i, WebSeed: "http://r/ws/ih/"}
	}
	for i := range relayapi.MaxReports + 10 {
		o.addBad(bp(i))
		o.addBad(bp(i))
	}
	var results []relayapi.AuditResult
	for i := range maxAuditsPerPlan + 3 {
		results = append(results, relayapi.AuditResult{ID: fmt.Sprint(i), SHA256: "x"})
	}
	o.addAudits(results)

	var failed relayapi.Heartbeat
	o.fill(&failed)
	if len(failed.BadPieces) != relayapi.MaxReports || failed.BadPieces[1] != bp(1) {
		t.Fatalf("heartbeat carries %d bad pieces, want the first %d once each", len(failed.BadPieces), relayapi.MaxReports)
	}
	if !slices.Equal(failed.Audits, results[:maxAuditsPerPlan]) {
		t.Fatalf("heartbeat carries audits %v, want the first %d", failed.Audits, maxAuditsPerPlan)
	}
	o.addBad(bp(1)) // seen again while the heartbeat was out
	o.restore(failed)

	var sent relayapi.Heartbeat
	o.fill(&sent)
	if len(sent.BadPieces) != relayapi.MaxReports || !slices.Contains(sent.BadPieces, bp(0)) {
		t.Fatalf("after a failed heartbeat the next carries %d bad pieces, want the %d again", len(sent.BadPieces), relayapi.MaxReports)
	}
	if !slices.Equal(sent.Audits, results[:maxAuditsPerPlan]) {
		t.Fatalf("after a failed heartbeat the next carries audits %v, want the first %d again", sent.Audits, maxAuditsPerPlan)
	}
	var next relayapi.Heartbeat
	o.fill(&next)
	if len(next.BadPieces) != 0 || !slices.Equal(next.Audits, results[maxAuditsPerPlan:]) {
		t.Fatalf("the heartbeat after carries %v and audits %v, want no bad pieces and the last results", next.BadPieces, next.Audits)
	}
	if !o.addBad(bp(0)) {
		t.Error("a bad piece seen again after it was sent is not reported again")
	}
}
