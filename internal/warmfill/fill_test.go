package warmfill

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// newTestTorrent returns a torrent of data (one file, f.bin) in a client of its own with
// no sockets, whose files go to the returned folder: only Fill fills it.
func newTestTorrent(t *testing.T, data []byte, pieceLen int64) (*torrent.Torrent, string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	info := metainfo.Info{PieceLength: pieceLen}
	if err := info.BuildFromFilePath(src); err != nil {
		t.Fatal(err)
	}
	var mi metainfo.MetaInfo
	var err error
	if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pc, err := storage.NewBoltPieceCompletion(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	cfg := torrent.NewDefaultClientConfig()
	cfg.DataDir = dir
	st := NewStorage(storage.NewFileClientOpts{ClientBaseDir: dir, PieceCompletion: pc})
	t.Cleanup(func() { st.Close() })
	cfg.DefaultStorage = st
	cfg.DisableTCP, cfg.DisableUTP, cfg.NoDHT, cfg.NoDefaultPortForwarding = true, true, true, true
	cl, err := torrent.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() }) // before the storage closes
	tor, err := cl.AddTorrent(&mi)
	if err != nil {
		t.Fatal(err)
	}
	return tor, dir
}

// webSeedServer serves data at every path, as a web seed serves a single file, with
// each response's bytes passed through alter; it counts the requests.
func webSeedServer(t *testing.T, data []byte, alter func([]byte) []byte) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	body := alter(bytes.Clone(data))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.ServeContent(w, r, "f.bin", time.Time{}, bytes.NewReader(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/ws/", &n
}

// flipAll flips one byte in every 4 KiB: every piece is bad.
func flipAll(b []byte) []byte {
	for i := 0; i < len(b); i += 4 << 10 {
		b[i] ^= 0xff
	}
	return b
}

func honest(b []byte) []byte { return b }

type reported struct {
	piece int
	seed  string
}

// recorder collects what Options.BadPiece is told.
type recorder struct {
	mu  sync.Mutex
	got []reported
}

func (r *recorder) add(piece int, seed string) {
	r.mu.Lock()
	r.got = append(r.got, reported{piece, seed})
	r.mu.Unlock()
}

func (r *recorder) list() []reported {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// A lying web seed's pieces are reported, and the honest one's bytes fill the torrent.
func TestFillReportsBadPieces(t *testing.T) {
	const pieceLen, pieces = 1 << 16, 6
	data := make([]byte, pieceLen*pieces)
	rand.Read(data)
	for _, tc := range []struct {
		name   string
		alters []func([]byte) []byte // one web seed each, in url-list order
		liars  []int                 // the lying ones' indexes
	}{
		{"honest only", []func([]byte) []byte{honest}, nil},
		{"liar first", []func([]byte) []byte{flipAll, honest}, []int{0}},
		{"liar last", []func([]byte) []byte{honest, honest, flipAll}, []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tor, dir := newTestTorrent(t, data, pieceLen)
			var seeds []string
			for _, a := range tc.alters {
				u, _ := webSeedServer(t, data, a)
				seeds = append(seeds, u)
			}
			var rec recorder
			var rejected atomic.Int64
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			tor.DownloadAll()
			Fill(ctx, tor, Options{
				Seeds: seeds, HTTP: NewHTTPClient(2), Slots: make(chan struct{}, 2),
				Rejected: &rejected, BadPiece: rec.add, Log: slog.New(slog.DiscardHandler), Name: tc.name,
			})
			if !tor.Complete().Bool() {
				t.Fatalf("not complete after Fill: %d bytes missing", tor.BytesMissing())
			}
			got, err := os.ReadFile(filepath.Join(dir, "f.bin"))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("the file differs from the torrent's bytes (%v)", err)
			}
			seen := map[reported]bool{}
			for _, r := range rec.list() {
				if seen[r] {
					t.Errorf("piece %d of %s reported twice", r.piece, r.seed)
				}
				seen[r] = true
				if r.piece < 0 || r.piece >= pieces || !slices.ContainsFunc(tc.liars, func(i int) bool { return seeds[i] == r.seed }) {
					t.Errorf("reported piece %d of %s, which is not a liar's", r.piece, r.seed)
				}
			}
			if len(tc.liars) > 0 && len(seen) == 0 {
				t.Error("the lying web seed was asked and sent bad bytes, and nothing was reported")
			}
			if int64(len(seen)) != rejected.Load() {
				t.Errorf("%d reports for %d rejected pieces", len(seen), rejected.Load())
			}
		})
	}
}

// Pass after pass a liar sends the same bad pieces: each is reported once.
func TestFillReportsEachBadPieceOnce(t *testing.T) {
	const pieceLen, pieces = 1 << 16, 3
	data := make([]byte, pieceLen*pieces)
	rand.Read(data)
	tor, _ := newTestTorrent(t, data, pieceLen)
	liar, asked := webSeedServer(t, data, flipAll)
	var rec recorder
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tor.DownloadAll()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// One worker: a pass asks the liar for one piece, then stops asking it.
		Fill(ctx, tor, Options{
			Seeds: []string{liar}, HTTP: NewHTTPClient(1), Slots: make(chan struct{}, 1),
			BadPiece: rec.add, Log: slog.New(slog.DiscardHandler), Again: time.Millisecond,
		})
	}()
	// Every piece bad, then as many passes again: each asks the liar for a piece it
	// already sent wrong.
	for ctx.Err() == nil && (len(rec.list()) < pieces || asked.Load() < 4*pieces) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	got := rec.list()
	slices.SortFunc(got, func(a, b reported) int { return a.piece - b.piece })
	want := []reported{{0, liar}, {1, liar}, {2, liar}}
	if !slices.Equal(got, want) {
		t.Errorf("after %d requests to the liar, reported %v, want %v", asked.Load(), got, want)
	}
}

