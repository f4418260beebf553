package seeder

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/follow"
	"github.com/opendist/odi/internal/follow/followtest"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/logbuf"
	"github.com/opendist/odi/internal/relayapi"
)

func mustFollower(t *testing.T, dir, path string, c *followtest.Clock, log *slog.Logger, keys ...followtest.Key) *follow.Follower {
	t.Helper()
	var pubs []minisign.PublicKey
	for _, k := range keys {
		pubs = append(pubs, k.Pub)
	}
	f, err := follow.New(follow.Config{Directory: dir, Keys: pubs, Path: path, Role: "relay", Now: c.Now}, log)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCarry(t *testing.T) {
	ih := func(c byte) string { return strings.Repeat(string(c), 40) }
	item := func(id, infohash string) relayapi.Item { return relayapi.Item{ID: id, InfoHash: infohash} }
	mk := func(key string, expires time.Time, entries ...index.Entry) *index.Index {
		idx := index.Next(nil, followtest.T0, 0)
		idx.Key, idx.Expires = key, expires
		for _, e := range entries {
			idx.Put(e)
		}
		return idx
	}
	expunged := followtest.Entry("c/gone/1", ih('e'))
	expunged.State, expunged.Reason = index.StateExpunged, "malware"
	week := followtest.T0.Add(index.DefaultTTL)
	a := mk("AAAAAAAAAAAAAAAA", week, followtest.Entry("c/listed/1", ih('a')), followtest.Entry("c/other/1", ih('b')), expunged)
	old := mk("BBBBBBBBBBBBBBBB", followtest.T0.Add(time.Hour), followtest.Entry("c/stale/1", ih('s')))
	// Key C publishes what key A expunged: the expunge wins.
	c := mk("CCCCCCCCCCCCCCCC", week, followtest.Entry("c/gone/1", ih('e')))
	now := followtest.T0.Add(2 * time.Hour)
	for _, tt := range []struct {
		name    string
		indexes []*index.Index
		it      relayapi.Item
		why     string // "" when carried
	}{
		{"listed", []*index.Index{a}, item("c/listed/1", ih('a')), ""},
		{"unlisted", []*index.Index{a}, item("c/nope/1", ih('n')), "not listed in a current index"},
		{"expunged", []*index.Index{a}, item("c/gone/1", ih('e')), "expunged in the index of key AAAAAAAAAAAAAAAA: malware"},
		{"expunge in one outweighs a listing in another", []*index.Index{c, a}, item("c/gone/1", ih('e')), "expunged"},
		{"infohash differs", []*index.Index{a}, item("c/listed/1", ih('f')), "infohash " + ih('f') + " differs: the index of key AAAAAAAAAAAAAAAA lists infohash " + ih('a')},
		{"listed under another name", []*index.Index{a}, item("c/renamed/1", ih('a')), "not listed"},
		{"expired", []*index.Index{a, old}, item("c/stale/1", ih('s')), "index of key BBBBBBBBBBBBBBBB expired at " + followtest.T0.Add(time.Hour).Format(time.RFC3339)},
		{"no index", nil, item("c/listed/1", ih('a')), "not listed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newVouchers(tt.indexes, now)
			fill, skip, drop := carry(v, []relayapi.Item{tt.it}, []relayapi.Item{tt.it})
			if tt.why == "" {
				if len(fill) != 1 || len(skip) != 0 || len(drop) != 0 {
					t.Fatalf("fill %v, skip %v, drop %v; want it filled and kept", fill, skip, drop)
				}
				if e := v.entry(tt.it); e == nil || e.InfoHash != tt.it.InfoHash {
					t.Errorf("entry = %v, want the listing", e)
				}
				return
			}
			if len(fill) != 0 || len(skip) != 1 || len(drop) != 1 {
				t.Fatalf("fill %v, skip %v, drop %v; want it skipped and dropped", fill, skip, drop)
			}
			for _, got := range []string{skip[0].why, drop[0].why} {
				if !strings.Contains(got, tt.why) {
					t.Errorf("why = %q, want %q in it", got, tt.why)
				}
			}
		})
	}
	// Not following: the plan as it is.
	plan := []relayapi.Item{item("c/nope/1", ih('n'))}
	if fill, skip, drop := carry(nil, plan, plan); len(fill) != 1 || skip != nil || drop != nil {
		t.Errorf("not following: fill %v, skip %v, drop %v; want the plan as it is", fill, skip, drop)
	}
}

