package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"aead.dev/minisign"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/netcheck"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/sign"
)

// RelaysConfig is how a directory admits and checks relays.
type RelaysConfig struct {
	// Policy is "approve" (an operator approves each relay key) or "open" (any relay that
	// passes the self-tests serves users).
	Policy string `mapstructure:"policy"`
	// AllowPrivateURLs admits relay URLs on loopback, private and link-local addresses;
	// only for tests, demos and closed networks.
	AllowPrivateURLs bool `mapstructure:"allow_private_urls"`
	// HeartbeatInterval is how often relays report; MissedHeartbeats how many intervals a
	// relay may be silent before it no longer counts as up.
	HeartbeatInterval time.Duration `mapstructure:"heartbeat_interval"`
	MissedHeartbeats  int           `mapstructure:"missed_heartbeats"`
	// ProbeTimeout bounds each self-test, range check and audit request to a relay.
	ProbeTimeout time.Duration `mapstructure:"probe_timeout"`
	// LivenessInterval is how often, jittered, the directory asks each active relay's
	// health URL, bounded by LivenessTimeout. The first failure takes the relay out of
	// /r/ answers (suspect); ProbeFailures in a row take it down, out of url-lists too;
	// ProbePasses in a row bring it back. Failed audits count as failed checks.
	LivenessInterval time.Duration `mapstructure:"liveness_interval"`
	LivenessTimeout  time.Duration `mapstructure:"liveness_timeout"`
	ProbeFailures    int           `mapstructure:"probe_failures"`
	ProbePasses      int           `mapstructure:"probe_passes"`
	// AuditInterval is how often, jittered per relay, the directory fetches pieces of what
	// a relay holds as a plain user would, AuditBytes a round at most, and checks them
	// against the piece hashes. A bad piece suspends the relay at once, the same piece
	// bad again quarantines it.
	AuditInterval time.Duration `mapstructure:"audit_interval"`
	AuditBytes    bytesize.Size `mapstructure:"audit_bytes"`
	// CrossAudits is how many ranges of other relays' web seeds each heartbeat answer asks
	// a relay to fetch and report (relayapi.Audit): relays audit each other from their
	// own addresses, so a relay cannot serve the directory alone true bytes.
	CrossAudits int `mapstructure:"cross_audits"`
	// ReportQuorum distinct reporters (client addresses, an IPv6 one by its /64; relays
	// by key) reporting bad pieces of one relay within reportWindow suspend it from /r/
	// for SuspendFor, even while the directory's own audits of it pass.
	ReportQuorum int           `mapstructure:"report_quorum"`
	SuspendFor   time.Duration `mapstructure:"suspend_for"`
	// MaxPending bounds the relays waiting for an operator's approval (policy approve):
	// past it, registrations of new keys are answered 503 until one is approved, revoked
	// or expires. PendingTTL is how long a relay may wait before it is forgotten; one
	// still running registers again and waits anew.
	MaxPending int           `mapstructure:"max_pending"`
	PendingTTL time.Duration `mapstructure:"pending_ttl"`
	// MaxHoldings bounds the holdings one heartbeat may report; a heartbeat with more is
	// refused (413). It also sizes the heartbeat's body cap.
	MaxHoldings int `mapstructure:"max_holdings"`
}

// Relay policies.
const (
	PolicyApprove = "approve"
	PolicyOpen    = "open"
)

func defaultRelaysConfig() RelaysConfig {
	return RelaysConfig{
		Policy: PolicyApprove, HeartbeatInterval: 30 * time.Second, MissedHeartbeats: 3,
		ProbeTimeout: 5 * time.Second, ProbeFailures: 3, ProbePasses: 2,
		// A killed relay must leave /r/ answers within 10s: a check every 3s (at most 4.5s
		// apart with jitter) that fails within 2s.
		LivenessInterval: 3 * time.Second, LivenessTimeout: 2 * time.Second,
		// 4 MiB every 10s sweeps a 64 MiB artifact of 256 KiB pieces in 16 rounds
		// (audit.go): a relay corrupting 1 piece in 256 is caught within about 3 minutes.
		AuditInterval: 10 * time.Second, AuditBytes: 4 << 20,
		CrossAudits: 2, ReportQuorum: 3, SuspendFor: time.Hour,
		// An operator approves a handful of relays a day; 3,000 pending registrations
		// took 2.7 s to make.
		MaxPending: 256, PendingTTL: 24 * time.Hour,
		// A relay with a large disk holds a few thousand artifacts.
		MaxHoldings: 10_000,
	}
}

