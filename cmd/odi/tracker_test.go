package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	trclient "github.com/anacrolix/torrent/tracker"
	"github.com/anacrolix/torrent/tracker/udp"

	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/limit"
)

// publishSmall publishes a small random file as test/art/<version> and returns it.
func publishSmall(t *testing.T, tn *testNet, version string, size int) *catalogapi.Artifact {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, uint64(len(version))*7919+uint64(size), map[string]int{"f-" + version + ".bin": size})
	a, err := client.Publish(context.Background(), tn.publisher, ident(version), filepath.Join(dir, "f-"+version+".bin"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func infoHash(t *testing.T, hexIH string) metainfo.Hash {
	t.Helper()
	var ih metainfo.Hash
	if err := ih.FromHexString(hexIH); err != nil {
		t.Fatal(err)
	}
	return ih
}

func peerID(n byte) [20]byte {
	var id [20]byte
	copy(id[:], "-TS0001-testpeer00")
	id[19] = n
	return id
}

type announcer struct {
	t  *testing.T
	cl trclient.Client
	ih metainfo.Hash
}

func newAnnouncer(t *testing.T, trackerURL string, ih metainfo.Hash) *announcer {
	t.Helper()
	cl, err := trclient.NewClient(trackerURL, trclient.NewClientOpts{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return &announcer{t, cl, ih}
}

func (a *announcer) announce(port uint16, left int64, ev trclient.AnnounceEvent, numWant int32) (trclient.AnnounceResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.cl.Announce(ctx, trclient.AnnounceRequest{
		InfoHash: a.ih, PeerId: peerID(byte(port)), Port: port, Left: left, Event: ev, NumWant: numWant,
	}, trclient.AnnounceOpt{})
}

func (a *announcer) mustAnnounce(port uint16, left int64, ev trclient.AnnounceEvent, numWant int32) trclient.AnnounceResponse {
	a.t.Helper()
	r, err := a.announce(port, left, ev, numWant)
	if err != nil {
		a.t.Fatalf("announce from port %d: %v", port, err)
	}
	return r
}

func (a *announcer) scrape() udp.ScrapeInfohashResult {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := a.cl.Scrape(ctx, []metainfo.Hash{a.ih})
	if err != nil || len(res) != 1 {
		a.t.Fatalf("scrape: %v %v", res, err)
	}
	return res[0]
}

func ports(r trclient.AnnounceResponse) []int {
	var out []int
	for _, p := range r.Peers {
		out = append(out, p.Port)
	}
	return out
}

func TestTrackerAnnounceScrape(t *testing.T) {
	tn := startTestDirectory(t, func(c *DirectoryConfig) { c.Tracker.Interval = 7 * time.Minute })
	if !strings.HasPrefix(tn.udpTracker, "udp://127.0.0.1:") {
		t.Fatalf("UDP tracker URL %q", tn.udpTracker)
	}
	for _, tc := range []struct{ transport, url, version string }{
		{"http", tn.base + "/announce", "http"},
		{"udp", tn.udpTracker, "udp"},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			art := publishSmall(t, tn, tc.version, 1000)
			an := newAnnouncer(t, tc.url, infoHash(t, art.InfoHash))

			r := an.mustAnnounce(1001, 100, trclient.Started, -1)
			if r.Leechers != 1 || r.Seeders != 0 || len(r.Peers) != 0 || r.Interval != 420 {
				t.Fatalf("first leecher: %+v", r)
			}
			r = an.mustAnnounce(1002, 0, trclient.Started, -1)
			if r.Seeders != 1 || r.Leechers != 1 || len(r.Peers) != 1 || r.Peers[0].Port != 1001 || !r.Peers[0].IP.Equal(net.IPv4(127, 0, 0, 1)) {
				t.Fatalf("seeder gets the leecher: %+v", r)
			}
			// Started with left=0 and nothing downloaded may be a magnet client without
			// the metadata yet: it gets the seeder too. Later announces get leechers only.
			if got := ports(an.mustAnnounce(1003, 0, trclient.Started, -1)); len(got) != 2 {
				t.Fatalf("a started seeder got %v, want 1001 and 1002", got)
			}
			if got := ports(an.mustAnnounce(1003, 0, trclient.None, -1)); len(got) != 1 || got[0] != 1001 {
				t.Fatalf("a seeder got %v, want only the leecher 1001", got)
			}
			if got := ports(an.mustAnnounce(1001, 100, trclient.None, -1)); len(got) != 2 {
				t.Fatalf("the leecher got %v, want both seeders", got)
			}
			an.mustAnnounce(1001, 0, trclient.Completed, -1)
			if s := an.scrape(); s.Seeders != 3 || s.Leechers != 0 || s.Completed != 1 {
				t.Fatalf("after completed: %+v", s)
			}
			an.mustAnnounce(1002, 0, trclient.Stopped, -1)
			if s := an.scrape(); s.Seeders != 2 || s.Completed != 1 {
				t.Fatalf("after stopped: %+v", s)
			}
			// The catalog's JSON shows the swarm.
			_, body := get(t, tn.base+"/api/v1/artifacts/test/art/"+tc.version)
			var j catalogapi.Artifact
			json.Unmarshal(body, &j)
			if j.Swarm == nil || j.Swarm.Seeders != 2 || j.Swarm.Completed != 1 || j.Swarm.Demand < 1.99 {
				t.Fatalf("JSON swarm: %+v", j.Swarm)
			}
		})
	}
}

func TestTrackerNumWant(t *testing.T) {
	// 250 peers from one address: the tracker's per-address rate would (rightly) drop them.
	tn := startTestDirectory(t, func(c *DirectoryConfig) { c.Limits.Tracker = limit.Rate{} })
	art := publishSmall(t, tn, "1", 1000)
	ih := infoHash(t, art.InfoHash)
	an := newAnnouncer(t, tn.udpTracker, ih) // anacrolix sends num_want over UDP only
	for p := uint16(2000); p < 2250; p++ {
		an.mustAnnounce(p, 0, trclient.Started, 0)
	}
	httpPeers := func(numWant string) int {
		q := "/announce?info_hash=" + url.QueryEscape(string(ih.Bytes())) + "&peer_id=-TS0001-abcdefghijkl&left=5&port=3001" + numWant
		_, body := get(t, tn.base+q)
		var r struct {
			Peers []byte `bencode:"peers"`
		}
		if err := bencode.Unmarshal(body, &r); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		return len(r.Peers) / 6
	}
	for _, tc := range []struct {
		numWant int32
		want    int
	}{{-1, 50}, {10, 10}, {0, 0}, {500, 200}} {
		if got := len(an.mustAnnounce(3000, 10, trclient.None, tc.numWant).Peers); got != tc.want {
			t.Errorf("UDP num_want %d: %d peers, want %d", tc.numWant, got, tc.want)
		}
		param := ""
		if tc.numWant >= 0 {
			param = "&numwant=" + strconv.Itoa(int(tc.numWant))
		}
		if got := httpPeers(param); got != tc.want {
			t.Errorf("HTTP numwant %d: %d peers, want %d", tc.numWant, got, tc.want)
		}
	}
}

func TestTrackerRefusals(t *testing.T) {
	tn := startTestDirectory(t)
	art := publishSmall(t, tn, "1", 1000)
	var unknown metainfo.Hash
	unknown[0] = 0xee
	for _, trackerURL := range []string{tn.base + "/announce", tn.udpTracker} {
		_, err := newAnnouncer(t, trackerURL, unknown).announce(1, 10, trclient.Started, -1)
		if err == nil || !strings.Contains(err.Error(), "catalog") {
			t.Errorf("%s: unknown infohash: %v", trackerURL, err)
		}
	}
	an := newAnnouncer(t, tn.base+"/announce", infoHash(t, art.InfoHash))
	an.mustAnnounce(1, 10, trclient.Started, -1)
	if err := run(context.Background(), []string{"admin", "--directory", tn.base, "--key", tn.adminKey, "expunge", "test/art/1", "--reason", "leaked keys"}); err != nil {
		t.Fatal(err)
	}
	for _, trackerURL := range []string{tn.base + "/announce", tn.udpTracker} {
		_, err := newAnnouncer(t, trackerURL, infoHash(t, art.InfoHash)).announce(1, 10, trclient.None, -1)
		if err == nil || !strings.Contains(err.Error(), "expunged: leaked keys") {
			t.Errorf("%s: expunged infohash: %v", trackerURL, err)
		}
	}
}

// failureReason GETs a tracker URL and returns the bencoded failure reason ("" if none).
func failureReason(t *testing.T, u string) string {
	t.Helper()
	resp, body := get(t, u)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %.80s: %s, want 200 with a failure reason", u, resp.Status)
	}
	var r struct {
		Failure string `bencode:"failure reason"`
	}
	if err := bencode.Unmarshal(body, &r); err != nil {
		t.Fatalf("GET %.80s: body %q is not bencode: %v", u, body, err)
	}
	return r.Failure
}

func TestTrackerHTTPBadInput(t *testing.T) {
	tn := startTestDirectory(t)
	art := publishSmall(t, tn, "1", 1000)
	ih := url.QueryEscape(string(infoHash(t, art.InfoHash).Bytes()))
	pid := url.QueryEscape("-TS0001-abcdefghijkl")
	good := tn.base + "/announce?info_hash=" + ih + "&peer_id=" + pid + "&port=6881&left=10"
	if f := failureReason(t, good); f != "" {
		t.Fatalf("good announce failed: %s", f)
	}
	for name, q := range map[string]string{
		"short info_hash":  "info_hash=abc&peer_id=" + pid + "&port=1",
		"long peer_id":     "info_hash=" + ih + "&peer_id=" + pid + "xx&port=1",
		"bad port":         "info_hash=" + ih + "&peer_id=" + pid + "&port=70000",
		"negative counter": "info_hash=" + ih + "&peer_id=" + pid + "&port=1&uploaded=-5",
		"huge counter":     "info_hash=" + ih + "&peer_id=" + pid + "&port=1&downloaded=1" + strings.Repeat("0", 30),
		"bad escape":       "info_hash=%G1" + ih[3:] + "&peer_id=" + pid + "&port=1",
		"unknown event":    "info_hash=" + ih + "&peer_id=" + pid + "&port=1&event=boom",
		"over 8 KiB":       "info_hash=" + ih + "&peer_id=" + pid + "&port=1&x=" + strings.Repeat("a", 9000),
		"empty":            "",
	} {
		if f := failureReason(t, tn.base+"/announce?"+q); f == "" {
			t.Errorf("%s: no failure reason", name)
		}
	}
	if f := failureReason(t, tn.base+"/scrape?info_hash=short"); f == "" {
		t.Error("bad scrape: no failure reason")
	}
	// A full scrape lists the catalog.
	_, body := get(t, tn.base+"/scrape")
	var full struct {
		Files map[string]struct {
			Complete int `bencode:"complete"`
		} `bencode:"files"`
	}
	if err := bencode.Unmarshal(body, &full); err != nil || len(full.Files) != 1 {
		t.Fatalf("full scrape: %q %v", body, err)
	}
	resp, err := http.Post(good, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /announce: %s", resp.Status)
	}
}

func TestTrackerUDPBadInput(t *testing.T) {
	tn := startTestDirectory(t)
	art := publishSmall(t, tn, "1", 1000)
	u, _ := url.Parse(tn.udpTracker)
	conn, err := net.Dial("udp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exchange := func(p []byte) []byte {
		conn.SetDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2048)
		n, err := conn.Read(buf)
		if err != nil {
			return nil // dropped
		}
		return buf[:n]
	}
	header := func(connID uint64, action udp.Action) []byte {
		b := binary.BigEndian.AppendUint64(nil, connID)
		b = binary.BigEndian.AppendUint32(b, uint32(action))
		return binary.BigEndian.AppendUint32(b, 0xabcd)
	}
	isError := func(r []byte) bool {
		return len(r) >= 8 && binary.BigEndian.Uint32(r) == uint32(udp.ActionError) && binary.BigEndian.Uint32(r[4:]) == 0xabcd
	}
	r := exchange(header(udp.ConnectRequestConnectionId, udp.ActionConnect))
	if len(r) != 16 || binary.BigEndian.Uint32(r) != 0 {
		t.Fatalf("connect answer %x", r)
	}
	connID := binary.BigEndian.Uint64(r[8:])
	announce := func(connID uint64, body []byte) []byte {
		return append(header(connID, udp.ActionAnnounce), body...)
	}
	ih := infoHash(t, art.InfoHash)
	body := append(append([]byte{}, ih[:]...), []byte("-TS0001-abcdefghijkl")...)
	body = append(body, make([]byte, 8*3+4*4)...)
	body = binary.BigEndian.AppendUint16(body, 6881)
	if r := exchange(announce(connID, body)); len(r) < 20 || binary.BigEndian.Uint32(r) != uint32(udp.ActionAnnounce) {
		t.Fatalf("good announce: %x", r)
	}
	for size := 0; size < 16; size++ {
		if r := exchange(make([]byte, size)); r != nil {
			t.Errorf("%d-byte packet answered %x", size, r)
		}
	}
	for name, p := range map[string][]byte{
		"connect without the protocol id": header(12345, udp.ActionConnect),
		"forged connection id":            announce(connID^1, body),
		"unknown action":                  header(connID, 7),
		"error action":                    header(connID, udp.ActionError),
		"short announce":                  announce(connID, body[:60]),
		"announce, port 0":                announce(connID, append(append([]byte{}, body[:80]...), 0, 0)),
		"scrape, no hashes":               header(connID, udp.ActionScrape),
		"scrape, partial hash":            append(header(connID, udp.ActionScrape), ih[:10]...),
	} {
		if r := exchange(p); !isError(r) {
			t.Errorf("%s: answer %x, want an error", name, r)
		}
	}
}

