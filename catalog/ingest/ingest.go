// Package ingest reads an artifact's bytes once as they arrive and, on both cores at the
// same time, writes them to files, computes each file's sha256, and computes the BEP 3
// (v1) SHA-1 piece hashes over the files laid end to end. It is the directory's publish
// hot path: a publish costs one pass over the bytes, not three.
package ingest

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sync/errgroup"

	"github.com/opendist/odi/internal/fsutil"
)

// Piece length bounds and target, from the BEP 3 practice of ~1-2k pieces: fewer pieces
// make a smaller .torrent, longer ones cost a client more per failed piece.
const (
	MinPieceLength = 256 << 10
	MaxPieceLength = 16 << 20
	targetPieces   = 1024
)

// PieceLength picks the piece length for an artifact of total bytes: the largest power of
// two that still gives at least 1024 pieces, within [256 KiB, 16 MiB].
func PieceLength(total int64) int64 {
	l := int64(MinPieceLength)
	for l < MaxPieceLength && total/(2*l) >= targetPieces {
		l *= 2
	}
	return l
}

// ErrTruncated is returned when the stream ends before every declared byte arrived.
var ErrTruncated = errors.New("stream ended before the declared size")

// ErrTooLong is returned when the stream holds more bytes than declared.
var ErrTooLong = errors.New("stream longer than the declared size")

// File is one file as the stream carries it: Path is slash-separated below the root
// folder given to Write.
type File struct {
	Path string
	Size int64
}

// Result is what Write computed.
type Result struct {
	SHA256 [][sha256.Size]byte // per file, in order
	Pieces []byte              // concatenated 20-byte SHA-1 piece hashes
}

const (
	chunkSize = 1 << 20
	chunks    = 16 // in flight: bounds the memory of one ingest to 16 MiB
)

type chunk struct {
	buf     []byte
	file    int
	first   bool // first chunk of its file
	last    bool // last chunk of its file
	pending atomic.Int32
}