func (c RelaysConfig) validate() error {
	var errs []error
	if c.Policy != PolicyApprove && c.Policy != PolicyOpen {
		errs = append(errs, fmt.Errorf("relays.policy: %q is not approve or open", c.Policy))
	}
	if c.HeartbeatInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("relays.heartbeat_interval: must be at least 100ms, not %s", c.HeartbeatInterval))
	}
	if c.MissedHeartbeats < 1 {
		errs = append(errs, fmt.Errorf("relays.missed_heartbeats: must be at least 1"))
	}
	if c.ProbeTimeout < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("relays.probe_timeout: must be at least 100ms"))
	}
	if c.LivenessInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("relays.liveness_interval: must be at least 100ms, not %s", c.LivenessInterval))
	}
	if c.LivenessTimeout < 50*time.Millisecond {
		errs = append(errs, fmt.Errorf("relays.liveness_timeout: must be at least 50ms, not %s", c.LivenessTimeout))
	}
	if c.AuditInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("relays.audit_interval: must be at least 100ms, not %s", c.AuditInterval))
	}
	if c.AuditBytes < 0 {
		errs = append(errs, fmt.Errorf("relays.audit_bytes: must not be negative (0 turns direct audits off), not %d", c.AuditBytes))
	}
	if c.CrossAudits < 0 || c.CrossAudits > maxCrossAudits {
		errs = append(errs, fmt.Errorf("relays.cross_audits: must be 0 to %d, not %d", maxCrossAudits, c.CrossAudits))
	}
	if c.ReportQuorum < 1 {
		errs = append(errs, fmt.Errorf("relays.report_quorum: must be at least 1, not %d", c.ReportQuorum))
	}
	if c.SuspendFor < time.Minute {
		errs = append(errs, fmt.Errorf("relays.suspend_for: must be at least 1m, not %s", c.SuspendFor))
	}
	if c.ProbeFailures < 1 || c.ProbePasses < 1 {
		errs = append(errs, fmt.Errorf("relays.probe_failures and relays.probe_passes: must be at least 1"))
	}
	if c.MaxPending < 1 {
		errs = append(errs, fmt.Errorf("relays.max_pending: must be at least 1, not %d", c.MaxPending))
	}
	if c.PendingTTL < time.Minute {
		errs = append(errs, fmt.Errorf("relays.pending_ttl: must be at least 1m, not %s", c.PendingTTL))
	}
	if c.MaxHoldings < 1 {
		errs = append(errs, fmt.Errorf("relays.max_holdings: must be at least 1, not %d", c.MaxHoldings))
	}
	return errors.Join(errs...)
}

// Self-test outcomes of a relay.
const (
	testPending = "pending"
	testOK      = "ok"
)

// relay is a relay as the directory keeps it: what the API shows of it and what its
// checks need. Status, Reason, Up and Holdings stay empty here: relayJSON fills them for
// the listing, and the answers of approve, revoke and clear show them empty, as they
// always have.
type relay struct {
	catalogapi.Relay

	testedAt    time.Time
	flights     flight // checks running, one of each kind at most
	suspect     string // why the last health check failed, while no later one passed
	probePasses int    // consecutive passes while down
	lastStatus  string
	serveRate   float64 // bytes/s served over the last heartbeat interval
	held        map[metainfo.Hash]*holding
	audit       relayAudit // audit.go
}

// dhtNodeAt is r's DHT node at port of its public URL's host: a relay names only its
// port, so that torrents cannot be made to send clients' DHT queries to another host.
func (r *relay) dhtNodeAt(port int) string {
	u, err := url.Parse(r.PublicURL)
	if port <= 0 || port > 65535 || err != nil || u.Hostname() == "" {
		return ""
	}
	return net.JoinHostPort(u.Hostname(), strconv.Itoa(port))
}

// holding is one artifact a relay reports.
type holding struct {
	catalogapi.RelayHolding

	seed string // the relay's BEP 19 base URL for it, built once: redirects read it often
	// grewAt is the heartbeat that first reported it, or last reported more of it.
	grewAt time.Time
}

// relays is the directory's registry of relays, in memory and in SQLite.
type relays struct {
	mu   sync.RWMutex
	byID map[string]*relay
	// checks bounds concurrent self-tests and holding checks, live health checks and
	// audits the directory's own audits, each kind apart so that none starves another;
	// within a kind, a relay runs one check at a time (relay.flights).
	checks, live, audits chan struct{}
	probe                *http.Client
	// cross holds the cross-audits handed out and not yet answered, by Audit.ID.
	cross map[string]*crossAudit
	// refusalsLogged holds the registrations refused and logged, by key and reason: a
	// relay that retries a refusal in a loop is logged once, not each time.
	refusalsLogged map[string]struct{}
}

