package main

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	trclient "github.com/anacrolix/torrent/tracker"
	"github.com/opendist/odi/internal/catalogapi"
)

// mirrorsOf counts the relays the directory lists as serving the artifact.
func mirrorsOf(t *testing.T, tn *testNet, a *catalogapi.Artifact) int {
	t.Helper()
	return len(urlListOf(t, a.TorrentURL)) - 1 // the origin is always last
}

// TestHotArtifactSpreads runs three relays with room for two of three artifacts each:
// every artifact gets a copy, and spare room a second of some. Then one artifact gets
// hot through real announces and spreads, while the others keep a copy each; no relay
// goes over its quota on disk. When a relay goes down, it leaves the url-lists.
func TestHotArtifactSpreads(t *testing.T) {
	tn := startTestDirectory(t, probedDirectory)
	const size = 600 << 10
	const quota = size*2 + size/2
	arts := []*catalogapi.Artifact{publishSmall(t, tn, "a", size), publishSmall(t, tn, "b", size), publishSmall(t, tn, "c", size)}
	var relays []*testRelay
	for range 3 {
		relays = append(relays, startTestRelay(t, tn, func(c *RelayConfig) { c.Quota = quota }))
	}
	covered := func() bool {
		for _, a := range arts {
			if mirrorsOf(t, tn, a) == 0 {
				return false
			}
		}
		return true
	}
	waitFor(t, 60*time.Second, "every artifact on a relay", covered)

	hot := arts[1]
	ann := newAnnouncer(t, tn.base+"/announce", infoHash(t, hot.InfoHash))
	for port := uint16(20000); port < 20100; port++ {
		ann.mustAnnounce(port, size, trclient.Started, 0)
	}
	// Its share of demand (~0.85) earns it three copies.
	waitFor(t, 60*time.Second, "the hot artifact on all three relays", func() bool { return mirrorsOf(t, tn, hot) == 3 })
	// A relay may evict a copy for the hot artifact before the copy the plan moved
	// elsewhere is listed (users take the origin's meanwhile); what must not happen is
	// an artifact left without one.
	waitFor(t, 30*time.Second, "every artifact on a relay beside the hot one", covered)
	for _, r := range relays {
		if n := du(t, filepath.Join(r.data, "torrents")); n > quota {
			t.Errorf("relay %s holds %d bytes on disk, over its quota of %d", r.id, n, quota)
		}
	}

	for _, r := range relays {
		seed := r.url + "/ws/" + hot.InfoHash + "/"
		if slices.Contains(urlListOf(t, hot.TorrentURL), seed) {
			r.stop()
			waitFor(t, 20*time.Second, "the stopped relay out of the url-list", func() bool {
				return !slices.Contains(urlListOf(t, hot.TorrentURL), seed)
			})
			break
		}
	}
}
