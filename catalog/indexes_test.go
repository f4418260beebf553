package catalog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/sign"
)

// testIndexer is an indexer's key pair, in files.
type testIndexer struct {
	path string // the private key file; its public key is path + ".pub"
	priv minisign.PrivateKey
	pub  minisign.PublicKey
	id   string // key id: the index's URL
}

func newTestIndexer(t *testing.T, dir, name string) testIndexer {
	t.Helper()
	path := makeKey(t, dir, name, 0)
	priv, err := sign.LoadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(minisign.PublicKey)
	return testIndexer{path: path, priv: priv, pub: pub, id: sign.KeyID(pub.ID())}
}

// indexEntry is how an indexer lists an artifact the directory's API describes: file
// paths in the torrent (the root, then the path inside a package).
func indexEntry(a catalogapi.Artifact) index.Entry {
	e := index.Entry{Catalog: a.Catalog, Name: a.Name, Version: a.Version, InfoHash: a.InfoHash, State: index.StatePublished}
	for _, f := range a.Files {
		p := a.Root
		if f.Path != "" {
			p += "/" + f.Path
		}
		e.Files = append(e.Files, index.File{Path: p, Size: f.Size, SHA256: f.SHA256})
	}
	return e
}

// signIndex signs version of an index of entries for d with ix's key, issued now.
func (d *testDir) signIndex(t *testing.T, ix testIndexer, version uint64, entries []index.Entry, edit func(*index.Index)) (doc, sig []byte) {
	t.Helper()
	idx := index.Next(nil, d.clock.Now(), 0)
	idx.Version, idx.Directory = version, d.url+"/"
	for _, e := range entries {
		idx.Put(e)
	}
	if edit != nil {
		edit(idx)
	}
	doc, sig, err := index.Sign(ix.priv, idx)
	if err != nil {
		t.Fatal(err)
	}
	return doc, sig
}

// putIndex uploads doc and sig to /api/v1/indexes/key, the request signed by the key
// at signer.
func (d *testDir) putIndex(t *testing.T, signer, key string, doc, sig []byte) (catalogapi.IndexInfo, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, d.url+"/api/v1/indexes/"+key, bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if sig != nil {
		req.Header.Set(catalogapi.IndexSignatureHeader, base64.StdEncoding.EncodeToString(sig))
	}
	if err := d.signer(t, signer).SignBody(req, doc); err != nil {
		t.Fatal(err)
	}
	var info catalogapi.IndexInfo
	err = d.client(t, signer).Do(req, &info)
	return info, err
}

