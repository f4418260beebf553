package seeder

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/warmfill"
)

// What the relay downloaded never goes down: a holding removed (evicted, expunged, or
// dropped after a failed write: every way goes through remove) keeps its part, so that
// odi_relay_fetched_bytes_total is a counter.
func TestDownloadedSurvivesRemoval(t *testing.T) {
	r := newTestRelay(t, slog.New(slog.DiscardHandler))
	r.warmHTTP = warmfill.NewHTTPClient(warmWorkers) // New's, without origin tokens
	data := make([]byte, 256<<10)
	rand.Read(data)
	seed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.ServeContent(w, req, "f.bin", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(seed.Close)
	rec := testRecord(t, data, 16<<10)
	var mi metainfo.MetaInfo
	if err := bencode.Unmarshal(rec.torrent, &mi); err != nil {
		t.Fatal(err)
	}
	mi.UrlList = []string{seed.URL + "/"}
	var err error
	if rec.torrent, err = bencode.Marshal(mi); err != nil {
		t.Fatal(err)
	}
	if err := r.start(rec, false); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	h := r.held[metainfo.NewHashFromHex(rec.item.InfoHash)]
	r.mu.Unlock()
	select {
	case <-h.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the holding did not complete from its web seed")
	}
	if !h.servable.Load() {
		t.Fatal("the holding stopped before it was servable")
	}
	peers, webSeeds := r.Downloaded()
	if peers != 0 || webSeeds < int64(len(data)) {
		t.Fatalf("downloaded %d bytes from peers and %d from web seeds, want 0 and at least %d", peers, webSeeds, len(data))
	}

	r.remove(context.Background(), rec.item.InfoHash, "test")
	if n, _, _ := r.Usage(); n != 0 {
		t.Fatalf("%d holdings after the removal, want 0", n)
	}
	if p, w := r.Downloaded(); p < peers || w < webSeeds {
		t.Errorf("after the removal: %d bytes from peers and %d from web seeds, want at least %d and %d as before", p, w, peers, webSeeds)
	}
}