func TestTrackerIPv6AndProxies(t *testing.T) {
	tn := startTestDirectory(t, func(c *DirectoryConfig) {
		c.Listen = "[::1]:0"
		c.Tracker.TrustedProxies = []string{"::1/128"}
	})
	art := publishSmall(t, tn, "1", 1000)
	ih := infoHash(t, art.InfoHash)
	for _, trackerURL := range []string{tn.base + "/announce", tn.udpTracker} {
		an := newAnnouncer(t, trackerURL, ih)
		an.mustAnnounce(4001, 10, trclient.Started, -1)
		r := an.mustAnnounce(4002, 10, trclient.Started, -1)
		if len(r.Peers) != 1 || !r.Peers[0].IP.Equal(net.IPv6loopback) || r.Peers[0].Port != 4001 {
			t.Fatalf("%s: IPv6 peers %+v", trackerURL, r.Peers)
		}
		an.mustAnnounce(4001, 10, trclient.Stopped, -1)
		an.mustAnnounce(4002, 10, trclient.Stopped, -1)
	}
	// From a trusted proxy, X-Forwarded-For names the peer.
	announceForwarded(t, tn, ih, "", "192.0.2.1, 198.51.100.7")
	r := newAnnouncer(t, tn.base+"/announce", ih).mustAnnounce(5002, 10, trclient.None, -1)
	if len(r.Peers) != 1 || r.Peers[0].IP.String() != "198.51.100.7" {
		t.Fatalf("forwarded peer: %+v", r.Peers)
	}
}

