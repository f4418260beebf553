package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	trclient "github.com/anacrolix/torrent/tracker"

	"github.com/opendist/odi/catalog"
	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/sign"
)

// relayDirectory is a directory that admits relays on loopback and hears from them often.
func relayDirectory(c *DirectoryConfig) {
	c.Relays.Policy = catalog.PolicyOpen
	c.Relays.AllowPrivateURLs = true
	c.Relays.HeartbeatInterval = 200 * time.Millisecond
	c.Relays.ProbeTimeout = 2 * time.Second
}

type testRelay struct {
	*relayProc
	key  string
	id   string
	data string
	url  string
	stop func()
}

// startTestRelay runs a relay of tn until the test ends (or stop); opts adjust its config.
func startTestRelay(t *testing.T, tn *testNet, opts ...func(*RelayConfig)) *testRelay {
	t.Helper()
	cfg := defaultConfig().Relay
	cfg.Listen = "127.0.0.1:0"
	cfg.BTListen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.KeyFile = newKeys(t, "relay")[0]
	cfg.Directories = []string{tn.base}
	cfg.Quota = 1 << 30
	cfg.MinFreeSpace = 0
	cfg.RetryMax = time.Second
	for _, o := range opts {
		o(&cfg)
	}
	return runTestRelay(t, cfg)
}

func runTestRelay(t *testing.T, cfg RelayConfig) *testRelay {
	t.Helper()
	key, err := sign.LoadPrivateKey(cfg.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	id := sign.Fingerprint(sign.NewSigner(key, nil).PublicKey())
	ctx, cancel := context.WithCancel(context.Background())
	p, err := startRelay(ctx, cfg, testLogger(t, "relay "+id))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	tr := &testRelay{relayProc: p, key: cfg.KeyFile, id: id, data: cfg.DataDir, url: p.cfg.PublicURL}
	stopped := false
	tr.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := p.Wait(); err != nil {
				t.Errorf("relay stopped with %v", err)
			}
		}
	}
	t.Cleanup(tr.stop)
	return tr
}

// relayView returns the directory's view of a relay.
func relayView(t *testing.T, tn *testNet, id string) catalogapi.Relay {
	t.Helper()
	_, body := get(t, tn.base+"/api/v1/relays")
	var out struct{ Relays []catalogapi.Relay }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	for _, r := range out.Relays {
		if r.ID == id {
			return r
		}
	}
	return catalogapi.Relay{}
}

// waitFor polls cond (bounded) until it holds.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(within, cond) {
		t.Fatalf("after %s: %s", within, what)
	}
}

// poll reports whether cond came to hold within the time given.
func poll(within time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(within); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// waitServes waits (bounded) until the directory lists the relay as serving every ih,
// verified and range-checked; a failure shows what the directory says of the relay.
func waitServes(t *testing.T, tn *testNet, within time.Duration, id string, ihs ...string) {
	t.Helper()
	if !poll(within, func() bool { return servesChecked(t, tn, id, ihs...) }) {
		view, _ := json.Marshal(relayView(t, tn, id))
		t.Fatalf("after %s: relay %s does not serve %v, checked; the directory has %s", within, id, ihs, view)
	}
}

// servesChecked reports whether the directory lists the relay as holding every ih,
// verified and range-checked.
func servesChecked(t *testing.T, tn *testNet, id string, ihs ...string) bool {
	r := relayView(t, tn, id)
	ok := 0
	for _, h := range r.Holdings {
		for _, ih := range ihs {
			if h.InfoHash == ih && h.Verified && h.Checked {
				ok++
			}
		}
	}
	return r.Up && ok == len(ihs)
}

// firstDifference describes where got and want part.
func firstDifference(got, want []byte) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("byte %d is %#x, want %#x (%d bytes, want %d)", i, got[i], want[i], len(got), len(want))
		}
	}
	return fmt.Sprintf("%d bytes, want %d", len(got), len(want))
}

func getRange(t *testing.T, u string, from, to int64) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("GET %s range %d-%d: %s", u, from, to, resp.Status)
	}
	return b
}

