// Package followtest serves and signs indexes for the tests of followers (internal/follow,
// seeder, catalog/links): a directory's /indexes/ on 127.0.0.1 as internal/catalogapi
// describes it, indexer keys, and a clock to expire indexes by.
package followtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/problem"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/sign"
)

// T0 is the tests' clock at start: indexes are issued then.
var T0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// Clock is a clock the test moves.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Key is an indexer's key pair.
type Key struct {
	Pub  minisign.PublicKey
	Priv minisign.PrivateKey
}

// NewKey makes a key pair.
func NewKey(t testing.TB) Key {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Key{pub, priv}
}

// ID is the key id that names the key's index URL.
func (k Key) ID() string { return sign.KeyID(k.Pub.ID()) }

// Sign signs version of k's index, issued at T0 plus version hours, after edit.
func Sign(t testing.TB, k Key, version uint64, edit func(*index.Index), entries ...index.Entry) (doc, sig []byte) {
	t.Helper()
	idx := index.Next(nil, T0.Add(time.Duration(version)*time.Hour), 0)
	idx.Version, idx.Directory = version, "http://127.0.0.1/"
	for _, e := range entries {
		idx.Put(e)
	}
	if edit != nil {
		edit(idx)
	}
	doc, sig, err := index.Sign(k.Priv, idx)
	if err != nil {
		t.Fatal(err)
	}
	return doc, sig
}

// Entry lists the published artifact id ("catalog/name/version") with infohash and one
// file of one byte.
func Entry(id, infohash string) index.Entry {
	p := strings.Split(id, "/")
	sum := sha256.Sum256([]byte(id))
	return index.Entry{Catalog: p[0], Name: p[1], Version: p[2], InfoHash: infohash, State: index.StatePublished,
		Files: []index.File{{Path: p[1], Size: 1, SHA256: hex.EncodeToString(sum[:])}}}
}

// Server is a directory's /indexes/ as catalogapi describes it (ETag, If-None-Match,
// 404 problem), serving what a test puts, torrents at /t/<name>, and POST
// /api/v1/reports.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	docs     map[string][2][]byte // by key id: document, signature
	endless  map[string]bool      // by key id: a body that never ends
	torrents map[string][]byte
	got      map[string]int // requests by path
	reports  []relayapi.Reports
	// NotModified counts the 304s answered.
	NotModified atomic.Int64
}

// NewServer serves on 127.0.0.1 until the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{docs: map[string][2][]byte{}, endless: map[string]bool{}, torrents: map[string][]byte{}, got: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Put serves doc and sig as k's index.
func (s *Server) Put(k Key, doc, sig []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[k.ID()] = [2][]byte{doc, sig}
}

// Endless makes k's index.json a body that never ends, or not.
func (s *Server) Endless(k Key, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endless[k.ID()] = on
}

// PutTorrent serves torrent at /t/<name>.
func (s *Server) PutTorrent(name string, torrent []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.torrents[name] = torrent
}

// Requests counts the requests for path.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[path]
}

// Reports are the reports posted so far.
func (s *Server) Reports() []relayapi.Reports {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]relayapi.Reports(nil), s.reports...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
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
		buf := []byte(strings.Repeat(" ", 1<<20))
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
			s.NotModified.Add(1)
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