// maxRefusalsLogged bounds refusalsLogged; when it fills, it starts over, and a refusal
// still repeating is logged once more.
const maxRefusalsLogged = 1024

// Concurrent checks of each kind, across relays. Health checks are cheap and many
// relays may time out at once; audits move megabytes.
const (
	maxChecks = 8
	maxLive   = 32
	maxAudits = 4
)

func newRelays(cfg RelaysConfig) *relays {
	return &relays{byID: map[string]*relay{}, checks: make(chan struct{}, maxChecks), live: make(chan struct{}, maxLive),
		audits: make(chan struct{}, maxAudits), probe: probeClient(cfg), cross: map[string]*crossAudit{},
		refusalsLogged: map[string]struct{}{}}
}

// serving says whether r is in url-lists (seeds) and /r/ answers (redirects) now
// (caller holds the lock). A relay found failing once, or reported by users, leaves the
// redirects first: a plain HTTP user has no other source to fall back on, a torrent
// client has the origin and its hashes.
func (c *Catalog) serving(r *relay, now time.Time) (seeds, redirects bool) {
	switch status, _ := c.status(r, now); status {
	case StatusUp:
		return true, true
	case StatusSuspect:
		return true, false
	case StatusSuspended:
		return !r.SuspendedSeeds, false
	}
	return false, false
}

// webSeed is the relay's BEP 19 base URL for the artifact with hex infohash ih.
func (r *relay) webSeed(ih string) string { return r.PublicURL + "/ws/" + ih + "/" }

// Pages of GET /api/v1/relays: at most limit relays (DefaultRelayPage unless asked,
// MaxRelayPage at most), ending early once they list maxPageHoldings holdings, so that
// a page stays a few megabytes whatever relays report (a relay may report
// relays.max_holdings; a pending one reports none that are kept).
const (
	DefaultRelayPage = 100
	MaxRelayPage     = 1000
	maxPageHoldings  = 20_000
)

