package client

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/opendist/odi/internal/fsutil"
	"github.com/opendist/odi/internal/pieces"
)

// partState is odi-fetch.json, which marks a folder as an odi fetch's partial state and
// says of which artifact.
type partState struct {
	Artifact string `json:"artifact"`
	InfoHash string `json:"infohash"`
}

// PartStateFile is partState's file in <out>/<root>.part.
const PartStateFile = "odi-fetch.json"

// openPart opens (or starts) the partial state in <out>/<root>.part and its piece
// records. State of another artifact with the same root name is discarded; a folder of
// that name that is not odi's is left alone.
func (f *fetcher) openPart() error {
	if err := os.MkdirAll(f.opts.Out, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	dest := filepath.Join(f.opts.Out, f.m.Root)
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("%s already exists; move it away or fetch into another folder (-o)", dest)
	}
	f.part = dest + ".part"
	want := partState{Artifact: f.m.ID(), InfoHash: f.ih.HexString()}
	b, err := os.ReadFile(filepath.Join(f.part, PartStateFile))
	switch {
	case err == nil:
		var st partState
		if json.Unmarshal(b, &st) != nil {
			return fmt.Errorf("%s: %s is not odi's; move the folder away", f.part, PartStateFile)
		}
		if st != want {
			f.rep.Note("discarding %s: it holds a partial download of %s, not %s", f.part, st.Artifact, f.m.ID())
			if err := os.RemoveAll(f.part); err != nil {
				return fmt.Errorf("discard partial download: %w", err)
			}
		}
	case errors.Is(err, os.ErrNotExist):
		if entries, err := os.ReadDir(f.part); err == nil && len(entries) > 0 {
			return fmt.Errorf("%s exists and is not an odi fetch's partial download; move it away", f.part)
		}
	default:
		return fmt.Errorf("partial download: %w", err)
	}
	if err := os.MkdirAll(f.part, 0o755); err != nil {
		return fmt.Errorf("partial download: %w", err)
	}
	sb, _ := json.Marshal(want)
	if err := fsutil.WriteFile(filepath.Join(f.part, PartStateFile), append(sb, '\n'), 0o644); err != nil {
		return err
	}
	// bbolt locks its file: a second odi fetch of the same artifact into the same folder
	// fails here after bbolt's 1 s timeout instead of corrupting the first.
	if f.pc, err = storage.NewBoltPieceCompletion(f.part); err != nil {
		return fmt.Errorf("open piece records in %s (is another odi fetch using it?): %w", f.part, err)
	}
	return f.createFiles()
}

// createFiles makes the folders and the empty files, which no piece covers; the rest
// appear as bytes arrive.
func (f *fetcher) createFiles() error {
	for i, file := range f.m.Files {
		p := f.localPath(i)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("partial download: %w", err)
		}
		if file.Size == 0 {
			fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
			if err != nil {
				return fmt.Errorf("partial download: %w", err)
			}
			fh.Close()
		}
	}
	return nil
}

func (f *fetcher) closeState() {
	f.closePC.Do(func() {
		if f.pc != nil {
			f.pc.Close()
		}
	})
}

// localPath is where file i lives inside the partial state (anacrolix's file storage
// layout: <part>/<root>[/<path>]).
func (f *fetcher) localPath(i int) string {
	return filepath.Join(f.part, filepath.FromSlash(f.m.LocalPath(i)))
}

func (f *fetcher) pieceKey(i int) metainfo.PieceKey {
	return metainfo.PieceKey{InfoHash: f.ih, Index: i}
}

// complete lists which pieces are verified on disk.
func (f *fetcher) complete() []bool {
	have := make([]bool, f.info.NumPieces())
	for i := range have {
		c, err := f.pc.Get(f.pieceKey(i))
		have[i] = err == nil && c.Ok && c.Complete
	}
	return have
}

func (f *fetcher) completeBytes() int64 {
	var n int64
	for i, ok := range f.complete() {
		if ok {
			n += f.info.Piece(i).Length()
		}
	}
	return n
}

func (f *fetcher) missingPieces() int {
	n := 0
	for _, ok := range f.complete() {
		if !ok {
			n++
		}
	}
	return n
}