// get fetches path from d with the given request headers.
func (d *testDir) get(t *testing.T, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.url+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// indexFixture is a directory with two configured indexers (alice, carol), a catalog of
// a file, a package and an expunged file, and alice's entries for them.
type indexFixture struct {
	d            *testDir
	alice, carol testIndexer
	stranger     testIndexer
	entries      []index.Entry // thing/1.0, pkg/1, thing/2.0 (expunged)
}

func newIndexFixture(t *testing.T, tune func(*Config)) *indexFixture {
	t.Helper()
	keys := t.TempDir()
	f := &indexFixture{alice: newTestIndexer(t, keys, "alice"), carol: newTestIndexer(t, keys, "carol"), stranger: newTestIndexer(t, keys, "stranger")}
	f.d = startTestDir(t, []string{"test"}, func(c *Config) {
		c.Indexers = []string{"alice=" + f.alice.path + ".pub", "carol=" + f.carol.path + ".pub"}
		if tune != nil {
			tune(c)
		}
	})
	pub := f.d.client(t, filepath.Join(f.d.keys, "test.key"))
	single, err := publishOver(t, pub, "test", "1.0", []byte("alpha"))
	if err != nil {
		t.Fatal(err)
	}
	pkg := &manifest.Manifest{Catalog: "test", Name: "pkg", Version: "1", Root: "pkg",
		Files: []manifest.File{{Path: "a.txt", Size: 3}, {Path: "b/c.txt", Size: 4}}}
	packaged, err := publishDeclared(t, pub, pkg, []byte("aaabbbb"))
	if err != nil {
		t.Fatal(err)
	}
	bad, err := publishOver(t, pub, "test", "2.0", []byte("backdoored"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.d.admin.CallJSON(context.Background(), http.MethodPost, "/api/v1/admin/expunge",
		catalogapi.ExpungeRequest{Artifact: bad.ID, Reason: "CVE-2026-0002"}, nil); err != nil {
		t.Fatal(err)
	}
	gone := indexEntry(bad)
	gone.State, gone.Reason = index.StateExpunged, "CVE-2026-0002"
	f.entries = []index.Entry{indexEntry(single), indexEntry(packaged), gone}
	return f
}

// edited returns a copy of the entries with entry i changed by edit.
func (f *indexFixture) edited(i int, edit func(*index.Entry)) []index.Entry {
	out := make([]index.Entry, len(f.entries))
	for j, e := range f.entries {
		e.Files = append([]index.File(nil), e.Files...)
		out[j] = e
	}
	edit(&out[i])
	return out
}

func TestIndexUploadServed(t *testing.T) {
	f := newIndexFixture(t, nil)
	d, alice := f.d, f.alice
	doc, sig := d.signIndex(t, alice, 1, f.entries, nil)
	info, err := d.putIndex(t, alice.path, alice.id, doc, sig)
	if err != nil {
		t.Fatal(err)
	}
	want := catalogapi.IndexInfo{Key: alice.id, Name: "alice", PublicKey: alice.pub.String(), Fingerprint: sign.Fingerprint(alice.pub),
		Version: 1, Issued: info.Issued, Expires: info.Expires, Entries: 3, SHA256: hexSHA256(doc), URL: "/indexes/" + alice.id + "/index.json"}
	if info != want || info.Expires.Sub(info.Issued) != index.DefaultTTL {
		t.Fatalf("upload answered %+v, want %+v", info, want)
	}

	resp, body := d.get(t, "/indexes/")
	var list catalogapi.IndexList
	if err := decodeStrict(body, &list); err != nil || resp.StatusCode != http.StatusOK || len(list.Indexes) != 1 || list.Indexes[0] != want {
		t.Fatalf("GET /indexes/: %d %s (%v), want only %+v", resp.StatusCode, body, err, want)
	}
	resp, body = d.get(t, info.URL)
	etag := `"` + hexSHA256(doc) + `"`
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, doc) || resp.Header.Get("ETag") != etag ||
		resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET %s: %d %v, body equal %v", info.URL, resp.StatusCode, resp.Header, bytes.Equal(body, doc))
	}
	if resp, body := d.get(t, info.URL, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Fatalf("GET with If-None-Match of the current ETag: %d, %d bytes; want 304", resp.StatusCode, len(body))
	}
	if resp, _ := d.get(t, info.URL, "If-None-Match", `"`+strings.Repeat("0", 64)+`"`); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET with an old ETag: %d, want 200", resp.StatusCode)
	}
	resp, served := d.get(t, info.URL+".minisig")
	if resp.StatusCode != http.StatusOK || !bytes.Equal(served, sig) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET .minisig: %d %q", resp.StatusCode, served)
	}
	if _, err := index.Verify(alice.pub, body, served, d.clock.Now()); err != nil {
		t.Fatalf("the served index does not verify: %v", err)
	}
	minisignVerifies(t, alice.path+".pub", body, served)

	for _, path := range []string{"/indexes/" + f.carol.id + "/index.json", "/indexes/" + alice.id + "/other", "/indexes/nothing/index.json.minisig"} {
		if resp, body := d.get(t, path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d %s, want 404", path, resp.StatusCode, body)
		}
	}
	// Only the current version's files stay.
	doc2, sig2 := d.signIndex(t, alice, 2, f.entries[:1], nil)
	if _, err := d.putIndex(t, alice.path, alice.id, doc2, sig2); err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(filepath.Join(d.cfg.DataDir, "indexes", alice.id))
	if len(files) != 2 || files[0].Name() != "2.json" || files[1].Name() != "2.json.minisig" {
		t.Fatalf("the index's folder holds %v, want 2.json and its signature", files)
	}
	if resp, body := d.get(t, info.URL, "If-None-Match", etag); resp.StatusCode != http.StatusOK || !bytes.Equal(body, doc2) {
		t.Fatalf("GET after version 2 with version 1's ETag: %d, want 200 and version 2", resp.StatusCode)
	}
}

