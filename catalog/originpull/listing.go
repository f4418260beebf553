package originpull

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/names"
)

// Bounds on what an upstream may send, so a poll's memory is bounded: 16 MiB of listing
// is some 100,000 lines (a line is a 64-digit sum, two spaces and a path), and a minisign
// signature is under 400 bytes even with a long trusted comment.
const (
	MaxListingBytes   = 16 << 20
	MaxSignatureBytes = 4 << 10
)

// ErrListing is returned (wrapped, naming the line and the reason) for a SHA256SUMS
// listing that cannot be accepted. One bad line refuses the whole listing: what the
// project signed is taken whole or not at all.
var ErrListing = errors.New("invalid SHA256SUMS listing")

// File is one file of a release.
type File struct {
	// Path is the file's path in the artifact's manifest: "" for a single-file artifact.
	Path string
	// Source is where it is, relative to the upstream URL: "<name>/<version>/<path>".
	Source string
	// SHA256 is the signed digest, 64 lower-case hex digits.
	SHA256 string
}

// Release is one <name>/<version>/ folder of the upstream: one artifact.
type Release struct {
	Name, Version, Root string
	Files               []File // sorted by Path, as manifests are
}

// ID is the release's identity in catalog, "<catalog>/<name>/<version>".
func (r *Release) ID(catalog string) string { return catalog + "/" + r.Name + "/" + r.Version }

// Manifest is r as catalog's artifact, with sizes[i] the size of Files[i].
func (r *Release) Manifest(catalog string, sizes []int64) *manifest.Manifest {
	m := &manifest.Manifest{Catalog: catalog, Name: r.Name, Version: r.Version, Root: r.Root}
	for i, f := range r.Files {
		m.Files = append(m.Files, manifest.File{Path: f.Path, Size: sizes[i], SHA256: f.SHA256})
	}
	return m
}

// ParseListing reads a SHA256SUMS listing as sha256sum writes it (text " " or binary
// "*" mode; upper- or lower-case digits, kept lower-case) and returns its releases
// sorted by name and version. It refuses, naming the line: a line that is not
// "<64 hex digits>  <path>", an escaped line (sha256sum's "\" for a name holding a
// backslash or newline), a carriage return, an absolute path, a "." or ".." or empty
// path component, a path with fewer than three components, a name, version or path
// component that internal/names refuses, and a path listed twice; and, per release,
// paths that could not be files together (names.CheckPaths: case or Unicode twins, a
// file that is also a folder) or more than manifest.MaxFiles files.
func ParseListing(data []byte) ([]Release, error) {
	if len(data) > MaxListingBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrListing, len(data), MaxListingBytes)
	}
	type key struct{ name, version string }
	byKey := map[key]*Release{}
	seen := map[string]int{} // path -> line
	lines := bytes.Split(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // the final newline
	}
	for i, raw := range lines {
		n := i + 1
		line := string(raw)
		sum, path, err := splitLine(line)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrListing, n, err)
		}
		if first, dup := seen[path]; dup {
			return nil, fmt.Errorf("%w: line %d: %q is listed twice (first on line %d)", ErrListing, n, path, first)
		}
		seen[path] = n
		name, version, rest, err := splitPath(path)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrListing, n, err)
		}
		k := key{name, version}
		r := byKey[k]
		if r == nil {
			r = &Release{Name: name, Version: version}
			byKey[k] = r
		}
		if len(r.Files) == manifest.MaxFiles {
			return nil, fmt.Errorf("%w: line %d: %s/%s has more than %d files", ErrListing, n, name, version, manifest.MaxFiles)
		}
		r.Files = append(r.Files, File{Path: rest, Source: path, SHA256: sum})
	}
	out := make([]Release, 0, len(byKey))
	for _, r := range byKey {
		if err := r.settle(); err != nil {
			return nil, fmt.Errorf("%w: %s/%s: %w", ErrListing, r.Name, r.Version, err)
		}
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

// splitLine splits a sha256sum line into its lower-case digest and its path.
func splitLine(line string) (sum, path string, err error) {
	switch {
	case line == "":
		return "", "", errors.New("empty line")
	case strings.HasPrefix(line, "\\"):
		return "", "", errors.New("escaped line: a file name with a backslash or a newline")
	case strings.ContainsRune(line, '\r'):
		return "", "", errors.New("carriage return (write the listing with Unix line ends)")
	case len(line) < 66 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*'):
		return "", "", errors.New(`not "<sha256 hex>  <path>"`)
	}
	sum = strings.ToLower(line[:64])
	if _, err := hex.DecodeString(sum); err != nil {
		return "", "", fmt.Errorf("bad hex in sha256 %q", line[:64])
	}
	return sum, line[66:], nil
}

// splitPath splits "<name>/<version>/<path>" and checks each part.
func splitPath(p string) (name, version, rest string, err error) {
	if strings.HasPrefix(p, "/") {
		return "", "", "", fmt.Errorf("absolute path %q; list paths relative to the upstream URL", p)
	}
	parts := strings.Split(p, "/")
	for _, c := range parts {
		switch c {
		case "..":
			return "", "", "", fmt.Errorf("path traversal: %q has a \"..\" component", p)
		case ".":
			return "", "", "", fmt.Errorf("%q has a \".\" component; list paths as <name>/<version>/<file>", p)
		case "":
			return "", "", "", fmt.Errorf("%q has an empty component", p)
		}
	}
	if len(parts) < 3 {
		return "", "", "", fmt.Errorf("%q is not <name>/<version>/<file>", p)
	}
	if err := names.CheckSegment("name", parts[0]); err != nil {
		return "", "", "", fmt.Errorf("%q: %w", p, err)
	}
	if err := names.CheckSegment("version", parts[1]); err != nil {
		return "", "", "", fmt.Errorf("%q: %w", p, err)
	}
	rest = strings.Join(parts[2:], "/")
	if _, err := names.SplitPath(rest); err != nil {
		return "", "", "", fmt.Errorf("%q: %w", p, err)
	}
	return parts[0], parts[1], rest, nil
}

// settle sorts r's files and gives r its root: a lone file directly in the version
// folder is a single-file artifact named as the file; anything else is a package.
func (r *Release) settle() error {
	if len(r.Files) == 1 && !strings.Contains(r.Files[0].Path, "/") {
		r.Root, r.Files[0].Path = r.Files[0].Path, ""
		return nil
	}
	r.Root = r.Name + "-" + r.Version
	if err := names.CheckComponent(r.Root); err != nil {
		return fmt.Errorf("root %q: %w", r.Root, err)
	}
	sort.Slice(r.Files, func(i, j int) bool { return r.Files[i].Path < r.Files[j].Path })
	paths := make([]string, len(r.Files))
	for i, f := range r.Files {
		paths[i] = f.Path
	}
	return names.CheckPaths(paths)
}