// Relays lists up to limit relays whose ids sort after after, with their holdings.
func (c *Catalog) Relays(after string, limit int) catalogapi.RelayPage {
	now := c.now()
	c.relays.mu.RLock()
	defer c.relays.mu.RUnlock()
	ids := make([]string, 0, len(c.relays.byID))
	for id := range c.relays.byID {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	page := catalogapi.RelayPage{Relays: []catalogapi.Relay{}}
	holdings := 0
	for i, id := range ids {
		if i == limit || (i > 0 && holdings >= maxPageHoldings) {
			page.Next = page.Relays[i-1].ID
			break
		}
		v := c.relayJSON(c.relays.byID[id], now)
		holdings += len(v.Holdings)
		page.Relays = append(page.Relays, v)
	}
	return page
}

// RelayBytesServed is the bytes all relays served, as their heartbeats reported them:
// a total that only grows (pending relays, the only ones forgotten, serve nothing).
func (c *Catalog) RelayBytesServed() int64 {
	c.relays.mu.RLock()
	defer c.relays.mu.RUnlock()
	var n int64
	for _, r := range c.relays.byID {
		n += r.BytesServed
	}
	return n
}

// relayJSON is r as the relay listing shows it: with its status and its holdings (caller
// holds the lock).
func (c *Catalog) relayJSON(r *relay, now time.Time) catalogapi.Relay {
	v := c.relayStatus(r, now)
	v.Holdings = make([]catalogapi.RelayHolding, 0, len(r.held))
	for _, h := range r.held {
		v.Holdings = append(v.Holdings, h.RelayHolding)
	}
	slices.SortFunc(v.Holdings, func(a, b catalogapi.RelayHolding) int { return strings.Compare(a.InfoHash, b.InfoHash) })
	return v
}

// relayStatus is r with its status and why, without holdings (caller holds the lock).
func (c *Catalog) relayStatus(r *relay, now time.Time) catalogapi.Relay {
	v := r.Relay
	v.Status, v.Reason = c.status(r, now)
	v.Up = v.Status == StatusUp
	return v
}

// register admits or updates a relay from its signed Register, logging its refusals
// (once per relay and reason): the operator of the directory sees a relay left out.
func (c *Catalog) register(ctx context.Context, p *principal, reg *relayapi.Register) (_ *relayapi.Registered, err error) {
	defer func() {
		if errors.Is(err, ErrInvalid) || errors.Is(err, ErrForbidden) {
			c.logRefusal(p, reg.PublicURL, err)
		}
	}()
	if err := c.checkRelayURL(ctx, reg.PublicURL); err != nil {
		return nil, err
	}
	if reg.QuotaBytes < 0 || reg.FreeBytes < 0 || reg.UploadLimit < 0 || reg.DownloadLimit < 0 {
		return nil, fmt.Errorf("%w: negative quota, free bytes or limit", ErrInvalid)
	}
	country, continent := c.locate(ctx, reg.PublicURL)
	now := c.now().UTC().Truncate(time.Second)
	c.relays.mu.Lock()
	r := c.relays.byID[p.fingerprint]
	if r != nil && r.State == relayapi.StatePending && now.Sub(r.RegisteredAt) >= c.cfg.Relays.PendingTTL {
		r = nil // its wait is over, and expirePending would forget it: it waits anew
	}
	if r == nil {
		r = &relay{Relay: catalogapi.Relay{ID: p.fingerprint, KeyID: p.keyID, PublicKey: p.key.String(), RegisteredAt: now,
			State: relayapi.StatePending}, held: map[metainfo.Hash]*holding{}}
		if c.cfg.Relays.Policy == PolicyOpen {
			r.State = relayapi.StateActive
		} else if err := c.roomForPending(now); err != nil {
			c.relays.mu.Unlock()
			return nil, err
		}
		c.relays.byID[r.ID] = r
	}
	r.PublicURL = strings.TrimRight(reg.PublicURL, "/")
	r.Quota, r.Free, r.UploadLimit, r.DownloadLimit = reg.QuotaBytes, reg.FreeBytes, reg.UploadLimit, reg.DownloadLimit
	r.Catalogs, r.LastSeen, r.SelfTest = reg.Catalogs, now, testPending
	r.Country, r.Continent = country, continent
	for _, h := range r.held {
		h.seed = r.webSeed(h.InfoHash)
	}
	r.Down, r.ProbeFailures, r.probePasses = "", 0, 0
	// What a restarted relay serves must be checked again.
	for _, h := range r.held {
		h.Checked = false
	}
	r.suspect = ""
	c.check(r, flightTest, func(ctx context.Context) { c.testRelay(ctx, r, true) })
	c.noteStatus(r, now)
	snapshot := r.Relay
	c.relays.mu.Unlock()
	if err := c.db.saveRelay(ctx, &snapshot, nil); err != nil {
		return nil, err
	}
	c.log.Info("relay registered", "relay", r.ID, "url", snapshot.PublicURL, "state", snapshot.State, "quota", snapshot.Quota)
	msg := ""
	if snapshot.State == relayapi.StatePending {
		msg = "waiting for an operator: odi admin relays approve " + r.ID
	}
	answer := &relayapi.Registered{RelayID: r.ID, State: snapshot.State, HeartbeatInterval: c.cfg.Relays.HeartbeatInterval, Message: msg}
	if c.cfg.DHTNode != "" {
		answer.DHTNodes = []string{c.cfg.DHTNode}
	}
	return answer, nil
}

// logRefusal logs a refused registration at warn, unless this key was refused for this
// reason already.
func (c *Catalog) logRefusal(p *principal, publicURL string, err error) {
	key := p.fingerprint + "\x00" + err.Error()
	c.relays.mu.Lock()
	_, seen := c.relays.refusalsLogged[key]
	if !seen {
		if len(c.relays.refusalsLogged) >= maxRefusalsLogged {
			clear(c.relays.refusalsLogged)
		}
		c.relays.refusalsLogged[key] = struct{}{}
	}
	c.relays.mu.Unlock()
	if !seen {
		c.log.Warn("relay registration refused (logged once per relay and reason)", "relay", p.fingerprint, "public_url", publicURL, "err", err)
	}
}

// roomForPending refuses a new pending relay when relays.max_pending wait already
// (caller holds the lock). Those past relays.pending_ttl do not count: the next
// expirePending forgets them. Refusing the newcomer, rather than forgetting the oldest,
// keeps a flood of registrations from pushing out the relays an operator is about to
// approve; the flood's own entries expire within pending_ttl.
func (c *Catalog) roomForPending(now time.Time) error {
	ttl := c.cfg.Relays.PendingTTL
	waiting := 0
	var oldest time.Time
	for _, r := range c.relays.byID {
		if r.State != relayapi.StatePending || now.Sub(r.RegisteredAt) >= ttl {
			continue
		}
		waiting++
		if oldest.IsZero() || r.RegisteredAt.Before(oldest) {
			oldest = r.RegisteredAt
		}
	}
	if waiting < c.cfg.Relays.MaxPending {
		return nil
	}
	return busy(oldest.Add(ttl).Sub(now), "%d relays are waiting for an operator's approval, as many as this directory keeps (relays.max_pending)", waiting)
}

// expirePending forgets the relays that waited for approval longer than
// relays.pending_ttl, with their rows.
func (c *Catalog) expirePending(ctx context.Context) error {
	now := c.now()
	c.relays.mu.Lock()
	var stale []*relay
	for id, r := range c.relays.byID {
		if r.State == relayapi.StatePending && now.Sub(r.RegisteredAt) >= c.cfg.Relays.PendingTTL {
			stale = append(stale, r)
			delete(c.relays.byID, id)
		}
	}
	c.relays.mu.Unlock()
	for _, r := range stale {
		if err := c.db.deletePending(ctx, r.ID, r.RegisteredAt); err != nil {
			return err
		}
		c.log.Info("pending relay expired: never approved", "relay", r.ID, "url", r.PublicURL, "registered", r.RegisteredAt)
	}
	return nil
}

// heartbeat records a relay's report and answers with its plan. A pending relay is
// placed nowhere, so its holdings are neither kept nor written: its heartbeat costs no
// write at all, and shows in the registry as a relay holding nothing.
func (c *Catalog) heartbeat(ctx context.Context, p *principal, hb *relayapi.Heartbeat) (*relayapi.Plan, error) {
	if n, most := len(hb.Holdings), c.cfg.Relays.MaxHoldings; n > most {
		return nil, fmt.Errorf("%w: the heartbeat reports %d holdings; this directory takes at most %d (relays.max_holdings)", ErrTooLarge, n, most)
	}
	if err := checkBadPieces(hb.BadPieces); err != nil {
		return nil, err
	}
	if len(hb.Audits) > maxAuditResults {
		return nil, fmt.Errorf("%w: audits: %d results; a heartbeat answers at most %d", ErrInvalid, len(hb.Audits), maxAuditResults)
	}
	plan := &relayapi.Plan{State: relayapi.StatePending, Interval: c.cfg.Relays.HeartbeatInterval,
		Fetch: []relayapi.Item{}, Keep: []relayapi.Item{}, Drop: []string{}, Expunged: []string{}}
	now := c.now().UTC()
	r := p.relay
	c.relays.mu.Lock()
	if r.State == relayapi.StatePending {
		r.Free, r.Degraded, r.LastSeen = hb.FreeBytes, hb.Degraded, now
		c.noteStatus(r, now)
		c.relays.mu.Unlock()
		return plan, nil
	}
	c.relays.mu.Unlock()
	held := make(map[metainfo.Hash]*holding, len(hb.Holdings))
	for _, h := range hb.Holdings {
		var ih metainfo.Hash
		if err := ih.FromHexString(h.InfoHash); err != nil || h.BytesComplete < 0 {
			return nil, fmt.Errorf("%w: holding %q", ErrInvalid, h.InfoHash)
		}
		held[ih] = &holding{RelayHolding: catalogapi.RelayHolding{InfoHash: ih.HexString(), BytesComplete: h.BytesComplete, Verified: h.Verified}}
	}
	c.relays.mu.Lock()
	// Holdings are rewritten only when they changed: a relay carrying thousands of
	// artifacts would otherwise cost a transaction of thousands of rows per heartbeat.
	changed := len(held) != len(r.held)
	toCheck := false
	for ih, h := range held {
		old := r.held[ih]
		if old == nil || old.BytesComplete != h.BytesComplete || old.Verified != h.Verified {
			changed = true
		}
		if old != nil && old.Verified && h.Verified {
			h.Checked = old.Checked
		}
		h.grewAt = now
		if old != nil && h.BytesComplete <= old.BytesComplete {
			h.grewAt = old.grewAt
		}
		toCheck = toCheck || h.Verified && !h.Checked
	}
	r.noteServed(hb.BytesServed, now)
	for _, h := range held {
		h.seed = r.webSeed(h.InfoHash)
	}
	r.held, r.Free, r.Degraded, r.LastSeen = held, hb.FreeBytes, hb.Degraded, now
	newNode := ""
	if node := r.dhtNodeAt(hb.DHTPort); node != r.DHTNode {
		r.DHTNode, newNode = node, node
	}
	r.BytesServed += max(hb.BytesServed, 0)
	// Test a relay never tested since this directory started, and retest a failed one
	// once a minute; range-check new holdings. One goroutine per relay at most does it,
	// however fast heartbeats come.
	retest := r.SelfTest == testPending || (r.SelfTest != testOK && now.Sub(r.testedAt) > time.Minute)
	if retest || toCheck {
		c.check(r, flightTest, func(ctx context.Context) { c.testRelay(ctx, r, retest) })
	}
	c.noteStatus(r, now)
	snapshot := r.Relay
	c.relays.mu.Unlock()
	if newNode != "" && c.deps.DHT != nil {
		c.deps.DHT.AddNodes([]string{newNode})
	}

	saveHeld := held
	if !changed {
		saveHeld = nil
	}
	if err := c.db.saveRelay(ctx, &snapshot, saveHeld); err != nil {
		return nil, err
	}
	plan.State = snapshot.State
	if snapshot.State != relayapi.StateActive {
		return plan, nil
	}
	c.crossResults(r, hb.Audits)
	c.report("relay "+r.ID, r, hb.BadPieces)
	plan.Audits = c.planAudits(r)
	placed, err := c.planFor(snapshot.ID)
	if err != nil {
		return nil, err
	}
	c.wirePlan(placed, plan)
	plan.Origin, plan.OriginToken = c.cfg.base()+"/ws/", c.originToken(snapshot.ID)
	return plan, nil
}

func (c *Catalog) demand(ih metainfo.Hash) float64 {
	if c.deps.Popularity == nil {
		return 0
	}
	return c.deps.Popularity.Popularity(ih).Demand
}

func (c *Catalog) planItem(a *Artifact) relayapi.Item {
	return relayapi.Item{ID: a.ID(), InfoHash: a.InfoHash.HexString(), Size: a.Size, TorrentURL: c.TorrentURL(a), Demand: c.demand(a.InfoHash), Files: a.Files}
}

// setRelayState approves or revokes a relay. Revocation takes it out of every url-list at
// once: they are built from the registry on each request.
func (c *Catalog) setRelayState(ctx context.Context, id, state string) (*catalogapi.Relay, error) {
	c.relays.mu.Lock()
	r := c.relays.byID[id]
	if r == nil {
		c.relays.mu.Unlock()
		return nil, fmt.Errorf("relay %s: %w", id, ErrNotFound)
	}
	r.State = state
	c.noteStatus(r, c.now())
	snapshot := r.Relay
	c.relays.mu.Unlock()
	if err := c.db.saveRelay(ctx, &snapshot, nil); err != nil {
		return nil, err
	}
	return &snapshot, nil
}

// relayByKey resolves a registered relay by its whole key.
func (c *Catalog) relayByKey(_ context.Context, p *principal) (deny, err error) {
	c.relays.mu.RLock()
	r := c.relays.byID[p.fingerprint]
	c.relays.mu.RUnlock()
	if r == nil {
		return nil, fmt.Errorf("relay %s: %w (register first)", p.fingerprint, ErrNotFound)
	}
	p.relay = r
	if r.State == relayapi.StateRevoked {
		return fmt.Errorf("%w: relay %s is revoked", ErrForbidden, r.ID), nil
	}
	return nil, nil
}

// registeringRelay resolves the key a registration is signed with: any key but an
// admin's may register, and a known relay's comes back as that relay.
func (c *Catalog) registeringRelay(_ context.Context, p *principal) (deny, err error) {
	if _, admin := c.admins[p.fingerprint]; admin {
		return nil, fmt.Errorf("%w: an admin key cannot be a relay key", ErrForbidden)
	}
	c.relays.mu.RLock()
	r := c.relays.byID[p.fingerprint]
	c.relays.mu.RUnlock()
	if r != nil && r.State == relayapi.StateRevoked {
		return fmt.Errorf("%w: relay %s is revoked", ErrForbidden, r.ID), nil
	}
	return nil, nil
}

// checkRelayURL refuses URLs users could not or should not be sent to.
func (c *Catalog) checkRelayURL(ctx context.Context, raw string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Relays.ProbeTimeout)
	defer cancel()
	err := netcheck.CheckBaseURL(ctx, raw, c.cfg.Relays.AllowPrivateURLs)
	if errors.Is(err, netcheck.ErrNotPublic) {
		return fmt.Errorf("%w: public_url %w; this directory accepts loopback and private relay URLs only when started with --allow-private-relay-urls (directory.relays.allow_private_urls: true)",
			ErrInvalid, err)
	}
	if err != nil {
		return fmt.Errorf("%w: public_url %w", ErrInvalid, err)
	}
	return nil
}

