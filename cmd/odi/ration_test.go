package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
)

// originSent reads the directory's count of bytes its origin copy sent (/ws/ and /dl/)
// from /metrics.
func originSent(t *testing.T, tn *testNet) int64 {
	t.Helper()
	_, body := get(t, tn.base+"/metrics")
	sc := bufio.NewScanner(bytes.NewReader(body))
	var sum float64
	seen := false
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "odi_directory_origin_bytes_sent_total{"); ok {
			_, v, _ := strings.Cut(rest, "} ")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			sum, seen = sum+f, true
		}
	}
	if !seen {
		t.Fatal("no odi_directory_origin_bytes_sent_total in /metrics")
	}
	return int64(sum)
}

// A crowd of real BitTorrent clients starting together on a new artifact, with the origin
// as the only web seed, gets it from the origin about once: the origin answers 503 for
// pieces it sent moments ago, and the clients trade those among themselves. A plain HTTP
// user meanwhile gets the whole file.
func TestOriginRationsACrowd(t *testing.T) {
	tn := startTestDirectory(t)
	const size = 6 << 20
	art := publishSmall(t, tn, "crowd", size)
	_, body := get(t, art.TorrentURL)
	mi, err := metainfo.Load(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, want := get(t, tn.base+"/ws/"+art.InfoHash+"/"+art.Root)
	before := originSent(t, tn)

	const crowd = 4
	var tors []*torrent.Torrent
	var dirs []string
	for i := range crowd {
		dir := t.TempDir()
		// Seed, as torrent clients do by default: a finished peer still serves. Each client
		// has its own address, as users do: the origin hands out pieces by address.
		host := fmt.Sprintf("127.0.0.%d", 11+i)
		cl := newLoopbackClient(t, dir, func(cfg *torrent.ClientConfig) {
			cfg.Seed, cfg.DisableUTP = true, true
			cfg.ListenHost = func(string) string { return host }
			bindTo(t, host).Torrent(cfg)
		})
		spec, err := torrent.TorrentSpecFromMetaInfoErr(mi)
		if err != nil {
			t.Fatal(err)
		}
		tor, _, err := cl.AddTorrentSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		tors = append(tors, tor)
		dirs = append(dirs, dir)
	}
	for _, tor := range tors {
		<-tor.GotInfo()
		tor.DownloadAll()
	}
	// A plain user in the middle of the crowd, sent by /r/ to the origin (no relay holds
	// it), is never told to wait.
	tracker := newAnnouncer(t, tn.base+"/announce", infoHash(t, art.InfoHash))
	waitFor(t, 10*time.Second, "the tracker counts the crowd", func() bool { return tracker.scrape().Leechers >= crowd })
	resp, got := get(t, tn.base+"/r/"+art.Catalog+"/"+art.Name+"/"+art.Version)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) || !strings.Contains(resp.Request.URL.Path, "/dl/") {
		t.Fatalf("a plain user during the crowd: %s from %s, %d bytes", resp.Status, resp.Request.URL, len(got))
	}
	deadline := time.After(90 * time.Second)
	for i, tor := range tors {
		select {
		case <-tor.Complete().On():
		case <-deadline:
			t.Fatalf("client %d has %d of %d bytes after 90 s", i, tor.BytesCompleted(), tor.Length())
		}
		got, err := os.ReadFile(filepath.Join(dirs[i], art.Root))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("client %d's file differs from the published one (%v)", i, err)
		}
	}
	// The plain user took one copy; the crowd may take a second in pieces asked for again
	// once their first send failed or ran out of the window, not four.
	sent := originSent(t, tn) - before - size
	t.Logf("the crowd of %d took %.2f copies from the origin", crowd, float64(sent)/size)
	if sent > 2*size {
		t.Errorf("the crowd of %d took %.2f copies from the origin, want at most 2", crowd, float64(sent)/size)
	}
	peers := int64(0)
	for _, tor := range tors {
		st := tor.Stats()
		peers += st.PeerConns.BytesReadUsefulData.Int64()
	}
	if peers < size {
		t.Errorf("the clients got %d bytes from each other, want at least one copy's worth (%d)", peers, size)
	}
}
