package seeder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/useragent"
)

// Audits: a directory's plan asks the relay to fetch ranges of other relays' web seeds as
// a plain user would (relayapi.Audit), and the relay reports the sha256 of what it got in
// its next heartbeat; the directory compares them with its own copy. The relay also
// reports the pieces whose bytes from a web seed failed their hash during warm start.
// Neither ever holds up a heartbeat or a fill.

// maxAuditsPerPlan bounds the audits the relay runs for one plan; it ignores the rest,
// so that a directory cannot turn relays into a crowd against one host.
const maxAuditsPerPlan = 8

// auditWorkers is how many audits run at once: a user's download, not a crowd's.
const auditWorkers = 2

// auditTimeout bounds one audit, from the connection to the body's last byte: a range of
// MaxAuditLength (16 MiB) takes about 13 s at 10 Mbit/s.
const auditTimeout = time.Minute

// auditor runs audits.
type auditor struct {
	http    *http.Client
	timeout time.Duration             // one audit's (auditTimeout)
	body    func(io.Reader) io.Reader // when set, wraps each body (the download limit)
	log     *slog.Logger
	// How the audits run since start ended, as AuditCounts says.
	fetched, wrongAnswer, timedOut, failed atomic.Int64
}

// AuditCounts is how the audits a relay ran since it started ended. The relay does not
// judge the bytes it fetched: the directory compares their sha256 with its own copy.
type AuditCounts struct {
	Fetched     int64 // the range came as asked, and its sha256 went to the directory
	WrongAnswer int64 // the web seed answered another status, range or length
	Timeout     int64 // no whole answer within the audit's time
	Error       int64 // the request failed otherwise: refused, reset, a bad address
}

// Audits counts how the audits the relay ran since it started ended.
func (r *Relay) Audits() AuditCounts { return r.auditor.counts() }

func (a *auditor) counts() AuditCounts {
	return AuditCounts{Fetched: a.fetched.Load(), WrongAnswer: a.wrongAnswer.Load(), Timeout: a.timedOut.Load(), Error: a.failed.Load()}
}

