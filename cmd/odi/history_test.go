package main

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	trclient "github.com/anacrolix/torrent/tracker"

	"github.com/opendist/odi/internal/history"
)

// networkTotals reads the totals the network page states beside its charts.
type networkTotals struct{ relay, origin, peers, redirects, announces int64 }

var (
	bytesTotals = regexp.MustCompile(`Relays served \d+% of the bytes: [^(]*\((\d+) bytes\), the origin [^(]*\((\d+) bytes\)`)
	peerTotals  = regexp.MustCompile(`BitTorrent clients reported downloading [^(]*\((\d+) bytes\)`)
	rateTotals  = regexp.MustCompile(`(\d+) redirects and (\d+) announces over the last`)
)

func readNetworkTotals(t *testing.T, p webPage) (networkTotals, bool) {
	t.Helper()
	var n networkTotals
	b, r := bytesTotals.FindStringSubmatch(p.body), rateTotals.FindStringSubmatch(p.body)
	if r == nil {
		t.Fatalf("the network page states no redirects and announces:\n%s", p.body)
	}
	n.redirects, _ = strconv.ParseInt(r[1], 10, 64)
	n.announces, _ = strconv.ParseInt(r[2], 10, 64)
	pe := peerTotals.FindStringSubmatch(p.body)
	if pe == nil {
		t.Fatalf("the network page states no peer bytes:\n%s", p.body)
	}
	n.peers, _ = strconv.ParseInt(pe[1], 10, 64)
	if b == nil {
		return n, false // nothing served yet
	}
	n.relay, _ = strconv.ParseInt(b[1], 10, 64)
	n.origin, _ = strconv.ParseInt(b[2], 10, 64)
	return n, true
}

// chartSeries counts the points of each line of the page's charts, by series name.
func chartSeries(p webPage) map[string]int {
	got := map[string]int{}
	for _, l := range p.find("polyline") {
		got[attr(l, "data-series")] = len(strings.Fields(attr(l, "points")))
	}
	return got
}

// announceDownloaded announces the leecher of port, as a BitTorrent client that says it
// downloaded that many bytes so far.
func announceDownloaded(a *announcer, port uint16, downloaded int64) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.cl.Announce(ctx, trclient.AnnounceRequest{
		InfoHash: a.ih, PeerId: peerID(byte(port)), Port: port, Left: 1, Downloaded: downloaded, NumWant: -1,
	}, trclient.AnnounceOpt{}); err != nil {
		a.t.Fatalf("announce from port %d: %v", port, err)
	}
}

// TestNetworkHistory runs a directory whose history samples every 100 ms, with a relay
// that takes an artifact from the origin and serves its users: the network page charts
// origin and relay bytes, the bytes BitTorrent clients report downloading, redirects and
// announces, the artifact's page its demand, and a restart on the same data folder keeps
// them.
func TestNetworkHistory(t *testing.T) {
	data := t.TempDir()
	cfg := func(c *DirectoryConfig) {
		relayDirectory(c)
		c.DataDir = data
		c.History.Interval = 100 * time.Millisecond
	}
	tn := startTestDirectory(t, cfg)
	art := publishSmall(t, tn, "1", 300<<10)
	r := startTestRelay(t, tn)
	waitServes(t, tn, 60*time.Second, r.id, art.InfoHash)
	for range 3 {
		if resp, body := get(t, tn.base+"/r/test/art/1"); resp.StatusCode != http.StatusOK || len(body) != 300<<10 {
			t.Fatalf("GET /r/test/art/1: %d, %d bytes", resp.StatusCode, len(body))
		}
	}

	// A client's reports: its first sets a baseline, the next adds 100000 bytes, and a
	// third claiming 10 MiB more adds one copy of the artifact at most.
	const size = 300 << 10
	peer := newAnnouncer(t, tn.base+"/announce", infoHash(t, art.InfoHash))
	for _, downloaded := range []int64{1000, 101000, 101000 + 10<<20} {
		announceDownloaded(peer, 6001, downloaded)
	}

	var before networkTotals
	waitFor(t, 30*time.Second, "the network page counts origin, relay and peer bytes, redirects and announces", func() bool {
		n, ok := readNetworkTotals(t, fetchPage(t, tn.base+"/network"))
		before = n
		return ok && n.origin > 0 && n.relay >= 3*size && n.peers >= 100000+size && n.redirects >= 3 && n.announces > 0
	})
	// The relay's own reports count too, but they are real: far less than the claim.
	if before.peers >= 10<<20 {
		t.Errorf("the network page says clients reported %d bytes; a client's 10 MiB claim was not capped at the artifact's %d", before.peers, size)
	}
	net := fetchPage(t, tn.base+"/network")
	series := chartSeries(net)
	for _, s := range []string{"origin", "relays", "peers", "redirects", "announces"} {
		if series[s] != history.DefaultSamples {
			t.Errorf("the network page's %q line has %d points, want %d", s, series[s], history.DefaultSamples)
		}
	}
	if len(net.find("svg")) != 3 || !strings.Contains(net.body, "The figures by hour") { // bytes, redirects, announces
		t.Errorf("the network page has %d charts, or no table beside them", len(net.find("svg")))
	}
	if !strings.Contains(fetchPage(t, tn.base+"/").body, `href="/network"`) {
		t.Errorf("the layout does not link /network")
	}
	artPage := tn.base + "/a/" + art.ID
	waitFor(t, 30*time.Second, "the artifact's page charts its demand", func() bool {
		return chartSeries(fetchPage(t, artPage))["demand"] == history.DefaultSamples
	})

	// A restart keeps the history: the new directory's page says at least as much.
	tn.stop()
	again := startTestDirectory(t, cfg)
	after, ok := readNetworkTotals(t, fetchPage(t, again.base+"/network"))
	t.Logf("before the restart %+v, after %+v", before, after)
	if !ok || after.origin < before.origin || after.relay < before.relay || after.peers < before.peers || after.redirects < before.redirects || after.announces < before.announces {
		t.Errorf("after a restart the network page says %+v; before, %+v", after, before)
	}
	if got := chartSeries(fetchPage(t, again.base+"/a/"+art.ID))["demand"]; got != history.DefaultSamples {
		t.Errorf("after a restart the artifact's demand chart has %d points", got)
	}
}
