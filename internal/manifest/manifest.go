package manifest

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/opendist/odi/internal/jsonstrict"
	"github.com/opendist/odi/internal/names"
)

// Limits on a manifest, so that decoding one is bounded.
const (
	MaxFiles = 100_000
	MaxBytes = 32 << 20 // encoded size

	// MaxTotalSize bounds an artifact's bytes, and so each file's: 1 PiB, beyond any
	// artifact volunteer relays could carry (the largest open data sets are terabytes),
	// and 2^13 times below int64's limit, so that sums over an artifact and over many
	// (piece counts, stream offsets, the bytes a directory reserves for its uploads) stay
	// far from overflow. A directory takes far less (catalog's max_artifact_size); this
	// is the format's bound, which every reader of a manifest can rely on.
	MaxTotalSize = 1 << 50
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

// TotalSize is the sum of the files' sizes. Validate guarantees it is at most
// MaxTotalSize; for a manifest Validate would refuse for its sizes (a negative one, or
// a sum past MaxTotalSize) it is math.MaxInt64, never a wrapped sum, so that a caller
// comparing it with a limit refuses such a manifest too.
func (m *Manifest) TotalSize() int64 {
	var n int64
	for _, f := range m.Files {
		if f.Size < 0 || f.Size > MaxTotalSize-n {
			return math.MaxInt64
		}
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
// file's sha256, without it refuses them (a declaration). The paths are checked together
// by names.CheckPaths, so no two of them are one file on any user's system.
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
	}
	var total int64
	for i, f := range m.Files {
		// total <= MaxTotalSize here, so MaxTotalSize-total cannot overflow.
		switch {
		case f.Size < 0:
			return fmt.Errorf("%w: file %q has a negative size, %d", ErrInvalid, f.Path, f.Size)
		case f.Size > MaxTotalSize:
			return fmt.Errorf("%w: file %q has %d bytes, more than %d", ErrInvalid, f.Path, f.Size, int64(MaxTotalSize))
		case f.Size > MaxTotalSize-total:
			return fmt.Errorf("%w: the files up to %q add up to more than %d bytes", ErrInvalid, f.Path, int64(MaxTotalSize))
		}
		total += f.Size
		if digests {
			if !IsSHA256(f.SHA256) {
				return fmt.Errorf("%w: file %q: sha256 must be 64 lower-case hex digits", ErrInvalid, f.Path)
			}
		} else if f.SHA256 != "" {
			return fmt.Errorf("%w: file %q: a declaration carries no sha256", ErrInvalid, f.Path)
		}
		switch {
		case f.Path == "" && len(m.Files) > 1:
			return fmt.Errorf("%w: a file with an empty path must be the only one", ErrInvalid)
		case i > 0 && m.Files[i-1].Path >= f.Path:
			return fmt.Errorf("%w: files must be sorted by path without repeats (%q after %q)", ErrInvalid, f.Path, m.Files[i-1].Path)
		}
	}
	if total == 0 {
		return fmt.Errorf("%w: the artifact is empty", ErrInvalid)
	}
	if m.SingleFile() {
		return nil
	}
	paths := make([]string, len(m.Files))
	for i, f := range m.Files {
		paths[i] = f.Path
	}
	if err := names.CheckPaths(paths); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Decode reads a JSON manifest strictly (jsonstrict: no unknown fields, no duplicate
// keys, one spelling of each field name, so that the bytes a publisher signs mean one
// manifest to every reader) and validates it.
func Decode(r io.Reader, digests bool) (*Manifest, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxBytes)
	}
	var m Manifest
	if err := jsonstrict.Decode(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
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
