package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/catalog/links"
	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/apiclient"
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
	a, proxy := startProxiedDirectory(t, relayDirectory, func(c *DirectoryConfig) {
		c.IndexKey = ln.key
		c.Federation.Linkers.Refresh = time.Second
	})
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
	st := federationStatus(t, ln.b.base)
	if len(st.Links) != 1 {
		t.Fatalf("B's federation status lists %d links", len(st.Links))
	}
	return st.Links[0]
}

func federationStatus(t *testing.T, base string) catalogapi.FederationStatus {
	t.Helper()
	_, body := get(t, base+"/api/v1/federation")
	var st catalogapi.FederationStatus
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("federation status %s: %v", body, err)
	}
	return st
}

// torrentLists reports whether base's torrent of a lists the directory at other: its
// HTTP tracker, and its origin copy as a web seed.
func torrentLists(t *testing.T, base string, a *catalogapi.Artifact, other string) bool {
	t.Helper()
	_, body := get(t, base+"/t/"+a.ID+".torrent")
	mi, err := metainfo.Load(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("torrent of %s at %s: %v", a.ID, base, err)
	}
	var trackers []string
	for _, tier := range mi.UpvertedAnnounceList() {
		trackers = append(trackers, tier...)
	}
	return slices.Contains(trackers, other+"/announce") && slices.Contains(mi.UrlList, other+"/ws/"+a.InfoHash+"/")
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
	// A lists B in its own torrents too, once it checked B's notice with B: clients of
	// either directory find the other's tracker and copies.
	waitFor(t, 15*time.Second, "A's torrents list B's tracker and origin copy", func() bool {
		return torrentLists(t, ln.a.base, a1, ln.b.base) && torrentLists(t, ln.a.base, a2, ln.b.base)
	})
	if st := federationStatus(t, ln.a.base); len(st.LinkedBy) != 1 || st.LinkedBy[0].URL != ln.b.base || st.LinkedBy[0].Catalog != "test" ||
		st.LinkedBy[0].Artifacts != 2 || st.LinkedBy[0].Error != "" {
		t.Errorf("A's linked_by %+v, want B linking test with 2 artifacts", st.LinkedBy)
	}
	if st := ln.status(t); !st.ListedThere || st.NoticeError != "" {
		t.Errorf("B's link status %+v, want listed at A", st)
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
	// B no longer vouches for the catalog, so A stops listing it at its next refresh.
	waitFor(t, 10*time.Second, "A's torrents no longer list B", func() bool { return !torrentLists(t, ln.a.base, a2, ln.b.base) })
	ln.serve(t, short, index.DefaultTTL, nil)
	waitFor(t, 15*time.Second, "B serves the catalog again with a current index", func() bool {
		return statusOf(t, ln.b.base+"/t/"+a2.ID+".torrent") == http.StatusOK
	})
	waitFor(t, 15*time.Second, "A's torrents list B again", func() bool { return torrentLists(t, ln.a.base, a2, ln.b.base) })

	// B's own publishers cannot publish into the catalog it links: A is its source.
	dir := t.TempDir()
	writeFiles(t, dir, 5, map[string]int{"own.bin": 1000})
	_, err = client.Publish(context.Background(), ln.b.publisher, ident("9"), filepath.Join(dir, "own.bin"), io.Discard)
	if apiclient.StatusOf(err) != http.StatusForbidden || !strings.Contains(fmt.Sprint(err), "federation link to "+ln.a.base) {
		t.Errorf("a publish into the linked catalog at B: %v, want 403 naming the link", err)
	}
}

// A directory lists another as linking its catalog only when that one says so itself:
// a notice naming a directory that does not link the catalog from here, or links it
// from elsewhere, a catalog not served here, this directory itself, or a malformed
// notice is refused, each with its reason, and nothing goes into the torrents. Of one
// it lists, a web seed host that serves bad bytes is not listed, and one that stops
// answering is dropped.
func TestLinkers(t *testing.T) {
	tn := startTestDirectory(t, relayDirectory, func(c *DirectoryConfig) { c.Federation.Linkers.Refresh = time.Second })
	a := publishSmall(t, tn, "1", 64<<10)
	// A server that answers as a directory linking "test" from elsewhere, and one that
	// is no directory at all.
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(catalogapi.FederationSources{Catalog: "test", LinkedFrom: "http://127.0.0.9:1",
			Trackers: []string{"http://127.0.0.9:1/announce"}})
	}))
	defer elsewhere.Close()
	notDirectory := httptest.NewServer(http.NotFoundHandler())
	defer notDirectory.Close()
	notice := func(body string) (*http.Response, string) {
		resp, err := http.Post(tn.base+links.LinkersPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	for _, tc := range []struct {
		name   string
		body   string
		status int
		detail string
	}{
		{"links from elsewhere", `{"catalog":"test","url":"` + elsewhere.URL + `"}`, http.StatusUnprocessableEntity, "names http://127.0.0.9:1"},
		{"not a directory", `{"catalog":"test","url":"` + notDirectory.URL + `"}`, http.StatusUnprocessableEntity, "404"},
		{"not served", `{"catalog":"other","url":"` + elsewhere.URL + `"}`, http.StatusNotFound, "other"},
		{"itself", `{"catalog":"test","url":"` + tn.base + `/"}`, http.StatusBadRequest, "is this directory"},
		{"traversal", `{"catalog":"..","url":"` + elsewhere.URL + `"}`, http.StatusBadRequest, "catalog"},
		{"not a URL", `{"catalog":"test","url":"ftp://127.0.0.1/"}`, http.StatusBadRequest, "url"},
		{"unknown field", `{"catalog":"test","url":"` + elsewhere.URL + `","x":1}`, http.StatusBadRequest, "x"},
		{"not JSON", `catalog=test`, http.StatusBadRequest, "linker notice"},
		{"huge", `{"catalog":"test","url":"` + strings.Repeat("a", 10<<10) + `"}`, http.StatusRequestEntityTooLarge, "at most"},
	} {
		if resp, body := notice(tc.body); resp.StatusCode != tc.status || !strings.Contains(body, tc.detail) {
			t.Errorf("%s: %s %s, want %d saying %q", tc.name, resp.Status, body, tc.status, tc.detail)
		}
	}
	if st := federationStatus(t, tn.base); len(st.LinkedBy) != 0 {
		t.Errorf("linked_by %+v after refused notices", st.LinkedBy)
	}
	if torrentLists(t, tn.base, a, elsewhere.URL) || torrentLists(t, tn.base, a, "http://127.0.0.9:1") {
		t.Error("a refused notice's sources went into the torrent")
	}

	// A linking directory whose origin copy serves the directory's bytes (through a
	// proxy), and which lists a relay that serves them with every byte flipped.
	target, _ := url.Parse(tn.base)
	flipped := httputil.NewSingleHostReverseProxy(target)
	flipped.ModifyResponse = func(r *http.Response) error {
		b, err := io.ReadAll(r.Body)
		for i := range b {
			b[i] ^= 0xff
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		return err
	}
	liar := httptest.NewServer(flipped)
	defer liar.Close()
	var linker *httptest.Server
	linker = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != links.SourcesPath {
			httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
			return
		}
		json.NewEncoder(w).Encode(catalogapi.FederationSources{Catalog: "test", LinkedFrom: tn.base + "/",
			Trackers: []string{linker.URL + "/announce"}, Artifacts: []catalogapi.ArtifactSources{{InfoHash: a.InfoHash,
				WebSeeds: []string{linker.URL + "/ws/" + a.InfoHash + "/", liar.URL + "/ws/" + a.InfoHash + "/"}}}})
	}))
	if resp, body := notice(`{"catalog":"test","url":"` + linker.URL + `"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("a true notice: %s %s", resp.Status, body)
	}
	waitFor(t, 10*time.Second, "the linker's good web seed is checked and listed, the liar refused", func() bool {
		st := federationStatus(t, tn.base)
		return len(st.LinkedBy) == 1 && len(st.LinkedBy[0].SeedHosts) == 1 && len(st.LinkedBy[0].SeedsRefused) == 1
	})
	st := federationStatus(t, tn.base).LinkedBy[0]
	if st.SeedHosts[0] != linker.URL || !strings.HasPrefix(st.SeedsRefused[0], liar.URL+": ") || !strings.Contains(st.SeedsRefused[0], "hash") {
		t.Errorf("linked_by %+v: want %s listed, %s refused for a bad piece", st, linker.URL, liar.URL)
	}
	if !torrentLists(t, tn.base, a, linker.URL) {
		t.Error("the torrent does not list the linking directory's tracker and checked web seed")
	}
	_, body := get(t, tn.base+"/t/"+a.ID+".torrent")
	if strings.Contains(string(body), liar.URL) {
		t.Error("the torrent lists a web seed that served bad bytes")
	}

	// The linking directory goes away: out of the torrents at the next refresh, and
	// forgotten after three.
	linker.Close()
	waitFor(t, 5*time.Second, "the torrent no longer lists the linker", func() bool {
		_, body := get(t, tn.base+"/t/"+a.ID+".torrent")
		return !strings.Contains(string(body), linker.URL)
	})
	waitFor(t, 10*time.Second, "the linker is forgotten", func() bool { return len(federationStatus(t, tn.base).LinkedBy) == 0 })
}