// The poller against a directory's /indexes/: new versions accepted, unchanged ones a 304,
// and rollback, equivocation, a wrong key and endless data refused with the accepted
// index kept, logged once; the state survives a restart; expiry is told.
// A following relay carries what a current index lists and nothing else: an unlisted
// plan entry is never fetched, a listed one is, with the infohash and files the index
// names, and when the index expires its holdings are dropped the way an expunge drops
// them.
func TestFollowingRelay(t *testing.T) {
	var logs logbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := newTestRelay(t, log)
	r.cfg.Quota = 1 << 30
	srv := followtest.NewServer(t)
	k := followtest.NewKey(t)
	c := followtest.NewClock(followtest.T0.Add(30 * time.Hour))
	r.follow = []*follow.Follower{mustFollower(t, srv.URL, t.TempDir(), c, log, k)}
	ctx := context.Background()

	// A holding on disk, and two artifacts a plan names.
	artifact := func(id string) (record, []byte) {
		data := make([]byte, 32<<10)
		rand.Read(data)
		rec := testRecord(t, data, 16<<10)
		sum := sha256.Sum256(data)
		rec.item.ID, rec.item.Files[0].SHA256 = id, hex.EncodeToString(sum[:])
		rec.item.TorrentURL = srv.URL + "/t/" + strings.ReplaceAll(id, "/", "_")
		srv.PutTorrent(strings.ReplaceAll(id, "/", "_"), rec.torrent)
		return rec, data
	}
	listing := func(rec record) index.Entry {
		e := followtest.Entry(rec.item.ID, rec.item.InfoHash)
		e.Files = []index.File{{Path: "f.bin", Size: rec.item.Size, SHA256: rec.item.Files[0].SHA256}}
		return e
	}
	held, heldData := artifact("c/held/1")
	listed, _ := artifact("c/listed/1")
	unlisted, _ := artifact("c/unlisted/1")
	// Listed with its infohash, but the plan's sha256 is not the index's.
	badFiles, _ := artifact("c/badfiles/1")
	badListing := listing(badFiles)
	badListing.Files[0].SHA256 = strings.Repeat("0", 64)
	// The plan names c/mixed/1 with the unlisted artifact's infohash: mix-and-match.
	mixed := unlisted
	mixed.item.ID = "c/mixed/1"
	startOnDisk(t, r, held, heldData)

	doc, sig := followtest.Sign(t, k, 1, nil, listing(held), listing(listed), badListing, followtest.Entry("c/mixed/1", strings.Repeat("0", 40)))
	srv.Put(k, doc, sig)
	r.follow[0].Poll(ctx)
	r.plans["dir"] = &relayapi.Plan{Fetch: []relayapi.Item{unlisted.item, listed.item, mixed.item, badFiles.item}, Keep: []relayapi.Item{held.item}}
	r.reconcilePlans(ctx)
	r.reconcilePlans(ctx) // the skips are logged once
	holds := func(rec record) bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.held[metainfo.NewHashFromHex(rec.item.InfoHash)] != nil
	}
	if !holds(held) || !holds(listed) {
		t.Fatalf("listed artifacts: held %v, fetched %v; want both", holds(held), holds(listed))
	}
	if holds(unlisted) || srv.Requests("/t/c_unlisted_1") != 0 || srv.Requests("/t/c_mixed_1") != 0 {
		t.Errorf("an artifact no index vouches for was fetched (%d, %d torrent requests)", srv.Requests("/t/c_unlisted_1"), srv.Requests("/t/c_mixed_1"))
	}
	if holds(badFiles) || !strings.Contains(logs.String(), "does not match its index entry") {
		t.Errorf("an artifact whose files differ from its listing: held %v; logs:\n%s", holds(badFiles), logs.String())
	}
	if n := strings.Count(logs.String(), "not fetching what no followed index vouches for"); n != 2 {
		t.Errorf("skips logged %d times, want 2 (one per artifact); logs:\n%s", n, logs.String())
	}
	if cur, exp, miss := r.FollowStatus(); cur != 1 || exp != 0 || miss != 0 {
		t.Errorf("FollowStatus = %d current, %d expired, %d missing; want 1, 0, 0", cur, exp, miss)
	}

	c.Add(index.DefaultTTL)
	r.follow[0].Poll(ctx)
	r.reconcilePlans(ctx)
	if holds(held) || holds(listed) {
		t.Fatalf("after the index expired: held %v, %v; want none", holds(held), holds(listed))
	}
	if _, err := os.Stat(filepath.Join(r.cfg.DataDir, "torrents", held.item.InfoHash)); !os.IsNotExist(err) {
		t.Errorf("the expired holding's bytes are still on disk: %v", err)
	}
	if want := "why=\"index of key " + k.ID() + " expired at"; !strings.Contains(logs.String(), want) {
		t.Errorf("logs lack %q:\n%s", want, logs.String())
	}
	if cur, exp, miss := r.FollowStatus(); cur != 0 || exp != 1 || miss != 0 {
		t.Errorf("FollowStatus = %d current, %d expired, %d missing; want 0, 1, 0", cur, exp, miss)
	}
}
