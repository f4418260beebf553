package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/catalog"
	"github.com/opendist/odi/internal/catalogapi"
)

// probedDirectory is a relay directory that checks relays' health every 200ms (100 to
// 300ms apart, with jitter) and audits them every 200ms, takes them down after 2 failed
// checks and back up after 3 passes.
func probedDirectory(c *DirectoryConfig) {
	relayDirectory(c)
	c.Relays.LivenessInterval, c.Relays.LivenessTimeout = 200*time.Millisecond, time.Second
	c.Relays.AuditInterval = 200 * time.Millisecond
	c.Relays.ProbeFailures = 2
	c.Relays.ProbePasses = 3
}

// gate is a TCP forwarder on loopback in front of a relay's HTTP port: the relay's
// public URL points at it, so a test can make the relay unreachable for users and probes
// while the relay itself keeps heartbeating.
type gate struct {
	ln     net.Listener
	target string
	closed atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn // open ones, cut when the gate closes
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go g.serve()
	return g
}

func (g *gate) url() string { return "http://" + g.ln.Addr().String() }

func (g *gate) serve() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		if g.closed.Load() {
			c.Close()
			continue
		}
		g.mu.Lock()
		g.conns = append(g.conns, c)
		g.mu.Unlock()
		go func() {
			defer c.Close()
			up, err := net.Dial("tcp", g.target)
			if err != nil {
				return
			}
			defer up.Close()
			go io.Copy(up, c)
			io.Copy(c, up)
		}()
	}
}

