package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/catalogapi"
)

// TestWarmStartFillsFromOrigin: the first relay to carry an artifact has only the origin
// web seed; warm start fills pieces with ranged HTTP alongside the BitTorrent client, for a
// single file and for a package whose pieces span files, and the relay serves the right
// bytes.
func TestWarmStartFillsFromOrigin(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]int // under the published path
		path  string
	}{
		{"single file", map[string]int{"disk.img": 5<<20 + 17}, "disk.img"},
		// 256 KiB pieces: most cross from one file into the next.
		{"package", map[string]int{"pkg/a.txt": 300<<10 + 5, "pkg/sub/b.bin": 1<<20 + 77, "pkg/sub/c d.bin": 700 << 10, "pkg/z": 3}, "pkg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := startTestDirectory(t, relayDirectory)
			src := t.TempDir()
			writeFiles(t, src, 31, tc.files)
			art, err := client.Publish(context.Background(), tn.publisher, ident("1"), filepath.Join(src, tc.path), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			r := startTestRelay(t, tn)
			waitServes(t, tn, 60*time.Second, r.id, art.InfoHash)

			pieces, rejected := r.relay.WarmStarted()
			if pieces == 0 {
				t.Errorf("warm start completed no piece")
			}
			if rejected != 0 {
				t.Errorf("warm start rejected %d pieces from an intact origin", rejected)
			}
			if peers, webSeeds := r.relay.Downloaded(); peers != 0 || webSeeds < art.Size {
				t.Errorf("downloaded %d bytes from peers and %d from web seeds, want 0 and at least %d", peers, webSeeds, art.Size)
			}
			for p := range tc.files {
				want, err := os.ReadFile(filepath.Join(src, p))
				if err != nil {
					t.Fatal(err)
				}
				resp, got := get(t, r.url+"/ws/"+art.InfoHash+"/"+p)
				if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
					t.Errorf("the relay serves %s: %s, %d bytes, equal to the original: %v", p, resp.Status, len(got), bytes.Equal(got, want))
				}
			}
		})
	}
}

// TestWarmStartRejectsCorruptOrigin: a byte of the origin's copy changes after publishing.
// Warm start must not write that piece, the BitTorrent client's own attempt fails its hash
// too, and the relay never reports the holding verified nor serves it; every other piece
// arrives.
func TestWarmStartRejectsCorruptOrigin(t *testing.T) {
	tn := startTestDirectory(t, relayDirectory)
	art := publishSmall(t, tn, "1", 3<<20)
	origin := filepath.Join(tn.data, "origin", art.InfoHash, "f-1.bin")
	tamper(t, origin, 1000) // in piece 0, the last warm start claims

	r := startTestRelay(t, tn)
	waitFor(t, 30*time.Second, "warm start rejects the corrupt piece", func() bool { _, rej := r.relay.WarmStarted(); return rej > 0 })
	holding := func() catalogapi.RelayHolding {
		for _, h := range relayView(t, tn, r.id).Holdings {
			if h.InfoHash == art.InfoHash {
				return h
			}
		}
		return catalogapi.RelayHolding{}
	}
	waitFor(t, 30*time.Second, "every other piece arrives", func() bool { return holding().BytesComplete == art.Size-art.PieceLength })
	// The client's own web-seed requests start within its 5 s timer: wait until it has
	// fetched from the origin too (the corrupt piece is all that is left).
	waitFor(t, 30*time.Second, "the BitTorrent client tries the origin itself", func() bool {
		_, webSeeds := r.relay.Downloaded()
		return webSeeds > art.Size
	})

	if h := holding(); h.Verified || h.BytesComplete == art.Size {
		t.Fatalf("with a corrupt origin the relay reports %+v", h)
	}
	if _, servable, _ := r.relay.Usage(); servable != 0 {
		t.Fatalf("the relay serves %d holdings built on a corrupt origin", servable)
	}
	if resp, _ := get(t, r.url+"/ws/"+art.InfoHash+"/f-1.bin"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET the corrupt artifact from the relay: %s, want 404", resp.Status)
	}
	if pieces, _ := r.relay.WarmStarted(); pieces == 0 || pieces >= int64(art.Size/art.PieceLength) {
		t.Errorf("warm start completed %d of %d pieces, want some, never the corrupt one", pieces, art.Size/art.PieceLength)
	}
}

// tamper flips the byte at off of the file at path.
func tamper(t *testing.T, path string, off int64) {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
