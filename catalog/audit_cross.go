package catalog

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/relayapi"
)

// Cross-audits: each heartbeat answer asks the relay to fetch a few ranges of other
// relays' web seeds as a plain user would (relayapi.Audit), and its next heartbeat says
// what it got. The directory compares the bytes' SHA-256 with its own copy's. Relays
// fetch from their own addresses, so a relay that serves the directory true bytes and
// everyone else false ones is caught all the same: one relay's mismatch suspends the
// target from /r/ answers and url-lists, a second relay's quarantines it, and two other
// relays' matches lift a suspension no second relay confirmed, with a strike against
// the accuser. An error (a timeout, a 503) counts as a failed health check of the target.

// crossAudit is a cross-audit handed out and not yet answered.
type crossAudit struct {
	auditor, target *relay
	a               *Artifact
	piece, file     int
	offset, length  int64
	expires         time.Time
}

// maxCrossAudits bounds relays.cross_audits; maxAuditResults the results one heartbeat
// may carry (audits of a few plans, should some heartbeats have been lost).
const (
	maxCrossAudits  = 8
	maxAuditResults = 4 * maxCrossAudits
)

// planAudits hands auditor up to CrossAudits ranges of other relays' web seeds: pieces
// reported bad first, then random pieces of what the others hold. Each is kept for two
// heartbeat intervals, for its result.
func (c *Catalog) planAudits(auditor *relay) []relayapi.Audit {
	n := c.cfg.Relays.CrossAudits
	now := c.now()
	byHash := c.view.Load().byHash
	c.relays.mu.Lock()
	defer c.relays.mu.Unlock()
	for id, ca := range c.relays.cross {
		if now.After(ca.expires) {
			delete(c.relays.cross, id)
		}
	}
	if n == 0 || auditor.Quarantine != "" {
		return nil
	}
	var targets []*relay
	for _, t := range c.relays.byID {
		status, _ := c.status(t, now)
		if t != auditor && len(t.held) > 0 && (status == StatusUp || status == StatusSuspect || status == StatusSuspended) {
			targets = append(targets, t)
		}
	}
	mrand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	out := []relayapi.Audit{}
	add := func(t *relay, p pieceRef) {
		a := byHash[p.ih]
		if h := t.held[p.ih]; h == nil || !h.Verified || a == nil || a.State != catalogapi.Published || p.piece >= a.pieces() {
			return
		}
		ca := &crossAudit{auditor: auditor, target: t, a: a, piece: p.piece, expires: now.Add(2 * c.cfg.Relays.HeartbeatInterval)}
		if !ca.locate() {
			return
		}
		id := rand.Text()
		c.relays.cross[id] = ca
		out = append(out, relayapi.Audit{ID: id, URL: t.webSeed(p.ih.HexString()) + names.EscapePath(a.LocalPath(ca.file)), Offset: ca.offset, Length: ca.length})
	}
	for _, t := range targets {
		for len(t.audit.cross) > 0 && len(out) < n {
			p := t.audit.cross[0]
			t.audit.cross = t.audit.cross[1:]
			add(t, p)
		}
	}
	for try := 0; len(out) < n && len(targets) > 0 && try < 4*n; try++ {
		t := targets[mrand.IntN(len(targets))]
		var verified []*Artifact
		for ih, h := range t.held {
			if a := byHash[ih]; h.Verified && a != nil && a.State == catalogapi.Published && a.pieces() > 0 {
				verified = append(verified, a)
			}
		}
		if len(verified) > 0 {
			a := verified[mrand.IntN(len(verified))]
			add(t, pieceRef{a.InfoHash, mrand.IntN(a.pieces())})
		}
	}
	return out
}

// locate sets the range of the audit: the piece's bytes in the first file it spans,
// relayapi.MaxAuditLength at most. False if the piece has no bytes.
func (ca *crossAudit) locate() bool {
	a := ca.a
	start := int64(ca.piece) * a.PieceLength
	end := min(start+a.PieceLength, a.Size)
	var off int64
	for fi, f := range a.Files {
		fStart, fEnd := off, off+f.Size
		off = fEnd
		if fEnd <= start || f.Size == 0 {
			continue
		}
		from, to := max(start, fStart)-fStart, min(end, fEnd)-fStart
		ca.file, ca.offset, ca.length = fi, from, min(to-from, relayapi.MaxAuditLength)
		return ca.length > 0
	}
	return false
}

