package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/relayapi"
)

// Relay statuses, as Relay.Status shows them.
const (
	StatusUp          = "up"
	StatusDown        = "down"
	StatusQuarantined = "quarantined"
	StatusTesting     = "testing"
	StatusPending     = "pending"
	StatusRevoked     = "revoked"
)

// status sums up whether users may be sent to r, and why not (caller holds the lock).
// The order matters: what only an operator can change comes first.
func (c *Catalog) status(r *Relay, now time.Time) (status, reason string) {
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
	case r.SelfTest == testPending:
		return StatusTesting, "self-test running"
	case r.SelfTest != testOK:
		return StatusDown, r.SelfTest
	}
	return StatusUp, ""
}

// noteStatus logs r's status when it changed since it was last noted (caller holds the
// lock): every change an operator may need to know of leaves a line.
func (c *Catalog) noteStatus(r *Relay, now time.Time) {
	status, reason := c.status(r, now)
	if status == r.lastStatus {
		return
	}
	level := c.log.Info
	if status == StatusDown || status == StatusQuarantined {
		level = c.log.Warn
	}
	level("relay status changed", "relay", r.ID, "url", r.PublicURL, "from", r.lastStatus, "to", status, "reason", reason)
	r.lastStatus = status
}

// probeRelays probes every relay that users could be sent to, now or once it recovers,
// every ProbeInterval until ctx ends. Each round also notes status changes that come
// from silence (missed heartbeats), which no request would otherwise reveal.
func (c *Catalog) probeRelays(ctx context.Context) {
	t := time.NewTicker(c.cfg.Relays.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := c.now()
		var due []string
		c.relays.mu.Lock()
		for _, r := range c.relays.byID {
			c.noteStatus(r, now)
			if r.State == relayapi.StateActive && r.Quarantine == "" && r.SelfTest == testOK && !r.testing {
				r.testing = true
				due = append(due, r.ID)
			}
		}
		c.relays.mu.Unlock()
		for _, id := range due {
			go c.probe(id)
		}
	}
}

// probe fetches a relay's health URL and one random piece of an artifact it holds
// verified, and counts the outcome: ProbeFailures failures in a row take the relay down,
// ProbePasses passes in a row bring it back, and a corrupt piece quarantines it.
func (c *Catalog) probe(id string) {
	c.relays.checks <- struct{}{}
	defer func() { <-c.relays.checks }()
	c.relays.mu.RLock()
	r := c.relays.byID[id]
	var base string
	var claimed []metainfo.Hash
	if r != nil {
		base = r.PublicURL
		for ih, h := range r.held {
			if h.Verified {
				claimed = append(claimed, ih)
			}
		}
	}
	c.relays.mu.RUnlock()
	if r == nil {
		return
	}
	err := c.probeHealth(base)
	if err == nil && len(claimed) > 0 {
		if a := c.view.Load().byHash[claimed[rand.IntN(len(claimed))]]; a != nil && a.State == Published {
			if err = c.checkRandomPiece(base, a); errors.Is(err, errNotHeld) {
				err = nil // evicted since the last heartbeat; the health check passed
			}
		}
	}
	if errors.Is(err, errCorrupt) {
		c.quarantine(id, err)
		return
	}

	c.relays.mu.Lock()
	defer c.relays.mu.Unlock()
	r.testing = false
	cfg := c.cfg.Relays
	switch {
	case err != nil:
		r.ProbeFailures++
		r.probePasses = 0
		if r.ProbeFailures >= cfg.ProbeFailures && r.Down == "" {
			r.Down = fmt.Sprintf("%d probes failed in a row, the last: %v", r.ProbeFailures, err)
		}
	case r.Down != "":
		r.probePasses++
		if r.probePasses >= cfg.ProbePasses {
			r.Down, r.ProbeFailures, r.probePasses = "", 0, 0
		}
	default:
		r.ProbeFailures = 0
	}
	c.noteStatus(r, c.now())
}

func (c *Catalog) probeHealth(base string) error {
	resp, err := c.relays.probe.Get(base + "/healthz")
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
func (c *Catalog) quarantine(id string, why error) {
	c.relays.mu.Lock()
	r := c.relays.byID[id]
	if r == nil {
		c.relays.mu.Unlock()
		return
	}
	r.Quarantine = fmt.Sprintf("served a corrupt range (%v) at %s", why, c.now().UTC().Format(time.RFC3339))
	r.testing = false
	c.noteStatus(r, c.now())
	snapshot := *r
	c.relays.mu.Unlock()
	if err := c.db.saveRelay(context.Background(), &snapshot, nil); err != nil {
		c.log.Error("save quarantine", "relay", id, "err", err)
	}
}

// clearRelay lifts a quarantine and forgets failed probes; the relay is self-tested and
// its holdings range-checked again before users are sent to it.
func (c *Catalog) clearRelay(ctx context.Context, id string) (*Relay, error) {
	c.relays.mu.Lock()
	r := c.relays.byID[id]
	if r == nil {
		c.relays.mu.Unlock()
		return nil, fmt.Errorf("relay %s: %w", id, ErrNotFound)
	}
	r.Quarantine, r.Down, r.ProbeFailures, r.probePasses, r.SelfTest = "", "", 0, 0, testPending
	for _, h := range r.held {
		h.Checked = false
	}
	startTest := !r.testing
	r.testing = true
	c.noteStatus(r, c.now())
	snapshot := *r
	c.relays.mu.Unlock()
	if err := c.db.saveRelay(ctx, &snapshot, nil); err != nil {
		return nil, err
	}
	c.log.Info("relay cleared by an operator", "relay", id)
	if startTest {
		go c.selfTest(id)
	}
	return &snapshot, nil
}
