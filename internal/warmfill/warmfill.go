package warmfill

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/anacrolix/torrent/webseed"
)

// IdleTimeout abandons a piece's request when no byte has come for this long: the bound
// anacrolix puts on its own web-seed response bodies (newIdleTimeoutReader, 30 s in
// torrent.go), which a slow download limit cannot trip the way a total timeout would.
const IdleTimeout = 30 * time.Second

// errIdle is the cause of a request cancelled by IdleTimeout.
var errIdle = errors.New("no bytes for " + IdleTimeout.String())

// A piece's request is also abandoned once it has taken slowFactor times as long as this
// pass's pieces typically take, and at least minSlow: a web seed that trickles a byte now
// and then never trips IdleTimeout, and held the workers that asked it, and the pieces
// they had claimed, for as long as it liked. Relative to the pass's own pieces, a slow
// link or a download limit (every piece slow alike) trips nothing.
const (
	slowFactor = 8
	minSlow    = 5 * time.Second
)

// errSlow is the cause of a request abandoned as too slow.
var errSlow = errors.New("far slower than the other pieces")

// NewHTTPClient returns an HTTP client for Fill: every step bounded, no proxy, idle
// connections kept for conns workers, and no redirect followed (url-lists name relays
// and origins directly; a redirect leaves the piece to the BitTorrent client).
func NewHTTPClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: IdleTimeout,
			MaxIdleConnsPerHost:   conns,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// WebSeeds returns the url-list entries Fill (and the client) can download from: http(s)