// Write reads exactly the files' total size from r and writes the files below dir (which
// must exist and be empty), each fsynced, with their folders. The caller makes dir itself
// durable (by renaming it into place and syncing the parent).
func Write(ctx context.Context, r io.Reader, dir string, files []File, pieceLength int64) (Result, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Result{}, fmt.Errorf("ingest: %w", err)
	}
	defer root.Close()

	var total int64
	for _, f := range files {
		total += f.Size
	}
	res := Result{
		SHA256: make([][sha256.Size]byte, len(files)),
		Pieces: make([]byte, 0, (total+pieceLength-1)/pieceLength*sha1.Size),
	}

	g, ctx := errgroup.WithContext(ctx)
	free := make(chan *chunk, chunks)
	for range chunks {
		free <- &chunk{buf: alignedBuffer(chunkSize)}
	}
	stages := []chan *chunk{make(chan *chunk, chunks), make(chan *chunk, chunks), make(chan *chunk, chunks)}
	done := func(c *chunk) {
		if c.pending.Add(-1) == 0 {
			free <- c
		}
	}

	g.Go(func() error { // per-file sha256
		var h hash.Hash
		for c := range stages[0] {
			if c.first {
				h = sha256.New()
			}
			h.Write(c.buf)
			if c.last {
				h.Sum(res.SHA256[c.file][:0])
			}
			done(c)
		}
		return nil
	})
	g.Go(func() error { // v1 pieces across file boundaries
		h := sha1.New()
		var inPiece int64
		for c := range stages[1] {
			b := c.buf
			for len(b) > 0 {
				n := min(int64(len(b)), pieceLength-inPiece)
				h.Write(b[:n])
				b, inPiece = b[n:], inPiece+n
				if inPiece == pieceLength {
					res.Pieces = h.Sum(res.Pieces)
					h.Reset()
					inPiece = 0
				}
			}
			done(c)
		}
		if inPiece > 0 {
			res.Pieces = h.Sum(res.Pieces)
		}
		return nil
	})
	g.Go(func() error { // files on disk
		var w *fileWriter
		defer func() {
			if w != nil {
				w.f.Close()
			}
			for c := range stages[2] { // drain after an error so the reader is not stuck
				done(c)
			}
		}()
		for c := range stages[2] {
			var err error
			if c.first {
				if w, err = createFile(root, files[c.file].Path); err != nil {
					done(c)
					return err
				}
			}
			err = w.write(c.buf)
			if err == nil && c.last {
				err = w.finish()
				w = nil
			}
			done(c)
			if err != nil {
				return fmt.Errorf("ingest: write %s: %w", files[c.file].Path, err)
			}
		}
		return syncFolders(dir, files)
	})
	g.Go(func() error { // the reader feeds all three
		defer func() {
			for _, s := range stages {
				close(s)
			}
		}()
		send := func(c *chunk) error {
			c.pending.Store(int32(len(stages)))
			for _, s := range stages {
				select {
				case s <- c:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}
		var read int64
		for i, f := range files {
			left := f.Size
			for first := true; first || left > 0; first = false {
				var c *chunk
				select {
				case c = <-free:
				case <-ctx.Done():
					return ctx.Err()
				}
				n := min(left, chunkSize)
				c.buf = c.buf[:n]
				got, err := io.ReadFull(r, c.buf)
				read += int64(got)
				if err != nil && !(n == 0 && err == io.EOF) {
					if err == io.EOF || err == io.ErrUnexpectedEOF {
						return fmt.Errorf("ingest: %w: got %d of %d bytes", ErrTruncated, read, total)
					}
					return fmt.Errorf("ingest: read: %w", err)
				}
				left -= n
				c.file, c.first, c.last = i, first, left == 0
				if err := send(c); err != nil {
					return err
				}
			}
		}
		var one [1]byte
		if n, _ := io.ReadFull(r, one[:]); n > 0 {
			return fmt.Errorf("ingest: %w (%d bytes)", ErrTooLong, total)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	return res, nil
}

func createFile(root *os.Root, name string) (*fileWriter, error) {
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("ingest: create %s: %w", name, err)
		}
	}
	f, direct, err := openDirect(root, name)
	if err != nil {
		return nil, fmt.Errorf("ingest: create %s: %w", name, err)
	}
	return &fileWriter{f: f, direct: direct}, nil
}

// fileWriter writes one file. Where the system allows, whole blocks go straight to the
// disk (O_DIRECT): the bytes are hashed from our buffers anyway, and copying a large
// artifact through the page cache cost more CPU than hashing it (measured: ~1.2 s of
// kernel time per GiB on this project's 2-core machines).
type fileWriter struct {
	f      *os.File
	direct bool
}

func (w *fileWriter) write(b []byte) error {
	if w.direct {
		n := len(b) &^ (directAlign - 1)
		if n > 0 {
			if _, err := w.f.Write(b[:n]); err == nil {
				b = b[n:]
			} else if !isDirectRefused(err) {
				return err
			}
		}
		if len(b) == 0 {
			return nil
		}
		// A partial block (the file's tail), or a file system that refused direct I/O
		// after all: the rest goes through the page cache.
		if err := endDirect(w.f); err != nil {
			return err
		}
		w.direct = false
	}
	_, err := w.f.Write(b)
	return err
}

func (w *fileWriter) finish() error {
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return err
	}
	return w.f.Close()
}

// alignedBuffer returns n bytes starting on a directAlign boundary, as O_DIRECT needs.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+directAlign)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (directAlign - 1))
	if off != 0 {
		off = directAlign - off
	}
	return b[off : off+n : off+n]
}

// syncFolders makes every folder's entries durable, deepest first.
func syncFolders(dir string, files []File) error {
	seen := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.Path); !seen[d]; d = path.Dir(d) {
			seen[d] = true
			if err := fsutil.SyncDir(dir + "/" + d); err != nil {
				return fmt.Errorf("ingest: %w", err)
			}
			if d == "." {
				break
			}
		}
	}
	return nil
}