// newAuditor returns an auditor whose requests are a plain user's: their own transport
// (no origin token, no proxy of the relay's), and no redirect followed, as curl and Wget
// without options do; a web seed's file URL answers with its bytes.
func newAuditor(body func(io.Reader) io.Reader, log *slog.Logger) *auditor {
	return &auditor{
		http: &http.Client{
			Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
				TLSHandshakeTimeout: 10 * time.Second,
				MaxIdleConnsPerHost: auditWorkers,
				IdleConnTimeout:     30 * time.Second,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout: auditTimeout,
		body:    body,
		log:     log,
	}
}

// runnable returns the audits the relay runs of those a plan asked for: http(s) URLs,
// ranges of 1 to MaxAuditLength bytes at a non-negative offset, at most
// maxAuditsPerPlan. The others get no result.
func runnable(audits []relayapi.Audit) []relayapi.Audit {
	var out []relayapi.Audit
	for _, a := range audits {
		if len(out) == maxAuditsPerPlan {
			break
		}
		u, err := url.Parse(a.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			a.Offset < 0 || a.Length <= 0 || a.Length > relayapi.MaxAuditLength {
			continue
		}
		out = append(out, a)
	}
	return out
}

// run runs the runnable audits, auditWorkers at a time, and returns their results in
// order.
func (a *auditor) run(ctx context.Context, audits []relayapi.Audit) []relayapi.AuditResult {
	audits = runnable(audits)
	results := make([]relayapi.AuditResult, len(audits))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(auditWorkers, len(audits)) {
		wg.Go(func() {
			for i := range next {
				results[i] = a.one(ctx, audits[i])
			}
		})
	}
	for i := range audits {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// one fetches one audit's range and returns the sha256 of its bytes, or what went wrong.
func (a *auditor) one(ctx context.Context, au relayapi.Audit) relayapi.AuditResult {
	res := relayapi.AuditResult{ID: au.ID}
	sum, err := a.fetch(ctx, au)
	if err == nil {
		a.fetched.Add(1)
		res.SHA256 = sum
		return res
	}
	a.log.Debug("relay: audit failed", "audit", au.ID, "url", au.URL, "err", err)
	var af auditFailure
	switch {
	case errors.As(err, &af):
		a.wrongAnswer.Add(1)
		res.Error = string(af)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		a.timedOut.Add(1)
		res.Error = "timeout"
	default:
		a.failed.Add(1)
		res.Error = "request failed"
	}
	return res
}

// auditFailure is a web seed's wrong answer, as an AuditResult says it.
type auditFailure string

func (f auditFailure) Error() string { return string(f) }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// fetch GETs the audit's range as a plain user and returns the hex sha256 of the body
// when the answer is 206 with exactly that range and length.
func (a *auditor) fetch(ctx context.Context, au relayapi.Audit) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, au.URL, nil)
	if err != nil {
		return "", err
	}
	last := au.Offset + au.Length - 1
	req.Header.Set("User-Agent", useragent.Random())
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", au.Offset, last))
	resp, err := a.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return "", auditFailure("answered " + strconv.Itoa(resp.StatusCode))
	}
	if !rangeIs(resp.Header.Get("Content-Range"), au.Offset, last) {
		return "", auditFailure("wrong range")
	}
	var body io.Reader = resp.Body
	if a.body != nil {
		body = a.body(body)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(body, au.Length+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return "", ctx.Err()
	case n < au.Length && (err == nil || errors.Is(err, io.ErrUnexpectedEOF)):
		return "", auditFailure("short body")
	case err != nil:
		return "", err
	case n > au.Length:
		return "", auditFailure("long body")
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// rangeIs reports whether a Content-Range header is "bytes first-last/size" with a size
// (or "*") that holds the range (RFC 9110, 14.4).
func rangeIs(cr string, first, last int64) bool {
	size, ok := strings.CutPrefix(cr, fmt.Sprintf("bytes %d-%d/", first, last))
	if !ok {
		return false
	}
	if size == "*" {
		return true
	}
	n, err := strconv.ParseInt(size, 10, 64)
	return err == nil && n > last
}

// outbox is what the relay has to tell one directory in its next heartbeat: the results
// of the audits it asked for, and bad pieces seen from web seeds (each once until sent).
type outbox struct {
	mu     sync.Mutex
	audits []relayapi.AuditResult
	bad    []relayapi.BadPiece
	queued map[relayapi.BadPiece]bool
	// auditing: the audits of a plan are running; a newer plan's wait for the next.
	auditing bool
}

// maxPendingAudits bounds the results kept for a directory that does not take them:
// a plan's, and those of one before put back after a failed heartbeat.
const maxPendingAudits = 2 * maxAuditsPerPlan

// addBad queues a bad piece, once, up to MaxReports; it reports whether it queued it.
func (o *outbox) addBad(p relayapi.BadPiece) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.queued[p] || len(o.bad) >= relayapi.MaxReports {
		return false
	}
	if o.queued == nil {
		o.queued = map[relayapi.BadPiece]bool{}
	}
	o.queued[p] = true
	o.bad = append(o.bad, p)
	return true
}

// addAudits queues audit results, keeping the newest maxPendingAudits.
func (o *outbox) addAudits(rs []relayapi.AuditResult) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.audits = append(o.audits, rs...)
	o.audits = o.audits[max(len(o.audits)-maxPendingAudits, 0):]
}

// fill moves what is queued into hb, a plan's worth of audit results at most (the rest
// waits for the next). Once the heartbeat is sent it is gone; when the heartbeat fails,
// restore puts it back.
func (o *outbox) fill(hb *relayapi.Heartbeat) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := min(len(o.audits), maxAuditsPerPlan)
	hb.Audits, hb.BadPieces = o.audits[:n:n], o.bad
	o.audits, o.bad = o.audits[n:], nil
	clear(o.queued)
}

// restore queues again what fill put into a heartbeat that was not sent, ahead of what
// came since.
func (o *outbox) restore(hb relayapi.Heartbeat) {
	o.mu.Lock()
	newer := o.audits
	o.audits = nil
	o.mu.Unlock()
	o.addAudits(append(hb.Audits, newer...))
	for _, p := range hb.BadPieces {
		o.addBad(p)
	}
}

// audit runs a plan's audits in a goroutine wg tracks, their results going to o for the
// next heartbeat, unless the previous plan's are still running: then they are skipped
// (the directory asks again).
func (r *Relay) audit(ctx context.Context, o *outbox, wg *sync.WaitGroup, audits []relayapi.Audit) {
	if len(audits) == 0 {
		return
	}
	o.mu.Lock()
	busy := o.auditing
	o.auditing = true
	o.mu.Unlock()
	if busy {
		r.log.Debug("relay: skipping a plan's audits; the previous ones are still running", "audits", len(audits))
		return
	}
	wg.Go(func() {
		rs := r.auditor.run(ctx, audits)
		o.addAudits(rs)
		o.mu.Lock()
		o.auditing = false
		o.mu.Unlock()
	})
}

// newOutboxes returns an outbox for each directory, by URL; the map does not change.
func newOutboxes(dirs []string) map[string]*outbox {
	m := make(map[string]*outbox, len(dirs))
	for _, d := range dirs {
		m[d] = &outbox{}
	}
	return m
}

// badPiece queues a piece whose bytes from a web seed failed its hash for every
// directory: the one that listed the web seed audits it, the others ignore it.
func (r *Relay) badPiece(infoHash string, piece int, webSeed string) {
	p := relayapi.BadPiece{InfoHash: infoHash, Piece: piece, WebSeed: webSeed}
	for _, o := range r.outboxes {
		o.addBad(p)
	}
	// warmfill has said it at warn, once a pass.
	r.log.Debug("relay: a web seed sent a bad piece; reporting it", "infohash", infoHash, "piece", piece, "webseed", webSeed)
}
