package catalog

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/useragent"
)

// Relay statuses, as catalogapi.Relay.Status shows them.
const (
	StatusUp          = "up"
	StatusSuspect     = "suspect"   // a health check failed: out of /r/, still in url-lists
	StatusSuspended   = "suspended" // bad bytes seen or reported: out of /r/ (and url-lists if SuspendedSeeds)
	StatusDown        = "down"
	StatusQuarantined = "quarantined"
	StatusTesting     = "testing"
	StatusPending     = "pending"
	StatusRevoked     = "revoked"
)

// status sums up whether users may be sent to r, and why not (caller holds the lock).
// The order matters: what only an operator can change comes first.
func (c *Catalog) status(r *relay, now time.Time) (status, reason string) {
	window := time.Duration(c.cfg.Relays.MissedHeartbeats) * c.cfg.Relays.HeartbeatInterval
	switch {
	case r.State == relayapi.StateRevoked:
		return StatusRevoked, "revoked by an operator"
	case r.State == relayapi.StatePending:
		return StatusPending, "waiting for an operator: odi admin relays approve " + r.ID
	case r.Quarantine != "":
		return StatusQuarantined, r.Quarantine
	case now.Sub(r.LastSeen) > window:
		return StatusDown, fmt.Sprintf("no heartbeat since %s", r.LastSeen.Format(time.RFC3339))
	case r.Down != "":
		return StatusDown, r.Down
	case r.suspended(now):
		return StatusSuspended, r.Suspended
	case r.SelfTest == testPending:
		return StatusTesting, "self-test running"
	case r.SelfTest != testOK:
		return StatusDown, r.SelfTest
	case r.suspect != "":
		return StatusSuspect, r.suspect
	}
	return StatusUp, ""
}

// suspended reports whether a suspension holds at now (caller holds the lock).
func (r *relay) suspended(now time.Time) bool {
	return r.Suspended != "" && (r.SuspendedUntil.IsZero() || now.Before(r.SuspendedUntil))
}

// noteStatus logs r's status when it changed since it was last noted (caller holds the
// lock): every change an operator may need to know of leaves a line.
func (c *Catalog) noteStatus(r *relay, now time.Time) {
	status, reason := c.status(r, now)
	if status == r.lastStatus {
		return
	}
	level := c.log.Info
	switch status {
	case StatusDown, StatusQuarantined, StatusSuspended:
		level = c.log.Warn
	}
	level("relay status changed", "relay", r.ID, "url", r.PublicURL, "from", r.lastStatus, "to", status, "reason", reason)
	r.lastStatus = status
}

// flight is a set of kinds of checks running for one relay: each kind runs once per
// relay at a time, so a relay that hangs holds one slot of each pool at most, and a
// flood of heartbeats starts no more than one goroutine per kind.
type flight uint8

const (
	flightTest  flight = 1 << iota // testRelay
	flightLive                     // liveCheck
	flightAudit                    // auditRelay
)

// check runs f in the background as r's check of kind, unless one is running (caller
// holds the lock). f's context ends when the catalog stops.
func (c *Catalog) check(r *relay, kind flight, f func(ctx context.Context)) {
	if r.flights&kind != 0 {
		return
	}
	r.flights |= kind
	started := c.bg.Go(func(ctx context.Context) {
		defer func() {
			c.relays.mu.Lock()
			r.flights &^= kind
			c.relays.mu.Unlock()
		}()
		f(ctx)
	})
	if !started {
		r.flights &^= kind
	}
}

// background runs the catalog's goroutines and, at stop, cancels them and waits for
// them: none outlives the catalog.
type background struct {
	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

func newBackground() *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{ctx: ctx, cancel: cancel}
}

// Go runs f unless the catalog is stopping; it reports whether f runs.
func (b *background) Go(f func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f(b.ctx)
	}()
	return true
}

// stop cancels every goroutine and waits for them; it may be called more than once.
func (b *background) stop() {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}

// acquire takes a slot of sem, or gives up when ctx ends.
func acquire(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// sleepJitter waits a random part of d (up to half), so that checks of many relays do
// not all start at once and a relay cannot predict the next one; false if ctx ended.
func sleepJitter(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(rand.N(d/2 + 1))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// watchRelays checks relays until ctx ends: their health every LivenessInterval and
// their bytes every AuditInterval, each relay at a jittered moment of the interval.
// Each liveness round also notes status changes that come from silence (missed
// heartbeats) or time (suspensions ending), which no request would otherwise reveal.
func (c *Catalog) watchRelays(ctx context.Context) {
	live := time.NewTicker(c.cfg.Relays.LivenessInterval)
	defer live.Stop()
	audit := time.NewTicker(c.cfg.Relays.AuditInterval)
	defer audit.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-live.C:
			c.livenessRound()
		case <-audit.C:
			c.auditRound()
		}
	}
}

// livenessRound starts a health check of every relay that users could be sent to, now
// or once it recovers.
func (c *Catalog) livenessRound() {
	now := c.now()
	interval := c.cfg.Relays.LivenessInterval
	c.relays.mu.Lock()
	defer c.relays.mu.Unlock()
	for _, r := range c.relays.byID {
		if r.Suspended != "" && !r.suspended(now) {
			c.log.Info("relay suspension ended", "relay", r.ID, "was", r.Suspended)
			r.liftSuspension()
		}
		c.noteStatus(r, now)
		if r.State == relayapi.StateActive && r.Quarantine == "" && r.SelfTest == testOK {
			c.check(r, flightLive, func(ctx context.Context) {
				if sleepJitter(ctx, interval) {
					c.liveCheck(ctx, r)
				}
			})
		}
	}
}

