package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opendist/odi/internal/byterange"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/pieces"
	"github.com/opendist/odi/internal/useragent"
)

// Audits: the directory fetches pieces of what relays hold and checks them against the
// piece hashes, in requests a relay cannot tell from its users' (internal/useragent, rangeShape).
//
// Each round (relays.audit_interval, jittered per relay) audits up to relays.audit_bytes
// of a relay: first the pieces users reported bad (audit_reports.go), then the next
// pieces of a sweep of one of its holdings, drawn in proportion to their pieces. A sweep
// walks the holding's pieces in a random order that visits each once (a random start and
// a stride prime to the count) before it starts over. At the defaults (4 MiB every 10 s)
// a relay holding one 64 MiB artifact of 256 KiB pieces has all 256 pieces checked in 16
// rounds: a relay corrupting one of them is caught after 8.5 rounds on average and 16 at
// worst, about 85 s and 160 s (plus jitter, at most 5 s a round). Six such relays on
// loopback were quarantined after 13 to 124 s (74 s on average); relays turning every
// byte bad, after 2 to 5 s. A relay holding more is swept more slowly, in proportion:
// 4 MiB per 10 s is 1.4 GiB an hour. Reports and cross-audits (audit_cross.go) point
// audits at the pieces users saw bad.

// pieceRef names one piece of an artifact.
type pieceRef struct {
	ih    metainfo.Hash
	piece int
}

// relayAudit is what the directory keeps to audit one relay (under relays.mu).
type relayAudit struct {
	sweeps map[metainfo.Hash]*sweep
	// reported are pieces reported bad, to audit directly first; cross, the same pieces
	// to hand out as cross-audits first. Both are bounded by maxQueued.
	reported, cross []pieceRef
	// reporters are who reported the relay's pieces bad, with when, within reportWindow.
	reporters map[string]time.Time
	// kicked is when a report last started an audit round out of turn.
	kicked time.Time
	// accusers are the relays whose cross-audits got bad bytes from this one during its
	// current suspension; vouchers, those that got good bytes since.
	accusers, vouchers map[string]*relay
}

// maxQueued bounds a relay's queues of reported pieces.
const maxQueued = 16

// queue adds p to q unless it is there or q is full.
func queue(q []pieceRef, p pieceRef) []pieceRef {
	if len(q) >= maxQueued || slices.Contains(q, p) {
		return q
	}
	return append(q, p)
}

// sweep visits each of n pieces once, in the order start, start+stride, ... (mod n).
type sweep struct {
	n, start, stride, k int
}