// probeClient fetches from relays: bounded in time, never following redirects, and (unless
// private URLs are allowed) refusing at dial time any private address, so a relay cannot
// point the directory at its own network by DNS tricks.
func probeClient(cfg RelaysConfig) *http.Client {
	return netcheck.Client(cfg.ProbeTimeout, cfg.AllowPrivateURLs)
}

// testRelay self-tests r (with selfTest) and range-checks the holdings it reports
// verified that the directory has not checked.
func (c *Catalog) testRelay(ctx context.Context, r *relay, selfTest bool) {
	if !acquire(ctx, c.relays.checks) {
		return
	}
	defer func() { <-c.relays.checks }()
	if selfTest {
		c.selfTest(ctx, r)
	}
	c.checkHoldings(ctx, r)
}

// selfTest fetches the relay's health URL and records the outcome.
func (c *Catalog) selfTest(ctx context.Context, r *relay) {
	c.relays.mu.RLock()
	base := r.PublicURL
	c.relays.mu.RUnlock()
	outcome := testOK
	if err := c.probeHealth(ctx, base, c.cfg.Relays.ProbeTimeout); err != nil {
		outcome = err.Error()
	}
	if ctx.Err() != nil {
		return
	}
	c.relays.mu.Lock()
	r.SelfTest, r.testedAt = outcome, c.now()
	c.noteStatus(r, c.now())
	c.relays.mu.Unlock()
}

