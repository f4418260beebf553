package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/catalog/links"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/sign"
)

// linkNet is directory A, whose index of its own catalog can be made to lie (served
// through a proxy), and directory B on another loopback address, linking A's catalog
// "test" by that index.
type linkNet struct {
	a, b  *testNet
	key   string // A's index key (private; the public key is beside it)
	keyID string

	mu  sync.Mutex
	doc []byte // served in place of A's index when not nil, with sig
	sig []byte
}

func newLinkNet(t *testing.T) *linkNet {
	t.Helper()
	ln := &linkNet{key: newKeys(t, "a-index")[0]}
	pub, err := sign.ParsePublicKey(ln.key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	ln.keyID = sign.KeyID(pub.ID())
	a, proxy := startProxiedDirectory(t, relayDirectory, func(c *DirectoryConfig) { c.IndexKey = ln.key })
	proxy.indexes = func(w http.ResponseWriter, r *http.Request) bool {
		ln.mu.Lock()
		defer ln.mu.Unlock()
		switch {
		case ln.doc == nil:
			return false
		case strings.HasSuffix(r.URL.Path, "/index.json"):
			w.Header().Set("Content-Type", "application/json")
			w.Write(ln.doc)
		default:
			w.Write(ln.sig)
		}
		return true
	}
	ln.a = a
	ln.b = startTestDirectory(t, relayDirectory, func(c *DirectoryConfig) {
		c.Listen = "127.0.0.2:0"
		c.Federation.Links = []links.Config{{Directory: a.base, Catalog: "test", IndexKey: ln.key + ".pub", Interval: time.Second}}
	})
	return ln
}

// served is A's index as B gets it now.
func (ln *linkNet) served(t *testing.T) *index.Index {
	t.Helper()
	_, doc := get(t, ln.a.base+"/indexes/"+ln.keyID+"/index.json")
	idx, err := index.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// serve has B get, in place of A's index, the next version after prev, valid for ttl,
// holding entries, signed by A's index key; entries nil keeps prev's.
func (ln *linkNet) serve(t *testing.T, prev *index.Index, ttl time.Duration, entries []index.Entry) *index.Index {
	t.Helper()
	priv, err := sign.LoadPrivateKey(ln.key)
	if err != nil {
		t.Fatal(err)
	}
	idx := index.Next(prev, time.Now(), ttl)
	idx.Version = prev.Version + 100 // ahead of what A signs meanwhile
	if entries != nil {
		idx.Entries = nil
		for _, e := range entries {
			idx.Put(e)
		}
	}
	doc, sig, err := index.Sign(priv, idx)
	if err != nil {
		t.Fatal(err)
	}
	ln.mu.Lock()
	ln.doc, ln.sig = doc, sig
	ln.mu.Unlock()
	return idx
}

func (ln *linkNet) status(t *testing.T) catalogapi.LinkStatus {
	t.Helper()
	_, body := get(t, ln.b.base+"/api/v1/federation")
	var st catalogapi.FederationStatus
	if err := json.Unmarshal(body, &st); err != nil || len(st.Links) != 1 {
		t.Fatalf("federation status %s: %v", body, err)
	}
	return st.Links[0]
}

func statusOf(t *testing.T, url string) int {
	t.Helper()
	resp, _ := get(t, url)
	return resp.StatusCode
}

// entryOf is a's index entry, as A lists it.
func entryOf(a *catalogapi.Artifact) index.Entry {
	return index.Entry{Catalog: a.Catalog, Name: a.Name, Version: a.Version, InfoHash: a.InfoHash, State: index.StatePublished,
		Files: index.FilesOf(&manifest.Manifest{Root: a.Root, Files: a.Files})}
}

// A directory linking another's catalog serves its artifacts as its own, under the same
// infohash, with both directories' trackers and web seeds in its torrents; carries out
// the other's expunges; refuses artifacts whose torrent or bytes differ from the signed
// index; and stops answering for the catalog while the index it holds is expired.
func TestFederationLink(t *testing.T) {
	ln := newLinkNet(t)
	a1 := publishSmall(t, ln.a, "1", 300<<10)
	a2 := publishSmall(t, ln.a, "2", 200<<10)
	artifactAt := func(base string, a *catalogapi.Artifact) (*catalogapi.Artifact, bool) {
		resp, body := get(t, base+"/api/v1/artifacts/"+a.ID)
		var got catalogapi.Artifact
		return &got, resp.StatusCode == http.StatusOK && json.Unmarshal(body, &got) == nil && got.State == catalogapi.Published
	}
	waitFor(t, 60*time.Second, "B serves both artifacts of A's catalog", func() bool {
		_, ok1 := artifactAt(ln.b.base, a1)
		_, ok2 := artifactAt(ln.b.base, a2)
		return ok1 && ok2
	})
	for _, a := range []*catalogapi.Artifact{a1, a2} {
		got, _ := artifactAt(ln.b.base, a)
		if got.InfoHash != a.InfoHash || !slices.Equal(got.Files, a.Files) {
			t.Errorf("B serves %s as infohash %s files %v; A: %s %v", a.ID, got.InfoHash, got.Files, a.InfoHash, a.Files)
		}
		_, atA := get(t, ln.a.base+"/t/"+a.ID+".torrent")
		_, atB := get(t, ln.b.base+"/t/"+a.ID+".torrent")
		miA, errA := metainfo.Load(bytes.NewReader(atA))
		miB, errB := metainfo.Load(bytes.NewReader(atB))
		if errA != nil || errB != nil {
			t.Fatalf("torrents of %s: %v, %v", a.ID, errA, errB)
		}
		if !bytes.Equal(miA.InfoBytes, miB.InfoBytes) {
			t.Errorf("%s: B's info dict differs from A's", a.ID)
		}
		var trackers []string
		for _, tier := range miB.UpvertedAnnounceList() {
			trackers = append(trackers, tier...)
		}
		if !slices.Contains(trackers, ln.a.base+"/announce") || !slices.Contains(trackers, ln.b.base+"/announce") {
			t.Errorf("%s: B's torrent lists trackers %v, want A's and B's", a.ID, trackers)
		}
		if aSeed := ln.a.base + "/ws/" + a.InfoHash + "/"; !slices.Contains(miB.UrlList, aSeed) || !slices.Contains(miB.UrlList, ln.b.base+"/ws/"+a.InfoHash+"/") {
			t.Errorf("%s: B's url-list %v lacks A's origin %s or its own", a.ID, miB.UrlList, aSeed)
		}
		_, fromA := get(t, ln.a.base+"/dl/"+a.InfoHash+"/"+a.Root)
		resp, fromB := get(t, ln.b.base+"/dl/"+a.InfoHash+"/"+a.Root)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(fromA, fromB) {
			t.Errorf("%s: B's bytes (%d, %s) differ from A's", a.ID, len(fromB), resp.Status)
		}
	}
	if st := ln.status(t); st.State != "current" || st.Artifacts != 2 || st.Pending != 0 || st.KeyID != ln.keyID {
		t.Errorf("link status %+v, want current, 2 held, none pending", st)
	}
	// B serves A's signed index beside its own, as signed: A's key verifies it there.
	pub, err := sign.ParsePublicKey(ln.key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	_, doc := get(t, ln.b.base+"/indexes/"+ln.keyID+"/index.json")
	_, sig := get(t, ln.b.base+"/indexes/"+ln.keyID+"/index.json.minisig")
	if idx, err := index.Verify(pub, doc, sig, time.Now()); err != nil || len(idx.Entries) != 2 {
		t.Errorf("A's index served by B: %v (%d bytes)", err, len(doc))
	}
	_, list := get(t, ln.b.base+"/indexes/")
	if !strings.Contains(string(list), `"key":"`+ln.keyID+`"`) || !strings.Contains(string(list), `"name":"link:`) {
		t.Errorf("B's /indexes/ does not list A's index: %s", list)
	}

	// A's expunge reaches B at its next poll.
	if err := ln.a.admin.CallJSON(context.Background(), http.MethodPost, "/api/v1/admin/expunge",
		catalogapi.ExpungeRequest{Artifact: a1.ID, Reason: "bad build"}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "B expunges what A expunged", func() bool {
		return statusOf(t, ln.b.base+"/t/"+a1.ID+".torrent") == http.StatusGone
	})

	// An index whose entries disagree with A's torrents or bytes: nothing of them is
	// published. test/art/3's sha256 is not its bytes'; test/art/4 names another
	// infohash than A's torrent has.
	// The index B sees is held still first, so that B does not take the two artifacts
	// from A's own next versions.
	frozen := ln.serve(t, ln.served(t), index.DefaultTTL, nil)
	a3 := publishSmall(t, ln.a, "3", 100<<10)
	a4 := publishSmall(t, ln.a, "4", 100<<10)
	prev := frozen
	wrongSum, wrongHash := entryOf(a3), entryOf(a4)
	wrongSum.Files[0].SHA256 = strings.Repeat("0", 64)
	wrongHash.InfoHash = strings.Repeat("ab", 20)
	var entries []index.Entry
	for _, e := range prev.Entries {
		if e.ID() != a3.ID && e.ID() != a4.ID {
			entries = append(entries, e)
		}
	}
	lie := ln.serve(t, prev, index.DefaultTTL, append(entries, wrongSum, wrongHash))
	waitFor(t, 30*time.Second, "B refuses both lying entries", func() bool {
		st := ln.status(t)
		return st.IndexVersion == lie.Version && len(st.Failures) == 2
	})
	st := ln.status(t)
	if !strings.Contains(st.Failures[0], a3.ID) || !strings.Contains(st.Failures[0], "sha256") ||
		!strings.Contains(st.Failures[1], a4.ID) || !strings.Contains(st.Failures[1], "infohash") {
		t.Errorf("failures %q, want %s's sha256 and %s's infohash", st.Failures, a3.ID, a4.ID)
	}
	for _, a := range []*catalogapi.Artifact{a3, a4} {
		if s := statusOf(t, ln.b.base+"/api/v1/artifacts/"+a.ID); s != http.StatusNotFound {
			t.Errorf("B answers %d for %s, which its index misdescribes; want 404", s, a.ID)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(ln.b.data, "links", "test", "fetch", "*")); len(left) > 1 {
		t.Errorf("downloads left behind: %v", left) // at most the .part state of one resume
	}
	if fi, err := os.Stat(filepath.Join(ln.b.data, "links", "test", "fetch", a3.Root)); err == nil {
		t.Errorf("the refused download of %s is still there (%d bytes)", a3.ID, fi.Size())
	}

	// An index that expires: B stops answering for the catalog, saying why, until a
	// current one comes.
	short := ln.serve(t, lie, 3*time.Second, nil)
	waitFor(t, 15*time.Second, "B answers 503 for the catalog once its index expired", func() bool {
		return statusOf(t, ln.b.base+"/t/"+a2.ID+".torrent") == http.StatusServiceUnavailable
	})
	resp, body := get(t, ln.b.base+"/r/"+a2.ID)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "expired") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("/r/ of a stale link: %s %s (Retry-After %q)", resp.Status, body, resp.Header.Get("Retry-After"))
	}
	if st := ln.status(t); st.State != "expired" || st.Stale == "" {
		t.Errorf("status of a stale link: %+v", st)
	}
	ln.serve(t, short, index.DefaultTTL, nil)
	waitFor(t, 15*time.Second, "B serves the catalog again with a current index", func() bool {
		return statusOf(t, ln.b.base+"/t/"+a2.ID+".torrent") == http.StatusOK
	})
}