func newSweep(n int) *sweep {
	s := &sweep{n: n, start: rand.IntN(n), stride: 1}
	// Strides prime to n are common (at least 1 in 8 below 2^31 on average), so a few
	// draws find one; 1 is always one.
	for range 32 {
		if st := 1 + rand.IntN(max(n-1, 1)); gcd(st, n) == 1 {
			s.stride = st
			break
		}
	}
	return s
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// next is the sweep's next piece; after the n-th, a new order begins.
func (s *sweep) next() int {
	if s.k == s.n {
		*s = *newSweep(s.n)
	}
	i := (s.start + s.k*s.stride) % s.n
	s.k++
	return i
}

// pieces is how many pieces a's torrent has.
func (a *Artifact) pieces() int {
	if a.PieceLength <= 0 {
		return 0
	}
	return int((a.Size + a.PieceLength - 1) / a.PieceLength)
}

// layout is where a's files and pieces lie in its torrent's byte stream.
func (a *Artifact) layout() pieces.Layout {
	sizes := make([]int64, len(a.Files))
	for i, f := range a.Files {
		sizes[i] = f.Size
	}
	return pieces.NewLayout(a.PieceLength, sizes)
}

// auditRound starts an audit of every relay that users are sent to, or that is
// suspended: audits find the bad bytes that confirm a suspension.
func (c *Catalog) auditRound() {
	if c.cfg.Relays.AuditBytes == 0 {
		return
	}
	now := c.now()
	c.relays.mu.Lock()
	defer c.relays.mu.Unlock()
	for _, r := range c.relays.byID {
		if status, _ := c.status(r, now); status == StatusUp || status == StatusSuspect || status == StatusSuspended {
			c.startAudit(r, true)
		}
	}
}

// startAudit starts an audit round of r unless one runs (caller holds the lock); with
// jitter, at a random moment of the first half of the interval.
func (c *Catalog) startAudit(r *relay, jitter bool) {
	c.check(r, flightAudit, func(ctx context.Context) {
		if !jitter || sleepJitter(ctx, c.cfg.Relays.AuditInterval) {
			c.auditRelay(ctx, r)
		}
	})
}

// auditRelay audits r's reported pieces, then AuditBytes of its sweeps, and counts the
// outcome as a check: an audit that gets no answer is a failed check, one that gets
// good bytes a passed one.
func (c *Catalog) auditRelay(ctx context.Context, r *relay) {
	if !acquire(ctx, c.relays.audits) {
		return
	}
	defer func() { <-c.relays.audits }()
	reported, swept := c.auditPlan(r)
	n, err := c.auditSpans(ctx, r, kindReported, reported)
	if err == nil {
		var m int
		m, err = c.auditSpans(ctx, r, kindDirect, swept)
		n += m
	}
	if ctx.Err() != nil || errors.Is(err, ErrCorruptPiece) {
		return
	}
	if err != nil || n > 0 {
		c.countCheck(r, err)
	}
}

// auditPlan takes r's reported pieces and draws AuditBytes of pieces from its sweeps.
func (c *Catalog) auditPlan(r *relay) (reported, swept []pieceRef) {
	byHash := c.view.Load().byHash
	c.relays.mu.Lock()
	defer c.relays.mu.Unlock()
	reported, r.audit.reported = r.audit.reported, nil
	if r.audit.sweeps == nil {
		r.audit.sweeps = map[metainfo.Hash]*sweep{}
	}
	var arts []*Artifact
	var upTo []int // cumulative pieces, for a draw in proportion to them
	total := 0
	for ih, h := range r.held {
		if a := byHash[ih]; a != nil && a.State == catalogapi.Published && h.Verified && a.pieces() > 0 {
			total += a.pieces()
			arts, upTo = append(arts, a), append(upTo, total)
		}
	}
	for ih := range r.audit.sweeps {
		if h := r.held[ih]; h == nil || !h.Verified {
			delete(r.audit.sweeps, ih)
		}
	}
	budget := int64(c.cfg.Relays.AuditBytes)
	for i := 0; budget > 0 && total > 0 && i < maxSweepPieces; i++ {
		j, _ := slices.BinarySearch(upTo, rand.IntN(total)+1)
		a := arts[j]
		s := r.audit.sweeps[a.InfoHash]
		if s == nil {
			s = newSweep(a.pieces())
			r.audit.sweeps[a.InfoHash] = s
		}
		swept = append(swept, pieceRef{a.InfoHash, s.next()})
		budget -= a.PieceLength
	}
	return reported, swept
}

// maxSweepPieces bounds the pieces of one round, whatever the piece sizes.
const maxSweepPieces = 1024

// errNotHeld marks a range the relay no longer serves: it dropped the artifact after its
// last heartbeat said it held it. That is no fault.
var errNotHeld = errors.New("not held")

// auditSpans audits the pieces refs of r in order, each alone or with the next piece in
// one request, and says how many it found good. Pieces r no longer serves are passed
// over; any other failure ends the audit. A bad piece suspends r at once, out of /r/
// answers and url-lists, and is fetched again (another request shape, another user
// agent): bad again, it quarantines r; good, the suspension lasts SuspendFor.
func (c *Catalog) auditSpans(ctx context.Context, r *relay, kind string, refs []pieceRef) (good int, err error) {
	byHash := c.view.Load().byHash
	c.relays.mu.RLock()
	base := r.PublicURL
	c.relays.mu.RUnlock()
	for _, ref := range refs {
		a := byHash[ref.ih]
		n := 0
		if a != nil && a.State == catalogapi.Published {
			n = a.pieces()
		}
		if ref.piece < 0 || ref.piece >= n {
			continue
		}
		first, count := ref.piece, 1
		if n > 1 && rand.IntN(4) == 0 {
			first, count = min(first, n-2), 2
		}
		err := c.auditSpan(ctx, relaySeed(base, a), a, first, count)
		c.metrics.audit(kind, err)
		switch {
		case errors.Is(err, errNotHeld):
			continue
		case errors.Is(err, ErrCorruptPiece):
			return good, c.confirmBad(ctx, r, base, a, err)
		case err != nil:
			return good, err
		}
		good += count
	}
	return good, nil
}

// badPiece carries the piece an audit found bad.
type badPiece struct {
	piece int
	err   error
}

func (e *badPiece) Error() string { return e.err.Error() }
func (e *badPiece) Unwrap() error { return e.err }

// confirmBad suspends r for the bad piece of err and fetches it again.
func (c *Catalog) confirmBad(ctx context.Context, r *relay, base string, a *Artifact, err error) error {
	bp, ok := errors.AsType[*badPiece](err)
	if !ok {
		return err
	}
	why := fmt.Sprintf("served bad bytes of %s to the directory's audit (%v) at %s", a.ID(), err, c.now().UTC().Format(time.RFC3339))
	c.relays.mu.Lock()
	c.suspend(r, why, "audit", time.Time{}, true)
	c.relays.mu.Unlock()
	again := c.auditSpan(ctx, relaySeed(base, a), a, bp.piece, 1)
	c.metrics.audit(kindConfirm, again)
	if errors.Is(again, ErrCorruptPiece) {
		c.quarantine(r, fmt.Errorf("%s %w", a.ID(), again))
		return again
	}
	// Good bytes now: a relay that lies to some requests only. The suspension ends in
	// time; a second bad piece quarantines it.
	c.relays.mu.Lock()
	if r.Suspended == why {
		r.SuspendedUntil = c.now().Add(c.cfg.Relays.SuspendFor)
	}
	c.relays.mu.Unlock()
	return err
}

// relaySeed is the BEP 19 base of a at the relay whose public URL is base.
func relaySeed(base string, a *Artifact) string { return base + "/ws/" + a.InfoHash.HexString() + "/" }

// CheckSeed fetches a piece of the artifact with infohash ih, drawn at random, from the
// web seed seed (a BEP 19 base) as a user would, and checks it against its hash: what
// another directory lists goes into this one's torrents only if it passes. It returns
// ErrNotFound for an artifact not published here.
func (c *Catalog) CheckSeed(ctx context.Context, seed string, ih metainfo.Hash) error {
	a := c.view.Load().byHash[ih]
	if a == nil || a.State != catalogapi.Published {
		return fmt.Errorf("infohash %s: %w", ih.HexString(), ErrNotFound)
	}
	return c.auditSpan(ctx, seed, a, rand.IntN(a.pieces()), 1)
}

// auditSpan fetches pieces first to first+count-1 of a from the web seed seed, a Range
// request per file they span, and checks each against its SHA-1 in the info dict.
func (c *Catalog) auditSpan(ctx context.Context, seed string, a *Artifact, first, count int) error {
	var info metainfo.Info
	if err := bencode.Unmarshal(a.Info, &info); err != nil {
		return fmt.Errorf("info dict of %s: %w", a.ID(), err)
	}
	l := a.layout()
	start, _ := l.Piece(first)
	lastOff, lastLen := l.Piece(first + count - 1)
	bad := -1
	h := pieces.NewHasher(l, info.Pieces, first, func(p int, ok bool) error {
		if !ok && bad < 0 {
			bad = p
		}
		return nil
	})
	ua := useragent.Random()
	for _, sp := range l.Spans(start, lastOff+lastLen) {
		if err := c.fetchRange(ctx, seed, a, sp.File, sp.Off, sp.Off+sp.N, ua, h); err != nil {
			return err
		}
	}
	if bad >= 0 {
		off, n := l.Piece(bad)
		return &badPiece{piece: bad, err: fmt.Errorf("piece %d (bytes %d-%d) is %w: it does not match its hash",
			bad, off, off+n-1, ErrCorruptPiece)}
	}
	return nil
}

// rangeSlack bounds the bytes an audit asks for before and after the ones it checks,
// as a client resuming or reading ahead would.
const rangeSlack = 64 << 10

// rangeShape is the Range header of a request for bytes [from, to) of a file of size
// bytes, drawn like the requests of users' clients: exact, with slack around, open-ended
// or a suffix. lo is the first byte it asks for; the bytes wanted come after from-lo more.
func rangeShape(from, to, size int64) (header string, lo int64) {
	switch rand.IntN(4) {
	case 1:
		lo = from - rand.Int64N(min(from, rangeSlack)+1)
		hi := to + rand.Int64N(min(size-to, rangeSlack)+1)
		return fmt.Sprintf("bytes=%d-%d", lo, hi-1), lo
	case 2:
		return fmt.Sprintf("bytes=%d-", from), from
	case 3:
		if to == size {
			return fmt.Sprintf("bytes=-%d", size-from), from
		}
	}
	return fmt.Sprintf("bytes=%d-%d", from, to-1), from
}

// fetchRange fetches bytes [from, to) of file fi of a from the web seed seed as a user
// would and writes them to w.
func (c *Catalog) fetchRange(ctx context.Context, seed string, a *Artifact, fi int, from, to int64, ua string, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Relays.ProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, seed+names.EscapePath(a.LocalPath(fi)), nil)
	if err != nil {
		return err
	}
	rng, lo := rangeShape(from, to, a.Files[fi].Size)
	req.Header.Set("Range", rng)
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", "*/*")
	resp, err := c.relays.probe.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusNotFound, http.StatusGone:
		return fmt.Errorf("range request answered %s: %w", resp.Status, errNotHeld)
	default:
		return fmt.Errorf("range request answered %s", resp.Status)
	}
	if got, _, _, err := byterange.ParseContentRange(resp.Header.Get("Content-Range")); err != nil || got != lo {
		return fmt.Errorf("range request for %s answered Content-Range %q", rng, resp.Header.Get("Content-Range"))
	}
	if _, err := io.CopyN(io.Discard, resp.Body, from-lo); err != nil {
		return fmt.Errorf("range request: %w", err)
	}
	if n, err := io.CopyN(w, resp.Body, to-from); err != nil {
		return fmt.Errorf("range request returned %d bytes, want %d: %w", n, to-from, err)
	}
	return nil
}

// Audit kinds, as metrics label them.
const (
	kindLiveness = "liveness" // a health check
	kindHolding  = "holding"  // the check of a newly verified holding
	kindDirect   = "direct"   // a sweep's piece
	kindReported = "reported" // a piece reported bad
	kindConfirm  = "confirm"  // a bad piece fetched again
	kindCross    = "cross"    // a range another relay fetched
)

// relayMetrics count what relay checks find.
type relayMetrics struct {
	audits      *prometheus.CounterVec // kind, result
	reports     *prometheus.CounterVec // result
	suspensions *prometheus.CounterVec // cause
	quarantines prometheus.Counter
	strikes     prometheus.Counter
	// equivocations counts the index equivocations followers reported (audit_reports.go).
	equivocations prometheus.Counter
}

func newRelayMetrics(reg prometheus.Registerer) *relayMetrics {
	m := &relayMetrics{
		audits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "odi", Subsystem: "directory", Name: "relay_audits_total",
			Help: "Checks of relays by kind (liveness, holding, direct, reported, confirm, cross) and result (pass, corrupt, not_held, error).",
		}, []string{"kind", "result"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "odi", Subsystem: "directory", Name: "bad_piece_reports_total",
			Help: "Bad pieces reported by clients and relays, by result (accepted, ignored).",
		}, []string{"result"}),
		suspensions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "odi", Subsystem: "directory", Name: "relay_suspensions_total",
			Help: "Relays suspended, by cause (audit, cross_audit, reports).",
		}, []string{"cause"}),
		quarantines: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "odi", Subsystem: "directory", Name: "relay_quarantines_total",
			Help: "Relays quarantined for serving bad bytes.",
		}),
		strikes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "odi", Subsystem: "directory", Name: "relay_strikes_total",
			Help: "Cross-audits that found bad bytes which two other relays found good.",
		}),
		equivocations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "odi", Subsystem: "directory", Name: "index_equivocations_reported_total",
			Help: "Index documents followers refused as a second document for a version they held (POST /api/v1/reports).",
		}),
	}
	// Known causes and results show at 0 from the start: a dashboard's rate() needs a
	// series before the first suspension, not from it.
	for _, cause := range []string{"audit", "cross_audit", "reports"} {
		m.suspensions.WithLabelValues(cause)
	}
	for _, result := range []string{"accepted", "ignored"} {
		m.reports.WithLabelValues(result)
	}
	if reg != nil {
		reg.MustRegister(m.audits, m.reports, m.suspensions, m.quarantines, m.strikes, m.equivocations)
	}
	return m
}

// audit counts one check of kind with outcome err.
func (m *relayMetrics) audit(kind string, err error) {
	result := "pass"
	switch {
	case errors.Is(err, ErrCorruptPiece):
		result = "corrupt"
	case errors.Is(err, errNotHeld):
		result = "not_held"
	case err != nil:
		result = "error"
	}
	m.audits.WithLabelValues(kind, result).Inc()
}