// URLs not under exclude (a relay's own URL: its /ws/ serves only what it has verified;
// "" excludes nothing), and for a package only base URLs ending in "/", the only ones
// BEP 19 appends the name and path to (anacrolix v1.61.0 ignores the others and the
// download hangs).
func WebSeeds(urlList []string, exclude string, isDir bool) []string {
	self := ""
	if exclude != "" {
		self = strings.TrimRight(exclude, "/") + "/"
	}
	var out []string
	for _, s := range urlList {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(self != "" && strings.HasPrefix(s, self)) || (isDir && !strings.HasSuffix(s, "/")) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// NewStorage returns the file storage of opts without part files, the only storage Fill
// may write to (see the package doc); every other option is the caller's.
func NewStorage(opts storage.NewFileClientOpts) storage.ClientImplCloser {
	opts.UsePartFiles = generics.Some(false)
	return storage.NewFileOpts(opts)
}

// Options are what one Fill uses.
type Options struct {
	// Seeds are the web seeds to fetch from (see WebSeeds).
	Seeds []string
	// HTTP makes the requests (NewHTTPClient).
	HTTP *http.Client
	// Slots bounds the pieces in flight, and with them the memory (one piece each): a
	// worker holds a slot while it works. Fills that share a channel share its capacity.
	Slots chan struct{}
	// Body, when set, wraps every response body (a download rate limit).
	Body func(io.Reader) io.Reader
	// Read, Pieces and Rejected, when set, count the bytes read from web seeds, the pieces
	// completed, and those whose bytes failed their hash (never written); Used counts the
	// bytes of the pieces completed (Read less what was discarded).
	Read, Pieces, Rejected, Used *atomic.Int64
	// Log and Name (the artifact, for its lines) say what Fill did.
	Log  *slog.Logger
	Name string
	// Again, when set, makes Fill go over the missing pieces again this long after a pass
	// that left some, until none is left: a pass skips the pieces a rationing origin
	// calls busy (they are in the swarm, or relays come first), and the next asks again.
	// Without it Fill makes one pass.
	Again time.Duration
	// MoreSeeds, when set, is asked before each pass after the first for web seeds to add
	// (relays listed since); it returns those not known yet or nothing.
	MoreSeeds func(ctx context.Context) []string
	// BusyLimit, when set, ends a pass's use of a web seed after that many busy answers
	// (503) in a row from it: a rationing origin that serves relays first calls every
	// piece busy, and a crowd's clients asking it for each would keep it, and the
	// machine, busy answering.
	BusyLimit int
	// BadPiece, when set, is told of a piece whose bytes from a web seed (its url-list
	// entry) failed the piece's hash, once per piece and web seed in a Fill however many
	// passes ask again, so that the caller can report the web seed to the directory. It
	// is called from Fill's workers and must not block.
	BadPiece func(piece int, webSeed string)
	// Missed, when set, is told of each piece a pass could not take from any web seed
	// (busy, failed, or bytes that do not match), and at the end of each pass of every
	// piece still missing that the client has not begun: a caller whose client downloads
	// only the pieces it is given (odi fetch) gives it these. It is called from Fill's
	// workers, possibly more than once for a piece, and must not block.
	Missed func(piece int)
	// InOrder makes each pass claim the missing pieces forward from the first, for a
	// caller that reads the download in order as it completes; otherwise a pass starts at
	// a random piece and goes backwards (see pieceClaims).
	InOrder bool
	// MarkWritten records a piece complete once written, its SHA-1 checked in memory,
	// instead of having the client read it back and hash it again: that second hash, and
	// the page faults of the client's mapped reads, were a third of odi fetch's CPU. Only
	// for a caller that checks the whole download again at the end (odi fetch, against the
	// catalog's sha256): a peer's chunk that the client writes into the piece between the
	// check and the mark is not caught before then.
	MarkWritten bool
}

// Fill fills t's missing pieces from the web seeds until t is complete or closed, ctx
// ends, or no piece is left to try (see Options.Again); when it returns it writes nothing
// to t any more. Call it after t has its info and is set to download.
func Fill(ctx context.Context, t *torrent.Torrent, opts Options) {
	if (len(opts.Seeds) == 0 && opts.MoreSeeds == nil) || t.Complete().Bool() {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-t.Closed():
		case <-t.Complete().On():
		case <-ctx.Done():
		}
		cancel()
	}()
	// The client hash-checks every piece of a torrent new to it before it asks for any
	// (quickly, reading nothing, while the files do not exist): Fill must not take a
	// piece that check would find complete.
	began := time.Now()
	allKnown := func() bool {
		return !slices.ContainsFunc(t.PieceStateRuns(), func(r torrent.PieceStateRun) bool { return !r.Ok || r.Checking })
	}
	if !awaitPieces(ctx, t, allKnown) {
		return
	}
	info := t.Info()
	files := info.FileSegmentsIndex()
	var seeds []*webseed.Client
	addSeeds := func(urls []string) {
		for _, u := range urls {
			c := &webseed.Client{Logger: opts.Log, HttpClient: opts.HTTP, Url: u}
			if opts.Body != nil {
				c.ResponseBodyWrapper = func(body io.Reader, _ func()) io.Reader { return opts.Body(body) }
			}
			c.SetInfo(info, &files)
			seeds = append(seeds, c)
		}
	}
	addSeeds(opts.Seeds)
	bad := &badPieces{tell: opts.BadPiece, seen: map[badPiece]bool{}}
	var pieces int64
	for pass := 0; ctx.Err() == nil; pass++ {
		if pass > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(opts.Again):
			}
			if opts.MoreSeeds != nil && ctx.Err() == nil {
				addSeeds(opts.MoreSeeds(ctx))
			}
		}
		if len(seeds) > 0 && ctx.Err() == nil {
			passBegan := time.Now()
			n := passOver(ctx, t, opts, seeds, bad, info.PieceLength, pass)
			pieces += n
			opts.Log.Debug("warm fill: pass", "artifact", opts.Name, "pass", pass, "pieces", n,
				"bytes_missing", t.BytesMissing(), "seconds", time.Since(passBegan).Seconds())
		}
		if opts.Again <= 0 {
			break
		}
	}
	if pieces > 0 {
		opts.Log.Info("warm fill: pieces from web seeds", "artifact", opts.Name,
			"pieces", pieces, "of", info.NumPieces(), "seconds", time.Since(began).Seconds())
	}
}

// passOver makes one pass over t's missing pieces with the workers the slots allow, and
// returns how many pieces it completed.
func passOver(ctx context.Context, t *torrent.Torrent, opts Options, seeds []*webseed.Client, bad *badPieces, pieceLength int64, pass int) int64 {
	n := t.Info().NumPieces()
	claims := backwardsFromRandom(n)
	if opts.InOrder {
		claims = newPieceClaims(n, 0, 1)
	}
	f := &fill{opts: opts, t: t, seeds: seeds, seedState: make([]seedState, len(seeds)), claims: claims, bad: bad, pass: pass,
		checking: make(chan struct{}, cap(opts.Slots))}
	var wg sync.WaitGroup
	for range cap(opts.Slots) {
		wg.Go(func() { f.work(ctx, pieceLength) })
	}
	wg.Wait()
	f.checks.Wait()
	if opts.Missed != nil && ctx.Err() == nil {
		for i := range n {
			if s := t.Piece(i).State(); untouched(s) {
				opts.Missed(i)
			}
		}
	}
	return f.pieces.Load()
}