// minisignVerifies checks doc and sig with stock minisign, if it is installed.
func minisignVerifies(t *testing.T, pubFile string, doc, sig []byte) {
	t.Helper()
	bin, err := exec.LookPath("minisign")
	if err != nil {
		t.Log("minisign is not installed: the served index is not checked with it")
		return
	}
	dir := t.TempDir()
	docFile := filepath.Join(dir, "index.json")
	if err := os.WriteFile(docFile, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(docFile+".minisig", sig, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-Vm", docFile, "-p", pubFile).CombinedOutput(); err != nil {
		t.Fatalf("minisign -Vm: %v\n%s", err, out)
	}
}

func TestIndexUploadRefused(t *testing.T) {
	f := newIndexFixture(t, nil)
	d, alice, carol := f.d, f.alice, f.carol
	v1, sig1 := d.signIndex(t, alice, 1, f.entries, nil)
	if _, err := d.putIndex(t, alice.path, alice.id, v1, sig1); err != nil {
		t.Fatal(err)
	}
	v2, sig2 := d.signIndex(t, alice, 2, f.entries, nil)
	if _, err := d.putIndex(t, alice.path, alice.id, v2, sig2); err != nil {
		t.Fatal(err)
	}
	other2, otherSig2 := d.signIndex(t, alice, 2, f.entries[:2], nil)
	now := d.clock.Now()
	expired, expiredSig := d.signIndex(t, alice, 3, f.entries, func(idx *index.Index) {
		idx.Issued, idx.Expires = now.Add(-8*24*time.Hour).Truncate(time.Second), now.Add(-time.Hour).Truncate(time.Second)
	})
	// The canonical document with a space, signed as it is.
	canonical, _ := d.signIndex(t, alice, 3, f.entries, nil)
	spaced := append([]byte("{ "), canonical[1:]...)
	parsed, err := index.Parse(canonical)
	if err != nil {
		t.Fatal(err)
	}
	spacedSig := minisign.NewReader(bytes.NewReader(spaced))
	io.Copy(io.Discard, spacedSig)
	spacedComment := fmt.Sprintf("%s key=%s version=3 expires=%s", index.Format, alice.id, parsed.Expires.Format(time.RFC3339))
	spacedSigText := spacedSig.SignWithComments(alice.priv, spacedComment, "")

	v3 := func(entries []index.Entry) func() ([]byte, []byte) {
		return func() ([]byte, []byte) { return d.signIndex(t, alice, 3, entries, nil) }
	}
	ih := metainfo.HashBytes([]byte("other")).HexString()
	tests := []struct {
		name     string
		signer   string // the request's key
		key      string // the URL's
		doc      func() (doc, sig []byte)
		status   int
		contains string
	}{
		{"same version, same bytes", alice.path, alice.id, func() ([]byte, []byte) { return v2, sig2 }, http.StatusOK, ""},
		{"unknown key", f.stranger.path, f.stranger.id, func() ([]byte, []byte) { return d.signIndex(t, f.stranger, 1, f.entries, nil) }, http.StatusUnauthorized, "not a known indexer"},
		{"request signed by another indexer", carol.path, alice.id, func() ([]byte, []byte) { return d.signIndex(t, alice, 3, f.entries, nil) }, http.StatusUnauthorized, "not by key " + alice.id},
		{"request to another indexer's URL", alice.path, carol.id, func() ([]byte, []byte) { return d.signIndex(t, alice, 3, f.entries, nil) }, http.StatusUnauthorized, "not by key " + carol.id},
		{"index signed by another key", alice.path, alice.id, func() ([]byte, []byte) { return d.signIndex(t, carol, 3, f.entries, nil) }, http.StatusBadRequest, "wrong key"},
		{"signature of another document", alice.path, alice.id, func() ([]byte, []byte) { doc, _ := v3(f.entries)(); return doc, sig2 }, http.StatusBadRequest, "bad signature"},
		{"no signature", alice.path, alice.id, func() ([]byte, []byte) { doc, _ := v3(f.entries)(); return doc, nil }, http.StatusBadRequest, catalogapi.IndexSignatureHeader},
		{"rollback", alice.path, alice.id, func() ([]byte, []byte) { return v1, sig1 }, http.StatusConflict, "version 1 is not above 2, the directory's"},
		{"equivocation", alice.path, alice.id, func() ([]byte, []byte) { return other2, otherSig2 }, http.StatusConflict, "version 2 is here already with other content"},
		{"expired", alice.path, alice.id, func() ([]byte, []byte) { return expired, expiredSig }, http.StatusBadRequest, "index expired at"},
		{"not canonical", alice.path, alice.id, func() ([]byte, []byte) { return spaced, spacedSigText }, http.StatusBadRequest, "not canonical"},
		{"another directory", alice.path, alice.id, func() ([]byte, []byte) {
			return d.signIndex(t, alice, 3, f.entries, func(idx *index.Index) { idx.Directory = "https://elsewhere.example" })
		}, http.StatusBadRequest, "for directory https://elsewhere.example"},
		{"wrong sha256", alice.path, alice.id, v3(f.edited(0, func(e *index.Entry) { e.Files[0].SHA256 = strings.Repeat("a", 64) })), http.StatusUnprocessableEntity,
			`test/thing/1.0: artifact does not match its index entry: file "thing.bin" has sha256`},
		{"wrong size", alice.path, alice.id, v3(f.edited(1, func(e *index.Entry) { e.Files[1].Size++ })), http.StatusUnprocessableEntity,
			`test/pkg/1: artifact does not match its index entry: file "pkg/b/c.txt" has 4 bytes, the index lists 5`},
		{"wrong path", alice.path, alice.id, v3(f.edited(1, func(e *index.Entry) { e.Files[0].Path = "a.txt" })), http.StatusUnprocessableEntity,
			`file 0 is "pkg/a.txt", the index lists "a.txt"`},
		{"wrong infohash", alice.path, alice.id, v3(f.edited(0, func(e *index.Entry) { e.InfoHash = ih })), http.StatusUnprocessableEntity,
			"the index lists " + ih},
		{"unknown artifact", alice.path, alice.id, v3(f.edited(0, func(e *index.Entry) { e.Version = "9.9" })), http.StatusUnprocessableEntity,
			"test/thing/9.9 is not in the catalog"},
		{"published, but expunged in the catalog", alice.path, alice.id, v3(f.edited(2, func(e *index.Entry) { e.State, e.Reason = index.StatePublished, "" })), http.StatusUnprocessableEntity,
			"test/thing/2.0 is listed as published, and the catalog expunged it (CVE-2026-0002)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, sig := tt.doc()
			info, err := d.putIndex(t, tt.signer, tt.key, doc, sig)
			if tt.status == http.StatusOK {
				if err != nil || info.Version != 2 || info.SHA256 != hexSHA256(v2) {
					t.Fatalf("upload = %+v, %v; want version 2 kept", info, err)
				}
				return
			}
			// The test server's errors are echo's JSON, whose quotes are escaped.
			if got := apiclient.StatusOf(err); got != tt.status || !strings.Contains(strings.ReplaceAll(err.Error(), `\"`, `"`), tt.contains) {
				t.Fatalf("upload = %v; want %d containing %q", err, tt.status, tt.contains)
			}
			if _, body := d.get(t, "/indexes/"+alice.id+"/index.json"); !bytes.Equal(body, v2) {
				t.Fatal("a refused upload changed the served index")
			}
		})
	}
}

