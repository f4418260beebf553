package filestore

import (
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// packageInfo is a three-file torrent whose pieces (of 10 bytes) straddle the files:
// sizes 7, 0 and 18 (the empty one has no byte), 25 bytes in 3 pieces.
func packageInfo(data []byte) *metainfo.Info {
	info := &metainfo.Info{Name: "pkg", PieceLength: 10, Files: []metainfo.FileInfo{
		{Path: []string{"a"}, Length: 7},
		{Path: []string{"empty"}, Length: 0},
		{Path: []string{"sub", "b"}, Length: 18},
	}}
	for off := 0; off < len(data); off += 10 {
		h := sha1.Sum(data[off:min(off+10, len(data))])
		info.Pieces = append(info.Pieces, h[:]...)
	}
	return info
}

func open(t *testing.T, dir string, info *metainfo.Info) (*Store, storage.TorrentImpl) {
	t.Helper()
	s := New(Options{BaseDir: dir, PieceCompletion: storage.NewMapPieceCompletion()})
	ti, err := s.OpenTorrent(context.Background(), info, metainfo.Hash{1})
	if err != nil {
		t.Fatal(err)
	}
	return s, ti
}

// Pieces are written and read across file boundaries into the files anacrolix's file
// storage would use; the empty file exists from the start.
func TestPiecesAcrossFiles(t *testing.T) {
	data := []byte("0123456789abcdefghijABCDE")
	info := packageInfo(data)
	dir := t.TempDir()
	s, ti := open(t, dir, info)
	defer s.Close()
	if fi, err := os.Stat(filepath.Join(dir, "pkg", "empty")); err != nil || fi.Size() != 0 {
		t.Fatalf("the empty file: %v", err)
	}
	// Written out of order, the middle piece in two writes.
	for _, w := range []struct {
		piece int
		off   int64
		b     string
	}{{2, 0, "ABCDE"}, {1, 4, "efghij"}, {0, 0, "0123456789"}, {1, 0, "abcd"}} {
		p := ti.Piece(info.Piece(w.piece))
		if n, err := p.WriteAt([]byte(w.b), w.off); err != nil || n != len(w.b) {
			t.Fatalf("write piece %d at %d: %d, %v", w.piece, w.off, n, err)
		}
	}
	a, _ := os.ReadFile(filepath.Join(dir, "pkg", "a"))
	b, _ := os.ReadFile(filepath.Join(dir, "pkg", "sub", "b"))
	if got := string(a) + string(b); got != string(data) {
		t.Fatalf("files hold %q, want %q", got, data)
	}
	for i := range 3 {
		p := ti.Piece(info.Piece(i))
		want := data[i*10 : min(i*10+10, len(data))]
		got := make([]byte, len(want))
		if n, err := p.ReadAt(got, 0); err != nil || n != len(want) || !bytes.Equal(got, want) {
			t.Errorf("piece %d reads %q (%d, %v), want %q", i, got, n, err, want)
		}
		// A read past the piece's end stops at it.
		long := make([]byte, len(want)+3)
		if n, err := p.ReadAt(long, 0); n != len(want) || err == nil {
			t.Errorf("a read past piece %d's end: %d, %v", i, n, err)
		}
	}
}

// A piece recorded complete whose file was truncated or deleted since is incomplete:
// it is fetched again rather than served.
func TestCompletionChecksFiles(t *testing.T) {
	data := []byte("0123456789abcdefghijABCDE")
	info := packageInfo(data)
	dir := t.TempDir()
	s, ti := open(t, dir, info)
	defer s.Close()
	for i := range 3 {
		p := ti.Piece(info.Piece(i))
		if _, err := p.WriteAt(data[i*10:min(i*10+10, len(data))], 0); err != nil {
			t.Fatal(err)
		}
		if err := p.MarkComplete(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if c := ti.Piece(info.Piece(i)).Completion(); !c.Ok || !c.Complete {
			t.Fatalf("piece %d: %+v after MarkComplete", i, c)
		}
	}
	if err := os.Truncate(filepath.Join(dir, "pkg", "sub", "b"), 13); err != nil {
		t.Fatal(err)
	}
	want := []bool{true, true, false} // b's first 13 bytes hold pieces 0 and 1's share
	for i, complete := range want {
		if c := ti.Piece(info.Piece(i)).Completion(); c.Complete != complete {
			t.Errorf("piece %d complete = %t after b was truncated to 13 bytes, want %t", i, c.Complete, complete)
		}
	}
	if err := os.Remove(filepath.Join(dir, "pkg", "a")); err != nil {
		t.Fatal(err)
	}
	if c := ti.Piece(info.Piece(0)).Completion(); c.Complete {
		t.Error("piece 0 complete after its file was deleted")
	}
	if err := ti.Piece(info.Piece(0)).MarkNotComplete(); err != nil {
		t.Fatal(err)
	}
	if c := ti.Piece(info.Piece(0)).Completion(); c.Complete {
		t.Error("piece 0 complete after MarkNotComplete")
	}
}

// A torrent whose file names would leave its own folder is refused before any file is
// made, and so is one whose name would.
func TestHostileNames(t *testing.T) {
	for _, path := range [][]string{{".."}, {"..", "x"}, {"a", "..", "..", "x"}, {"..", "..", "etc", "passwd"}} {
		dir := t.TempDir()
		info := &metainfo.Info{Name: "pkg", PieceLength: 10, Pieces: make([]byte, 20),
			Files: []metainfo.FileInfo{{Path: []string{"ok"}, Length: 5}, {Path: path, Length: 5}}}
		s := New(Options{BaseDir: dir, PieceCompletion: storage.NewMapPieceCompletion()})
		if _, err := s.OpenTorrent(context.Background(), info, metainfo.Hash{1}); err == nil || !strings.Contains(err.Error(), "not inside") {
			t.Errorf("path %q: OpenTorrent = %v, want refused", path, err)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("path %q: %d entries made", path, len(left))
		}
	}
	for _, name := range []string{"..", "."} {
		info := &metainfo.Info{Name: name, PieceLength: 10, Pieces: make([]byte, 20), Length: 5}
		s := New(Options{BaseDir: t.TempDir(), PieceCompletion: storage.NewMapPieceCompletion()})
		if _, err := s.OpenTorrent(context.Background(), info, metainfo.Hash{1}); err == nil {
			t.Errorf("name %q: OpenTorrent accepted it", name)
		}
	}
}

// A package of more files than stay open reads and writes them all.
func TestManyFiles(t *testing.T) {
	const files = 3 * maxOpenFiles
	info := &metainfo.Info{Name: "many", PieceLength: 7}
	var data []byte
	for i := range files {
		info.Files = append(info.Files, metainfo.FileInfo{Path: []string{fmt.Sprintf("f%03d", i)}, Length: 5})
		data = append(data, []byte(fmt.Sprintf("%05d", i))...)
	}
	for off := 0; off < len(data); off += 7 {
		h := sha1.Sum(data[off:min(off+7, len(data))])
		info.Pieces = append(info.Pieces, h[:]...)
	}
	dir := t.TempDir()
	s, ti := open(t, dir, info)
	defer s.Close()
	for i := range info.NumPieces() {
		if _, err := ti.Piece(info.Piece(i)).WriteAt(data[i*7:min(i*7+7, len(data))], 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := ti.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		if b, _ := os.ReadFile(filepath.Join(dir, "many", fmt.Sprintf("f%03d", i))); string(b) != fmt.Sprintf("%05d", i) {
			t.Fatalf("file %d holds %q", i, b)
		}
	}
}
