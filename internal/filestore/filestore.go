package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/opendist/odi/internal/pieces"
)

// Options are where a Store keeps torrents, and its piece records.
type Options struct {
	// BaseDir is the folder torrents go under, TorrentDir (nil: BaseDir itself) the
	// folder of one torrent under it. A torrent's files are at
	// <TorrentDir>/<name>[/<path>], as anacrolix's file storage has them.
	BaseDir    string
	TorrentDir func(base string, info *metainfo.Info, ih metainfo.Hash) string
	// PieceCompletion records which pieces are complete; the Store closes it.
	PieceCompletion storage.PieceCompletion
}

// Store is the storage.ClientImpl of Options.
type Store struct{ opts Options }

var _ storage.ClientImplCloser = (*Store)(nil)

// New returns the Store of opts.
func New(opts Options) *Store { return &Store{opts: opts} }

// Close closes the piece records.
func (s *Store) Close() error { return s.opts.PieceCompletion.Close() }

// OpenTorrent lays out the torrent of info: its empty files are created at once, the
// others with their first write.
func (s *Store) OpenTorrent(_ context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	dir := s.opts.BaseDir
	if s.opts.TorrentDir != nil {
		dir = s.opts.TorrentDir(s.opts.BaseDir, info, ih)
	}
	files := info.UpvertedFiles()
	t := &torrentFiles{ih: ih, pc: s.opts.PieceCompletion, paths: make([]string, len(files)), open: map[int]*openFile{}}
	sizes := make([]int64, len(files))
	for i, f := range files {
		p, err := filePath(dir, info, &f)
		if err != nil {
			return storage.TorrentImpl{}, err
		}
		t.paths[i], sizes[i] = p, f.Length
	}
	for i, size := range sizes {
		if size > 0 {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(t.paths[i]), 0o755); err != nil {
			return storage.TorrentImpl{}, err
		}
		fh, err := os.OpenFile(t.paths[i], os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return storage.TorrentImpl{}, err
		}
		fh.Close()
	}
	t.layout = pieces.NewLayout(info.PieceLength, sizes)
	return storage.TorrentImpl{Piece: t.piece, Close: t.close}, nil
}

// filePath is where file f of info lies under dir; an error for a path that would leave
// the torrent's own folder, or dir (a hostile torrent's ".." or "/").
func filePath(dir string, info *metainfo.Info, f *metainfo.FileInfo) (string, error) {
	root := dir
	if name := info.BestName(); name != metainfo.NoName {
		root = filepath.Join(dir, name)
	}
	p := filepath.Join(append([]string{root}, f.BestPath()...)...)
	if !inside(dir, root) || (len(info.Files) > 0 && !inside(root, p)) {
		return "", fmt.Errorf("file %q of torrent %q is not inside %s", strings.Join(f.BestPath(), "/"), info.BestName(), root)
	}
	return p, nil
}

// inside reports whether p lies strictly under dir.
func inside(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// maxOpenFiles bounds the files a torrent keeps open between reads and writes; past it,
// an idle one is closed for each opened (a package of thousands of files costs no more).
const maxOpenFiles = 32

// torrentFiles are one torrent's files.
type torrentFiles struct {
	ih     metainfo.Hash
	pc     storage.PieceCompletion
	paths  []string
	layout pieces.Layout

	mu   sync.Mutex
	open map[int]*openFile // by file index
}

// openFile is a file opened read-write, and how many reads and writes use it now.
type openFile struct {
	fh    *os.File
	users int
}

func (t *torrentFiles) piece(p metainfo.Piece) storage.PieceImpl {
	return piece{t: t, index: p.Index()}
}

// acquire returns file i, opened read-write (created with its folders if need be), for
// one read or write; release gives it back.
func (t *torrentFiles) acquire(i int) (*os.File, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if of := t.open[i]; of != nil {
		of.users++
		return of.fh, nil
	}
	if len(t.open) >= maxOpenFiles {
		for j, of := range t.open {
			if of.users == 0 {
				of.fh.Close()
				delete(t.open, j)
				break
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(t.paths[i]), 0o755); err != nil {
		return nil, err
	}
	fh, err := os.OpenFile(t.paths[i], os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	t.open[i] = &openFile{fh: fh, users: 1}
	return fh, nil
}

func (t *torrentFiles) release(i int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if of := t.open[i]; of != nil {
		of.users--
	}
}

// io reads or writes the spans of a piece's bytes b with do, in order.
func (t *torrentFiles) io(spans []pieces.Span, b []byte, do func(fh *os.File, b []byte, off int64) (int, error)) (int, error) {
	n := 0
	for _, sp := range spans {
		fh, err := t.acquire(sp.File)
		if err != nil {
			return n, err
		}
		m, err := do(fh, b[n:n+int(sp.N)], sp.Off)
		t.release(sp.File)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (t *torrentFiles) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for i, of := range t.open {
		errs = append(errs, of.fh.Close())
		delete(t.open, i)
	}
	return errors.Join(errs...)
}

// piece is one piece of a torrent's files.
type piece struct {
	t     *torrentFiles
	index int
}

func (p piece) key() metainfo.PieceKey { return metainfo.PieceKey{InfoHash: p.t.ih, Index: p.index} }

// spans are the file ranges of n bytes from off within the piece.
func (p piece) spans(off int64, n int) []pieces.Span {
	start, length := p.t.layout.Piece(p.index)
	end := min(start+off+int64(n), start+length)
	return p.t.layout.Spans(start+off, end)
}

func (p piece) ReadAt(b []byte, off int64) (int, error) {
	n, err := p.t.io(p.spans(off, len(b)), b, (*os.File).ReadAt)
	if err == nil && n < len(b) {
		err = io.EOF // past the piece's end
	}
	return n, err // io.EOF too for a file not yet written that far
}

func (p piece) WriteAt(b []byte, off int64) (int, error) {
	return p.t.io(p.spans(off, len(b)), b, (*os.File).WriteAt)
}

func (p piece) MarkComplete() error    { return p.t.pc.Set(p.key(), true) }
func (p piece) MarkNotComplete() error { return p.t.pc.Set(p.key(), false) }

// Completion is the piece's record, but incomplete whatever it says when a file the
// piece lies in is shorter than the piece needs (deleted or truncated since).
func (p piece) Completion() storage.Completion {
	c, err := p.t.pc.Get(p.key())
	if err != nil {
		return storage.Completion{Err: err}
	}
	if !c.Ok || !c.Complete {
		return c
	}
	for _, sp := range p.spans(0, int(p.t.layout.PieceLength())) {
		if fi, err := os.Stat(p.t.paths[sp.File]); err != nil || fi.Size() < sp.Off+sp.N {
			return storage.Completion{Ok: true, Complete: false}
		}
	}
	return c
}