// pieceClaims hands out each piece index once, from start in steps of step (1 or -1),
// wrapping around. By default a pass goes backwards from a random piece: the client's
// web-seed requests run forward from the start of each 64 MiB slice of the torrent and
// stop at the first piece it has, so Fill goes the other way and the two meet instead of
// fetching the same pieces (going forward instead filled 1 GiB no faster); and a crowd's
// fills begin at different pieces, so a rationing origin hands each its own at once
// instead of one piece to one of them and 503s to the rest.
type pieceClaims struct {
	next           atomic.Int64
	n, start, step int64
}

func newPieceClaims(n, start, step int) *pieceClaims {
	return &pieceClaims{n: int64(n), start: int64(start), step: int64(step)}
}

func backwardsFromRandom(n int) *pieceClaims { return newPieceClaims(n, rand.IntN(max(n, 1)), -1) }

// claim returns the next piece to try, or false when none is left.
func (c *pieceClaims) claim() (int, bool) {
	k := c.next.Add(1) - 1
	if k >= c.n {
		return 0, false
	}
	return int(((c.start+c.step*k)%c.n + c.n) % c.n), true
}

// untouched reports whether the client neither has a piece nor has begun or is checking
// it: only then may Fill write it. The client can still take the piece up between this
// check and our write. That is harmless only because both write to the same place and
// the piece is hash-checked after (a peer's wrong bytes fail it and are fetched again),
// which is why Fill needs storage without part files: with them a write moves files.
func untouched(s torrent.PieceState) bool {
	return s.Ok && !s.Complete && !s.Partial && !s.Checking && !s.Marking
}

// fill is one pass of a torrent's Fill.
type fill struct {
	opts      Options
	t         *torrent.Torrent
	seeds     []*webseed.Client
	seedState []seedState
	claims    *pieceClaims
	bad       *badPieces     // the Fill's, across passes
	pieces    atomic.Int64   // completed by this pass
	pass      int            // 0 for the first
	checks    sync.WaitGroup // the client's checks of the pieces written
	checking  chan struct{}  // bounds the checks in flight: a slot each
	typical   atomic.Int64   // nanoseconds a piece's request takes (took)
}

// seedState is what a pass learned of one web seed.
type seedState struct {
	failed atomic.Bool  // it failed once: not asked again in this pass
	busy   atomic.Int64 // busy answers in a row
}

