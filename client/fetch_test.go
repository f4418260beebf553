package client

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/manifest"
)

// TestFetchRefusesInsaneTorrents: a directory that serves a torrent whose pieces do not
// cover its files (its own infohash, so the catalog agrees) gets a precise error, not a
// panic, and nothing is fetched.
func TestFetchRefusesInsaneTorrents(t *testing.T) {
	content := []byte("hello, odi")
	sum := sha256.Sum256(content)
	for _, tt := range []struct {
		name        string
		pieceLength int64
		pieces      []byte
	}{
		{"piece length 0", 0, make([]byte, 20)},
		{"hashes not a multiple of 20", 16, make([]byte, 19)},
		{"too few hashes", 4, make([]byte, 20)},
		{"too many hashes", 16, make([]byte, 40)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info := metainfo.Info{Name: "f.bin", Length: int64(len(content)), PieceLength: tt.pieceLength, Pieces: tt.pieces}
			ib, err := bencode.Marshal(info)
			if err != nil {
				t.Fatal(err)
			}
			mi := metainfo.MetaInfo{InfoBytes: ib}
			tb, err := bencode.Marshal(mi)
			if err != nil {
				t.Fatal(err)
			}
			a := catalogapi.Artifact{ID: "c/n/1", Catalog: "c", Name: "n", Version: "1", Root: "f.bin", State: catalogapi.Published,
				InfoHash: mi.HashInfoBytes().HexString(), Size: int64(len(content)), PieceLength: tt.pieceLength,
				Files: []manifest.File{{Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:])}}, PublishedAt: time.Now()}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/api/v1/artifacts/c/n/1":
					w.Header().Set("Content-Type", "application/json")
					json.NewEncoder(w).Encode(a)
				case "/t/c/n/1.torrent":
					w.Write(tb)
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			api, err := apiclient.New(srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Fetch(t.Context(), api, Ref{Catalog: "c", Name: "n", Version: "1"},
				FetchOptions{Out: t.TempDir(), BTListen: "127.0.0.1:0", StallTimeout: time.Second})
			if err == nil || !strings.Contains(err.Error(), "do not cover") {
				t.Fatalf("Fetch = %v, want the torrent's pieces refused", err)
			}
		})
	}
}
