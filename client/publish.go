package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/manifest"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
	"golang.org/x/text/unicode/norm"
)

// localFiles is an artifact on the publisher's disk: the declaration and where each
// declared file is.
type localFiles struct {
	decl  *manifest.Manifest
	paths []string
}

// collectFiles declares the file or folder at path under the identity in id.
func collectFiles(id manifest.Manifest, path string) (*localFiles, error) {
	path = filepath.Clean(path)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	decl := id
	// Names go out in NFC, as manifests require; some file systems (macOS HFS+) hand
	// back NFD. The disk paths stay as the file system spells them.
	decl.Root = norm.NFC.String(filepath.Base(path))
	decl.Files = nil
	lf := &localFiles{decl: &decl}
	if fi.Mode().IsRegular() {
		decl.Files = []manifest.File{{Size: fi.Size()}}
		lf.paths = []string{path}
	} else if fi.IsDir() {
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			if !d.Type().IsRegular() {
				return fmt.Errorf("%s is not a regular file (symbolic link or special file); odi publishes regular files only", p)
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(path, p)
			decl.Files = append(decl.Files, manifest.File{Path: norm.NFC.String(filepath.ToSlash(rel)), Size: info.Size()})
			lf.paths = append(lf.paths, p)
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Sort(byPath{lf})
	} else {
		return nil, fmt.Errorf("%s is neither a file nor a folder", path)
	}
	if err := decl.Validate(false); err != nil {
		return nil, err
	}
	return lf, nil
}

// byPath sorts declared files (and their disk paths with them) by manifest path.
type byPath struct{ *localFiles }

func (b byPath) Len() int           { return len(b.paths) }
func (b byPath) Less(i, j int) bool { return b.decl.Files[i].Path < b.decl.Files[j].Path }
func (b byPath) Swap(i, j int) {
	b.decl.Files[i], b.decl.Files[j] = b.decl.Files[j], b.decl.Files[i]
	b.paths[i], b.paths[j] = b.paths[j], b.paths[i]
}

// Publish publishes the file or folder at path as the artifact id names (its catalog,
// name and version) at the directory c talks to, signed by c's key, in three steps (see
// catalog/publish.go): declare, upload while hashing, commit the signed manifest. It
// reads every byte once. progress sees the bytes as they go (a bar on a terminal).
// Errors: manifest.ErrInvalid for names or sizes a manifest cannot hold, ErrChecksum
// when the directory received other bytes than were sent, the directory's refusal
// (*apiclient.Error), or the file system's (a symbolic link or special file is refused).
func Publish(ctx context.Context, c *apiclient.Client, id manifest.Manifest, path string, progress io.Writer) (*catalogapi.Artifact, error) {
	lf, err := collectFiles(id, path)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	var up catalogapi.Upload
	if err := c.CallJSON(ctx, http.MethodPost, "/api/v1/uploads", lf.decl, &up); err != nil {
		return nil, fmt.Errorf("publish %s: %w", lf.decl.ID(), err)
	}
	uploadPath := "/api/v1/uploads/" + up.ID
	committed := false
	defer func() {
		if !committed { // best effort: free the directory's staging space now
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = c.Call(ctx, http.MethodDelete, uploadPath, nil, nil)
		}
	}()

	body := newFilesReader(lf, newProgress(progress, lf.decl.TotalSize(), "upload "+lf.decl.Root))
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.Base+uploadPath, io.NopCloser(body))
	if err != nil {
		return nil, err
	}
	req.ContentLength = -1 // chunked: the reader streams, and unknown length skips the transport's probe read
	req.Header.Set("Content-Type", "application/octet-stream")
	var received catalogapi.Upload
	if err := c.Do(req, &received); err != nil {
		if body.err != nil {
			err = body.err
		}
		return nil, fmt.Errorf("publish %s: upload: %w", lf.decl.ID(), err)
	}

	m := *lf.decl
	m.Files = append([]manifest.File(nil), lf.decl.Files...)
	for i := range m.Files {
		m.Files[i].SHA256 = body.sums[i]
		if i < len(received.Files) && received.Files[i].SHA256 != body.sums[i] {
			return nil, fmt.Errorf("publish %s: %w: the directory received other bytes for %s than were sent (sha256 %s, sent %s)",
				m.ID(), ErrChecksum, m.LocalPath(i), received.Files[i].SHA256, body.sums[i])
		}
	}
	signed, err := json.Marshal(&m)
	if err != nil {
		return nil, err
	}
	var a catalogapi.Artifact
	if err := c.Call(ctx, http.MethodPost, uploadPath+"/commit", signed, &a); err != nil {
		return nil, fmt.Errorf("publish %s: commit: %w", m.ID(), err)
	}
	committed = true
	return &a, nil
}

// filesReader streams the declared files end to end and records each one's sha256. It
// writes in large chunks (WriterTo), as the upload is chunked: one syscall per MiB.
type filesReader struct {
	lf       *localFiles
	progress io.Writer
	sums     []string
	err      error // why reading failed, if it did
}

func newFilesReader(lf *localFiles, progress io.Writer) *filesReader {
	return &filesReader{lf: lf, progress: progress, sums: make([]string, len(lf.paths))}
}

// Read is for io.Reader callers other than io.Copy; the transport uses WriteTo.
func (r *filesReader) Read(p []byte) (int, error) {
	return 0, errors.New("filesReader: use WriteTo")
}

func (r *filesReader) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 1<<20)
	var total int64
	for i, path := range r.lf.paths {
		n, sum, err := copyHashing(w, path, r.lf.decl.Files[i].Size, buf, r.progress)
		total += n
		if err != nil {
			r.err = err
			return total, err
		}
		r.sums[i] = hex.EncodeToString(sum)
	}
	return total, nil
}

// copyHashing copies exactly size bytes of the file at path to w and returns their sha256.
func copyHashing(w io.Writer, path string, size int64, buf []byte, progress io.Writer) (int64, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	var h hash.Hash = sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(w, h, progress), io.LimitReader(f, size), buf)
	if err != nil {
		return n, nil, err
	}
	if n != size {
		return n, nil, fmt.Errorf("%s changed while publishing: read %d bytes, declared %d", path, n, size)
	}
	return n, h.Sum(nil), nil
}

// newProgress returns a progress bar on w when w is a terminal, or w itself otherwise.
func newProgress(w io.Writer, total int64, what string) io.Writer {
	if f, ok := w.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return io.Discard
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		progressbar.OptionClearOnFinish(),
	)
}