// checkHoldings fetches one random piece of each holding r reports verified and the
// directory has not checked, as a user would, and checks it against the piece hash: a
// match makes the holding eligible for url-lists, a mismatch suspends the relay at once
// and quarantines it when the piece is bad again (auditSpans).
func (c *Catalog) checkHoldings(ctx context.Context, r *relay) {
	byHash := c.view.Load().byHash
	c.relays.mu.RLock()
	var due []*Artifact
	for ih, h := range r.held {
		if a := byHash[ih]; a != nil && a.State == catalogapi.Published && h.Verified && !h.Checked && a.pieces() > 0 {
			due = append(due, a)
		}
	}
	c.relays.mu.RUnlock()
	for _, a := range due {
		good, err := c.auditSpans(ctx, r, kindHolding, []pieceRef{{a.InfoHash, rand.IntN(a.pieces())}})
		if ctx.Err() != nil || errors.Is(err, ErrCorruptPiece) {
			return
		}
		if good == 0 && err == nil {
			continue // not held any more
		}
		if err != nil {
			// Not corrupt, just not served now (the relay may have evicted it since its
			// last heartbeat, or be slow): the holding stays unchecked, out of url-lists,
			// and is checked again at the next heartbeat.
			c.log.Info("relay range check failed", "relay", r.ID, "artifact", a.ID(), "err", err)
			continue
		}
		c.relays.mu.Lock()
		if h := r.held[a.InfoHash]; h != nil && h.Verified {
			h.Checked = true
		}
		c.relays.mu.Unlock()
	}
}

