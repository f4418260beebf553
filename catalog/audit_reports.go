package catalog

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/labstack/echo/v4"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/limit"
	"github.com/opendist/odi/internal/relayapi"
)

// Reports: clients (odi fetch) and relays (Heartbeat.BadPieces) report pieces that
// failed their hash when a relay's web seed sent them. Anyone may report, so a report
// alone never counts against a relay: it makes the directory audit that piece from the
// relay at once and hand it to other relays as a cross-audit. Only when
// relays.report_quorum distinct reporters report one relay within reportWindow is the
// relay suspended from /r/ answers (not from url-lists: torrent clients check hashes),
// for relays.suspend_for, even while the directory's own audits pass: it may be lying
// to users alone, and cross-audits take a few heartbeats to tell.

// reportsBodyMax caps a POST /api/v1/reports body: MaxReports bad pieces with web-seed
// URLs of a couple hundred bytes.
const reportsBodyMax = 16 << 10

// reportWindow is how long a report counts toward the quorum.
const reportWindow = 10 * time.Minute

// maxReporters bounds the reporters kept per relay: a quorum needs a few.
const maxReporters = 256

// maxWebSeedLen bounds a reported web-seed URL.
const maxWebSeedLen = 2048

// ReportsAnswer is the answer to POST /api/v1/reports (202 Accepted): how many reports
// name a relay's holding, to be audited, and how many name nothing the directory knows
// (an unknown artifact, piece, or web seed; the directory's own copy).
type ReportsAnswer struct {
	Accepted int `json:"accepted"`
	Ignored  int `json:"ignored"`
}

func (c *Catalog) handleReports(ctx echo.Context) error {
	r := ctx.Request()
	if r.ContentLength > reportsBodyMax {
		return apiError(fmt.Errorf("%w: the body has %d bytes; reports take at most %d", ErrTooLarge, r.ContentLength, reportsBodyMax))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, reportsBodyMax+1))
	if err != nil {
		return apiError(fmt.Errorf("%w: reading the body: %w", ErrInvalid, err))
	}
	if len(body) > reportsBodyMax {
		return apiError(fmt.Errorf("%w: the body has more than %d bytes, the most reports take", ErrTooLarge, reportsBodyMax))
	}
	var rep relayapi.Reports
	if err := decodeStrict(body, &rep); err != nil {
		return apiError(err)
	}
	if len(rep.BadPieces) == 0 && len(rep.Equivocations) == 0 {
		return apiError(fmt.Errorf("%w: neither bad_pieces nor equivocations reported", ErrInvalid))
	}
	if err := checkBadPieces(rep.BadPieces); err != nil {
		return apiError(err)
	}
	if err := checkEquivocations(rep.Equivocations); err != nil {
		return apiError(err)
	}
	// The address as the directory's echo resolves it (its IPExtractor: behind a trusted
	// proxy, X-Forwarded-For's), an IPv6 one by its /64: one user's share.
	reporter := ""
	if a, err := netip.ParseAddr(ctx.RealIP()); err == nil {
		reporter = "address " + limit.AddrKey(a).String()
	}
	c.reportEquivocations(reporter, rep.Equivocations)
	return ctx.JSON(http.StatusAccepted, c.report(reporter, nil, rep.BadPieces))
}

// checkEquivocations refuses equivocation reports that could not name two documents of
// one key's version, naming the first wrong field.
func checkEquivocations(eqs []relayapi.Equivocation) error {
	if len(eqs) > relayapi.MaxReports {
		return fmt.Errorf("%w: equivocations: %d reports; at most %d at once", ErrInvalid, len(eqs), relayapi.MaxReports)
	}
	for i, e := range eqs {
		switch {
		case !isUpperHex(e.Key, 16):
			return fmt.Errorf("%w: equivocations[%d].key: %.40q is not a key id (16 hex digits)", ErrInvalid, i, e.Key)
		case e.Version == 0:
			return fmt.Errorf("%w: equivocations[%d].version: 0 is no version", ErrInvalid, i)
		case !isLowerHex(e.Held, 64) || !isLowerHex(e.Served, 64) || e.Held == e.Served:
			return fmt.Errorf("%w: equivocations[%d]: held and served must be two different sha256 digests (64 hex digits)", ErrInvalid, i)
		}
	}
	return nil
}

// reportEquivocations tells the operator of indexes followers refused as equivocations:
// reports are anyone's word, so they are logged and counted, with what the directory
// itself holds of that key, and change nothing.
func (c *Catalog) reportEquivocations(reporter string, eqs []relayapi.Equivocation) {
	for _, e := range eqs {
		c.metrics.equivocations.Inc()
		args := []any{"reporter", reporter, "key", e.Key, "version", e.Version, "held", e.Held, "served", e.Served}
		if hi := c.indexes.get(e.Key); hi != nil {
			args = append(args, "hosted_version", hi.info.Version, "hosted_sha256", hi.info.SHA256)
		}
		c.log.Warn("an index equivocation was reported: a follower was served two documents of one version of this key", args...)
	}
}