func TestIndexMismatchesNamed(t *testing.T) {
	f := newIndexFixture(t, nil)
	var entries []index.Entry
	for i := range 8 {
		e := f.entries[0]
		e.Version = fmt.Sprintf("0.%d", i)
		entries = append(entries, e)
	}
	doc, sig := f.d.signIndex(t, f.alice, 1, append(entries, f.entries...), nil)
	_, err := f.d.putIndex(t, f.alice.path, f.alice.id, doc, sig)
	want := "8 of 11 entries: test/thing/0.0 is not in the catalog; test/thing/0.1 is not in the catalog; " +
		"test/thing/0.2 is not in the catalog; test/thing/0.3 is not in the catalog; test/thing/0.4 is not in the catalog; and 3 more"
	if apiclient.StatusOf(err) != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), want) {
		t.Fatalf("upload = %v, want 422 with %q", err, want)
	}
}

// An index over the cap (by default index.MaxBytes) is refused from its Content-Length,
// before a byte of it is read. (A body under 256 KiB would be read by net/http after the
// handler, to keep the connection.)
func TestIndexTooLarge(t *testing.T) {
	f := newIndexFixture(t, nil)
	doc := make([]byte, index.MaxBytes+1)
	req, _ := http.NewRequest(http.MethodPut, f.d.url+"/api/v1/indexes/"+f.alice.id, nil)
	if err := f.d.signer(t, f.alice.path).SignBody(req, doc); err != nil {
		t.Fatal(err)
	}
	req.Header.Set(catalogapi.IndexSignatureHeader, "c2ln")
	req.ContentLength = int64(len(doc))
	req.Body = io.NopCloser(newStalled(t, nil))
	if status, detail := send(t, req); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d (%s), want 413", status, detail)
	}
}