// loadRelays reads the registry, re-keying first the relays that migration 00005 left
// under their key ids.
func (s *store) loadRelays(ctx context.Context, log *slog.Logger) (map[string]*relay, error) {
	if err := s.rekeyRelays(ctx, log); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `
		SELECT id, public_key, public_url, quota, free, upload_limit, download_limit, catalogs,
		       state, registered_at, last_seen, bytes_served, quarantine FROM relays`)
	if err != nil {
		return nil, fmt.Errorf("load relays: %w", err)
	}
	defer rows.Close()
	out := map[string]*relay{}
	for rows.Next() {
		r := &relay{Relay: catalogapi.Relay{SelfTest: testPending}, held: map[metainfo.Hash]*holding{}}
		var catalogs string
		var registered, seen int64
		if err := rows.Scan(&r.ID, &r.PublicKey, &r.PublicURL, &r.Quota, &r.Free, &r.UploadLimit, &r.DownloadLimit,
			&catalogs, &r.State, &registered, &seen, &r.BytesServed, &r.Quarantine); err != nil {
			return nil, fmt.Errorf("load relays: %w", err)
		}
		var key minisign.PublicKey
		if err := key.UnmarshalText([]byte(r.PublicKey)); err != nil {
			return nil, fmt.Errorf("load relay %s: %w", r.ID, err)
		}
		r.KeyID = sign.KeyID(key.ID())
		r.Catalogs = strings.Fields(catalogs)
		r.RegisteredAt, r.LastSeen = time.Unix(registered, 0).UTC(), time.Unix(seen, 0).UTC()
		out[r.ID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load relays: %w", err)
	}
	hrows, err := s.r.QueryContext(ctx, `SELECT relay_id, infohash, bytes_complete, verified FROM relay_holdings`)
	if err != nil {
		return nil, fmt.Errorf("load relay holdings: %w", err)
	}
	defer hrows.Close()
	for hrows.Next() {
		var id string
		var h holding
		if err := hrows.Scan(&id, &h.InfoHash, &h.BytesComplete, &h.Verified); err != nil {
			return nil, fmt.Errorf("load relay holdings: %w", err)
		}
		var ih metainfo.Hash
		if r := out[id]; r != nil && ih.FromHexString(h.InfoHash) == nil {
			r.held[ih] = &h
		}
	}
	return out, hrows.Err()
}

