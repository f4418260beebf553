package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/useragent"
)

// fakeRelay is a relay's web seed on loopback: it serves one artifact's bytes, true or
// false as lie says for the client's address, and remembers the requests' headers.
type fakeRelay struct {
	srv         *httptest.Server
	path        string // /ws/<infohash>/<root>
	truth, bad  []byte
	lie         func(remote netip.Addr) bool
	mu          sync.Mutex
	seen        []http.Header
	healthFails bool
}

func startFakeRelay(t *testing.T, a catalogapi.Artifact, truth, bad []byte, lie func(netip.Addr) bool) *fakeRelay {
	t.Helper()
	f := &fakeRelay{path: "/ws/" + a.InfoHash + "/" + a.Root, truth: truth, bad: bad, lie: lie}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRelay) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, r.Header.Clone())
	fails := f.healthFails
	f.mu.Unlock()
	switch r.URL.Path {
	case "/healthz":
		if fails {
			http.Error(w, "sick", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	case f.path:
		body := f.truth
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && f.lie(ap.Addr()) {
			body = f.bad
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	default:
		http.NotFound(w, r)
	}
}

func always(netip.Addr) bool { return true }

// butTheDirectory lies to every address but 127.0.0.1, which the directory's checks
// come from in these tests.
func butTheDirectory(a netip.Addr) bool { return a != netip.MustParseAddr("127.0.0.1") }

// auditedDir is a directory with open relays, checked and audited every 100ms, running.
func auditedDir(t *testing.T, tune func(*Config)) *testDir {
	t.Helper()
	d := startTestDir(t, []string{"pub:test"}, func(c *Config) {
		c.Relays.Policy = PolicyOpen
		c.Relays.LivenessInterval, c.Relays.LivenessTimeout = 100*time.Millisecond, 100*time.Millisecond
		c.Relays.AuditInterval = 100 * time.Millisecond
		if tune != nil {
			tune(c)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return d
}

// publishRandom publishes size random bytes.
func publishRandom(t *testing.T, d *testDir, version string, size int) (catalogapi.Artifact, []byte) {
	t.Helper()
	content := make([]byte, size)
	for i := range content {
		content[i] = byte(i*7 + i/4096)
	}
	content[0] = version[0]
	a, err := publishOver(t, d.client(t, filepath.Join(d.keys, "pub.key")), "test", version, content)
	if err != nil {
		t.Fatal(err)
	}
	return a, content
}

// flipped is content with the bytes at offs inverted.
func flipped(content []byte, offs ...int) []byte {
	out := bytes.Clone(content)
	for _, o := range offs {
		out[o] ^= 0xff
	}
	return out
}

// joinRelay registers the relay of the key at keys/name.key at url and reports a
// holding of a, verified; it returns the relay's id and key path.
func (d *testDir) joinRelay(t *testing.T, name, url string, a *catalogapi.Artifact) (id, key string) {
	t.Helper()
	key = makeKey(t, d.keys, name, 0)
	var reg relayapi.Registered
	if err := d.client(t, key).CallJSON(context.Background(), http.MethodPost, "/api/v1/relays/register",
		relayapi.Register{PublicURL: url, QuotaBytes: 1 << 30}, &reg); err != nil {
		t.Fatal(err)
	}
	hb := relayapi.Heartbeat{Holdings: []relayapi.Holding{}}
	if a != nil {
		hb.Holdings = append(hb.Holdings, relayapi.Holding{InfoHash: a.InfoHash, BytesComplete: a.Size, Verified: true})
	}
	if _, err := d.heartbeat(t, key, hb); err != nil {
		t.Fatal(err)
	}
	return reg.RelayID, key
}

func (d *testDir) heartbeat(t *testing.T, key string, hb relayapi.Heartbeat) (relayapi.Plan, error) {
	t.Helper()
	var plan relayapi.Plan
	err := d.client(t, key).CallJSON(context.Background(), http.MethodPost, "/api/v1/relays/heartbeat", hb, &plan)
	return plan, err
}

func (d *testDir) relay(id string) catalogapi.Relay {
	for _, r := range d.Relays("", MaxRelayPage).Relays {
		if r.ID == id {
			return r
		}
	}
	return catalogapi.Relay{}
}

func (d *testDir) inMirrors(a catalogapi.Artifact, url string) (redirects, seeds bool) {
	seed := url + "/ws/" + a.InfoHash + "/"
	for _, m := range d.Mirrors(d.hash(a)) {
		redirects = redirects || m.Base == seed
	}
	art, _ := d.ByInfoHash(d.hash(a))
	return redirects, slices.Contains(d.WebSeeds(art), seed)
}

func (d *testDir) hash(a catalogapi.Artifact) (ih [20]byte) {
	b, _ := hex.DecodeString(a.InfoHash)
	copy(ih[:], b)
	return ih
}

// TestAuditsFindOneBadPieceInMany serves 32 pieces, one of them bad, to everyone: the
// sweeps find it and quarantine the relay, asking as users' clients do.
func TestAuditsFindOneBadPieceInMany(t *testing.T) {
	d := auditedDir(t, func(c *Config) { c.Relays.AuditBytes = 512 << 10 })
	a, content := publishRandom(t, d, "1", 32*256<<10)
	if a.PieceLength != 256<<10 {
		t.Fatalf("piece length %d, want 256 KiB", a.PieceLength)
	}
	bad := 21*256<<10 + 1000
	f := startFakeRelay(t, a, content, flipped(content, bad), always)
	id, _ := d.joinRelay(t, "relay", f.srv.URL, &a)
	waitFor(t, "the relay is quarantined", func() bool { return d.relay(id).Status == StatusQuarantined })
	r := d.relay(id)
	if !strings.Contains(r.Quarantine, "piece 21 ") || !strings.Contains(r.Quarantine, "corrupt") {
		t.Errorf("quarantine %q, want piece 21 corrupt", r.Quarantine)
	}
	if redirects, seeds := d.inMirrors(a, f.srv.URL); redirects || seeds {
		t.Errorf("a quarantined relay in /r/ (%t) or url-lists (%t)", redirects, seeds)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	agents, ranges := map[string]bool{}, 0
	for _, h := range f.seen {
		agents[h.Get("User-Agent")] = true
		if h.Get("Range") != "" {
			ranges++
		}
		for k := range h {
			if strings.HasPrefix(strings.ToLower(k), "x-odi") || k == "Authorization" {
				t.Errorf("an audit sent %s", k)
			}
		}
	}
	for ua := range agents {
		if !useragent.IsUser(ua) {
			t.Errorf("an audit sent User-Agent %q, not a user's", ua)
		}
	}
	if ranges == 0 {
		t.Errorf("no audit asked for a range")
	}
}

// TestAuditsQuarantineAllBad serves every byte wrong.
func TestAuditsQuarantineAllBad(t *testing.T) {
	d := auditedDir(t, nil)
	a, content := publishRandom(t, d, "1", 4*256<<10)
	all := make([]int, len(content))
	for i := range all {
		all[i] = i
	}
	f := startFakeRelay(t, a, content, flipped(content, all...), always)
	id, _ := d.joinRelay(t, "relay", f.srv.URL, &a)
	waitFor(t, "the relay is quarantined", func() bool { return d.relay(id).Status == StatusQuarantined })
}

// auditor is a test's relay that runs the cross-audits its plans give it from its own
// address, as a relay would, and sends the results in its next heartbeat.
type auditor struct {
	id, key string
	http    *http.Client
	pending []relayapi.AuditResult
}

func newAuditor(t *testing.T, d *testDir, name, addr string) *auditor {
	t.Helper()
	// An honest relay's URL that holds nothing: audits never point at it.
	id, key := d.joinRelay(t, name, "http://"+addr+":9", nil)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 5 * time.Second}
	cl := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}, Timeout: 10 * time.Second}
	t.Cleanup(cl.CloseIdleConnections)
	return &auditor{id: id, key: key, http: cl}
}

// beat sends the results of the last plan's audits and runs the new plan's; lie, if not
// nil, replaces each sum of these, which the next beat sends.
func (au *auditor) beat(t *testing.T, d *testDir, lie func(string) string) []relayapi.Audit {
	t.Helper()
	plan, err := d.heartbeat(t, au.key, relayapi.Heartbeat{Holdings: []relayapi.Holding{}, Audits: au.pending})
	if err != nil {
		t.Fatal(err)
	}
	au.pending = nil
	for _, a := range plan.Audits {
		res := relayapi.AuditResult{ID: a.ID}
		req, _ := http.NewRequest(http.MethodGet, a.URL, nil)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", a.Offset, a.Offset+a.Length-1))
		req.Header.Set("User-Agent", "curl/8.5.0")
		resp, err := au.http.Do(req)
		if err != nil {
			res.Error = err.Error()
		} else {
			h := sha256.New()
			io.Copy(h, resp.Body)
			resp.Body.Close()
			res.SHA256 = hex.EncodeToString(h.Sum(nil))
			if resp.StatusCode != http.StatusPartialContent {
				res.SHA256, res.Error = "", "answered "+resp.Status
			}
		}
		if lie != nil && res.SHA256 != "" {
			res.SHA256 = lie(res.SHA256)
		}
		au.pending = append(au.pending, res)
	}
	return plan.Audits
}

// TestCrossAuditsCatchALiar runs a relay that serves the directory's address true bytes
// and every other address false ones: the directory's audits pass, but the first other
// relay's cross-audit suspends it from /r/ and url-lists, and a second one's
// quarantines it.
func TestCrossAuditsCatchALiar(t *testing.T) {
	d := auditedDir(t, nil)
	a, content := publishRandom(t, d, "1", 4*256<<10)
	all := make([]int, len(content))
	for i := range all {
		all[i] = i
	}
	liar := startFakeRelay(t, a, content, flipped(content, all...), butTheDirectory)
	id, _ := d.joinRelay(t, "liar", liar.srv.URL, &a)
	waitFor(t, "the liar passes the directory's checks", func() bool { redirects, _ := d.inMirrors(a, liar.srv.URL); return redirects })

	first, second := newAuditor(t, d, "first", "127.0.0.2"), newAuditor(t, d, "second", "127.0.0.3")
	if audits := first.beat(t, d, nil); len(audits) == 0 || !strings.HasPrefix(audits[0].URL, liar.srv.URL+"/ws/") {
		t.Fatalf("cross-audits %+v, want the liar's web seed", audits)
	}
	first.beat(t, d, nil) // sends the results
	r := d.relay(id)
	if r.Status != StatusSuspended || !r.SuspendedSeeds {
		t.Fatalf("after one relay's mismatch: status %s (%s), suspended seeds %t; want suspended from url-lists too", r.Status, r.Reason, r.SuspendedSeeds)
	}
	if redirects, seeds := d.inMirrors(a, liar.srv.URL); redirects || seeds {
		t.Errorf("a suspended liar in /r/ (%t) or url-lists (%t)", redirects, seeds)
	}
	// The suspended liar is still audited.
	second.beat(t, d, nil)
	second.beat(t, d, nil)
	waitFor(t, "a second relay's mismatch quarantines the liar", func() bool { return d.relay(id).Status == StatusQuarantined })
	if q := d.relay(id).Quarantine; !strings.Contains(q, first.id) || !strings.Contains(q, second.id) {
		t.Errorf("quarantine %q, want both accusers named", q)
	}
}

// TestCrossAuditAccuserContradicted has one relay report false sums of an honest relay:
// two others' good sums lift the suspension and give the accuser a strike.
func TestCrossAuditAccuserContradicted(t *testing.T) {
	d := auditedDir(t, func(c *Config) { c.Relays.CrossAudits = 1 })
	a, content := publishRandom(t, d, "1", 2*256<<10)
	honest := startFakeRelay(t, a, content, nil, func(netip.Addr) bool { return false })
	id, _ := d.joinRelay(t, "honest", honest.srv.URL, &a)
	waitFor(t, "the relay serves", func() bool { redirects, _ := d.inMirrors(a, honest.srv.URL); return redirects })

	accuser := newAuditor(t, d, "accuser", "127.0.0.2")
	if audits := accuser.beat(t, d, func(string) string { return strings.Repeat("0", 64) }); len(audits) != 1 {
		t.Fatalf("cross-audits %+v, want one", audits)
	}
	accuser.beat(t, d, nil) // sends the false sum
	if r := d.relay(id); r.Status != StatusSuspended {
		t.Fatalf("after a mismatch: %s, want suspended", r.Status)
	}
	for i, addr := range []string{"127.0.0.3", "127.0.0.4"} {
		v := newAuditor(t, d, fmt.Sprintf("voucher%d", i), addr)
		v.beat(t, d, nil)
		v.beat(t, d, nil)
	}
	waitFor(t, "the suspension is lifted", func() bool { return d.relay(id).Status == StatusUp })
	if s := d.relay(accuser.id).Strikes; s != 1 {
		t.Errorf("accuser's strikes: %d, want 1", s)
	}
}

// TestKilledRelayLeavesRedirects stops a relay: the first failed health check takes it
// out of /r/ answers, probe_failures of them out of url-lists.
func TestKilledRelayLeavesRedirects(t *testing.T) {
	d := auditedDir(t, func(c *Config) { c.Relays.AuditBytes = 0 })
	a, content := publishRandom(t, d, "1", 256<<10)
	f := startFakeRelay(t, a, content, nil, func(netip.Addr) bool { return false })
	id, _ := d.joinRelay(t, "relay", f.srv.URL, &a)
	waitFor(t, "the relay serves", func() bool { redirects, _ := d.inMirrors(a, f.srv.URL); return redirects })

	f.mu.Lock()
	f.healthFails = true
	f.mu.Unlock()
	waitFor(t, "a failed check takes it out of /r/", func() bool { redirects, _ := d.inMirrors(a, f.srv.URL); return !redirects })
	waitFor(t, "failed checks take it down", func() bool { return d.relay(id).Status == StatusDown })
	if _, seeds := d.inMirrors(a, f.srv.URL); seeds {
		t.Error("a down relay in url-lists")
	}
	f.mu.Lock()
	f.healthFails = false
	f.mu.Unlock()
	waitFor(t, "passing checks bring it back", func() bool { redirects, _ := d.inMirrors(a, f.srv.URL); return redirects })
}

// postReports posts body to d's reports endpoint from the client address from.
func postReports(t *testing.T, d *testDir, from string, body []byte) (int, string) {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	cl := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}, Timeout: 10 * time.Second}
	defer cl.CloseIdleConnections()
	resp, err := cl.Post(d.url+"/api/v1/reports", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func reportsOf(bps ...relayapi.BadPiece) []byte {
	b, _ := json.Marshal(relayapi.Reports{BadPieces: bps})
	return b
}

func TestReportsValidation(t *testing.T) {
	d := auditedDir(t, func(c *Config) { c.Relays.AuditBytes = 0 })
	a, content := publishRandom(t, d, "1", 256<<10)
	f := startFakeRelay(t, a, content, nil, func(netip.Addr) bool { return false })
	d.joinRelay(t, "relay", f.srv.URL, &a)
	good := relayapi.BadPiece{InfoHash: a.InfoHash, Piece: 0, WebSeed: f.srv.URL + "/ws/" + a.InfoHash + "/"}
	with := func(change func(*relayapi.BadPiece)) relayapi.BadPiece { bp := good; change(&bp); return bp }
	many := make([]relayapi.BadPiece, relayapi.MaxReports+1)
	for i := range many {
		many[i] = good
	}
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		want   string
	}{
		{"empty", []byte(``), 400, ""},
		{"none", []byte(`{"bad_pieces":[]}`), 400, "neither bad_pieces nor equivocations reported"},
		{"unknown field", []byte(`{"bad_pieces":[],"who":1}`), 400, "who"},
		{"duplicate key", []byte(`{"bad_pieces":[],"bad_pieces":[]}`), 400, "bad_pieces"},
		{"too many", reportsOf(many...), 400, "at most 64"},
		{"infohash", reportsOf(with(func(bp *relayapi.BadPiece) { bp.InfoHash = "abc" })), 400, "bad_pieces[0].infohash"},
		{"piece", reportsOf(good, with(func(bp *relayapi.BadPiece) { bp.Piece = -1 })), 400, "bad_pieces[1].piece"},
		{"web seed", reportsOf(with(func(bp *relayapi.BadPiece) { bp.WebSeed = "ftp://x/" })), 400, "bad_pieces[0].web_seed"},
		{"too large", append([]byte(`{"bad_pieces":[`), bytes.Repeat([]byte(" "), reportsBodyMax)...), 413, ""},
		{"accepted", reportsOf(good), 202, `"accepted":1,"ignored":0`},
		{"ignored", reportsOf(good,
			with(func(bp *relayapi.BadPiece) { bp.WebSeed = "http://elsewhere.example/ws/x/" }),
			with(func(bp *relayapi.BadPiece) { bp.WebSeed = d.url + "/ws/" + a.InfoHash + "/" }),
			with(func(bp *relayapi.BadPiece) { bp.Piece = 1 }),
			with(func(bp *relayapi.BadPiece) { bp.InfoHash = strings.Repeat("0", 40) })), 202, `"accepted":1,"ignored":4`},
		{"equivocation key", equivocationOf(func(e *relayapi.Equivocation) { e.Key = "d4ff31830d036181" }), 400, "equivocations[0].key"},
		{"equivocation version", equivocationOf(func(e *relayapi.Equivocation) { e.Version = 0 }), 400, "equivocations[0].version"},
		{"equivocation of one document", equivocationOf(func(e *relayapi.Equivocation) { e.Served = e.Held }), 400, "two different sha256"},
		{"equivocation", equivocationOf(nil), 202, `"accepted":0,"ignored":0`},
	} {
		status, body := postReports(t, d, "127.0.0.1", tc.body)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, status, body, tc.status, tc.want)
		}
	}
	if !strings.Contains(d.logs.String(), "an index equivocation was reported") || !strings.Contains(d.logs.String(), "key=D4FF31830D036181 version=7") {
		t.Error("the operator's log does not tell of the equivocation reported")
	}
}