// trickleServer answers every request with a 206 and the right headers, then a byte now
// and then: never idle for IdleTimeout, never done.
func trickleServer(t *testing.T, size int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var first, last int
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &first, &last); err != nil {
			http.Error(w, "want a range", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, size))
		w.Header().Set("Content-Length", strconv.Itoa(last-first+1))
		w.WriteHeader(http.StatusPartialContent)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
				w.Write([]byte{0})
				w.(http.Flusher).Flush()
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/ws/"
}

// A web seed that trickles is dropped for the pass once its pieces take far longer than
// the others': the pieces it held go to the next web seed, and the pass ends.
func TestFillLeavesATrickle(t *testing.T) {
	const pieceLen, pieces = 1 << 16, 24
	data := make([]byte, pieceLen*pieces)
	rand.Read(data)
	tor, _ := newTestTorrent(t, data, pieceLen)
	good, _ := webSeedServer(t, data, honest)
	trickle := trickleServer(t, len(data))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tor.DownloadAll()
	began := time.Now()
	Fill(ctx, tor, Options{
		Seeds: []string{trickle, good}, HTTP: NewHTTPClient(2), Slots: make(chan struct{}, 2),
		Log: slog.New(slog.DiscardHandler), InOrder: true,
	})
	if !tor.Complete().Bool() {
		t.Fatalf("not complete after Fill (%s): %d bytes missing", time.Since(began), tor.BytesMissing())
	}
	if took := time.Since(began); took >= IdleTimeout {
		t.Errorf("Fill took %s beside a trickling web seed", took)
	}
}

// Missed hears of every piece no web seed gave, and of nothing else; InOrder asks for the
// pieces from the first.
func TestFillMissedAndInOrder(t *testing.T) {
	const pieceLen, pieces = 1 << 16, 8
	data := make([]byte, pieceLen*pieces)
	rand.Read(data)

	tor, _ := newTestTorrent(t, data, pieceLen)
	liar, _ := webSeedServer(t, data, flipAll)
	var mu sync.Mutex
	missed := map[int]bool{}
	tor.DownloadAll()
	Fill(context.Background(), tor, Options{
		Seeds: []string{liar}, HTTP: NewHTTPClient(1), Slots: make(chan struct{}, 1),
		Log: slog.New(slog.DiscardHandler), Missed: func(i int) { mu.Lock(); missed[i] = true; mu.Unlock() },
	})
	mu.Lock()
	if len(missed) != pieces {
		t.Errorf("a liar's every piece: Missed heard of %d of %d pieces", len(missed), pieces)
	}
	mu.Unlock()

	tor, _ = newTestTorrent(t, data, pieceLen)
	var offsets []int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var first int64
		fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &first)
		mu.Lock()
		offsets = append(offsets, first)
		mu.Unlock()
		http.ServeContent(w, r, "f.bin", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	clear(missed)
	tor.DownloadAll()
	Fill(context.Background(), tor, Options{
		Seeds: []string{srv.URL + "/ws/"}, HTTP: NewHTTPClient(1), Slots: make(chan struct{}, 1),
		Log: slog.New(slog.DiscardHandler), InOrder: true, Missed: func(i int) { mu.Lock(); missed[i] = true; mu.Unlock() },
	})
	mu.Lock()
	defer mu.Unlock()
	if !tor.Complete().Bool() || len(missed) != 0 {
		t.Fatalf("an honest web seed: complete %v, missed %v", tor.Complete().Bool(), missed)
	}
	if !slices.IsSorted(offsets) || len(offsets) != pieces {
		t.Errorf("in order: asked for the offsets %v", offsets)
	}
}

// MarkWritten completes the torrent from the pieces checked in memory; a liar's bytes
// are still never written.
func TestFillMarkWritten(t *testing.T) {
	const pieceLen, pieces = 1 << 16, 6
	data := make([]byte, pieceLen*pieces)
	rand.Read(data)
	for _, tc := range []struct {
		name  string
		alter func([]byte) []byte
		want  int64 // pieces completed
	}{
		{"honest", honest, pieces},
		{"liar", flipAll, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tor, dir := newTestTorrent(t, data, pieceLen)
			u, _ := webSeedServer(t, data, tc.alter)
			var completed, used atomic.Int64
			Fill(context.Background(), tor, Options{
				Seeds: []string{u}, HTTP: NewHTTPClient(2), Slots: make(chan struct{}, 2),
				Log: slog.New(slog.DiscardHandler), MarkWritten: true, Pieces: &completed, Used: &used,
			})
			if completed.Load() != tc.want || used.Load() != tc.want*pieceLen {
				t.Errorf("%d pieces and %d bytes completed, want %d pieces", completed.Load(), used.Load(), tc.want)
			}
			if tc.want < pieces {
				if n := tor.BytesMissing(); n != int64(len(data)) {
					t.Errorf("%d bytes missing after a liar, want all %d", n, len(data))
				}
				return
			}
			if !tor.Complete().Bool() {
				t.Fatalf("not complete: %d bytes missing", tor.BytesMissing())
			}
			got, err := os.ReadFile(filepath.Join(dir, "f.bin"))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("the file differs from the torrent's bytes (%v)", err)
			}
		})
	}
}