// liveCheck fetches r's health URL and counts the outcome.
func (c *Catalog) liveCheck(ctx context.Context, r *relay) {
	if !acquire(ctx, c.relays.live) {
		return
	}
	defer func() { <-c.relays.live }()
	c.relays.mu.RLock()
	base := r.PublicURL
	c.relays.mu.RUnlock()
	err := c.probeHealth(ctx, base, c.cfg.Relays.LivenessTimeout)
	if ctx.Err() != nil {
		return // the directory is stopping: no verdict
	}
	c.metrics.audit(kindLiveness, err)
	c.countCheck(r, err)
}

// countCheck counts a check's outcome (nil: it passed): the first failure makes r
// suspect (out of /r/ answers), ProbeFailures in a row take it down (out of url-lists),
// and ProbePasses in a row bring it back.
func (c *Catalog) countCheck(r *relay, err error) {
	c.relays.mu.Lock()
	defer c.relays.mu.Unlock()
	cfg := c.cfg.Relays
	switch {
	case err != nil:
		r.ProbeFailures++
		r.probePasses = 0
		r.suspect = "a check failed: " + err.Error()
		if r.ProbeFailures >= cfg.ProbeFailures && r.Down == "" {
			r.Down = fmt.Sprintf("%d probes failed in a row, the last: %v", r.ProbeFailures, err)
		}
	case r.Down != "":
		r.probePasses++
		if r.probePasses >= cfg.ProbePasses {
			r.Down, r.suspect, r.ProbeFailures, r.probePasses = "", "", 0, 0
		}
	default:
		r.ProbeFailures, r.suspect = 0, ""
	}
	c.noteStatus(r, c.now())
}

// probeHealth fetches base's /healthz within timeout.
func (c *Catalog) probeHealth(ctx context.Context, base string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	req.Header.Set("User-Agent", useragent.Random())
	resp, err := c.relays.probe.Do(req)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check answered %s", resp.Status)
	}
	return nil
}

// quarantine takes a relay that served bytes failing a piece hash out of every url-list
// and redirect until an operator clears it; it is kept on disk, so a restart of the
// directory does not forgive it.
func (c *Catalog) quarantine(r *relay, why error) {
	c.relays.mu.Lock()
	if r.Quarantine != "" {
		c.relays.mu.Unlock()
		return
	}
	r.Quarantine = fmt.Sprintf("served a corrupt range (%v) at %s", why, c.now().UTC().Format(time.RFC3339))
	r.liftSuspension()
	c.noteStatus(r, c.now())
	snapshot := r.Relay
	c.relays.mu.Unlock()
	c.metrics.quarantines.Inc()
	if err := c.db.saveRelay(context.Background(), &snapshot, nil); err != nil {
		c.log.Error("save quarantine", "relay", r.ID, "err", err)
	}
}

// suspend keeps r from /r/ answers (and, with seeds, from url-lists) until until (zero:
// until audits settle it), unless a longer or wider suspension holds (caller holds the
// lock). It is not kept on disk: a restarted directory audits again.
func (c *Catalog) suspend(r *relay, why, cause string, until time.Time, seeds bool) {
	now := c.now()
	if r.Quarantine != "" {
		return
	}
	if r.suspended(now) {
		wider := seeds && !r.SuspendedSeeds
		longer := !r.SuspendedUntil.IsZero() && (until.IsZero() || until.After(r.SuspendedUntil))
		if !wider && !longer {
			return
		}
		seeds = seeds || r.SuspendedSeeds
		if !longer {
			until = r.SuspendedUntil
		}
	}
	r.Suspended, r.SuspendedUntil, r.SuspendedSeeds = why, until, seeds
	c.metrics.suspensions.WithLabelValues(cause).Inc()
	c.log.Warn("relay suspended", "relay", r.ID, "url", r.PublicURL, "reason", why, "until", until, "url_lists_too", seeds)
	c.noteStatus(r, now)
}

// liftSuspension ends r's suspension and forgets the cross-audits that led to it
// (caller holds the lock).
func (r *relay) liftSuspension() {
	r.Suspended, r.SuspendedUntil, r.SuspendedSeeds = "", time.Time{}, false
	r.audit.accusers, r.audit.vouchers = nil, nil
}

// clearRelay lifts a quarantine and forgets failed probes; the relay is self-tested and
// its holdings range-checked again before users are sent to it.
func (c *Catalog) clearRelay(ctx context.Context, id string) (*catalogapi.Relay, error) {
	c.relays.mu.Lock()
	r := c.relays.byID[id]
	if r == nil {
		c.relays.mu.Unlock()
		return nil, fmt.Errorf("relay %s: %w", id, ErrNotFound)
	}
	r.Quarantine, r.Down, r.suspect, r.ProbeFailures, r.probePasses, r.SelfTest = "", "", "", 0, 0, testPending
	r.liftSuspension()
	for _, h := range r.held {
		h.Checked = false
	}
	c.check(r, flightTest, func(ctx context.Context) { c.testRelay(ctx, r, true) })
	c.noteStatus(r, c.now())
	snapshot := r.Relay
	c.relays.mu.Unlock()
	if err := c.db.saveRelay(ctx, &snapshot, nil); err != nil {
		return nil, err
	}
	c.log.Info("relay cleared by an operator", "relay", id)
	return &snapshot, nil
}