// equivocationOf is a report of one equivocation, changed by change.
func equivocationOf(change func(*relayapi.Equivocation)) []byte {
	e := relayapi.Equivocation{Key: "D4FF31830D036181", Version: 7, Held: strings.Repeat("a", 64), Served: strings.Repeat("b", 64)}
	if change != nil {
		change(&e)
	}
	b, _ := json.Marshal(relayapi.Reports{Equivocations: []relayapi.Equivocation{e}})
	return b
}

// TestReportedPieceAuditedAtOnce turns the sweeps off: a report of the one bad piece
// alone, by a client or in another relay's heartbeat, gets it audited, and the relay
// quarantined.
func TestReportedPieceAuditedAtOnce(t *testing.T) {
	for _, by := range []string{"client", "relay"} {
		t.Run(by, func(t *testing.T) {
			d := auditedDir(t, func(c *Config) { c.Relays.AuditBytes = 0 })
			a, content := publishRandom(t, d, "1", 32*256<<10)
			var rotten atomic.Bool // once the relay is checked
			f := startFakeRelay(t, a, content, flipped(content, 3*256<<10+5), func(netip.Addr) bool { return rotten.Load() })
			id, _ := d.joinRelay(t, "relay", f.srv.URL, &a)
			waitFor(t, "the relay serves", func() bool { redirects, _ := d.inMirrors(a, f.srv.URL); return redirects })
			rotten.Store(true)
			bp := relayapi.BadPiece{InfoHash: a.InfoHash, Piece: 3, WebSeed: f.srv.URL + "/ws/" + a.InfoHash + "/" + a.Root}
			if by == "client" {
				if status, body := postReports(t, d, "127.0.0.2", reportsOf(bp)); status != http.StatusAccepted || !strings.Contains(body, `"accepted":1`) {
					t.Fatalf("report: %d %s", status, body)
				}
			} else {
				_, key := d.joinRelay(t, "reporter", "http://127.0.0.2:9", nil)
				if _, err := d.heartbeat(t, key, relayapi.Heartbeat{Holdings: []relayapi.Holding{}, BadPieces: []relayapi.BadPiece{bp}}); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "the relay is quarantined", func() bool { return d.relay(id).Status == StatusQuarantined })
		})
	}
}

