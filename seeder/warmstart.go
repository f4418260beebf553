package seeder

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/webseed"
)

// Warm start: anacrolix v1.61.0 plans web-seed requests on a fixed 5 s client timer
// (webseedRequestUpdateTimerInterval in its client.go) that no setting or call shortens, so a
// relay filling an artifact from web seeds alone waited 0–5 s for its first byte. Alongside
// the client, a few workers fetch the missing pieces from the same web seeds with ranged
// GETs (anacrolix's own BEP 19 client builds the URLs and splits a piece across the files of
// a package), check each piece's SHA-1 before it touches the disk, write it through the
// torrent's storage and have the client verify it, which marks it complete. A piece the
// client has, is checking, or has begun is left to the client.

const (
	// warmWorkers is how many pieces warm start fetches at once, relay-wide, which bounds
	// its memory to that many pieces (64 MiB at the 16 MiB maximum piece length). In
	// scripts/bench/webseed.sh (1 GiB, 2 busy cores) 8 filled no faster than 4: the
	// client's completion of each piece (hash, then fsync of the file) sets the pace.
	warmWorkers = 4
	// warmIdleTimeout abandons a piece's request when no byte has come for this long: the
	// bound anacrolix puts on its own web-seed response bodies (newIdleTimeoutReader, 30 s in
	// torrent.go), which a slow download limit cannot trip the way a total timeout would.
	warmIdleTimeout = 30 * time.Second
)

// errWarmIdle is the cause of a warm-start request cancelled by warmIdleTimeout.
var errWarmIdle = errors.New("no bytes for " + warmIdleTimeout.String())

// newWarmClient is warm start's HTTP client: every step bounded, no proxy, and no redirect
// followed (url-lists name relays and origins directly; a redirect leaves the piece to the
// BitTorrent client).
func newWarmClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: warmIdleTimeout,
			MaxIdleConnsPerHost:   warmWorkers,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// webSeeds returns the url-list entries a relay downloads from: http(s) URLs other than its
