package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/pieces"
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

func TestStreamSums(t *testing.T) {
	dir := t.TempDir()
	sizes := []int64{0, 10, 0, 5, 13, 0} // empty files first, between and last
	files := make([]manifest.File, len(sizes))
	want := make([]string, len(sizes))
	path := func(i int) string { return filepath.Join(dir, fmt.Sprint(i)) }
	for i, n := range sizes {
		data := bytes.Repeat([]byte{byte('a' + i)}, int(n))
		if n > 0 { // the file storage creates a file with its first write
			if err := os.WriteFile(path(i), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		sum := sha256.Sum256(data)
		files[i], want[i] = manifest.File{Size: n}, hex.EncodeToString(sum[:])
	}
	layout := pieces.NewLayout(7, sizes)
	s := newStreamSums(path, layout, files)
	defer s.close()
	for p := range layout.NumPieces() {
		if err := s.piece(p); err != nil {
			t.Fatalf("piece %d: %v", p, err)
		}
	}
	got, err := s.finish()
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("sums %q, %v; want %q", got, err, want)
	}

	// A file shorter than the torrent says is no sum.
	if err := os.Truncate(path(4), 12); err != nil {
		t.Fatal(err)
	}
	s = newStreamSums(path, layout, files)
	defer s.close()
	var failed error
	for p := 0; p < layout.NumPieces() && failed == nil; p++ {
		failed = s.piece(p)
	}
	if failed == nil {
		_, failed = s.finish()
	}
	if failed == nil {
		t.Error("a file one byte short gave sums")
	}
}