// TestReportQuorumSuspendsFromRedirects has three addresses report an honest relay:
// its audits pass, yet it leaves /r/ answers (not url-lists) for suspend_for.
func TestReportQuorumSuspendsFromRedirects(t *testing.T) {
	d := auditedDir(t, nil)
	a, content := publishRandom(t, d, "1", 256<<10)
	f := startFakeRelay(t, a, content, nil, func(netip.Addr) bool { return false })
	id, key := d.joinRelay(t, "relay", f.srv.URL, &a)
	waitFor(t, "the relay serves", func() bool { redirects, _ := d.inMirrors(a, f.srv.URL); return redirects })
	report := reportsOf(relayapi.BadPiece{InfoHash: a.InfoHash, Piece: 0, WebSeed: f.srv.URL + "/ws/" + a.InfoHash + "/" + a.Root})
	for i, from := range []string{"127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		if status, body := postReports(t, d, from, report); status != http.StatusAccepted {
			t.Fatalf("report: %d %s", status, body)
		}
		if st := d.relay(id).Status; (st == StatusSuspended) != (i == 3) {
			t.Fatalf("after %d reports, the last from %s: %s", i+1, from, st)
		}
	}
	r := d.relay(id)
	if r.SuspendedSeeds || !r.SuspendedUntil.After(d.clock.Now().Add(59*time.Minute)) {
		t.Errorf("suspension: seeds %t until %s; want /r/ only, for an hour", r.SuspendedSeeds, r.SuspendedUntil)
	}
	if redirects, seeds := d.inMirrors(a, f.srv.URL); redirects || !seeds {
		t.Errorf("a reported relay in /r/ %t, in url-lists %t; want out of /r/ only", redirects, seeds)
	}
	d.clock.Add(time.Hour)
	if _, err := d.heartbeat(t, key, relayapi.Heartbeat{Holdings: []relayapi.Holding{{InfoHash: a.InfoHash, BytesComplete: a.Size, Verified: true}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the suspension ends", func() bool { redirects, _ := d.inMirrors(a, f.srv.URL); return redirects })
}

// TestChecksDoNotStarve hammers the directory with heartbeats of a relay whose URL
// never answers: another relay's bad bytes are still caught, and goroutines stay few.
func TestChecksDoNotStarve(t *testing.T) {
	d := auditedDir(t, func(c *Config) { c.Relays.ProbeTimeout = 5 * time.Second })
	a, content := publishRandom(t, d, "1", 256<<10)
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var heldMu sync.Mutex
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			heldMu.Lock()
			held = append(held, c)
			heldMu.Unlock()
		}
	}()
	t.Cleanup(func() {
		hang.Close()
		heldMu.Lock()
		defer heldMu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	_, hangKey := d.joinRelay(t, "hanging", "http://"+hang.Addr().String(), &a)
	before := runtime.NumGoroutine()
	cl := d.client(t, hangKey)
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for w := range 6 {
		wg.Go(func() {
			for i := w; i < 300; i += 6 {
				errs <- cl.CallJSON(context.Background(), http.MethodPost, "/api/v1/relays/heartbeat",
					relayapi.Heartbeat{Holdings: []relayapi.Holding{{InfoHash: a.InfoHash, BytesComplete: a.Size, Verified: true}}}, nil)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && apiclient.StatusOf(err) != http.StatusServiceUnavailable {
			t.Fatal(err)
		}
	}
	if after := runtime.NumGoroutine(); after > before+40 {
		t.Errorf("goroutines: %d before 300 heartbeats, %d after", before, after)
	}
	bad := startFakeRelay(t, a, content, flipped(content, 77), always)
	id, _ := d.joinRelay(t, "bad", bad.srv.URL, &a)
	waitFor(t, "the bad relay is quarantined", func() bool { return d.relay(id).Status == StatusQuarantined })
}

// TestCrossAuditOfADroppedHolding: a relay is not blamed for a cross-audit that failed
// after its heartbeat stopped listing the artifact (it evicted it); while it lists it,
// the failure counts.
func TestCrossAuditOfADroppedHolding(t *testing.T) {
	d := auditedDir(t, nil)
	a, _ := publishRandom(t, d, "1", 256<<10)
	art := d.view.Load().byHash
	var ih metainfo.Hash
	if err := ih.FromHexString(a.InfoHash); err != nil {
		t.Fatal(err)
	}
	held := &holding{RelayHolding: catalogapi.RelayHolding{InfoHash: a.InfoHash, BytesComplete: a.Size, Verified: true}}
	target := &relay{held: map[metainfo.Hash]*holding{ih: held}}
	ca := &crossAudit{target: target, a: art[ih]}
	if d.letGo(ca) {
		t.Error("a relay whose heartbeat lists the artifact, verified, let it go")
	}
	held.Verified = false
	if !d.letGo(ca) {
		t.Error("a relay whose holding is no longer verified still holds it")
	}
	target.held = map[metainfo.Hash]*holding{}
	if !d.letGo(ca) {
		t.Error("a relay whose heartbeat no longer lists the artifact still holds it")
	}
}