// own (its /ws/ serves only what it has verified), and for a package only base URLs ending
// in "/", the only ones BEP 19 appends the name and path to (anacrolix v1.61.0 ignores the
// others and the download hangs).
func webSeeds(urlList []string, publicURL string, isDir bool) []string {
	self := strings.TrimRight(publicURL, "/") + "/"
	var out []string
	for _, s := range urlList {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			strings.HasPrefix(s, self) || (isDir && !strings.HasSuffix(s, "/")) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// pieceClaims hands out each piece index once, the last piece first: the client's web-seed
// requests run forward from the start of each 64 MiB slice of the torrent and stop at the
// first piece it has, so warm start begins where the client arrives last and the two meet
// instead of fetching the same pieces (going forward instead filled 1 GiB no faster).
type pieceClaims struct{ next atomic.Int64 }

func newPieceClaims(n int) *pieceClaims {
	c := &pieceClaims{}
	c.next.Store(int64(n))
	return c
}

// claim returns the next piece to try, or false when none is left.
func (c *pieceClaims) claim() (int, bool) {
	i := c.next.Add(-1)
	return int(i), i >= 0
}

// untouched reports whether the client neither has a piece nor has begun or is checking
// it: only then may warm start write it. The client's writes of a piece it has begun are
// not visible to us, and could complete it (and move its file) under our write.
func untouched(s torrent.PieceState) bool {
	return s.Ok && !s.Complete && !s.Partial && !s.Checking && !s.Marking
}

// warmFill is one holding's warm start.
type warmFill struct {
	r      *Relay
	h      *holding
	seeds  []*webseed.Client
	failed []atomic.Bool // a web seed that failed once is not asked again by this fill
	claims *pieceClaims
	pieces atomic.Int64 // completed by this fill
}

// warmStart fills h's missing pieces from its web seeds until the torrent is complete or
// closed (dropped, removed, or the client closed) or no piece is left to try. When it
// returns nothing of it writes to h's files any more.
func (r *Relay) warmStart(h *holding) {
	if len(h.seeds) == 0 || h.t.Complete().Bool() {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-h.t.Closed():
		case <-h.t.Complete().On():
		case <-ctx.Done():
		}
		cancel()
	}()
	// The client hash-checks every piece of a torrent new to it before it asks for any
	// (quickly, reading nothing, while the files do not exist): warm start must not take a
	// piece that check would find complete.
	began := time.Now()
	allKnown := func() bool {
		return !slices.ContainsFunc(h.t.PieceStateRuns(), func(r torrent.PieceStateRun) bool { return !r.Ok || r.Checking })
	}
	if !awaitPieces(ctx, h.t, allKnown) {
		return
	}
	info := h.t.Info()
	files := info.FileSegmentsIndex()
	f := &warmFill{r: r, h: h, failed: make([]atomic.Bool, len(h.seeds)), claims: newPieceClaims(info.NumPieces())}
	for _, u := range h.seeds {
		c := &webseed.Client{Logger: r.log, HttpClient: r.warmHTTP, Url: u}
		if r.down != nil {
			c.ResponseBodyWrapper = func(body io.Reader, _ func()) io.Reader { return limitedReader{r: body, down: r.down} }
		}
		c.SetInfo(info, &files)
		f.seeds = append(f.seeds, c)
	}
	var wg sync.WaitGroup
	for range warmWorkers {
		wg.Go(func() { f.work(ctx, info.PieceLength) })
	}
	wg.Wait()
	if n := f.pieces.Load(); n > 0 {
		r.log.Info("relay: warm start filled pieces from web seeds", "artifact", h.item.ID,
			"pieces", n, "of", info.NumPieces(), "seconds", time.Since(began).Seconds())
	}
}

// awaitPieces waits until cond holds, testing it after every piece state change, and
// reports false if ctx ends first.
func awaitPieces(ctx context.Context, t *torrent.Torrent, cond func() bool) bool {
	changes := t.SubscribePieceStateChanges()
	defer changes.Close()
	for !cond() {
		select {
		case <-changes.Values:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// work takes a relay-wide worker slot, then fills claimed pieces until none is left, every
// web seed has failed, or ctx ends.
func (f *warmFill) work(ctx context.Context, pieceLength int64) {
	select {
	case f.r.warmSlots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-f.r.warmSlots }()
	buf := make([]byte, pieceLength)
	for ctx.Err() == nil {
		i, ok := f.claims.claim()
		if !ok || !f.piece(ctx, i, buf) {
			return
		}
	}
}

// piece fills piece i from the first web seed whose bytes match its hash, writes it and
// has the client verify it. It reports false when no web seed is left to ask.
func (f *warmFill) piece(ctx context.Context, i int, buf []byte) bool {
	p := f.h.t.Piece(i)
	if !untouched(p.State()) {
		return true
	}
	mp := p.Info()
	want, ok := mp.V1Hash().AsTuple()
	if !ok {
		return true
	}
	buf = buf[:mp.Length()]
	for k := range f.seeds {
		s := (i + k) % len(f.seeds) // spread the pieces over the seeds; the others are fallbacks
		if f.failed[s].Load() {
			continue
		}
		err := f.fetch(ctx, f.seeds[s], mp.Offset(), buf)
		if err == nil && metainfo.Hash(sha1.Sum(buf)) != want {
			f.r.warmRejected.Add(1)
			err = fmt.Errorf("piece %d does not match its hash", i)
		}
		if errors.Is(err, webseed.ErrTooFast) {
			// 503: a rationing origin sent this piece to the swarm moments ago. Another
			// web seed may have it, else the client takes it from a peer; this one stays
			// good for the other pieces.
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			f.failed[s].Store(true)
			f.r.log.Warn("relay: warm start stops asking a web seed; the BitTorrent client still does",
				"artifact", f.h.item.ID, "webseed", f.seeds[s].Url, "err", err)
			continue
		}
		if !untouched(p.State()) { // the client took it up meanwhile
			return true
		}
		if _, err := p.Storage().WriteAt(buf, 0); err != nil {
			f.r.log.Warn("relay: warm start cannot write a piece", "artifact", f.h.item.ID, "piece", i, "err", err)
			return true
		}
		// The client marks the piece complete if it matches its hash. It counts the check
		// done before it has marked the piece: wait for that too.
		_ = p.VerifyDataContext(ctx) // an error only when ctx ends or the torrent closes
		awaitPieces(ctx, f.h.t, func() bool { s := p.State(); return !s.Checking && !s.Marking })
		if p.State().Complete {
			f.pieces.Add(1)
			f.r.warmPieces.Add(1)
		}
		return true
	}
	for s := range f.failed {
		if !f.failed[s].Load() {
			return true
		}
	}
	return false
}

// fetch reads the torrent's bytes [off, off+len(buf)) from one web seed into buf, counting
// them as web-seed bytes, and gives up when none has come for warmIdleTimeout.
func (f *warmFill) fetch(ctx context.Context, c *webseed.Client, off int64, buf []byte) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(warmIdleTimeout, func() { cancel(errWarmIdle) })
	defer idle.Stop()
	req := c.StartNewRequest(ctx, webseed.RequestSpec{Start: off, Length: int64(len(buf))}, f.r.log)
	defer req.Close()
	body := &progressReader{r: req.Body, n: &f.h.warmBytes, idle: idle}
	_, err := io.ReadFull(body, buf)
	if err == nil {
		// Read to the end (the library checks the length): the connection is then reused.
		_, err = io.Copy(io.Discard, body)
	}
	if err != nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// progressReader counts the bytes read and pushes the idle timer back after each read.
type progressReader struct {
	r    io.Reader
	n    *atomic.Int64
	idle *time.Timer
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n.Add(int64(n))
	p.idle.Reset(warmIdleTimeout)
	return n, err
}

// WarmStarted reports what warm start did since the relay started: the pieces it
// completed, and those it fetched whose bytes failed their hash (never written; the
// BitTorrent client fetches them), for metrics and tests.
func (r *Relay) WarmStarted() (pieces, rejected int64) {
	return r.warmPieces.Load(), r.warmRejected.Load()
}