// verify checks every file against the catalog's sha256 and syncs it to disk. When a
// file differs, its pieces are hashed again: pieces that fail were damaged on disk after
// they were verified, so they are marked missing and their count returned for another
// round; if all pass, the torrent itself disagrees with the catalog, a verification
// failure.
func (f *fetcher) verify() (damaged int, err error) {
	f.rep.Set(-1, "verifying sha256")
	streamed := f.streamed
	f.streamed = nil // a second round hashes afresh
	for i, file := range f.m.Files {
		if file.SHA256 == "" {
			// A torrent fetched without its catalog (FetchTorrent): the torrent's piece
			// hashes are all there is to check the file against, again, since a crash
			// may have damaged pieces after they were checked; its sha256 is then
			// computed for the result.
			n, err := f.recheckPieces(i)
			if err == nil && n == 0 {
				f.m.Files[i].SHA256, err = f.hashFile(i)
			}
			if err != nil {
				return 0, fmt.Errorf("verify %s: %w", f.m.LocalPath(i), err)
			}
			damaged += n
			continue
		}
		if streamed != nil && streamed[i] == file.SHA256 {
			if err := f.checkSize(i); err != nil {
				return 0, fmt.Errorf("verify %s: %w", f.m.LocalPath(i), err)
			}
			continue
		}
		sum, err := f.hashFile(i)
		if err != nil {
			return 0, fmt.Errorf("verify %s: %w", f.m.LocalPath(i), err)
		}
		if sum == file.SHA256 {
			continue
		}
		n, err := f.recheckPieces(i)
		if err != nil {
			return 0, fmt.Errorf("verify %s: %w", f.m.LocalPath(i), err)
		}
		if n == 0 {
			return 0, fmt.Errorf("%w: %s: %s has sha256 %s, the catalog says %s; nothing was put in place (the bytes stay in %s)",
				ErrChecksum, f.m.ID(), f.m.LocalPath(i), sum, file.SHA256, f.part)
		}
		damaged += n
	}
	return damaged, nil
}

func (f *fetcher) hashFile(i int) (string, error) {
	fh, err := os.Open(f.localPath(i))
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, fh, f.buf)
	if err != nil {
		return "", err
	}
	if n != f.m.Files[i].Size {
		return "", fmt.Errorf("%d bytes on disk, %d expected", n, f.m.Files[i].Size)
	}
	if err := fh.Sync(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkSize checks that file i, hashed and synced as it arrived, has its size on disk.
func (f *fetcher) checkSize(i int) error {
	fi, err := os.Stat(f.localPath(i))
	if err != nil {
		return err
	}
	if fi.Size() != f.m.Files[i].Size {
		return fmt.Errorf("%d bytes on disk, %d expected", fi.Size(), f.m.Files[i].Size)
	}
	return nil
}

// recheckPieces hashes the pieces that cover file i and marks those that fail missing.
func (f *fetcher) recheckPieces(i int) (int, error) {
	first, end := f.layout.FilePieces(i)
	if first == end {
		return 0, nil
	}
	damaged := 0
	h := pieces.NewHasher(f.layout, f.info.Pieces, first, func(p int, ok bool) error {
		if ok {
			return nil
		}
		damaged++
		return f.pc.Set(f.pieceKey(p), false)
	})
	from, _ := f.layout.Piece(first)
	last, n := f.layout.Piece(end - 1)
	for _, sp := range f.layout.Spans(from, last+n) {
		if err := copyRange(h, f.localPath(sp.File), sp); err != nil {
			return 0, err
		}
	}
	return damaged, nil
}

// copyRange copies the bytes of sp from the file at path to w; a file too short for
// them is an error.
func copyRange(w io.Writer, path string, sp pieces.Span) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	_, err = io.CopyN(w, io.NewSectionReader(fh, sp.Off, sp.N), sp.N)
	return err
}

// install moves the verified artifact from the partial state to <out>/<root> and
// deletes the partial state. Files were synced by verify; the folders are synced here,
// before and after the rename, so a crash leaves the artifact whole in one place.
func (f *fetcher) install() (string, error) {
	src := filepath.Join(f.part, f.m.Root)
	dest := filepath.Join(f.opts.Out, f.m.Root)
	if !f.m.SingleFile() {
		err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			return fsutil.SyncDir(p)
		})
		if err != nil {
			return "", fmt.Errorf("install %s: %w", f.m.ID(), err)
		}
	}
	// Checked again: dest may have appeared during the download, and rename would
	// replace a file silently.
	if _, err := os.Lstat(dest); err == nil {
		return "", fmt.Errorf("%s appeared while fetching; the verified download stays in %s", dest, f.part)
	}
	if err := os.Rename(src, dest); err != nil {
		return "", fmt.Errorf("install %s: %w", f.m.ID(), err)
	}
	if err := fsutil.SyncDir(f.opts.Out); err != nil {
		return "", err
	}
	f.closeState()
	if err := os.RemoveAll(f.part); err != nil {
		f.rep.Note("could not remove %s: %v", f.part, err)
	}
	abs, err := filepath.Abs(dest)
	if err != nil {
		return dest, nil
	}
	return abs, nil
}