func isLowerHex(s string, n int) bool {
	return len(s) == n && strings.IndexFunc(s, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') }) < 0
}

func isUpperHex(s string, n int) bool {
	return len(s) == n && strings.IndexFunc(s, func(r rune) bool { return !('0' <= r && r <= '9' || 'A' <= r && r <= 'F') }) < 0
}

// checkBadPieces refuses reports that could not name a piece of a web seed, naming the
// first wrong field.
func checkBadPieces(bps []relayapi.BadPiece) error {
	if len(bps) > relayapi.MaxReports {
		return fmt.Errorf("%w: bad_pieces: %d reports; at most %d at once", ErrInvalid, len(bps), relayapi.MaxReports)
	}
	for i, bp := range bps {
		var ih metainfo.Hash
		if len(bp.InfoHash) != 2*len(ih) || ih.FromHexString(bp.InfoHash) != nil {
			return fmt.Errorf("%w: bad_pieces[%d].infohash: %.60q is not 40 hex digits", ErrInvalid, i, bp.InfoHash)
		}
		if bp.Piece < 0 {
			return fmt.Errorf("%w: bad_pieces[%d].piece: %d is negative", ErrInvalid, i, bp.Piece)
		}
		if len(bp.WebSeed) > maxWebSeedLen {
			return fmt.Errorf("%w: bad_pieces[%d].web_seed: %d bytes; at most %d", ErrInvalid, i, len(bp.WebSeed), maxWebSeedLen)
		}
		if u, err := url.Parse(bp.WebSeed); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: bad_pieces[%d].web_seed: %.100q is not an http(s) URL", ErrInvalid, i, bp.WebSeed)
		}
	}
	return nil
}

// report takes checked bad-piece reports from reporter ("" when unknown: it counts
// toward no quorum); self, if not nil, is the relay that reports, whose reports about
// itself are ignored.
func (c *Catalog) report(reporter string, self *relay, bps []relayapi.BadPiece) ReportsAnswer {
	var ans ReportsAnswer
	if len(bps) == 0 {
		return ans
	}
	now := c.now()
	byHash := c.view.Load().byHash
	c.relays.mu.Lock()
	defer c.relays.mu.Unlock()
	touched := map[*relay]bool{}
	for _, bp := range bps {
		var ih metainfo.Hash
		_ = ih.FromHexString(bp.InfoHash) // checked by checkBadPieces
		a := byHash[ih]
		r := c.relayOfSeed(bp.WebSeed)
		if a == nil || a.State != catalogapi.Published || bp.Piece >= a.pieces() || r == nil || r == self ||
			r.held[ih] == nil || r.State != relayapi.StateActive || r.Quarantine != "" {
			ans.Ignored++
			continue
		}
		ans.Accepted++
		ref := pieceRef{ih, bp.Piece}
		r.audit.reported = queue(r.audit.reported, ref)
		r.audit.cross = queue(r.audit.cross, ref)
		if reporter != "" {
			r.noteReporter(reporter, now)
		}
		touched[r] = true
	}
	for r := range touched {
		// At once, but not more than twice an interval: a report costs the directory a
		// piece, and anyone may send them.
		if now.Sub(r.audit.kicked) >= c.cfg.Relays.AuditInterval/2 {
			r.audit.kicked = now
			c.startAudit(r, false)
		}
		if n := len(r.audit.reporters); n >= c.cfg.Relays.ReportQuorum {
			why := fmt.Sprintf("%d reporters saw bad pieces from it within %s", n, reportWindow)
			c.suspend(r, why, "reports", now.Add(c.cfg.Relays.SuspendFor), false)
		}
	}
	c.metrics.reports.WithLabelValues("accepted").Add(float64(ans.Accepted))
	c.metrics.reports.WithLabelValues("ignored").Add(float64(ans.Ignored))
	return ans
}

// noteReporter records that who reported r at now, forgetting reports older than
// reportWindow (caller holds the lock).
func (r *relay) noteReporter(who string, now time.Time) {
	if r.audit.reporters == nil {
		r.audit.reporters = map[string]time.Time{}
	}
	for k, at := range r.audit.reporters {
		if now.Sub(at) > reportWindow {
			delete(r.audit.reporters, k)
		}
	}
	if _, known := r.audit.reporters[who]; known || len(r.audit.reporters) < maxReporters {
		r.audit.reporters[who] = now
	}
}

// relayOfSeed is the relay whose public URL prefixes the web-seed URL u, or nil (caller
// holds the lock).
func (c *Catalog) relayOfSeed(u string) *relay {
	for _, r := range c.relays.byID {
		if r.PublicURL != "" && strings.HasPrefix(u, r.PublicURL+"/") {
			return r
		}
	}
	return nil
}
