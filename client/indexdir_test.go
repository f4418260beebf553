package client

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/sign"
)

// indexDirectory is a directory on 127.0.0.1 for the index and trust tests: artifacts
// with real torrents and bytes (GET /api/v1/artifacts..., /t/, /r/) and the index
// endpoints of catalogapi's contract (GET /indexes/<key>/index.json and .minisig, PUT
// /api/v1/indexes/<key>, checking the request's signature and the index's), which lies
// on demand: it serves whatever document or artifact a test gives it, as a directory
// in an attacker's hands would. The real directory runs these commands in cmd/odi's
// TestIndexTrustWithDirectory.
type indexDirectory struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	arts     map[string]*catalogapi.Artifact // by id
	torrents map[string][]byte               // by artifact id
	bytes    map[string][]byte               // by artifact id + "/" + manifest path
	indexers map[string]minisign.PublicKey   // by key id
	docs     map[string][2][]byte            // by key id: document, signature
	reports  []relayapi.Reports              // POST /api/v1/reports
}

func newIndexDirectory(t *testing.T) *indexDirectory {
	d := &indexDirectory{t: t, arts: map[string]*catalogapi.Artifact{}, torrents: map[string][]byte{},
		bytes: map[string][]byte{}, indexers: map[string]minisign.PublicKey{}, docs: map[string][2][]byte{}}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *indexDirectory) problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"status": status, "detail": detail})
}

func (d *indexDirectory) serve(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && p == "/api/v1/artifacts":
		list := []catalogapi.Artifact{}
		for _, a := range d.arts {
			if c := r.URL.Query().Get("catalog"); c == "" || c == a.Catalog {
				l := *a
				l.Files = nil
				list = append(list, l)
			}
		}
		slices.SortFunc(list, func(a, b catalogapi.Artifact) int { return strings.Compare(a.ID, b.ID) })
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"artifacts": list})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/api/v1/artifacts/"):
		a := d.arts[strings.TrimPrefix(p, "/api/v1/artifacts/")]
		if a == nil {
			d.problem(w, http.StatusNotFound, "no such artifact")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(a)
	case strings.HasPrefix(p, "/t/"):
		id := strings.TrimSuffix(strings.TrimPrefix(p, "/t/"), ".torrent")
		switch a := d.arts[id]; {
		case a == nil:
			d.problem(w, http.StatusNotFound, "no such artifact")
		case a.State != catalogapi.Published:
			d.problem(w, http.StatusGone, "expunged")
		default:
			w.Write(d.torrents[id])
		}
	case strings.HasPrefix(p, "/r/"):
		parts := strings.SplitN(strings.TrimPrefix(p, "/r/"), "/", 4)
		if len(parts) == 3 {
			parts = append(parts, "")
		}
		b, ok := d.bytes[strings.Join(parts, "/")]
		if !ok {
			d.problem(w, http.StatusNotFound, "no such file")
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/indexes/"):
		key, file, _ := strings.Cut(strings.TrimPrefix(p, "/indexes/"), "/")
		doc, ok := d.docs[key]
		switch {
		case !ok:
			d.problem(w, http.StatusNotFound, "no index of key "+key)
		case file == "index.json":
			w.Header().Set("Content-Type", "application/json")
			w.Write(doc[0])
		case file == "index.json.minisig":
			w.Header().Set("Content-Type", "text/plain")
			w.Write(doc[1])
		default:
			d.problem(w, http.StatusNotFound, "no such file")
		}
	case r.Method == http.MethodPut && strings.HasPrefix(p, "/api/v1/indexes/"):
		d.receiveIndex(w, r, strings.TrimPrefix(p, "/api/v1/indexes/"))
	case r.Method == http.MethodPost && p == "/api/v1/reports":
		var rep relayapi.Reports
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			d.problem(w, http.StatusBadRequest, err.Error())
			return
		}
		d.reports = append(d.reports, rep)
		w.WriteHeader(http.StatusAccepted)
	default:
		d.problem(w, http.StatusNotFound, "no route")
	}
}