func TestRelaysFillSeedAndServe(t *testing.T) {
	tn := startTestDirectory(t, relayDirectory)
	src := t.TempDir()
	writeFiles(t, src, 21, map[string]int{"disk.img": 6<<20 + 17, "pkg/a.txt": 1<<20 + 5, "pkg/sub/b.bin": 2 << 20})
	ctx := context.Background()
	img, err := client.Publish(ctx, tn.publisher, ident("img"), filepath.Join(src, "disk.img"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := client.Publish(ctx, tn.publisher, ident("pkg"), filepath.Join(src, "pkg"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}

	a := startTestRelay(t, tn)
	waitServes(t, tn, 60*time.Second, a.id, img.InfoHash, pkg.InfoHash)
	b := startTestRelay(t, tn)
	waitServes(t, tn, 60*time.Second, b.id, img.InfoHash, pkg.InfoHash)
	if peers, _ := b.relay.Downloaded(); peers == 0 {
		t.Errorf("relay B got nothing over BitTorrent from relay A")
	}

	// Both seed: the tracker lists them.
	for _, art := range []*catalogapi.Artifact{img, pkg} {
		s := newAnnouncer(t, tn.base+"/announce", infoHash(t, art.InfoHash)).scrape()
		if s.Seeders < 2 {
			t.Errorf("%s: %d seeders on the tracker, want both relays", art.ID, s.Seeders)
		}
		// Their fills followed the placement: no user has asked for anything yet.
		_, body := get(t, tn.base+"/api/v1/artifacts/"+art.ID)
		var j catalogapi.Artifact
		if err := json.Unmarshal(body, &j); err != nil || j.Swarm == nil {
			t.Fatalf("artifact JSON: %v: %s", err, body)
		}
		if j.Swarm.Demand != 0 {
			t.Errorf("%s: demand %v after the relays' fills alone; want 0", art.ID, j.Swarm.Demand)
		}
	}
	// The torrent lists both relays, then the origin.
	_, body := get(t, img.TorrentURL)
	mi, err := metainfo.Load(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(mi.UrlList) != 3 || mi.UrlList[2] != tn.base+"/ws/"+img.InfoHash+"/" {
		t.Fatalf("url-list %q, want the two relays then the origin", mi.UrlList)
	}
	// Both relays and the origin's web seed (which may send the client on to a relay)
	// serve the published bytes, whole and in ranges: every byte, since a fill that raced
	// its client once left zeros where no check looked.
	for _, f := range []string{"disk.img", "pkg/a.txt", "pkg/sub/b.bin"} {
		ih := img.InfoHash
		if strings.HasPrefix(f, "pkg") {
			ih = pkg.InfoHash
		}
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, base := range []string{tn.base, a.url, b.url} {
			u := base + "/ws/" + ih + "/" + f
			if _, got := get(t, u); !bytes.Equal(got, data) {
				t.Errorf("%s serves other bytes: %s", u, firstDifference(got, data))
			}
			if got, want := getRange(t, u, 1<<20, 3<<20), data[1<<20:min(3<<20+1, len(data))]; !bytes.Equal(got, want) {
				t.Errorf("%s serves other bytes for range 1 MiB-3 MiB: %s", u, firstDifference(got, want))
			}
		}
	}
	// An anacrolix client given only the relays' web seeds gets the right bytes.
	mi.UrlList = mi.UrlList[:2]
	dl := downloadWebSeedOnly(t, mi)
	got, _ := os.ReadFile(filepath.Join(dl, "disk.img"))
	want, _ := os.ReadFile(filepath.Join(src, "disk.img"))
	if !bytes.Equal(got, want) {
		t.Fatal("download from the relays' web seeds differs")
	}
	// With two relays holding it, the origin's web seed hands its clients to them; with
	// one, it serves the bytes itself (a single relay may be the bad one).
	origin := tn.base + "/ws/" + img.InfoHash + "/disk.img"
	s, loc := originAnswer(t, origin)
	if s != http.StatusFound || (loc != a.url+"/ws/"+img.InfoHash+"/disk.img" && loc != b.url+"/ws/"+img.InfoHash+"/disk.img") {
		t.Fatalf("origin answered %d to %q, want a 302 to a relay", s, loc)
	}
	b.stop()
	waitFor(t, 10*time.Second, "the origin serves again with one relay left", func() bool {
		s, _ := originAnswer(t, origin)
		return s == http.StatusOK
	})
}

// du is the disk space the files under dir take (allocated blocks, not sizes).
func du(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += allocated(fi)
		}
		return nil
	})
	return n
}

func TestRelayQuotaHoldsTheMostPopular(t *testing.T) {
	tn := startTestDirectory(t, relayDirectory)
	src := t.TempDir()
	writeFiles(t, src, 22, map[string]int{"hot.bin": 3 << 20, "warm.bin": 3 << 20, "cold.bin": 3 << 20})
	arts := map[string]*catalogapi.Artifact{}
	for _, n := range []string{"hot", "warm", "cold"} {
		a, err := client.Publish(context.Background(), tn.publisher, ident(n), filepath.Join(src, n+".bin"), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		arts[n] = a
	}
	// Demand: leechers announce for hot (many) and warm (some).
	for n, leechers := range map[string]int{"hot": 20, "warm": 5} {
		an := newAnnouncer(t, tn.base+"/announce", infoHash(t, arts[n].InfoHash))
		for i := range leechers {
			an.mustAnnounce(uint16(7000+i), 100, trclient.Started, 0)
		}
	}
	const quota = 7 << 20 // two of the three
	r := startTestRelay(t, tn, func(c *RelayConfig) { c.Quota = quota })
	waitFor(t, 60*time.Second, "the relay holds hot and warm", func() bool {
		return servesChecked(t, tn, r.id, arts["hot"].InfoHash, arts["warm"].InfoHash)
	})
	view := relayView(t, tn, r.id)
	if len(view.Holdings) != 2 {
		t.Fatalf("relay holds %d artifacts, want 2 (hot, warm)", len(view.Holdings))
	}
	if used := du(t, r.data+"/torrents"); used > quota {
		t.Fatalf("relay uses %d bytes on disk, quota %d", used, quota)
	}

	// The cold one becomes the hottest: the relay evicts the least popular to fetch it.
	an := newAnnouncer(t, tn.base+"/announce", infoHash(t, arts["cold"].InfoHash))
	for i := range 40 {
		an.mustAnnounce(uint16(8000+i), 100, trclient.Started, 0)
	}
	waitFor(t, 60*time.Second, "the relay holds cold and hot", func() bool {
		return servesChecked(t, tn, r.id, arts["cold"].InfoHash, arts["hot"].InfoHash)
	})
	if used := du(t, r.data+"/torrents"); used > quota {
		t.Fatalf("relay uses %d bytes on disk, quota %d", used, quota)
	}
	if _, err := os.Stat(filepath.Join(r.data, "torrents", arts["warm"].InfoHash)); !os.IsNotExist(err) {
		t.Fatalf("the evicted artifact's files are still there: %v", err)
	}
}

func TestRelayExpungeRevokeAndBadRequests(t *testing.T) {
	tn := startTestDirectory(t, relayDirectory)
	a1 := publishSmall(t, tn, "1", 2<<20)
	a2 := publishSmall(t, tn, "2", 1<<20)
	r := startTestRelay(t, tn)
	waitServes(t, tn, 60*time.Second, r.id, a1.InfoHash, a2.InfoHash)

	// Expunge: the relay deletes the bytes and stops serving them.
	if err := run(context.Background(), []string{"admin", "--directory", tn.base, "--key", tn.adminKey, "expunge", "test/art/1", "--reason", "bad"}); err != nil {
		t.Fatal(err)
	}
	wsURL := r.url + "/ws/" + a1.InfoHash + "/f-1.bin"
	waitFor(t, 30*time.Second, "the relay stops serving the expunged artifact", func() bool {
		resp, _ := get(t, wsURL)
		return resp.StatusCode == http.StatusNotFound
	})
	waitFor(t, 10*time.Second, "the relay deletes the expunged bytes", func() bool {
		_, err := os.Stat(filepath.Join(r.data, "torrents", a1.InfoHash))
		return os.IsNotExist(err)
	})

	// Replayed and tampered heartbeats are refused.
	key, _ := sign.LoadPrivateKey(r.key)
	api, _ := apiclient.New(tn.base, sign.NewSigner(key, nil))
	body, _ := json.Marshal(relayapi.Heartbeat{Holdings: []relayapi.Holding{}})
	req, _ := http.NewRequest(http.MethodPost, tn.base+"/api/v1/relays/heartbeat", bytes.NewReader(body))
	api.Signer.SignBody(req, body)
	send := func(b []byte) int {
		again := req.Clone(context.Background())
		again.Body = io.NopCloser(bytes.NewReader(b))
		again.ContentLength = int64(len(b))
		resp, err := http.DefaultClient.Do(again)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := send(body); s != 200 {
		t.Fatalf("signed heartbeat: %d", s)
	}
	if s := send(body); s != 401 {
		t.Fatalf("replayed heartbeat: %d, want 401", s)
	}
	tampered, _ := json.Marshal(relayapi.Heartbeat{Holdings: []relayapi.Holding{}, FreeBytes: 1})
	if s := send(tampered); s != 401 {
		t.Fatalf("tampered heartbeat: %d, want 401", s)
	}
	// A relay cannot register someone else's key: the key a request names must sign it.
	stranger := newKeys(t, "stranger")[0]
	pub, _ := sign.ParsePublicKey(stranger + ".pub")
	regBody, _ := json.Marshal(relayapi.Register{PublicURL: r.url})
	reg, _ := http.NewRequest(http.MethodPost, tn.base+"/api/v1/relays/register", bytes.NewReader(regBody))
	api.Signer.SignBody(reg, regBody)
	reg.Header.Set(sign.HeaderPublicKey, pub.String())
	err := api.Do(reg, nil)
	if apiclient.StatusOf(err) != 401 {
		t.Fatalf("register with another key: %v, want 401", err)
	}

	// Revoke: out of the url-list at once, heartbeats refused.
	if err := run(context.Background(), []string{"admin", "--directory", tn.base, "--key", tn.adminKey, "relays", "revoke", r.id}); err != nil {
		t.Fatal(err)
	}
	_, tb := get(t, a2.TorrentURL)
	mi, _ := metainfo.Load(bytes.NewReader(tb))
	if len(mi.UrlList) != 1 {
		t.Fatalf("url-list after revoke: %q", mi.UrlList)
	}
	err = api.CallJSON(context.Background(), http.MethodPost, "/api/v1/relays/heartbeat", relayapi.Heartbeat{}, nil)
	if apiclient.StatusOf(err) != 403 {
		t.Fatalf("heartbeat of a revoked relay: %v, want 403", err)
	}
}

func TestRelayRestartResumesWithoutDownloading(t *testing.T) {
	tn := startTestDirectory(t, relayDirectory)
	art := publishSmall(t, tn, "1", 5<<20)
	r := startTestRelay(t, tn)
	waitServes(t, tn, 60*time.Second, r.id, art.InfoHash)
	cfg := r.cfg
	cfg.Listen = r.ln.Addr().String() // back at its public URL
	an := newAnnouncer(t, tn.base+"/announce", infoHash(t, art.InfoHash))
	waitFor(t, 10*time.Second, "the relay seeds on the tracker", func() bool { return an.scrape().Seeders == 1 })
	r.stop()
	// A clean stop announces "stopped": the tracker forgets the relay at once.
	if s := an.scrape(); s.Seeders != 0 {
		t.Errorf("after the relay stopped the tracker still lists %d seeders", s.Seeders)
	}

	r2 := runTestRelay(t, cfg)
	wsURL := r2.url + "/ws/" + art.InfoHash + "/f-1.bin"
	waitFor(t, 30*time.Second, "the restarted relay serves again", func() bool {
		resp, _ := get(t, wsURL)
		return resp.StatusCode == http.StatusOK
	})
	if peers, webSeeds := r2.relay.Downloaded(); peers+webSeeds != 0 {
		t.Fatalf("the restarted relay downloaded %d bytes again", peers+webSeeds)
	}
	waitServes(t, tn, 30*time.Second, r2.id, art.InfoHash)
}

func TestRelaySurvivesDirectoryOutage(t *testing.T) {
	data := t.TempDir()
	port := freePort(t)
	dirCfg := func(c *DirectoryConfig) {
		relayDirectory(c)
		c.DataDir = data
		c.Listen = port
		c.Tracker.UDPListen = "off"
	}
	tn := startTestDirectory(t, dirCfg)
	art := publishSmall(t, tn, "1", 1<<20)
	r := startTestRelay(t, tn)
	waitServes(t, tn, 60*time.Second, r.id, art.InfoHash)
	tn.stop()

	// With the directory down the relay keeps serving.
	time.Sleep(time.Second)
	if resp, _ := get(t, r.url+"/ws/"+art.InfoHash+"/f-1.bin"); resp.StatusCode != http.StatusOK {
		t.Fatalf("relay with the directory down: %s", resp.Status)
	}
	tn2 := startTestDirectory(t, dirCfg)
	before := relayView(t, tn2, r.id).LastSeen
	waitFor(t, 30*time.Second, "the relay's heartbeats reach the restarted directory", func() bool {
		return relayView(t, tn2, r.id).LastSeen.After(before) && servesChecked(t, tn2, r.id, art.InfoHash)
	})
}

func TestRelayRateLimits(t *testing.T) {
	tn := startTestDirectory(t, relayDirectory)
	art := publishSmall(t, tn, "1", 4<<20)
	const limit = 1 << 20 // bytes/s
	start := time.Now()
	r := startTestRelay(t, tn, func(c *RelayConfig) { c.UploadLimit, c.DownloadLimit = limit, limit })
	waitServes(t, tn, 60*time.Second, r.id, art.InfoHash)
	// 4 MiB at 1 MiB/s, less a quarter second of burst.
	if d := time.Since(start); d < 3500*time.Millisecond {
		t.Errorf("filled 4 MiB in %s with a 1 MiB/s download limit", d)
	}
	start = time.Now()
	resp, body := get(t, r.url+"/ws/"+art.InfoHash+"/f-1.bin")
	if resp.StatusCode != 200 || len(body) != 4<<20 {
		t.Fatalf("GET from the relay: %s, %d bytes", resp.Status, len(body))
	}
	if d := time.Since(start); d < 3500*time.Millisecond {
		t.Errorf("served 4 MiB in %s with a 1 MiB/s upload limit", d)
	}
}

// lyingRelay starts a relay that holds a, then rots its disk: a byte of every piece
// flipped, which it goes on serving as verified.
func lyingRelay(t *testing.T, tn *testNet, a *catalogapi.Artifact) *testRelay {
	t.Helper()
	r := startTestRelay(t, tn)
	waitServes(t, tn, 30*time.Second, r.id, a.InfoHash)
	file := filepath.Join(r.data, "torrents", a.InfoHash, a.Root)
	for off := int64(0); off < a.Size; off += a.PieceLength {
		flipByte(t, file, off)
	}
	return r
}

// liarDirectory is a relay directory for a relay whose disk rotted: it does not audit
// relays itself (its audits would take the liar out of the url-lists before the others
// met it), and its origin does not ration (the liar took each piece's one serve a
// window, and passes on only bad copies: the others would wait a window).
func liarDirectory(c *DirectoryConfig) {
	relayDirectory(c)
	c.Relays.AuditInterval = time.Hour
	c.Origin.Serves = 0
}

// heartbeats returns the heartbeats relay id sent through the proxy that the directory
// took, with the plans it answered, in order.
func heartbeats(t *testing.T, p *fetchProxy, id string) ([]relayapi.Heartbeat, []relayapi.Plan) {
	t.Helper()
	var hbs []relayapi.Heartbeat
	var plans []relayapi.Plan
	for _, ex := range p.recordedExchanges("/api/v1/relays/heartbeat") {
		if ex.signer != id || ex.status != http.StatusOK {
			continue
		}
		var hb relayapi.Heartbeat
		var plan relayapi.Plan
		if err := json.Unmarshal(ex.req, &hb); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(ex.resp, &plan); err != nil {
			t.Fatal(err)
		}
		hbs, plans = append(hbs, hb), append(plans, plan)
	}
	return hbs, plans
}

// A relay filling from another relay's web seed that sends bad bytes reports the pieces
// in its heartbeats, each once, and fills from the origin all the same.
func TestRelayReportsBadPiecesFromAWebSeed(t *testing.T) {
	tn, proxy := startProxiedDirectory(t, liarDirectory, func(c *DirectoryConfig) { c.Relays.CrossAudits = 0 })
	a := publishSmall(t, tn, "1", 1<<20)
	_, want := get(t, tn.base+"/ws/"+a.InfoHash+"/"+a.Root) // served by the origin while no relay holds it
	liar := lyingRelay(t, tn, a)
	liarSeed := liar.url + "/ws/" + a.InfoHash + "/"
	r := startTestRelay(t, tn)
	var got []relayapi.BadPiece
	waitFor(t, 30*time.Second, "a heartbeat reports the liar's bad pieces", func() bool {
		hbs, _ := heartbeats(t, proxy, r.id)
		got = nil
		for _, hb := range hbs {
			got = append(got, hb.BadPieces...)
		}
		return len(got) > 0
	})
	pieces := int((a.Size + a.PieceLength - 1) / a.PieceLength)
	seen := map[relayapi.BadPiece]bool{}
	for _, bp := range got {
		if bp.InfoHash != a.InfoHash || bp.WebSeed != liarSeed || bp.Piece < 0 || bp.Piece >= pieces || seen[bp] {
			t.Errorf("reported %+v (in %v), want each piece of %s (%d pieces) from %s once", bp, got, a.InfoHash, pieces, liarSeed)
		}
		seen[bp] = true
	}
	waitServes(t, tn, 30*time.Second, r.id, a.InfoHash)
	if b, err := os.ReadFile(filepath.Join(r.data, "torrents", a.InfoHash, a.Root)); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("the relay's copy differs from the origin's (%v)", err)
	}
}

// Relays audit each other as plain users: a plan's audits come back in the auditor's
// next heartbeats, with the sha256 of what the audited web seed sent: the origin's bytes
// from an honest relay, others from one whose disk rotted (which the directory soon
// quarantines, and then asks no audits of).
func TestRelaysCrossAudit(t *testing.T) {
	tn, proxy := startProxiedDirectory(t, liarDirectory)
	a := publishSmall(t, tn, "1", 1<<20)
	_, truth := get(t, tn.base+"/ws/"+a.InfoHash+"/"+a.Root) // served by the origin while no relay holds it
	if int64(len(truth)) != a.Size {
		t.Fatalf("the origin sent %d bytes of %d", len(truth), a.Size)
	}
	liar := lyingRelay(t, tn, a)
	honest, other := startTestRelay(t, tn), startTestRelay(t, tn)

	// answered pairs each audit a relay was asked for with the result it sent back in a
	// later heartbeat.
	type answered struct {
		audit  relayapi.Audit
		result relayapi.AuditResult
	}
	answers := func(id string) []answered {
		hbs, plans := heartbeats(t, proxy, id)
		asked := map[string]relayapi.Audit{}
		var out []answered
		for i, hb := range hbs {
			for _, res := range hb.Audits {
				au, ok := asked[res.ID]
				if !ok {
					t.Fatalf("relay %s answered audit %q, which no earlier plan asked", id, res.ID)
				}
				delete(asked, res.ID)
				out = append(out, answered{au, res})
			}
			for _, au := range plans[i].Audits {
				asked[au.ID] = au
			}
		}
		return out
	}
	audited := func(auditor, target *testRelay) bool {
		return slices.ContainsFunc(answers(auditor.id), func(x answered) bool { return strings.HasPrefix(x.audit.URL, target.url+"/") })
	}
	waitFor(t, 30*time.Second, "an audit of the liar and one of an honest relay come back", func() bool {
		return (audited(honest, liar) || audited(other, liar)) && (audited(honest, other) || audited(other, honest))
	})
	checked := map[string]int{}
	for _, id := range []string{honest.id, other.id, liar.id} {
		for _, x := range answers(id) {
			au, res := x.audit, x.result
			if au.Offset < 0 || au.Offset+au.Length > int64(len(truth)) {
				t.Fatalf("audit %+v outside the artifact", au)
			}
			sum := sha256.Sum256(truth[au.Offset : au.Offset+au.Length])
			good := res.Error == "" && res.SHA256 == hex.EncodeToString(sum[:])
			switch {
			case strings.HasPrefix(au.URL, liar.url+"/"):
				if good || res.SHA256 == "" {
					t.Errorf("audit of the liar %+v: %+v, want another sha256 than the origin's", au, res)
				}
				checked["liar"]++
			case strings.HasPrefix(au.URL, honest.url+"/"), strings.HasPrefix(au.URL, other.url+"/"):
				if !good {
					t.Errorf("audit of the honest relay %+v: %+v, want the origin's sha256", au, res)
				}
				checked["honest"]++
			default:
				t.Errorf("relay %s audited %s, neither relay", id, au.URL)
			}
		}
	}
	t.Logf("results checked: %v", checked)
	// Each relay's /metrics counts the audits it fetched: at least those it answered.
	for _, r := range []*testRelay{honest, other} {
		var sent float64
		for _, x := range answers(r.id) {
			if x.result.SHA256 != "" {
				sent++
			}
		}
		if got := scrapeMetrics(t, r.url)[`odi_relay_audits_total{result="fetched"}`]; got < sent {
			t.Errorf("relay %s: odi_relay_audits_total{result=\"fetched\"} is %g, but it answered %g audits with a sha256", r.id, got, sent)
		}
	}
}