func TestIndexerAdmin(t *testing.T) {
	f := newIndexFixture(t, nil)
	d, ctx := f.d, context.Background()
	bob := newTestIndexer(t, t.TempDir(), "bob")
	var added catalogapi.Indexer
	if err := d.admin.CallJSON(ctx, http.MethodPost, "/api/v1/admin/indexers", catalogapi.AddIndexerRequest{Name: "bob", PublicKey: bob.pub.String()}, &added); err != nil {
		t.Fatal(err)
	}
	if added.Name != "bob" || added.Key != bob.id || added.Fingerprint != sign.Fingerprint(bob.pub) || added.Static || added.Revoked {
		t.Fatalf("added %+v", added)
	}
	doc, sig := d.signIndex(t, bob, 1, f.entries[:1], nil)
	if _, err := d.putIndex(t, bob.path, bob.id, doc, sig); err != nil {
		t.Fatal(err)
	}
	// A key of bob's key id is refused: the id names the index's URL.
	twinPath := makeKey(t, t.TempDir(), "twin", bob.pub.ID())
	twin, err := sign.ParsePublicKey(twinPath + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, key string
		status    int
	}{
		{"bob", f.stranger.pub.String(), http.StatusConflict},
		{"twin", twin.String(), http.StatusConflict},
		{"again", bob.pub.String(), http.StatusConflict},
		{"alice2", f.alice.pub.String(), http.StatusConflict},
		{OwnIndexer, f.stranger.pub.String(), http.StatusBadRequest},
		{"bad/name", f.stranger.pub.String(), http.StatusBadRequest},
	} {
		err := d.admin.CallJSON(ctx, http.MethodPost, "/api/v1/admin/indexers", catalogapi.AddIndexerRequest{Name: tt.name, PublicKey: tt.key}, nil)
		if apiclient.StatusOf(err) != tt.status {
			t.Errorf("add %s: %v, want %d", tt.name, err, tt.status)
		}
	}
	var list struct{ Indexers []catalogapi.Indexer }
	if err := d.admin.Call(ctx, http.MethodGet, "/api/v1/admin/indexers", nil, &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ix := range list.Indexers {
		names = append(names, fmt.Sprintf("%s static=%v revoked=%v", ix.Name, ix.Static, ix.Revoked))
	}
	if got := strings.Join(names, ", "); got != "alice static=true revoked=false, carol static=true revoked=false, bob static=false revoked=false" {
		t.Fatalf("indexers: %s", got)
	}
	if err := d.admin.Call(ctx, http.MethodPost, "/api/v1/admin/indexers/alice/revoke", nil, nil); apiclient.StatusOf(err) != http.StatusBadRequest {
		t.Fatalf("revoke of a configured indexer: %v, want 400", err)
	}
	if err := d.client(t, f.alice.path).Call(ctx, http.MethodGet, "/api/v1/admin/indexers", nil, nil); apiclient.StatusOf(err) != http.StatusUnauthorized {
		t.Fatalf("indexers listed with an indexer's key: %v, want 401", err)
	}
	if err := d.admin.Call(ctx, http.MethodPost, "/api/v1/admin/indexers/bob/revoke", nil, nil); err != nil {
		t.Fatal(err)
	}
	if resp, _ := d.get(t, "/indexes/"+bob.id+"/index.json"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a revoked indexer's index: %d, want 404", resp.StatusCode)
	}
	doc, sig = d.signIndex(t, bob, 2, f.entries[:1], nil)
	if _, err := d.putIndex(t, bob.path, bob.id, doc, sig); apiclient.StatusOf(err) != http.StatusUnauthorized || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("upload by a revoked indexer: %v, want 401", err)
	}
}

