package seeder

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"aead.dev/minisign"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/logbuf"
	"github.com/opendist/odi/internal/problem"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/sign"
)

// f0 is the follow tests' clock at start: indexes are issued then.
var f0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type indexKey struct {
	pub  minisign.PublicKey
	priv minisign.PrivateKey
}

func newIndexKey(t *testing.T) indexKey {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return indexKey{pub, priv}
}

func (k indexKey) id() string { return sign.KeyID(k.pub.ID()) }

// signIndex signs version of k's index, issued at f0 plus version hours, after edit.
func signIndex(t *testing.T, k indexKey, version uint64, edit func(*index.Index), entries ...index.Entry) (doc, sig []byte) {
	t.Helper()
	idx := index.Next(nil, f0.Add(time.Duration(version)*time.Hour), 0)
	idx.Version, idx.Directory = version, "http://127.0.0.1/"
	for _, e := range entries {
		idx.Put(e)
	}
	if edit != nil {
		edit(idx)
	}
	doc, sig, err := index.Sign(k.priv, idx)
	if err != nil {
		t.Fatal(err)
	}
	return doc, sig
}

func entryFor(id, infohash string) index.Entry {
	p := strings.Split(id, "/")
	sum := sha256.Sum256([]byte(id))
	return index.Entry{Catalog: p[0], Name: p[1], Version: p[2], InfoHash: infohash, State: index.StatePublished,
		Files: []index.File{{Path: p[1], Size: 1, SHA256: hex.EncodeToString(sum[:])}}}
}

// indexServer is a directory's /indexes/ as catalogapi describes it (ETag, If-None-Match,
// 404 problem), serving what a test puts, and torrents at /t/<name>.
type indexServer struct {
	*httptest.Server
	mu       sync.Mutex
	docs     map[string][2][]byte // by key id: document, signature
	endless  map[string]bool      // by key id: a body that never ends
	torrents map[string][]byte
	got      map[string]int // requests by path
	notMod   atomic.Int64   // 304s answered
	reports  []relayapi.Reports
}

func newIndexServer(t *testing.T) *indexServer {
	s := &indexServer{docs: map[string][2][]byte{}, endless: map[string]bool{}, torrents: map[string][]byte{}, got: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *indexServer) put(k indexKey, doc, sig []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[k.id()] = [2][]byte{doc, sig}
}

func (s *indexServer) requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[path]
}