// usable reports whether the pass may still ask seed s.
func (f *fill) usable(s int) bool {
	st := &f.seedState[s]
	return !st.failed.Load() && (f.opts.BusyLimit <= 0 || st.busy.Load() < int64(f.opts.BusyLimit))
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

// work takes a worker slot, then fills claimed pieces until none is left, every web seed
// has failed, or ctx ends.
func (f *fill) work(ctx context.Context, pieceLength int64) {
	select {
	case f.opts.Slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-f.opts.Slots }()
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
func (f *fill) piece(ctx context.Context, i int, buf []byte) bool {
	p := f.t.Piece(i)
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
		if !f.usable(s) {
			continue
		}
		err := f.fetch(ctx, f.seeds[s], mp.Offset(), buf)
		if err == nil && metainfo.Hash(sha1.Sum(buf)) != want {
			add(f.opts.Rejected, 1)
			f.bad.add(i, f.seeds[s].Url)
			err = fmt.Errorf("piece %d does not match its hash", i)
		}
		if errors.Is(err, webseed.ErrTooFast) {
			// 503: a rationing origin sent this piece to the swarm moments ago, or serves
			// relays first. Another web seed may have it, else the client takes it from a
			// peer; this one stays good for the other pieces, unless it says busy to all.
			f.seedState[s].busy.Add(1)
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			f.seedState[s].failed.Store(true)
			level := slog.LevelWarn
			if f.pass > 0 { // said once is enough
				level = slog.LevelDebug
			}
			f.opts.Log.Log(ctx, level, "warm fill: stops asking a web seed for now; the BitTorrent client still does",
				"artifact", f.opts.Name, "webseed", f.seeds[s].Url, "err", err)
			continue
		}
		f.seedState[s].busy.Store(0)
		if !untouched(p.State()) { // the client took it up meanwhile
			return true
		}
		if _, err := p.Storage().WriteAt(buf, 0); err != nil {
			f.opts.Log.Warn("warm fill: cannot write a piece", "artifact", f.opts.Name, "piece", i, "err", err)
			return true
		}
		n := int64(len(buf))
		if f.opts.MarkWritten {
			f.mark(p, n)
			return true
		}
		// The client marks the piece complete if it matches its hash, while this worker
		// fetches the next: the check reads the piece back and hashes it again, about as
		// long as fetching it from a web seed on the same network.
		select {
		case f.checking <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		f.checks.Go(func() {
			defer func() { <-f.checking }()
			_ = p.VerifyDataContext(ctx) // an error only when ctx ends or the torrent closes
			// The client counts the check done before it has marked the piece: wait for that too.
			awaitPieces(ctx, f.t, func() bool { s := p.State(); return !s.Checking && !s.Marking })
			if p.State().Complete {
				f.pieces.Add(1)
				add(f.opts.Pieces, 1)
				add(f.opts.Used, n)
			}
		})
		return true
	}
	if f.opts.Missed != nil {
		f.opts.Missed(i)
	}
	for s := range f.seeds {
		if f.usable(s) {
			return true
		}
	}
	return false
}

// mark records piece p, n bytes written and checked, complete (Options.MarkWritten), and
// has the client take the record as it takes a check's.
func (f *fill) mark(p *torrent.Piece, n int64) {
	if err := p.Storage().MarkComplete(); err != nil {
		f.opts.Log.Warn("warm fill: cannot record a piece", "artifact", f.opts.Name, "piece", p.Info().Index(), "err", err)
		return
	}
	p.UpdateCompletion()
	if p.State().Complete {
		f.pieces.Add(1)
		add(f.opts.Pieces, 1)
		add(f.opts.Used, n)
	}
}

// badPieces tells Options.BadPiece of each bad piece and web seed once.
type badPieces struct {
	tell func(piece int, webSeed string) // nil: nobody asked
	mu   sync.Mutex
	seen map[badPiece]bool
}

type badPiece struct {
	piece int
	seed  string
}

func (b *badPieces) add(piece int, seed string) {
	if b.tell == nil {
		return
	}
	k := badPiece{piece, seed}
	b.mu.Lock()
	first := !b.seen[k]
	b.seen[k] = true
	b.mu.Unlock()
	if first {
		b.tell(piece, seed)
	}
}

func add(n *atomic.Int64, d int64) {
	if n != nil {
		n.Add(d)
	}
}

// fetch reads the torrent's bytes [off, off+len(buf)) from one web seed into buf, and
// gives up when none has come for IdleTimeout, or when it is far slower than the pass's
// other pieces (slowFactor).
func (f *fill) fetch(ctx context.Context, c *webseed.Client, off int64, buf []byte) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(IdleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()
	began := time.Now()
	var slow *time.Timer
	slow = time.AfterFunc(minSlow, func() {
		if ctx.Err() != nil { // done: the timer stops here
			return
		}
		if typical := time.Duration(f.typical.Load()); typical > 0 && time.Since(began) > slowFactor*typical {
			cancel(errSlow)
			return
		}
		slow.Reset(time.Second)
	})
	defer slow.Stop()
	req := c.StartNewRequest(ctx, webseed.RequestSpec{Start: off, Length: int64(len(buf))}, f.opts.Log)
	defer req.Close()
	body := &progressReader{r: req.Body, n: f.opts.Read, idle: idle}
	_, err := io.ReadFull(body, buf)
	if err == nil {
		// Read to the end (the library checks the length): the connection is then reused.
		_, err = io.Copy(io.Discard, body)
	}
	if err != nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if err == nil {
		f.took(time.Since(began))
	}
	return err
}

// took adds a piece's time to the pass's typical one, a moving average over about the
// last eight pieces.
func (f *fill) took(d time.Duration) {
	for {
		old := f.typical.Load()
		next := int64(d)
		if old > 0 {
			next = old + (int64(d)-old)/8
		}
		if f.typical.CompareAndSwap(old, next) {
			return
		}
	}
}

// progressReader counts the bytes read and pushes the idle timer back after each read.
type progressReader struct {
	r    io.Reader
	n    *atomic.Int64
	idle *time.Timer
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	add(p.n, int64(n))
	p.idle.Reset(IdleTimeout)
	return n, err
}