// rekeyRelays gives the relays whose id is not their key's fingerprint (registered before
// migration 00005, when the key id was the id) their fingerprint, which SQL cannot
// compute. Their holdings are dropped: the next heartbeat reports them again.
func (s *store) rekeyRelays(ctx context.Context, log *slog.Logger) error {
	rows, err := s.r.QueryContext(ctx, `SELECT id, public_key FROM relays`)
	if err != nil {
		return fmt.Errorf("re-key relays: %w", err)
	}
	defer rows.Close()
	rekey := map[string]string{}
	for rows.Next() {
		var id, text string
		if err := rows.Scan(&id, &text); err != nil {
			return fmt.Errorf("re-key relays: %w", err)
		}
		var key minisign.PublicKey
		if err := key.UnmarshalText([]byte(text)); err != nil {
			return fmt.Errorf("re-key relay %s: %w", id, err)
		}
		if fp := sign.Fingerprint(key); fp != id {
			rekey[id] = fp
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("re-key relays: %w", err)
	}
	rows.Close()
	if len(rekey) == 0 {
		return nil
	}
	return s.withTx(ctx, func(tx *sql.Tx) error {
		for old, fp := range rekey {
			if _, err := tx.ExecContext(ctx, `DELETE FROM relay_holdings WHERE relay_id = ?`, old); err != nil {
				return fmt.Errorf("re-key relay %s: %w", old, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE relays SET id = ? WHERE id = ?`, fp, old); err != nil {
				return fmt.Errorf("re-key relay %s: %w", old, err)
			}
			log.Info("relay re-keyed by its key's fingerprint", "key_id", old, "relay", fp)
		}
		return nil
	})
}

// saveRelay writes a relay's row and, if held is not nil, replaces its holdings.
func (s *store) saveRelay(ctx context.Context, r *catalogapi.Relay, held map[metainfo.Hash]*holding) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO relays (id, public_key, public_url, quota, free, upload_limit, download_limit, catalogs,
				state, registered_at, last_seen, bytes_served, quarantine)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET public_url = excluded.public_url, quota = excluded.quota,
				free = excluded.free, upload_limit = excluded.upload_limit, download_limit = excluded.download_limit,
				catalogs = excluded.catalogs, state = excluded.state, registered_at = excluded.registered_at,
				last_seen = excluded.last_seen, bytes_served = excluded.bytes_served, quarantine = excluded.quarantine`,
			r.ID, r.PublicKey, r.PublicURL, r.Quota, r.Free, r.UploadLimit, r.DownloadLimit, strings.Join(r.Catalogs, " "),
			r.State, r.RegisteredAt.Unix(), r.LastSeen.Unix(), r.BytesServed, r.Quarantine)
		if err != nil {
			return fmt.Errorf("save relay %s: %w", r.ID, err)
		}
		if held == nil {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM relay_holdings WHERE relay_id = ?`, r.ID); err != nil {
			return fmt.Errorf("save relay %s holdings: %w", r.ID, err)
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO relay_holdings (relay_id, infohash, bytes_complete, verified) VALUES (?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("save relay %s holdings: %w", r.ID, err)
		}
		defer stmt.Close()
		for _, h := range held {
			if _, err := stmt.ExecContext(ctx, r.ID, h.InfoHash, h.BytesComplete, h.Verified); err != nil {
				return fmt.Errorf("save relay %s holdings: %w", r.ID, err)
			}
		}
		return nil
	})
}

// deletePending removes a pending relay's row and holdings (a pending relay's are not
// written, but a database of an older version may have some), unless the relay was
// approved or registered again since (registered_at says which registration it was).
func (s *store) deletePending(ctx context.Context, id string, registered time.Time) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		const this = `SELECT id FROM relays WHERE id = ? AND state = 'pending' AND registered_at = ?`
		if _, err := tx.ExecContext(ctx, `DELETE FROM relay_holdings WHERE relay_id IN (`+this+`)`, id, registered.Unix()); err != nil {
			return fmt.Errorf("delete pending relay %s: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM relays WHERE id IN (`+this+`)`, id, registered.Unix()); err != nil {
			return fmt.Errorf("delete pending relay %s: %w", id, err)
		}
		return nil
	})
}
