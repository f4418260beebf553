package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
)

func TestPieceLength(t *testing.T) {
	tests := []struct {
		total int64
		want  int64
	}{
		{1, 256 << 10},
		{64 << 20, 256 << 10},
		{256 << 20, 256 << 10},
		{512 << 20, 512 << 10},
		{1 << 30, 1 << 20},
		{4 << 30, 4 << 20},
		{100 << 30, 16 << 20},
	}
	for _, tt := range tests {
		if got := PieceLength(tt.total); got != tt.want {
			t.Errorf("PieceLength(%d) = %d, want %d", tt.total, got, tt.want)
		}
		if n := (tt.total + tt.want - 1) / tt.want; tt.total >= 256<<20 && tt.total <= 16<<30 && (n < 1024 || n > 2048) {
			t.Errorf("PieceLength(%d) gives %d pieces, want 1024..2048", tt.total, n)
		}
	}
}

// randomFiles returns files of the given sizes filled with seeded random bytes.
func randomFiles(seed uint64, sizes map[string]int64) ([]File, map[string][]byte) {
	rng := rand.New(rand.NewPCG(seed, seed))
	var files []File
	data := map[string][]byte{}
	for p, n := range sizes {
		files = append(files, File{Path: p, Size: n})
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		data[p] = b
	}
	// The stream order is the sorted path order.
	for i := range files {
		for j := i + 1; j < len(files); j++ {
			if files[j].Path < files[i].Path {
				files[i], files[j] = files[j], files[i]
			}
		}
	}
	return files, data
}

func stream(files []File, data map[string][]byte) io.Reader {
	var rs []io.Reader
	for _, f := range files {
		rs = append(rs, bytes.NewReader(data[f.Path]))
	}
	return io.MultiReader(rs...)
}

func TestWriteMatchesAnacrolix(t *testing.T) {
	const piece = 256 << 10
	tests := map[string]map[string]int64{
		"single file, partial last piece": {"disk.iso": 3*piece + 12345},
		"exact pieces":                    {"disk.iso": 4 * piece},
		"one byte":                        {"x": 1},
		"package across boundaries": {
			"README": 1000, "bin/tool": piece + 7, "doc/empty": 0, "doc/guide/a.txt": 2*piece - 1,
			"z/last": chunkSize + 3,
		},
	}
	for name, sizes := range tests {
		t.Run(name, func(t *testing.T) {
			files, data := randomFiles(uint64(len(name)), sizes)
			dir := t.TempDir()
			res, err := Write(context.Background(), stream(files, data), dir, files, piece)
			if err != nil {
				t.Fatal(err)
			}
			// The reference: anacrolix builds the pieces from the files we wrote.
			info := metainfo.Info{PieceLength: piece}
			for _, f := range files {
				info.Files = append(info.Files, metainfo.FileInfo{Length: f.Size, Path: strings.Split(f.Path, "/")})
			}
			err = info.GeneratePieces(func(fi metainfo.FileInfo) (io.ReadCloser, error) {
				return os.Open(filepath.Join(append([]string{dir}, fi.Path...)...))
			})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(res.Pieces, info.Pieces) {
				t.Errorf("pieces differ from anacrolix's (%d vs %d bytes)", len(res.Pieces), len(info.Pieces))
			}
			for i, f := range files {
				got, err := os.ReadFile(filepath.Join(dir, f.Path))
				if err != nil || !bytes.Equal(got, data[f.Path]) {
					t.Errorf("%s: content differs (%v)", f.Path, err)
				}
				if res.SHA256[i] != sha256.Sum256(data[f.Path]) {
					t.Errorf("%s: sha256 differs", f.Path)
				}
			}
		})
	}
}

func TestWriteBadStreams(t *testing.T) {
	files, data := randomFiles(1, map[string]int64{"a": 5000, "b/c": 3 * chunkSize})
	full, _ := io.ReadAll(stream(files, data))
	tests := []struct {
		name    string
		body    io.Reader
		wantErr error
	}{
		{"truncated in the second file", bytes.NewReader(full[:len(full)-10]), ErrTruncated},
		{"truncated in the first file", bytes.NewReader(full[:100]), ErrTruncated},
		{"empty", bytes.NewReader(nil), ErrTruncated},
		{"longer than declared", io.MultiReader(bytes.NewReader(full), strings.NewReader("x")), ErrTooLong},
		{"read error", io.MultiReader(bytes.NewReader(full[:chunkSize+9]), iotestErr{}), errRead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Write(context.Background(), tt.body, t.TempDir(), files, 256<<10)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Write = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

var errRead = errors.New("connection reset")

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errRead }

func TestWriteRefusesExistingFile(t *testing.T) {
	files, data := randomFiles(2, map[string]int64{"a": 10})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(context.Background(), stream(files, data), dir, files, 256<<10); err == nil {
		t.Fatal("Write overwrote an existing file")
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "a")); string(got) != "old" {
		t.Fatalf("existing file changed to %q", got)
	}
}

func BenchmarkWrite(b *testing.B) {
	const size = 256 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	files := []File{{Path: "bench.iso", Size: size}}
	b.SetBytes(size)
	for b.Loop() {
		dir := b.TempDir()
		if _, err := Write(context.Background(), bytes.NewReader(data), dir, files, PieceLength(size)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}