// reopen closes d's catalog and opens another on its data dir, with cfg changed by tune.
func (d *testDir) reopen(t *testing.T, tune func(*Config)) *Catalog {
	t.Helper()
	d.Close()
	cfg := d.cfg
	if tune != nil {
		tune(&cfg)
	}
	c, err := New(context.Background(), cfg, Deps{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c.now = d.clock.Now
	t.Cleanup(func() { c.Close() })
	return c
}

func TestIndexRestart(t *testing.T) {
	f := newIndexFixture(t, nil)
	d, alice := f.d, f.alice
	v1, sig1 := d.signIndex(t, alice, 1, f.entries, nil)
	v2, sig2 := d.signIndex(t, alice, 2, f.entries, nil)
	for _, s := range [][2][]byte{{v1, sig1}, {v2, sig2}} {
		if _, err := d.putIndex(t, alice.path, alice.id, s[0], s[1]); err != nil {
			t.Fatal(err)
		}
	}
	before := d.Indexes()
	// What a crash between an upload's files and its row leaves: a newer version's files.
	stray := filepath.Join(d.cfg.DataDir, "indexes", alice.id, "3.json")
	if err := os.WriteFile(stray, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := d.reopen(t, nil)
	if after := c.Indexes(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("after a restart: %+v, want %+v", after, before)
	}
	if _, err := os.Stat(stray); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a version without a row was left: %v", err)
	}
	hi, file, err := c.openIndexDoc(alice.id)
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(file)
	file.Close()
	if !bytes.Equal(served, v2) || !bytes.Equal(hi.sig, sig2) {
		t.Fatal("after a restart, the served index is not version 2")
	}
	ix, err := c.indexerByKey(context.Background(), alice.pub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.acceptIndex(context.Background(), ix, v1, base64.StdEncoding.EncodeToString(sig1)); !errors.Is(err, ErrIndexVersion) {
		t.Fatalf("rollback after a restart: %v, want ErrIndexVersion", err)
	}
	// A damaged document is not served, and still bounds the versions.
	c.Close()
	if err := os.WriteFile(filepath.Join(d.cfg.DataDir, "indexes", alice.id, "2.json"), v1, 0o644); err != nil {
		t.Fatal(err)
	}
	c = d.reopen(t, nil)
	if got := c.Indexes(); len(got) != 0 {
		t.Fatalf("a damaged index is served: %+v", got)
	}
	ix, _ = c.indexerByKey(context.Background(), alice.pub)
	if _, err := c.acceptIndex(context.Background(), ix, v1, base64.StdEncoding.EncodeToString(sig1)); !errors.Is(err, ErrIndexVersion) {
		t.Fatalf("rollback over a damaged index: %v, want ErrIndexVersion", err)
	}
}

func TestIndexerConfig(t *testing.T) {
	dir := t.TempDir()
	a := newTestIndexer(t, dir, "a")
	twin := makeKey(t, dir, "twin", a.pub.ID())
	tests := []struct {
		indexers []string
		indexKey string
		want     string
	}{
		{[]string{a.path + ".pub"}, "", ""},
		{[]string{a.pub.String()}, "", "needs a NAME="},
		{[]string{"x y=" + a.path + ".pub"}, "", `"x y=`},
		{[]string{"directory=" + a.path + ".pub"}, "", "the directory's own"},
		{[]string{"a=" + a.path + ".pub", "b=" + a.path + ".pub"}, "", "a and b are one key"},
		{[]string{"a=" + a.path + ".pub", "b=" + twin + ".pub"}, "", "keys of one id, " + a.id},
		{[]string{"a=" + a.path + ".pub", "a=" + twin + ".pub"}, "", "a twice"},
		{[]string{"a=" + filepath.Join(dir, "missing.pub")}, "", "indexers: a: load public key"},
		{nil, a.path + ".pub", "index_key: load private key"},
		{[]string{"a=" + a.path + ".pub"}, a.path, "index_key: indexers: a and directory are one key"},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.DataDir, cfg.PublicURL, cfg.MinFreeSpace = t.TempDir(), "http://127.0.0.1:1", 0
		cfg.Indexers, cfg.IndexKey = tt.indexers, tt.indexKey
		c, err := New(context.Background(), cfg, Deps{}, slog.New(slog.DiscardHandler))
		if err == nil {
			c.Close()
		}
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("indexers %q, index_key %q: %v, want %q", tt.indexers, tt.indexKey, err, tt.want)
		}
	}
	cfg := DefaultConfig()
	cfg.DataDir, cfg.PublicURL = t.TempDir(), "http://127.0.0.1:1"
	for _, size := range []int64{0, index.MaxBytes + 1} {
		cfg.MaxIndexSize = bytesize.Size(size)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "max_index_size") {
			t.Errorf("max_index_size %d: %v, want refused", size, err)
		}
	}
}

func TestOwnIndex(t *testing.T) {
	keys := t.TempDir()
	own := newTestIndexer(t, keys, "own")
	d := startTestDir(t, []string{"test"}, func(c *Config) { c.IndexKey = own.path })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)

	// current waits for the own index to reach version v, and returns it.
	current := func(v uint64) *index.Index {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, doc := d.get(t, "/indexes/"+own.id+"/index.json")
			if resp.StatusCode == http.StatusOK {
				_, sig := d.get(t, "/indexes/"+own.id+"/index.json.minisig")
				idx, err := index.Verify(own.pub, doc, sig, d.clock.Now())
				if err != nil {
					t.Fatal(err)
				}
				if idx.Version > v {
					t.Fatalf("the own index is at version %d, want %d", idx.Version, v)
				}
				if idx.Version == v {
					minisignVerifies(t, own.path+".pub", doc, sig)
					return idx
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no version %d of the own index within 10 s (last answer %d)", v, resp.StatusCode)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	idx := current(1)
	if len(idx.Entries) != 0 || idx.Directory != d.url || idx.Expires.Sub(idx.Issued) != index.DefaultTTL {
		t.Fatalf("first own index: %+v", idx)
	}
	list := d.Indexes()
	if len(list) != 1 || list[0].Name != OwnIndexer || list[0].Key != own.id {
		t.Fatalf("indexes: %+v", list)
	}
	a, err := publishOver(t, d.client(t, filepath.Join(d.keys, "test.key")), "test", "1.0", []byte("alpha"))
	if err != nil {
		t.Fatal(err)
	}
	idx = current(2)
	if len(idx.Entries) != 1 || fmt.Sprint(idx.Entries[0]) != fmt.Sprint(indexEntry(a)) {
		t.Fatalf("after a publish, the own index lists %+v, want %+v", idx.Entries, indexEntry(a))
	}
	if _, err := d.Expunge(context.Background(), a.ID, "CVE-2026-0003"); err != nil {
		t.Fatal(err)
	}
	idx = current(3)
	if e := idx.Entries[0]; len(idx.Entries) != 1 || e.State != index.StateExpunged || e.Reason != "CVE-2026-0003" || e.InfoHash != a.InfoHash {
		t.Fatalf("after an expunge, the own index lists %+v", idx.Entries)
	}
	// Nobody uploads the directory's index but the directory.
	doc, sig := d.signIndex(t, own, 9, nil, nil)
	if _, err := d.putIndex(t, own.path, own.id, doc, sig); apiclient.StatusOf(err) != http.StatusForbidden {
		t.Fatalf("upload of the own index: %v, want 403", err)
	}
	stop()

	// A restart signs again only when due: a day later.
	c := d.reopen(t, nil)
	if c.ownIndexDue() {
		t.Fatal("the own index is due again right after a restart")
	}
	d.clock.Add(ownIndexAge)
	if !c.ownIndexDue() {
		t.Fatal("a day-old own index is not due")
	}
	info, err := c.signOwnIndex(context.Background())
	if err != nil || info.Version != 4 || info.Entries != 1 {
		t.Fatalf("signed after a restart: %+v, %v; want version 4 of 1 entry", info, err)
	}
}

// BenchmarkOwnIndex measures a signing of the directory's own index, files written and
// fsynced and row committed, for catalogs of 1,000 and 10,000 artifacts of two files.
func BenchmarkOwnIndex(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dir := b.TempDir()
			keyPath := filepath.Join(dir, "own.key")
			if _, err := sign.GenerateKeyFiles(keyPath); err != nil {
				b.Fatal(err)
			}
			cfg := DefaultConfig()
			cfg.DataDir, cfg.PublicURL, cfg.MinFreeSpace, cfg.IndexKey = filepath.Join(dir, "data"), "https://dir.example.org", 0, keyPath
			c, err := New(context.Background(), cfg, Deps{}, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			arts := make([]*Artifact, n)
			for i := range arts {
				a := &Artifact{Manifest: manifest.Manifest{Catalog: "bench", Name: fmt.Sprintf("artifact-%05d", i), Version: "1.0.0", Root: "artifact",
					Files: []manifest.File{{Path: "image.iso", Size: 1 << 30}, {Path: "image.iso.sig", Size: 566}}}, State: catalogapi.Published}
				for j := range a.Files {
					sum := metainfo.HashBytes(fmt.Appendf(nil, "%d/%d", i, j))
					a.Files[j].SHA256 = hex.EncodeToString(append(sum[:], sum[:12]...))
				}
				a.InfoHash = metainfo.HashBytes([]byte(a.ID()))
				arts[i] = a
			}
			c.view.Store(newView(arts))
			for b.Loop() {
				if _, err := c.signOwnIndex(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