// announceForwarded announces a leecher on port 5001 as a reverse proxy would forward it.
func announceForwarded(t *testing.T, tn *testNet, ih metainfo.Hash, extra, forwardedFor string) {
	t.Helper()
	q := "/announce?info_hash=" + url.QueryEscape(string(ih.Bytes())) + "&peer_id=-TS0001-abcdefghijkl&left=5&port=5001" + extra
	req, _ := http.NewRequest(http.MethodGet, tn.base+q, nil)
	req.Header.Set("X-Forwarded-For", forwardedFor)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestTrackerUntrustedIPIgnored(t *testing.T) {
	tn := startTestDirectory(t)
	art := publishSmall(t, tn, "1", 1000)
	ih := infoHash(t, art.InfoHash)
	announceForwarded(t, tn, ih, "&ip=203.0.113.9", "192.0.2.1")
	r := newAnnouncer(t, tn.base+"/announce", ih).mustAnnounce(5002, 10, trclient.None, -1)
	if len(r.Peers) != 1 || r.Peers[0].IP.String() != "127.0.0.1" {
		t.Fatalf("an untrusted ip= or X-Forwarded-For was believed: %+v", r.Peers)
	}
}

func TestTrackerCountersSurviveRestart(t *testing.T) {
	data := t.TempDir()
	withData := func(c *DirectoryConfig) { c.DataDir = data }
	tn := startTestDirectory(t, withData)
	art := publishSmall(t, tn, "1", 1000)
	ih := infoHash(t, art.InfoHash)
	an := newAnnouncer(t, tn.base+"/announce", ih)
	an.mustAnnounce(1, 10, trclient.Started, -1)
	an.mustAnnounce(1, 0, trclient.Completed, -1)
	tn.stop() // flushes the counters

	tn2 := startTestDirectory(t, withData)
	if s := newAnnouncer(t, tn2.base+"/announce", ih).scrape(); s.Completed != 1 {
		t.Fatalf("completed after restart: %+v", s)
	}
}

// TestAria2cFindsSeederThroughTracker: aria2c downloads an artifact from an anacrolix
// seeder that it can only find through our tracker (no web seeds, DHT, PEX or LPD).
func TestAria2cFindsSeederThroughTracker(t *testing.T) {
	aria2c, err := exec.LookPath("aria2c")
	if err != nil {
		t.Skip("aria2c is not installed (.ci/run installs it)")
	}
	tn := startTestDirectory(t)
	src := t.TempDir()
	writeFiles(t, src, 11, map[string]int{"swarm.img": 3<<20 + 333})
	a, err := client.Publish(context.Background(), tn.publisher, ident("1"), filepath.Join(src, "swarm.img"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, body := get(t, a.TorrentURL)
	mi, err := metainfo.Load(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	mi.UrlList = nil // peers only

	// The seeder: anacrolix with the file, announcing to the HTTP tracker only.
	cl := newLoopbackClient(t, src, func(cfg *torrent.ClientConfig) { cfg.Seed = true })
	seedSpec, _ := torrent.TorrentSpecFromMetaInfoErr(mi)
	seedSpec.Trackers = [][]string{{tn.base + "/announce"}}
	tor, _, err := cl.AddTorrentSpec(seedSpec)
	if err != nil {
		t.Fatal(err)
	}
	<-tor.GotInfo()
	if err := tor.VerifyDataContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tor.Complete().On():
	case <-time.After(20 * time.Second):
		t.Fatal("the seeder does not have the whole file")
	}
	// Wait until the tracker lists the seeder.
	ih := infoHash(t, a.InfoHash)
	probe := newAnnouncer(t, tn.base+"/announce", ih)
	for deadline := time.Now().Add(20 * time.Second); probe.scrape().Seeders < 1; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the seeder never announced")
		}
	}

	torrentFile := filepath.Join(t.TempDir(), "peers-only.torrent")
	f, _ := os.Create(torrentFile)
	mi.Write(f)
	f.Close()
	dl := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Bound to loopback, listening below the ephemeral ports (32768 and up), where no
	// test's outgoing connection takes its port; its own log says what it did if it fails.
	logFile := filepath.Join(t.TempDir(), "aria2c.log")
	out, err := exec.CommandContext(ctx, aria2c, "--interface=127.0.0.1", "--enable-dht=false", "--enable-dht6=false",
		"--bt-enable-lpd=false", "--enable-peer-exchange=false", "--seed-time=0", "--file-allocation=none",
		"--listen-port=20000-32000", "--console-log-level=warn", "--summary-interval=0", "--bt-tracker-connect-timeout=5",
		"--log="+logFile, "--log-level=info", "-d", dl, torrentFile).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("aria2c: %v\n%s\nthe tracker now: %+v\naria2c's log:\n%s", err, out, probe.scrape(), log)
	}
	got, _ := os.ReadFile(filepath.Join(dl, "swarm.img"))
	want, _ := os.ReadFile(filepath.Join(src, "swarm.img"))
	if string(got) != string(want) {
		t.Fatalf("aria2c's download differs (%d of %d bytes)", len(got), len(want))
	}
	if s := probe.scrape(); s.Completed < 1 {
		t.Errorf("the tracker did not count aria2c's completion: %+v", s)
	}
}
