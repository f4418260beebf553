package tracker

import (
	"context"
	"encoding/binary"
	"log/slog"
	"math"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/tracker/udp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opendist/odi/internal/relayapi"
)

func TestDownloadedDelta(t *testing.T) {
	tests := []struct {
		name                     string
		prev, downloaded, length int64
		want                     int64
	}{
		{"a rise", 100, 600, 1000, 500},
		{"no change", 600, 600, 1000, 0},
		{"a fall: a restarted client", 600, 50, 1000, 0},
		{"a fall to zero", 600, 0, 1000, 0},
		{"a rise of exactly one copy", 0, 1000, 1000, 1000},
		{"a rise past one copy", 0, 1001, 1000, 1000},
		{"a hostile announce", 1, math.MaxInt64, 1000, 1000},
		{"an artifact of no length", 0, 10, 0, 0},
	}
	for _, tt := range tests {
		if got := downloadedDelta(tt.prev, tt.downloaded, tt.length); got != tt.want {
			t.Errorf("%s: downloadedDelta(%d, %d, %d) = %d, want %d", tt.name, tt.prev, tt.downloaded, tt.length, got, tt.want)
		}
	}
}

// downloadedSteps are announces of two peers (by port) and what each must add to the
// tracker's reported download bytes, run over each transport.
var downloadedSteps = []struct {
	name       string
	port       uint16
	downloaded int64
	want       int64
}{
	{"a first announce: no baseline", 7001, 100, 0},
	{"a rise", 7001, 600, 500},
	{"a fall: a restarted client", 7001, 200, 0},
	{"a rise from the new baseline", 7001, 250, 50},
	{"a huge value: one copy at most", 7001, 1 << 62, testLength},
	{"another peer's first announce", 7002, 5000, 0},
	{"its rise", 7002, 5400, 400},
	{"a relay's first announce", relayPort, 0, 0},
	{"a relay's rise: counted where it was served", relayPort, 9000, 0},
}

// relayPort announces with a relay's peer id in downloadedSteps.
const relayPort = 7003

// peerIDOf is the peer id announced from port: a relay's on relayPort.
func peerIDOf(port uint16) string {
	if port == relayPort {
		return relayapi.PeerIDPrefix + "000000000001"[:20-len(relayapi.PeerIDPrefix)]
	}
	return "-TS0001-000000000001"
}

// checkDownloaded runs downloadedSteps through announce and checks the tracker's
// counter, and its metric in reg, after each.
func checkDownloaded(t *testing.T, tr *Tracker, reg *prometheus.Registry, announce func(port uint16, downloaded int64)) {
	t.Helper()
	var want int64
	for _, st := range downloadedSteps {
		announce(st.port, st.downloaded)
		want += st.want
		if got := tr.ReportedDownloaded(); got != want {
			t.Fatalf("%s (port %d, downloaded %d): ReportedDownloaded %d, want %d", st.name, st.port, st.downloaded, got, want)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "odi_tracker_reported_downloaded_bytes_total" {
			if got := f.GetMetric()[0].GetCounter().GetValue(); got != float64(want) {
				t.Errorf("odi_tracker_reported_downloaded_bytes_total = %v, want %d", got, want)
			}
			return
		}
	}
	t.Error("no odi_tracker_reported_downloaded_bytes_total metric")
}

func newTrackerWithMetrics(t *testing.T) (*Tracker, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	tr, err := New(context.Background(), DefaultConfig(), catalogOf{testIH: testLength}, noCounters{}, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return tr, reg
}

func TestReportedDownloadedHTTP(t *testing.T) {
	tr, reg := newTrackerWithMetrics(t)
	srv := httptest.NewServer(tr.HTTPHandler())
	t.Cleanup(srv.Close)
	checkDownloaded(t, tr, reg, func(port uint16, downloaded int64) {
		t.Helper()
		u := srv.URL + "/announce?info_hash=" + escaped(testIH) + "&peer_id=" + url.QueryEscape(peerIDOf(port)) + "&port=" + strconv.Itoa(int(port)) +
			"&uploaded=0&downloaded=" + strconv.FormatInt(downloaded, 10) + "&left=10"
		resp, err := srv.Client().Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct {
			Failure string `bencode:"failure reason"`
		}
		if err := bencode.NewDecoder(resp.Body).Decode(&r); err != nil || r.Failure != "" {
			t.Fatalf("announce: %v %q", err, r.Failure)
		}
	})
}

func TestReportedDownloadedUDP(t *testing.T) {
	tr, reg := newTrackerWithMetrics(t)
	cl := serveUDP(t, tr)
	ans := udpExchange(t, cl, udpRequest(udp.ConnectRequestConnectionId, udp.ActionConnect, 1, nil), 1)
	connID := binary.BigEndian.Uint64(ans[8:])
	txid := uint32(1)
	checkDownloaded(t, tr, reg, func(port uint16, downloaded int64) {
		t.Helper()
		body := udpAnnounceBody(0, -1, port, 10)
		copy(body[20:40], peerIDOf(port))                           // BEP 15: after info_hash
		binary.BigEndian.PutUint64(body[40:48], uint64(downloaded)) // BEP 15: after info_hash and peer_id
		txid++
		if ans := udpExchange(t, cl, udpRequest(connID, udp.ActionAnnounce, txid, body), txid); udp.Action(binary.BigEndian.Uint32(ans)) != udp.ActionAnnounce {
			t.Fatalf("announce: %q", ans)
		}
	})
}