// close refuses new connections and cuts the open ones (kept-alive probes too).
func (g *gate) close() {
	g.closed.Store(true)
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

// relayBehindGate starts a relay whose public URL is a gate.
func relayBehindGate(t *testing.T, tn *testNet) (*testRelay, *gate) {
	t.Helper()
	addr := freePort(t)
	g := newGate(t, addr)
	r := startTestRelay(t, tn, func(c *RelayConfig) {
		c.Listen = addr
		c.PublicURL = g.url()
	})
	return r, g
}

func relayStatus(t *testing.T, tn *testNet, id string) string {
	return relayView(t, tn, id).Status
}

func urlListOf(t *testing.T, torrentURL string) []string {
	t.Helper()
	resp, body := get(t, torrentURL)
	mi, err := metainfo.Load(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: %s, %q: %v", torrentURL, resp.Status, body, err)
	}
	return mi.UrlList
}

func TestRelayDownAfterFailedProbesAndBackAfterPasses(t *testing.T) {
	tn := startTestDirectory(t, probedDirectory, func(c *DirectoryConfig) {
		c.Relays.MissedHeartbeats = 1000 // only probes decide here
	})
	art := publishSmall(t, tn, "1", 300<<10)
	r, g := relayBehindGate(t, tn)
	waitServes(t, tn, 30*time.Second, r.id, art.InfoHash)
	relaySeed := g.url() + "/ws/" + art.InfoHash + "/"
	if !slices.Contains(urlListOf(t, art.TorrentURL), relaySeed) {
		t.Fatalf("url-list %q lacks the relay", urlListOf(t, art.TorrentURL))
	}

	g.close()
	waitFor(t, 10*time.Second, "failed probes take the relay down", func() bool { return relayStatus(t, tn, r.id) == catalog.StatusDown })
	v := relayView(t, tn, r.id)
	if v.Up || v.ProbeFailures < 2 || !strings.Contains(v.Reason, "probes failed in a row") {
		t.Fatalf("relay after failed probes: up %t, %d failures, reason %q", v.Up, v.ProbeFailures, v.Reason)
	}
	if l := urlListOf(t, art.TorrentURL); slices.Contains(l, relaySeed) {
		t.Fatalf("a down relay is still in the url-list %q", l)
	}

	// Back after ProbePasses passes in a row, not at the first one: three passes are at
	// least two half-intervals apart.
	reopened := time.Now()
	g.closed.Store(false)
	waitFor(t, 10*time.Second, "passing probes bring the relay back", func() bool { return relayStatus(t, tn, r.id) == catalog.StatusUp })
	if took := time.Since(reopened); took < 200*time.Millisecond {
		t.Errorf("the relay came back %s after its URL did: sooner than 3 probes", took)
	}
	if !slices.Contains(urlListOf(t, art.TorrentURL), relaySeed) {
		t.Fatalf("the relay is up but not in the url-list")
	}
}

func TestRelayMissingHeartbeatsIsDown(t *testing.T) {
	tn := startTestDirectory(t, probedDirectory, func(c *DirectoryConfig) {
		c.Relays.ProbeFailures = 1000 // only heartbeats decide here
	})
	art := publishSmall(t, tn, "1", 100<<10)
	r := startTestRelay(t, tn)
	waitServes(t, tn, 30*time.Second, r.id, art.InfoHash)
	r.stop()
	waitFor(t, 10*time.Second, "a silent relay is down", func() bool { return relayStatus(t, tn, r.id) == catalog.StatusDown })
	if v := relayView(t, tn, r.id); !strings.Contains(v.Reason, "no heartbeat since") {
		t.Errorf("reason %q", v.Reason)
	}
	if l := urlListOf(t, art.TorrentURL); len(l) != 1 {
		t.Errorf("url-list %q, want only the origin", l)
	}
}

func TestRelayServingCorruptBytesIsQuarantined(t *testing.T) {
	tn := startTestDirectory(t, probedDirectory)
	// One piece: whichever piece a probe picks is the corrupt one.
	art := publishSmall(t, tn, "1", 200<<10)
	if art.Size > art.PieceLength {
		t.Fatalf("artifact of %d bytes has pieces of %d: want one piece", art.Size, art.PieceLength)
	}
	r := startTestRelay(t, tn)
	waitServes(t, tn, 30*time.Second, r.id, art.InfoHash)

	// Bit rot on the relay's disk: it still claims the artifact verified.
	file := filepath.Join(r.data, "torrents", art.InfoHash, art.Root)
	flipByte(t, file, 1234)
	waitFor(t, 10*time.Second, "the relay is quarantined", func() bool { return relayStatus(t, tn, r.id) == catalog.StatusQuarantined })
	v := relayView(t, tn, r.id)
	if !strings.Contains(v.Quarantine, "corrupt") || v.Up {
		t.Fatalf("quarantined relay: %+v", v)
	}
	relaySeed := r.url + "/ws/" + art.InfoHash + "/"
	if slices.Contains(urlListOf(t, art.TorrentURL), relaySeed) {
		t.Fatal("a quarantined relay is in the url-list")
	}
	// A torrent client given the corrupt relay as well as the origin still gets the right bytes.
	_, body := get(t, art.TorrentURL)
	mi, err := metainfo.Load(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	mi.UrlList = append([]string{relaySeed}, mi.UrlList...)
	got, err := os.ReadFile(filepath.Join(downloadWebSeedOnly(t, mi), art.Root))
	if err != nil {
		t.Fatal(err)
	}
	_, want := get(t, tn.base+"/ws/"+art.InfoHash+"/"+art.Root)
	if !bytes.Equal(got, want) {
		t.Fatal("the download took the corrupt relay's bytes")
	}

	// Quarantine outlives time and heartbeats: only an operator lifts it.
	time.Sleep(time.Second)
	if s := relayStatus(t, tn, r.id); s != catalog.StatusQuarantined {
		t.Fatalf("status %s a second later, want still quarantined", s)
	}
	flipByte(t, file, 1234) // repaired
	var cleared catalogapi.Relay
	if err := tn.admin.Call(context.Background(), http.MethodPost, "/api/v1/admin/relays/"+r.id+"/clear", nil, &cleared); err != nil {
		t.Fatal(err)
	}
	waitServes(t, tn, 20*time.Second, r.id, art.InfoHash)
	if !slices.Contains(urlListOf(t, art.TorrentURL), relaySeed) {
		t.Fatal("the cleared relay is not back in the url-list")
	}
	// Relays cannot clear themselves, nor can anyone unsigned.
	resp, err := http.Post(tn.base+"/api/v1/admin/relays/"+r.id+"/clear", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned clear: %s, want 401", resp.Status)
	}
}

// originAnswer GETs u without following redirects.
func originAnswer(t *testing.T, u string) (status int, location string) {
	t.Helper()
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestKilledRelayLeavesRedirectsFirst stops a relay with the default health checks:
// its heartbeats would take a minute and a half to be missed (here, never), yet the
// first failed health check takes it out of /r/ answers, and probe_failures of them out
// of url-lists. The bounds are the targets of the default settings (10 s and 30 s),
// with room for a loaded machine.
func TestKilledRelayLeavesRedirectsFirst(t *testing.T) {
	tn := startTestDirectory(t, relayDirectory, func(c *DirectoryConfig) {
		c.Relays.MissedHeartbeats = 1000 // only health checks decide here
		// No holding /r/ users while relays fill the new artifact: the relay filled it
		// seconds ago, and /r/ would hold users until webseed.RelayQuiet after that.
		c.Origin.RelayFirst = 0
	})
	art := publishSmall(t, tn, "1", 100<<10)
	r := startTestRelay(t, tn)
	waitServes(t, tn, 30*time.Second, r.id, art.InfoHash)
	redirectPath := tn.base + "/r/" + art.Catalog + "/" + art.Name + "/" + art.Version
	waitFor(t, 10*time.Second, "/r/ sends users to the relay", func() bool {
		_, loc := originAnswer(t, redirectPath)
		return strings.HasPrefix(loc, r.url)
	})

	r.stop()
	killed := time.Now()
	waitFor(t, 20*time.Second, "/r/ stops sending users to the killed relay", func() bool {
		_, loc := originAnswer(t, redirectPath)
		return !strings.HasPrefix(loc, r.url)
	})
	t.Logf("out of /r/ answers %s after it was killed", time.Since(killed).Round(100*time.Millisecond))
	relaySeed := r.url + "/ws/" + art.InfoHash + "/"
	waitFor(t, 40*time.Second, "the killed relay leaves the url-list", func() bool {
		return !slices.Contains(urlListOf(t, art.TorrentURL), relaySeed)
	})
	t.Logf("out of url-lists %s after it was killed", time.Since(killed).Round(100*time.Millisecond))
}
