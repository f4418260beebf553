package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/opendist/odi/internal/manifest"
)

func TestStorageRecords(t *testing.T) {
	pc, err := storage.NewBoltPieceCompletion(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	key := func(i int) metainfo.PieceKey { return metainfo.PieceKey{Index: i} }
	if err := pc.Set(key(1), true); err != nil {
		t.Fatal(err)
	}
	if err := pc.Set(key(2), false); err != nil {
		t.Fatal(err)
	}
	r := newStorageRecords(pc)
	if storage.PieceCompletionPersistenter(r).Persistent() {
		t.Error("Persistent() = true: the storage would fsync every completed piece")
	}
	seen := func(when string, i int, want bool) {
		t.Helper()
		got, err := r.Get(key(i))
		if err != nil || !got.Ok || got.Complete != want || got.Err != nil {
			t.Errorf("%s: piece %d: Get = %+v, %v; want known, complete %v", when, i, got, err, want)
		}
	}
	recorded := func(when string, i int, want bool) {
		t.Helper()
		c, err := pc.Get(key(i))
		if err != nil || c.Complete != want || (want && !c.Ok) {
			t.Errorf("%s: piece %d: record %+v, %v; want complete %v", when, i, c, err, want)
		}
	}
	seen("at first", 0, false) // no record: missing, never unknown
	seen("at first", 1, true)
	seen("at first", 2, false)

	// Complete at once for the client, recorded only once synced.
	for _, i := range []int{0, 2} {
		if err := r.Set(key(i), true); err != nil {
			t.Fatal(err)
		}
		seen("after Set", i, true)
		recorded("before commit", i, false)
	}
	if err := r.commit(func([]int) error { return errors.New("disk gone") }); err == nil {
		t.Error("commit with a failed sync: no error")
	}
	recorded("after a failed sync", 0, false)
	var synced []int
	err = r.commit(func(pieces []int) error {
		synced = append(synced, pieces...)
		// Completed during the sync: its bytes may not be in it.
		return r.Set(key(3), true)
	})
	slices.Sort(synced)
	if err != nil || !slices.Equal(synced, []int{0, 2}) {
		t.Fatalf("commit: %v after syncing pieces %v, want 0 and 2", err, synced)
	}
	recorded("after commit", 0, true)
	recorded("after commit", 2, true)
	recorded("completed during the sync", 3, false)
	seen("completed during the sync", 3, true)
	if err := r.commit(func([]int) error { return nil }); err != nil {
		t.Fatal(err)
	}
	recorded("after the next commit", 3, true)
	if err := r.commit(func([]int) error { t.Error("sync with nothing to record"); return nil }); err != nil {
		t.Fatal(err)
	}

	// Incomplete at once, and never recorded complete by a commit after.
	if err := r.Set(key(4), true); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{1, 4} {
		if err := r.Set(key(i), false); err != nil {
			t.Fatal(err)
		}
		seen("after Set false", i, false)
		recorded("after Set false", i, false)
	}
	if err := r.commit(func([]int) error { return nil }); err != nil {
		t.Fatal(err)
	}
	recorded("after commit", 4, false)
}

// fileReader reads src and, like the file storage, creates the file at path with its
// first bytes: streamFile must not look for the file before then.
type fileReader struct {
	src  io.Reader
	path string
}

func (r *fileReader) ReadContext(_ context.Context, b []byte) (int, error) {
	n, err := r.src.Read(b)
	if n > 0 {
		fh, ferr := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if ferr != nil {
			return 0, ferr
		}
		_, ferr = fh.Write(b[:n])
		fh.Close()
		if ferr != nil {
			return 0, ferr
		}
	}
	return n, err
}

func TestStreamFileBeforeTheFileExists(t *testing.T) {
	data := bytes.Repeat([]byte("odi"), 200_000)
	f := &fetcher{
		part: t.TempDir(),
		m:    manifest.Manifest{Root: "a.bin", Files: []manifest.File{{Size: int64(len(data))}}},
	}
	want := sha256.Sum256(data)
	for _, eof := range []bool{false, true} {
		os.Remove(f.localPath(0))
		var src io.Reader = bytes.NewReader(data)
		if eof {
			src = &eofWithLast{data: data}
		}
		r := &fileReader{src: src, path: filepath.Join(f.part, "a.bin")}
		sum, ok := f.streamFile(context.Background(), r, 0, int64(len(data)), make([]byte, 64<<10))
		if !ok || sum != hex.EncodeToString(want[:]) {
			t.Errorf("EOF with the last bytes %v: streamFile = %q, %v; want %x, true", eof, sum, ok, want)
		}
	}
}

// eofWithLast returns io.EOF with the last bytes, as io.Reader allows.
type eofWithLast struct{ data []byte }

func (r *eofWithLast) Read(b []byte) (int, error) {
	n := copy(b, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}