// receiveIndex is PUT /api/v1/indexes/<key> as the contract says, less the catalog
// checks of each entry.
func (d *indexDirectory) receiveIndex(w http.ResponseWriter, r *http.Request, keyID string) {
	pub, ok := d.indexers[keyID]
	if !ok {
		d.problem(w, http.StatusUnauthorized, "unknown indexer key")
		return
	}
	body, _ := io.ReadAll(r.Body)
	u, _ := url.Parse(d.srv.URL)
	origin, _ := sign.Origin(u)
	c, err := sign.ParseRequest(r.Header)
	if err == nil {
		err = c.Verify(pub, origin, r.Method, r.RequestURI)
	}
	if err == nil {
		err = c.CheckContent(sha256.Sum256(body))
	}
	if err != nil {
		d.problem(w, http.StatusUnauthorized, err.Error())
		return
	}
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(catalogapi.IndexSignatureHeader))
	if err != nil {
		d.problem(w, http.StatusBadRequest, "signature header: "+err.Error())
		return
	}
	idx, err := index.Verify(pub, body, sig, time.Now())
	if err != nil {
		d.problem(w, http.StatusBadRequest, err.Error())
		return
	}
	if old, ok := d.docs[keyID]; ok {
		prev, _ := index.Parse(old[0])
		if idx.Version < prev.Version || idx.Version == prev.Version && !bytes.Equal(body, old[0]) {
			d.problem(w, http.StatusConflict, "version not above the directory's")
			return
		}
	}
	d.docs[keyID] = [2][]byte{body, sig}
	sum := sha256.Sum256(body)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(catalogapi.IndexInfo{Key: keyID, Version: idx.Version, Issued: idx.Issued,
		Expires: idx.Expires, Entries: len(idx.Entries), SHA256: hex.EncodeToString(sum[:]), URL: indexPath(keyID)})
}

// publish adds an artifact of the given files (manifest paths; one file at "" is a
// single-file artifact named root), with its real torrent.
func (d *indexDirectory) publish(catalog, name, version, root string, files map[string][]byte) *catalogapi.Artifact {
	d.t.Helper()
	src := filepath.Join(d.t.TempDir(), root)
	for p, b := range files {
		path := filepath.Join(src, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			d.t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			d.t.Fatal(err)
		}
	}
	info := metainfo.Info{PieceLength: 16 << 10}
	if err := info.BuildFromFilePath(src); err != nil {
		d.t.Fatal(err)
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		d.t.Fatal(err)
	}
	mi := metainfo.MetaInfo{InfoBytes: ib}
	tb, err := bencode.Marshal(mi)
	if err != nil {
		d.t.Fatal(err)
	}
	id := catalog + "/" + name + "/" + version
	a := &catalogapi.Artifact{ID: id, Catalog: catalog, Name: name, Version: version, Root: root,
		State: catalogapi.Published, InfoHash: mi.HashInfoBytes().HexString(), PieceLength: info.PieceLength,
		FileCount: len(files), PublishedAt: time.Now().UTC()}
	paths := slices.Sorted(func(yield func(string) bool) {
		for p := range files {
			if !yield(p) {
				return
			}
		}
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range paths {
		sum := sha256.Sum256(files[p])
		a.Files = append(a.Files, manifest.File{Path: p, Size: int64(len(files[p])), SHA256: hex.EncodeToString(sum[:])})
		a.Size += int64(len(files[p]))
		d.bytes[id+"/"+p] = files[p]
	}
	d.arts[id], d.torrents[id] = a, tb
	c := *a
	return &c
}

// publishFile publishes a single file of n random bytes named <name>-<version>.bin.
func (d *indexDirectory) publishFile(catalog, name, version string, n int) *catalogapi.Artifact {
	d.t.Helper()
	return d.publish(catalog, name, version, name+"-"+version+".bin", map[string][]byte{"": randomBytes(d.t, n)})
}

// change edits what the directory says of an artifact (a lying directory).
func (d *indexDirectory) change(id string, edit func(a *catalogapi.Artifact)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	edit(d.arts[id])
}

// addIndexer registers an indexer key, as odi admin indexers add would.
func (d *indexDirectory) addIndexer(pub minisign.PublicKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.indexers[sign.KeyID(pub.ID())] = pub
}

// serveIndex makes the directory serve doc and sig as pub's index, whatever it holds.
func (d *indexDirectory) serveIndex(pub minisign.PublicKey, doc, sig []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.docs[sign.KeyID(pub.ID())] = [2][]byte{doc, sig}
}

// served is the document and signature the directory serves as pub's index.
func (d *indexDirectory) served(pub minisign.PublicKey) (doc, sig []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ds := d.docs[sign.KeyID(pub.ID())]
	return ds[0], ds[1]
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// newIndexerKey makes an indexer key pair and an API client for d signing with it.
func newIndexerKey(t *testing.T, d *indexDirectory) (minisign.PrivateKey, minisign.PublicKey, *apiclient.Client) {
	t.Helper()
	pub, key, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	api, err := apiclient.New(d.srv.URL, sign.NewSigner(key, nil))
	if err != nil {
		t.Fatal(err)
	}
	return key, pub, api
}

func anonymous(t *testing.T, d *indexDirectory) *apiclient.Client {
	t.Helper()
	api, err := apiclient.New(d.srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return api
}