// crossResults weighs the results of auditor's cross-audits. Results of audits it was
// not given, or that expired, are passed over, and so are a quarantined relay's.
func (c *Catalog) crossResults(auditor *relay, results []relayapi.AuditResult) {
	c.relays.mu.RLock()
	quarantined := auditor.Quarantine != ""
	c.relays.mu.RUnlock()
	if quarantined {
		return
	}
	for _, res := range results {
		c.relays.mu.Lock()
		ca := c.relays.cross[res.ID]
		if ca == nil || ca.auditor != auditor {
			c.relays.mu.Unlock()
			continue
		}
		delete(c.relays.cross, res.ID)
		c.relays.mu.Unlock()
		if res.Error != "" {
			err := fmt.Errorf("relay %s could not fetch %s piece %d from it: %.200s", auditor.ID, ca.a.ID(), ca.piece, res.Error)
			if c.letGo(ca) {
				// The target dropped the artifact since the audit was handed out (a
				// relay evicts what the plan moves elsewhere): as for the direct audits,
				// nothing to serve is no fault.
				c.metrics.audit(kindCross, fmt.Errorf("%w: %w", errNotHeld, err))
				continue
			}
			c.metrics.audit(kindCross, err)
			c.countCheck(ca.target, err)
			continue
		}
		want, err := c.originSum(ca)
		if err != nil {
			c.log.Info("cross-audit not weighed: no origin bytes", "artifact", ca.a.ID(), "err", err)
			continue
		}
		if strings.EqualFold(res.SHA256, want) {
			c.metrics.audit(kindCross, nil)
			c.crossGood(ca)
		} else {
			c.metrics.audit(kindCross, ErrCorruptPiece)
			c.crossBad(ca)
		}
	}
}

// letGo reports whether the target of ca no longer holds its artifact, as its latest
// heartbeat says. Its own answer to the auditor (a 404) is not enough: a relay that
// answers users 404 for what it claims to hold must fail the check.
func (c *Catalog) letGo(ca *crossAudit) bool {
	c.relays.mu.RLock()
	defer c.relays.mu.RUnlock()
	h := ca.target.held[ca.a.InfoHash]
	return h == nil || !h.Verified
}

// originSum is the hex SHA-256 of the audit's range in the directory's own copy.
func (c *Catalog) originSum(ca *crossAudit) (string, error) {
	f, err := c.OpenOrigin(ca.a.InfoHash, ca.a.LocalPath(ca.file))
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if n, err := io.Copy(h, io.NewSectionReader(f, ca.offset, ca.length)); err != nil || n != ca.length {
		return "", errors.Join(fmt.Errorf("read %d bytes of %d at %d", n, ca.length, ca.offset), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// crossBad counts a mismatch: the target is suspended from /r/ answers and url-lists,
// its piece audited directly and handed to other relays to audit; a second relay's
// mismatch quarantines it.
func (c *Catalog) crossBad(ca *crossAudit) {
	t := ca.target
	c.relays.mu.Lock()
	if t.Quarantine != "" {
		c.relays.mu.Unlock()
		return
	}
	if t.audit.accusers == nil {
		t.audit.accusers = map[string]*relay{}
	}
	t.audit.accusers[ca.auditor.ID] = ca.auditor
	delete(t.audit.vouchers, ca.auditor.ID)
	accusers := slices.Sorted(maps.Keys(t.audit.accusers))
	ref := pieceRef{ca.a.InfoHash, ca.piece}
	t.audit.reported = queue(t.audit.reported, ref)
	t.audit.cross = queue(t.audit.cross, ref)
	if len(accusers) < 2 {
		why := fmt.Sprintf("relay %s got bytes of %s piece %d from it that differ from the directory's copy, at %s",
			ca.auditor.ID, ca.a.ID(), ca.piece, c.now().UTC().Format(time.RFC3339))
		c.suspend(t, why, "cross_audit", time.Time{}, true)
		c.startAudit(t, false)
	}
	c.relays.mu.Unlock()
	if len(accusers) >= 2 {
		c.quarantine(t, fmt.Errorf("relays %s got bytes of %s piece %d that differ from the directory's copy: %w",
			strings.Join(accusers, ", "), ca.a.ID(), ca.piece, ErrCorruptPiece))
	}
}

// crossGood counts a match: two relays other than the accuser finding good bytes lift
// a suspension no second relay confirmed, and give the accuser a strike.
func (c *Catalog) crossGood(ca *crossAudit) {
	t := ca.target
	c.relays.mu.Lock()
	defer c.relays.mu.Unlock()
	if len(t.audit.accusers) != 1 || t.audit.accusers[ca.auditor.ID] != nil {
		return
	}
	if t.audit.vouchers == nil {
		t.audit.vouchers = map[string]*relay{}
	}
	t.audit.vouchers[ca.auditor.ID] = ca.auditor
	if len(t.audit.vouchers) < 2 {
		return
	}
	for _, acc := range t.audit.accusers {
		acc.Strikes++
		c.metrics.strikes.Inc()
		c.log.Warn("relay's cross-audit contradicted by two others", "relay", acc.ID, "target", t.ID, "strikes", acc.Strikes)
	}
	c.log.Info("relay suspension lifted: two relays found good bytes", "relay", t.ID, "was", t.Suspended)
	if t.SuspendedUntil.IsZero() {
		t.liftSuspension()
	} else {
		t.audit.accusers, t.audit.vouchers = nil, nil
	}
	c.noteStatus(t, c.now())
}
