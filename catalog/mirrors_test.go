package catalog

import (
	"context"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/relayapi"
)

// TestRelaysFetching: a relay counts as on its way to an artifact while its heartbeats
// show it growing, and while it is complete but not yet range-checked; a stuck, checked,
// down or absent one does not.
func TestRelaysFetching(t *testing.T) {
	c := testCatalog(t, t.TempDir())
	clock := time.Unix(2_000_000_000, 0)
	c.now = func() time.Time { return clock }
	hbEvery := c.cfg.Relays.HeartbeatInterval
	ih := metainfo.Hash{1}
	r := &relay{Relay: catalogapi.Relay{ID: "AAAA", State: relayapi.StateActive, SelfTest: testOK, LastSeen: clock},
		held: map[metainfo.Hash]*holding{}}
	c.relays.byID[r.ID] = r
	report := func(bytes int64, verified bool) {
		t.Helper()
		hb := &relayapi.Heartbeat{Holdings: []relayapi.Holding{{InfoHash: ih.HexString(), BytesComplete: bytes, Verified: verified}}}
		if _, err := c.heartbeat(context.Background(), &principal{relay: r, keyID: r.ID}, hb); err != nil {
			t.Fatal(err)
		}
	}
	if c.RelaysFetching(ih) {
		t.Fatal("no relay reports it, yet it is fetching")
	}
	report(100, false)
	if !c.RelaysFetching(ih) {
		t.Fatal("a relay that just started it is not fetching")
	}
	for range 3 { // the same bytes, heartbeat after heartbeat: stuck
		clock = clock.Add(hbEvery)
		report(100, false)
	}
	clock = clock.Add(time.Second)
	report(100, false)
	if c.RelaysFetching(ih) {
		t.Fatal("a relay stuck at the same bytes for three intervals still counts")
	}
	clock = clock.Add(hbEvery)
	report(200, false)
	if !c.RelaysFetching(ih) {
		t.Fatal("a relay growing again does not count")
	}
	clock = clock.Add(10 * hbEvery)
	report(300, true)
	if !c.RelaysFetching(ih) {
		t.Fatal("a complete holding awaiting its range check does not count")
	}
	c.relays.mu.Lock()
	r.held[ih].Checked = true
	c.relays.mu.Unlock()
	if c.RelaysFetching(ih) {
		t.Fatal("a checked holding (users go to the relay itself) still counts as fetching")
	}
	c.relays.mu.Lock()
	r.held[ih].Checked, r.Quarantine = false, "corrupt"
	c.relays.mu.Unlock()
	if c.RelaysFetching(ih) {
		t.Fatal("a quarantined relay counts")
	}
}