func (s *indexServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.got[r.URL.Path]++
	if r.Method == http.MethodPost && r.URL.Path == "/api/v1/reports" {
		var rep relayapi.Reports
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			s.mu.Unlock()
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.reports = append(s.reports, rep)
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if tor, ok := s.torrents[strings.TrimPrefix(r.URL.Path, "/t/")]; ok {
		s.mu.Unlock()
		w.Write(tor)
		return
	}
	rest, _ := strings.CutPrefix(r.URL.Path, "/indexes/")
	key, file, _ := strings.Cut(rest, "/")
	d, ok := s.docs[key]
	endless := s.endless[key]
	s.mu.Unlock()
	switch {
	case endless && file == "index.json":
		buf := make([]byte, 1<<20)
		for i := range buf {
			buf[i] = ' '
		}
		for r.Context().Err() == nil {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	case !ok:
		problem.Write(w, http.StatusNotFound, "no index of key "+key)
	case file == "index.json":
		sum := sha256.Sum256(d[0])
		etag := `"` + hex.EncodeToString(sum[:]) + `"`
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "no-cache")
		if r.Header.Get("If-None-Match") == etag {
			s.notMod.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(d[0])
	case file == "index.json.minisig":
		w.Header().Set("Content-Type", "text/plain")
		w.Write(d[1])
	default:
		problem.Write(w, http.StatusNotFound, "no such file")
	}
}

func mustFollower(t *testing.T, dir, path string, c *clock, log *slog.Logger, keys ...indexKey) *follower {
	t.Helper()
	var pubs []minisign.PublicKey
	for _, k := range keys {
		pubs = append(pubs, k.pub)
	}
	f, err := newFollower(dir, pubs, path, c.now, log)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func currentVersion(f *follower, k indexKey) uint64 {
	if idx := f.current(k.pub); idx != nil {
		return idx.Version
	}
	return 0
}

func TestCarry(t *testing.T) {
	ih := func(c byte) string { return strings.Repeat(string(c), 40) }
	item := func(id, infohash string) relayapi.Item { return relayapi.Item{ID: id, InfoHash: infohash} }
	mk := func(key string, expires time.Time, entries ...index.Entry) *index.Index {
		idx := index.Next(nil, f0, 0)
		idx.Key, idx.Expires = key, expires
		for _, e := range entries {
			idx.Put(e)
		}
		return idx
	}
	expunged := entryFor("c/gone/1", ih('e'))
	expunged.State, expunged.Reason = index.StateExpunged, "malware"
	week := f0.Add(index.DefaultTTL)
	a := mk("AAAAAAAAAAAAAAAA", week, entryFor("c/listed/1", ih('a')), entryFor("c/other/1", ih('b')), expunged)
	old := mk("BBBBBBBBBBBBBBBB", f0.Add(time.Hour), entryFor("c/stale/1", ih('s')))
	// Key C publishes what key A expunged: the expunge wins.
	c := mk("CCCCCCCCCCCCCCCC", week, entryFor("c/gone/1", ih('e')))
	now := f0.Add(2 * time.Hour)
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
		{"expired", []*index.Index{a, old}, item("c/stale/1", ih('s')), "index of key BBBBBBBBBBBBBBBB expired at " + f0.Add(time.Hour).Format(time.RFC3339)},
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
func TestFollowPoll(t *testing.T) {
	var logs logbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := newIndexServer(t)
	k, other := newIndexKey(t), newIndexKey(t)
	c := &clock{t: f0.Add(30 * time.Hour)}
	path := filepath.Join(t.TempDir(), "follow")
	f := mustFollower(t, srv.URL+"/", path, c, log, k)
	ctx := context.Background()

	f.poll(ctx)
	if v := currentVersion(f, k); v != 0 || !strings.Contains(logs.String(), "has no index of a followed key") {
		t.Fatalf("no index yet: version %d, logs:\n%s", v, logs.String())
	}

	doc1, sig1 := signIndex(t, k, 1, nil, entryFor("c/a/1", strings.Repeat("a", 40)))
	srv.put(k, doc1, sig1)
	f.poll(ctx)
	if v := currentVersion(f, k); v != 1 {
		t.Fatalf("after v1: version %d, want 1; logs:\n%s", v, logs.String())
	}
	f.poll(ctx)
	if n := srv.notMod.Load(); n != 1 {
		t.Errorf("unchanged index: %d 304s, want 1", n)
	}

	doc2, sig2 := signIndex(t, k, 2, nil, entryFor("c/a/1", strings.Repeat("a", 40)), entryFor("c/b/1", strings.Repeat("b", 40)))
	srv.put(k, doc2, sig2)
	f.poll(ctx)
	if v := currentVersion(f, k); v != 2 {
		t.Fatalf("after v2: version %d, want 2", v)
	}

	refused := func(name, want string, doc, sig []byte) {
		t.Helper()
		before := strings.Count(logs.String(), want)
		srv.put(k, doc, sig)
		f.poll(ctx)
		f.poll(ctx) // the same refusal again: not logged again
		if v := currentVersion(f, k); v != 2 {
			t.Errorf("%s: version %d, want 2 kept", name, v)
		}
		if n := strings.Count(logs.String(), want) - before; n != 1 {
			t.Errorf("%s: %q logged %d times, want once; logs:\n%s", name, want, n, logs.String())
		}
	}
	refused("rollback", "rollback", doc1, sig1)
	eq, eqSig := signIndex(t, k, 2, nil, entryFor("c/evil/1", strings.Repeat("e", 40)))
	refused("equivocation", "EQUIVOCATION", eq, eqSig)
	srv.mu.Lock()
	reports := slices.Clone(srv.reports)
	srv.mu.Unlock()
	eqSum := sha256.Sum256(eq)
	if len(reports) != 1 || len(reports[0].Equivocations) != 1 || reports[0].Equivocations[0].Key != k.id() ||
		reports[0].Equivocations[0].Version != 2 || reports[0].Equivocations[0].Served != hex.EncodeToString(eqSum[:]) {
		t.Errorf("reports to the directory after the equivocation: %+v, want one naming key %s version 2 served %x", reports, k.id(), eqSum)
	}
	wrong, wrongSig := signIndex(t, other, 3, nil)
	refused("wrong key", "wrong key", wrong, wrongSig)
	srv.mu.Lock()
	srv.endless[k.id()] = true
	srv.mu.Unlock()
	start := time.Now()
	refused("endless data", "too large", nil, nil)
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("endless data took %v to refuse", d)
	}
	srv.mu.Lock()
	srv.endless[k.id()] = false
	srv.mu.Unlock()

	// A restart: the state and the accepted document come back from the data dir, and
	// the older version is refused still.
	f2 := mustFollower(t, srv.URL, path, c, log, k)
	if v := currentVersion(f2, k); v != 2 {
		t.Fatalf("after a restart: version %d, want 2 from the data dir", v)
	}
	srv.put(k, doc1, sig1)
	f2.poll(ctx)
	if v := currentVersion(f2, k); v != 2 || !strings.Contains(logs.String(), "version 1 is older than version 2") {
		t.Fatalf("after a restart, v1 served: version %d, want 2; logs:\n%s", v, logs.String())
	}

	// Expired: the accepted index stays known (the filter needs it to say so) and is told.
	srv.put(k, doc2, sig2)
	c.add(index.DefaultTTL)
	f2.poll(ctx)
	f2.poll(ctx)
	want := fmt.Sprintf("index of key %s expired at %s", k.id(), f0.Add(2*time.Hour+index.DefaultTTL).Format(time.RFC3339))
	if n := strings.Count(logs.String(), want); n != 1 {
		t.Errorf("%q logged %d times, want once; logs:\n%s", want, n, logs.String())
	}
}

// A document and a signature of two versions (the directory replaced the index between
// the two requests) are refused, and the document is fetched again at the next poll.
func TestFollowSignatureOfAnotherVersion(t *testing.T) {
	srv := newIndexServer(t)
	k := newIndexKey(t)
	f := mustFollower(t, srv.URL, t.TempDir(), &clock{t: f0.Add(30 * time.Hour)}, slog.New(slog.DiscardHandler), k)
	_, sig1 := signIndex(t, k, 1, nil)
	doc2, sig2 := signIndex(t, k, 2, nil)
	srv.put(k, doc2, sig1)
	f.poll(context.Background())
	if v := currentVersion(f, k); v != 0 {
		t.Fatalf("version %d accepted with another version's signature", v)
	}
	srv.put(k, doc2, sig2)
	f.poll(context.Background())
	if v := currentVersion(f, k); v != 2 {
		t.Fatalf("version %d, want 2 once its signature is served", v)
	}
}

// A new key announced in next_key is followed, and once it signs, the old one no longer
// counts.
func TestFollowRotation(t *testing.T) {
	srv := newIndexServer(t)
	k, next := newIndexKey(t), newIndexKey(t)
	c := &clock{t: f0.Add(30 * time.Hour)}
	f := mustFollower(t, srv.URL, t.TempDir(), c, slog.New(slog.DiscardHandler), k)
	doc, sig := signIndex(t, k, 1, func(idx *index.Index) { idx.NextKey = sign.PublicKeyText(next.pub) }, entryFor("c/a/1", strings.Repeat("a", 40)))
	srv.put(k, doc, sig)
	f.poll(context.Background())
	doc, sig = signIndex(t, next, 1, nil, entryFor("c/b/1", strings.Repeat("b", 40)))
	srv.put(next, doc, sig)
	f.poll(context.Background())
	idxs := f.indexes()
	if len(idxs) != 1 || idxs[0].Key != next.id() {
		t.Fatalf("indexes after rotation: %v, want the new key's only", idxs)
	}
}

// A following relay carries what a current index lists and nothing else: an unlisted
// plan entry is never fetched, a listed one is, with the infohash and files the index
// names, and when the index expires its holdings are dropped the way an expunge drops
// them.
func TestFollowingRelay(t *testing.T) {
	var logs logbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := newTestRelay(t, log)
	r.cfg.Quota = 1 << 30
	srv := newIndexServer(t)
	k := newIndexKey(t)
	c := &clock{t: f0.Add(30 * time.Hour)}
	r.follow = []*follower{mustFollower(t, srv.URL, t.TempDir(), c, log, k)}
	ctx := context.Background()

	// A holding on disk, and two artifacts a plan names.
	artifact := func(id string) (record, []byte) {
		data := make([]byte, 32<<10)
		rand.Read(data)
		rec := testRecord(t, data, 16<<10)
		sum := sha256.Sum256(data)
		rec.item.ID, rec.item.Files[0].SHA256 = id, hex.EncodeToString(sum[:])
		rec.item.TorrentURL = srv.URL + "/t/" + strings.ReplaceAll(id, "/", "_")
		srv.mu.Lock()
		srv.torrents[strings.ReplaceAll(id, "/", "_")] = rec.torrent
		srv.mu.Unlock()
		return rec, data
	}
	listing := func(rec record) index.Entry {
		e := entryFor(rec.item.ID, rec.item.InfoHash)
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

	doc, sig := signIndex(t, k, 1, nil, listing(held), listing(listed), badListing, entryFor("c/mixed/1", strings.Repeat("0", 40)))
	srv.put(k, doc, sig)
	r.follow[0].poll(ctx)
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
	if holds(unlisted) || srv.requests("/t/c_unlisted_1") != 0 || srv.requests("/t/c_mixed_1") != 0 {
		t.Errorf("an artifact no index vouches for was fetched (%d, %d torrent requests)", srv.requests("/t/c_unlisted_1"), srv.requests("/t/c_mixed_1"))
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

	c.add(index.DefaultTTL)
	r.follow[0].poll(ctx)
	r.reconcilePlans(ctx)
	if holds(held) || holds(listed) {
		t.Fatalf("after the index expired: held %v, %v; want none", holds(held), holds(listed))
	}
	if _, err := os.Stat(filepath.Join(r.cfg.DataDir, "torrents", held.item.InfoHash)); !os.IsNotExist(err) {
		t.Errorf("the expired holding's bytes are still on disk: %v", err)
	}
	if want := "why=\"index of key " + k.id() + " expired at"; !strings.Contains(logs.String(), want) {
		t.Errorf("logs lack %q:\n%s", want, logs.String())
	}
	if cur, exp, miss := r.FollowStatus(); cur != 0 || exp != 1 || miss != 0 {
		t.Errorf("FollowStatus = %d current, %d expired, %d missing; want 0, 1, 0", cur, exp, miss)
	}
}
