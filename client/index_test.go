package client

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/index"
)

func ref(t *testing.T, s string) Ref {
	t.Helper()
	r, err := ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func refs(t *testing.T, ss ...string) []Ref {
	var out []Ref
	for _, s := range ss {
		out = append(out, ref(t, s))
	}
	return out
}

// TestIndexSignShowRoundTrip signs versions of an index (adding, all-new, removing,
// expunging, a dry run) and checks what the directory then holds and show reports.
func TestIndexSignShowRoundTrip(t *testing.T) {
	d := newIndexDirectory(t)
	d.publishFile("a", "x", "1", 40<<10)
	d.publishFile("a", "x", "2", 1000)
	folder := d.publish("b", "y", "1", "pkg", map[string][]byte{"a.txt": []byte("a"), "sub/c.txt": randomBytes(t, 20<<10)})
	key, pub, api := newIndexerKey(t, d)
	d.addIndexer(pub)
	ctx, now := t.Context(), time.Now()

	rep, err := ShowIndex(ctx, api, pub, now)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Found || !slices.Equal(rep.New, []string{"a/x/1", "a/x/2", "b/y/1"}) {
		t.Fatalf("show before any index: %+v", rep)
	}

	steps := []struct {
		name    string
		ch      IndexChanges
		version uint64
		added   []string
		entries []string // published
		gone    []string // expunged in the index
	}{
		{"first", IndexChanges{Add: refs(t, "a/x/1", "b/y/1"), VerifyBytes: true}, 1, []string{"a/x/1", "b/y/1"}, []string{"a/x/1", "b/y/1"}, nil},
		{"all new, again listed unchanged", IndexChanges{Add: refs(t, "a/x/1"), AllNew: []string{"a"}}, 2, []string{"a/x/2"}, []string{"a/x/1", "a/x/2", "b/y/1"}, nil},
		{"remove", IndexChanges{Remove: refs(t, "a/x/1")}, 3, nil, []string{"a/x/2", "b/y/1"}, nil},
		{"expunge", IndexChanges{Expunge: refs(t, "a/x/2"), Reason: "broken build", TTL: time.Hour}, 4, nil, []string{"b/y/1"}, []string{"a/x/2"}},
	}
	for _, s := range steps {
		res, err := SignIndex(ctx, api, key, s.ch, now)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if res.Version != s.version || res.Previous != s.version-1 || !res.Uploaded || !slices.Equal(res.Added, append([]string{}, s.added...)) {
			t.Errorf("%s: %+v", s.name, res)
		}
		doc, sig := d.served(pub)
		idx, err := index.Verify(pub, doc, sig, now)
		if err != nil {
			t.Fatalf("%s: the directory's index: %v", s.name, err)
		}
		var published, expunged []string
		for _, e := range idx.Entries {
			if e.State == index.StatePublished {
				published = append(published, e.ID())
			} else {
				expunged = append(expunged, e.ID())
			}
		}
		if idx.Version != s.version || idx.Directory != d.srv.URL || !slices.Equal(published, s.entries) || !slices.Equal(expunged, s.gone) {
			t.Errorf("%s: the directory holds version %d for %s, published %v, expunged %v", s.name, idx.Version, idx.Directory, published, expunged)
		}
	}
	doc, _ := d.served(pub)
	idx, _ := index.Parse(doc)
	if e, _ := idx.Find("b", "y", "1"); len(e.Files) != 2 || e.Files[0].Path != "pkg/a.txt" || e.Files[1].Path != "pkg/sub/c.txt" ||
		e.Files[1].SHA256 != folder.Files[1].SHA256 || e.InfoHash != folder.InfoHash {
		t.Errorf("entry of a folder: %+v, want the torrent's paths and the catalog's hashes of %+v", e, folder)
	}
	if e, _ := idx.Find("a", "x", "2"); e.Reason != "broken build" || !idx.Expires.Equal(idx.Issued.Add(time.Hour)) {
		t.Errorf("expunged entry %+v, index expires %s issued %s", e, idx.Expires, idx.Issued)
	}

	// A dry run signs the next version but leaves the directory's alone.
	res, err := SignIndex(ctx, api, key, IndexChanges{AllNew: []string{"a"}, DryRun: true}, now)
	if err != nil || res.Uploaded || res.Version != 5 || !slices.Equal(res.Added, []string{"a/x/1"}) {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	d.change("b/y/1", func(a *catalogapi.Artifact) { a.State, a.ExpungeReason = catalogapi.Expunged, "leaked keys" })
	d.publishFile("c", "z", "1", 10)
	rep, err = ShowIndex(ctx, api, pub, now)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Found || rep.Version != 4 || rep.Published != 1 || rep.Expunged != 1 || rep.Expired ||
		!slices.Equal(rep.New, []string{"a/x/1", "c/z/1"}) || len(rep.Gone) != 1 || rep.Gone[0] != (GoneArtifact{ID: "b/y/1", Reason: "leaked keys"}) {
		t.Errorf("show after version 4: %+v", rep)
	}
	// Expired: still shown, and said so; the next version follows it.
	later := now.Add(2 * time.Hour)
	if rep, err = ShowIndex(ctx, api, pub, later); err != nil || !rep.Expired || rep.Version != 4 {
		t.Errorf("show of an expired index: %+v, %v", rep, err)
	}
	if _, err := SignIndex(ctx, api, key, IndexChanges{Remove: refs(t, "b/y/1")}, now); err != nil {
		t.Fatal(err)
	}

	// Changes to what the index does not list are refused, and the directory's refusal
	// (version not above its own) comes back as such.
	if _, err := SignIndex(ctx, api, key, IndexChanges{Remove: refs(t, "c/z/1")}, now); !errors.Is(err, index.ErrNotListed) {
		t.Errorf("remove of an unlisted artifact: %v", err)
	}
	if _, err := SignIndex(ctx, api, key, IndexChanges{Expunge: refs(t, "a/x/1")}, now); err == nil || !strings.Contains(err.Error(), "reason") {
		t.Errorf("expunge without a reason: %v", err)
	}
	other, _, _ := newIndexerKey(t, d)
	if _, err := SignIndex(ctx, api, other, IndexChanges{}, now); err == nil || !strings.Contains(err.Error(), "same key") {
		t.Errorf("signing with a key the upload is not signed by: %v", err)
	}
	if _, err := SignIndex(ctx, api, key, IndexChanges{Add: refs(t, "b/y/1")}, now); err == nil || !strings.Contains(err.Error(), "not published") {
		t.Errorf("adding an expunged artifact: %v", err)
	}
}

// TestIndexSignRefusesMismatch: an artifact whose directory hashes disagree with its
// torrent, or (with --verify-bytes) with its bytes, is not signed.
func TestIndexSignRefusesMismatch(t *testing.T) {
	d := newIndexDirectory(t)
	d.publishFile("bench", "big", "1", 50<<10)
	d.publishFile("bench", "big", "2", 50<<10)
	d.publishFile("bench", "big", "3", 50<<10)
	d.publishFile("bench", "big", "4", 50<<10)
	key, pub, api := newIndexerKey(t, d)
	d.addIndexer(pub)
	d.change("bench/big/2", func(a *catalogapi.Artifact) { a.Files[0].SHA256 = strings.Repeat("0", 64) })
	d.change("bench/big/3", func(a *catalogapi.Artifact) { a.Files[0].Size++; a.Size++ })
	// bench/big/4's bytes stay, its torrent becomes another's: same name and sizes,
	// other pieces.
	d.mu.Lock()
	d.torrents["bench/big/4"], d.arts["bench/big/4"].InfoHash = d.torrents["bench/big/1"], d.arts["bench/big/1"].InfoHash
	d.arts["bench/big/4"].Root = d.arts["bench/big/1"].Root
	d.mu.Unlock()
	d.change("bench/big/1", func(a *catalogapi.Artifact) { a.InfoHash = strings.Repeat("ab", 20) })
	for _, tc := range []struct {
		ref         string
		verifyBytes bool
		want        string
	}{
		{"bench/big/1", false, "has infohash"},
		{"bench/big/2", true, "bench/big/2: the directory's sha256 of big-2.bin differs from the bytes (--verify-bytes)"},
		{"bench/big/3", false, "differs from the catalog"},
		{"bench/big/4", true, "piece 0 of the torrent differs from the bytes (--verify-bytes)"},
	} {
		_, err := SignIndex(t.Context(), api, key, IndexChanges{Add: refs(t, tc.ref), VerifyBytes: tc.verifyBytes}, time.Now())
		if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrChecksum and %q", tc.ref, err, tc.want)
		}
	}
	if doc, _ := d.served(pub); doc != nil {
		t.Errorf("an index was uploaded: %s", doc)
	}
	// Without --verify-bytes the directory's sha256 is taken as it says.
	if _, err := SignIndex(t.Context(), api, key, IndexChanges{Add: refs(t, "bench/big/2")}, time.Now()); err != nil {
		t.Errorf("bench/big/2 without --verify-bytes: %v", err)
	}
}
