// Package manifest defines what a publisher vouches for: an artifact's identity
// (<catalog>/<name>/<version>) and every file in it with its size and sha256. The
// publisher signs it, the directory checks every received byte against it, and the same
// shape is what catalogs list, so a client can verify a download end to end.
//
// The files of a manifest are in the order of the torrent's files and of the upload
// stream: sorted by path, so the same content always makes the same torrent.
package manifest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/opendist/odi/internal/names"
)

// Limits on a manifest, so that decoding one is bounded.
const (
	MaxFiles = 100_000
	MaxBytes = 32 << 20 // encoded size
)

// ErrInvalid is returned (wrapped, with the reason) for a manifest that cannot be accepted.
var ErrInvalid = errors.New("invalid manifest")

// File is one file of an artifact.
type File struct {
	// Path is slash-separated below Root; it is "" when the artifact is the single file Root.
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"` // lower-case hex; empty in a declaration
}

// Manifest names an artifact and lists its files.
type Manifest struct {
	Catalog string `json:"catalog"`
	Name    string `json:"name"`
	Version string `json:"version"`
	// Root is the torrent's name: the single file's name, or the package folder's name.
	Root  string `json:"root"`
	Files []File `json:"files"`
}

// ID is the artifact's identity, "<catalog>/<name>/<version>".
func (m *Manifest) ID() string { return m.Catalog + "/" + m.Name + "/" + m.Version }

// SingleFile reports whether the artifact is one file (a single-file torrent).
func (m *Manifest) SingleFile() bool { return len(m.Files) == 1 && m.Files[0].Path == "" }

// TotalSize is the sum of the files' sizes.
func (m *Manifest) TotalSize() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// LocalPath is file i's path in a download folder: Root, or Root/Path.
func (m *Manifest) LocalPath(i int) string {
	if m.Files[i].Path == "" {
		return m.Root
	}
	return m.Root + "/" + m.Files[i].Path
}

// Declaration is the manifest without digests: what a publisher announces before upload.
func (m *Manifest) Declaration() *Manifest {
	d := *m
	d.Files = make([]File, len(m.Files))
	for i, f := range m.Files {
		d.Files[i] = File{Path: f.Path, Size: f.Size}
	}
	return &d
}

// Validate checks names, paths, sizes and order; with digests it also requires every
// file's sha256, without it refuses them (a declaration).
func (m *Manifest) Validate(digests bool) error {
	for _, s := range []struct{ kind, v string }{{"catalog", m.Catalog}, {"name", m.Name}, {"version", m.Version}} {
		if err := names.CheckSegment(s.kind, s.v); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	if err := names.CheckComponent(m.Root); err != nil {
		return fmt.Errorf("%w: root: %w", ErrInvalid, err)
	}
	switch {
	case len(m.Files) == 0:
		return fmt.Errorf("%w: no files", ErrInvalid)
	case len(m.Files) > MaxFiles:
		return fmt.Errorf("%w: more than %d files", ErrInvalid, MaxFiles)
	case len(m.Files) > 1 && m.Files[0].Path == "":
		return fmt.Errorf("%w: a file with an empty path must be the only one", ErrInvalid)
	}
	var total int64
	fileSet := make(map[string]bool, len(m.Files))
	dirSet := map[string]bool{}
	folded := make(map[string]string, len(m.Files))
	for i, f := range m.Files {
		if f.Size < 0 || f.Size > 1<<50 {
			return fmt.Errorf("%w: file %q has size %d", ErrInvalid, f.Path, f.Size)
		}
		total += f.Size
		if digests {
			if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != 32 || f.SHA256 != strings.ToLower(f.SHA256) {
				return fmt.Errorf("%w: file %q: sha256 must be 64 lower-case hex digits", ErrInvalid, f.Path)
			}
		} else if f.SHA256 != "" {
			return fmt.Errorf("%w: file %q: a declaration carries no sha256", ErrInvalid, f.Path)
		}
		if f.Path == "" {
			continue
		}
		parts, err := names.SplitPath(f.Path)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if i > 0 && m.Files[i-1].Path >= f.Path {
			return fmt.Errorf("%w: files must be sorted by path without repeats (%q after %q)", ErrInvalid, f.Path, m.Files[i-1].Path)
		}
		// Clients on case-insensitive file systems would write two such files into one.
		if other, ok := folded[strings.ToLower(f.Path)]; ok {
			return fmt.Errorf("%w: paths %q and %q differ only in case", ErrInvalid, other, f.Path)
		}
		folded[strings.ToLower(f.Path)] = f.Path
		fileSet[f.Path] = true
		for j := 1; j < len(parts); j++ {
			dirSet[strings.Join(parts[:j], "/")] = true
		}
	}
	for d := range dirSet {
		if fileSet[d] {
			return fmt.Errorf("%w: %q is both a file and a folder", ErrInvalid, d)
		}
	}
	if total == 0 {
		return fmt.Errorf("%w: the artifact is empty", ErrInvalid)
	}
	return nil
}

// Decode reads a JSON manifest strictly (unknown fields are errors) and validates it.
func Decode(r io.Reader, digests bool) (*Manifest, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the manifest", ErrInvalid)
	}
	if err := m.Validate(digests); err != nil {
		return nil, err
	}
	return &m, nil
}

// Equal reports whether two manifests say the same thing.
func (m *Manifest) Equal(o *Manifest) bool {
	if m.Catalog != o.Catalog || m.Name != o.Name || m.Version != o.Version || m.Root != o.Root || len(m.Files) != len(o.Files) {
		return false
	}
	for i := range m.Files {
		if m.Files[i] != o.Files[i] {
			return false
		}
	}
	return true
}
