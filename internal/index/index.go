package index

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/opendist/odi/internal/manifest"

	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/sign"
)

// Format names this version of the index document.
const Format = "odi-index-v1"

// MaxBytes bounds an index document, checked before anything else reads it. An index
// of 100,000 artifacts of 1 to 3 files with typical names is about 40 MiB
// (BenchmarkSign100k); 64 MiB leaves room for longer names and paths.
const MaxBytes = 64 << 20

// DefaultTTL is how long an index stays valid when the indexer gives no TTL: a week,
// so a weekly signing job keeps its index current, and a directory that freezes an
// index can do so for a week at most.
const DefaultTTL = 7 * 24 * time.Hour

// Entry states.
const (
	StatePublished = "published"
	StateExpunged  = "expunged"
)

var (
	// ErrTooLarge is returned when a document or signature is larger than its bound
	// (MaxBytes for an index); it is refused before being parsed or verified.
	ErrTooLarge = errors.New("too large")
	// ErrInvalid is returned (wrapped, with the field) when a document is well-formed
	// JSON of a wrong shape, or a field's value is not acceptable.
	ErrInvalid = errors.New("invalid index")
	// ErrNotCanonical is returned when a document is valid but not in its canonical byte
	// form (white space, key order, escapes, duplicate keys): one index has one form.
	ErrNotCanonical = errors.New("not canonical")
	// ErrNotListed is returned when an artifact is not in an index.
	ErrNotListed = errors.New("artifact not listed")
	// ErrMismatch is returned by Entry.Check when the bytes offered are not the ones the
	// index vouches for (mix-and-match of a listed name with other content).
	ErrMismatch = errors.New("artifact does not match its index entry")
	// ErrExpunged is returned by Entry.Check for an artifact the indexer expunged.
	ErrExpunged = errors.New("artifact expunged")
)

// Index is one signed version of an indexer's list. Fields are declared in the order of
// their JSON names, so encoding/json writes keys sorted.
type Index struct {
	// Directory is the public URL of the directory the artifacts were published to.
	Directory string    `json:"directory"`
	Entries   []Entry   `json:"entries"` // sorted by (catalog, name, version), unique
	Expires   time.Time `json:"expires"`
	Format    string    `json:"format"`
	Issued    time.Time `json:"issued"`
	// Key is the signing key's id (sign.KeyID form); Sign fills it.
	Key string `json:"key"`
	// NextKey is the successor key's one-line minisign public key, announcing a rotation.
	NextKey string `json:"next_key,omitempty"`
	// Revoked is the key's own last word: followers that accept this version refuse the
	// key from then on (every later version, and this one's entries), as when its owner
	// retires it or fears it stolen. A successor it names is not followed unless it had
	// signed an index the follower accepted before (State.Followed): a thief could name one.
	Revoked bool `json:"revoked,omitempty"`
	// Version is strictly greater than that of any earlier index by the same key.
	Version uint64 `json:"version"`
}

// Entry is one artifact an indexer vouches for, or expunged.
type Entry struct {
	Catalog  string `json:"catalog"`
	Files    []File `json:"files"`    // in the torrent's order (sorted by path)
	InfoHash string `json:"infohash"` // 40 lower-case hex digits (BitTorrent v1)
	Name     string `json:"name"`
	Reason   string `json:"reason,omitempty"` // why it was expunged; only then
	State    string `json:"state"`
	Version  string `json:"version"`
}

// File is one file of an artifact. Path is where the torrent puts it: the torrent's name
// for a single file, name/path within a folder otherwise (manifest.LocalPath).
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"` // 64 lower-case hex digits
	Size   int64  `json:"size"`
}

// ID is the artifact's identity, "<catalog>/<name>/<version>", as in error messages.
// FilesOf lists m's files as an index does: by their path in the torrent (m.LocalPath),
// so that a single file is named by its root.
func FilesOf(m *manifest.Manifest) []File {
	files := make([]File, len(m.Files))
	for i, f := range m.Files {
		files[i] = File{Path: m.LocalPath(i), Size: f.Size, SHA256: f.SHA256}
	}
	return files
}

func (e Entry) ID() string { return e.Catalog + "/" + e.Name + "/" + e.Version }

func compareEntries(a, b Entry) int {
	return cmp.Or(strings.Compare(a.Catalog, b.Catalog), strings.Compare(a.Name, b.Name), strings.Compare(a.Version, b.Version))
}

// Marshal is idx's canonical form: compact JSON, keys sorted, no HTML escaping, no
// trailing newline, times in UTC, entries sorted. The same content always gives the
// same bytes. It refuses an index that Parse would refuse (ErrInvalid, ErrTooLarge).
func Marshal(idx *Index) ([]byte, error) {
	c := *idx
	c.Expires, c.Issued = c.Expires.UTC(), c.Issued.UTC()
	if !slices.IsSortedFunc(c.Entries, compareEntries) {
		c.Entries = slices.Clone(c.Entries)
		slices.SortFunc(c.Entries, compareEntries)
	}
	if err := validate(&c); err != nil {
		return nil, fmt.Errorf("marshal index: %w", err)
	}
	doc, err := encode(&c)
	if err != nil {
		return nil, fmt.Errorf("marshal index: %w", err)
	}
	if len(doc) > MaxBytes {
		return nil, fmt.Errorf("marshal index: %w: %d bytes, more than %d", ErrTooLarge, len(doc), MaxBytes)
	}
	return doc, nil
}

// ReadDoc reads an index document from r (an HTTP body, a file), refusing one over
// MaxBytes as soon as it passes the bound (ErrTooLarge), so that a server sending
// endless data costs MaxBytes of memory at most.
func ReadDoc(r io.Reader) ([]byte, error) {
	doc, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	if len(doc) > MaxBytes {
		return nil, fmt.Errorf("read index: %w: more than %d bytes", ErrTooLarge, MaxBytes)
	}
	return doc, nil
}

// encode writes a validated index; times must already be in UTC.
func encode(c *Index) ([]byte, error) {
	if c.Entries == nil {
		c.Entries = []Entry{} // [] rather than null: one form for "none"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Parse reads an index document, refusing anything but the canonical form of a valid
// index: Marshal of the result gives doc back, byte for byte.
func Parse(doc []byte) (*Index, error) {
	if len(doc) > MaxBytes {
		return nil, fmt.Errorf("parse index: %w: %d bytes, more than %d", ErrTooLarge, len(doc), MaxBytes)
	}
	if idx, ok := parseFast(doc); ok {
		// doc is the canonical form of idx's values; only their validity is left.
		if err := validate(idx); err != nil {
			return nil, fmt.Errorf("parse index: %w", err)
		}
		return idx, nil
	}
	return parseSlow(doc)
}

// parseSlow is Parse by encoding/json: it decides what parseFast leaves, and explains
// a refusal.
func parseSlow(doc []byte) (*Index, error) {
	var idx Index
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&idx); err != nil {
		return nil, fmt.Errorf("parse index: %w: %w", ErrInvalid, err)
	}
	// Trailing data is found by the comparison below, with its offset.
	if err := validate(&idx); err != nil {
		return nil, fmt.Errorf("parse index: %w", err)
	}
	c := idx
	c.Expires, c.Issued = c.Expires.UTC(), c.Issued.UTC()
	want, err := encode(&c)
	if err != nil {
		return nil, fmt.Errorf("parse index: %w: %w", ErrInvalid, err)
	}
	if err := compareCanonical(doc, want); err != nil {
		return nil, fmt.Errorf("parse index: %w", err)
	}
	return &c, nil
}

// compareCanonical names the first byte where doc departs from its canonical form, with
// a little of each around it, which says what is wrong (a space, a duplicate key, an
// escape) better than a description would.
func compareCanonical(doc, want []byte) error {
	if bytes.Equal(doc, want) {
		return nil
	}
	i := 0
	for i < len(doc) && i < len(want) && doc[i] == want[i] {
		i++
	}
	excerpt := func(b []byte) string {
		start, end := max(i-16, 0), min(i+24, len(b))
		return string(b[start:end])
	}
	return fmt.Errorf("%w: byte %d: the document has %q where the canonical form has %q", ErrNotCanonical, i, excerpt(doc), excerpt(want))
}

// validate checks every field of an index whose entries are sorted.
func validate(idx *Index) error {
	if idx.Format != Format {
		return fmt.Errorf("%w: format %q, want %q", ErrInvalid, idx.Format, Format)
	}
	if u, err := url.Parse(idx.Directory); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%w: directory %q is not an http(s) URL", ErrInvalid, idx.Directory)
	}
	if err := checkKeyID(idx.Key); err != nil {
		return fmt.Errorf("%w: key: %w", ErrInvalid, err)
	}
	if idx.NextKey != "" {
		next, err := parseKey(idx.NextKey)
		if err != nil {
			return fmt.Errorf("%w: next_key: %w", ErrInvalid, err)
		}
		if sign.KeyID(next.ID()) == idx.Key {
			return fmt.Errorf("%w: next_key names the signing key", ErrInvalid)
		}
	}
	if idx.Version == 0 {
		return fmt.Errorf("%w: version must be 1 or more", ErrInvalid)
	}
	for _, t := range []struct {
		name string
		t    time.Time
	}{{"issued", idx.Issued}, {"expires", idx.Expires}} {
		if !t.t.Equal(t.t.Truncate(time.Second)) || t.t.Year() < 2000 || t.t.Year() > 9999 {
			return fmt.Errorf("%w: %s %s must be whole seconds between years 2000 and 9999", ErrInvalid, t.name, t.t.Format(time.RFC3339Nano))
		}
	}
	if !idx.Expires.After(idx.Issued) {
		return fmt.Errorf("%w: expires %s is not after issued %s", ErrInvalid, idx.Expires.UTC().Format(time.RFC3339), idx.Issued.UTC().Format(time.RFC3339))
	}
	for i := range idx.Entries {
		e := &idx.Entries[i]
		if i > 0 && compareEntries(idx.Entries[i-1], *e) >= 0 {
			if compareEntries(idx.Entries[i-1], *e) == 0 {
				return fmt.Errorf("%w: %s listed twice", ErrInvalid, e.ID())
			}
			return fmt.Errorf("%w: entries not sorted: %s after %s", ErrInvalid, e.ID(), idx.Entries[i-1].ID())
		}
		if err := validateEntry(e); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalid, e.ID(), err)
		}
	}
	return nil
}

func validateEntry(e *Entry) error {
	for _, s := range []struct{ kind, v string }{{"catalog", e.Catalog}, {"name", e.Name}, {"version", e.Version}} {
		if err := names.CheckSegment(s.kind, s.v); err != nil {
			return err
		}
	}
	if !isHex(e.InfoHash, 40) {
		return errors.New("infohash must be 40 lower-case hex digits")
	}
	switch e.State {
	case StatePublished:
		if e.Reason != "" {
			return errors.New("a published artifact has no reason")
		}
	case StateExpunged:
		if e.Reason == "" {
			return errors.New("an expunged artifact needs a reason")
		}
	default:
		return fmt.Errorf("state %q is neither %q nor %q", e.State, StatePublished, StateExpunged)
	}
	if len(e.Files) == 0 {
		return errors.New("no files")
	}
	for i, f := range e.Files {
		// Not names.SplitPath: its Unicode rules cost half a second per 100,000 artifacts,
		// and Check compares paths exactly with a manifest that passed them. This keeps an
		// index from naming a file outside the torrent's folder.
		if !fs.ValidPath(f.Path) || f.Path == "." {
			return fmt.Errorf("file %q: a path is slash-separated, relative, without empty, . or .. elements", f.Path)
		}
		if i > 0 && e.Files[i-1].Path >= f.Path {
			return fmt.Errorf("files must be sorted by path without repeats (%q after %q)", f.Path, e.Files[i-1].Path)
		}
		if f.Size < 0 {
			return fmt.Errorf("file %q has a negative size", f.Path)
		}
		if !isHex(f.SHA256, 64) {
			return fmt.Errorf("file %q: sha256 must be 64 lower-case hex digits", f.Path)
		}
	}
	return nil
}

// checkKeyID accepts exactly the form sign.KeyID prints.
func checkKeyID(s string) error {
	id, err := sign.ParseKeyID(s)
	if err != nil {
		return err
	}
	if sign.KeyID(id) != s {
		return fmt.Errorf("%w: %q must be upper-case", sign.ErrBadKeyID, s)
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Next starts the index that follows prev (nil for an indexer's first): version one
// higher, the same directory, entries and announced next key, issued now, expiring after
// ttl (DefaultTTL when 0). Sign fills the key.
func Next(prev *Index, now time.Time, ttl time.Duration) *Index {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	now = now.UTC().Truncate(time.Second)
	idx := &Index{Format: Format, Issued: now, Expires: now.Add(ttl).Truncate(time.Second), Version: 1}
	if prev != nil {
		idx.Directory = prev.Directory
		idx.Entries = slices.Clone(prev.Entries)
		idx.NextKey = prev.NextKey
		idx.Version = prev.Version + 1
	}
	return idx
}

// search is where an artifact is, or would be inserted, in the sorted entries.
func (idx *Index) search(catalog, name, version string) (int, bool) {
	return slices.BinarySearchFunc(idx.Entries, Entry{Catalog: catalog, Name: name, Version: version}, compareEntries)
}

// Find looks an artifact up. The entries must be sorted, as Parse, Next, Put, Expunge
// and Remove keep them.
func (idx *Index) Find(catalog, name, version string) (Entry, bool) {
	i, ok := idx.search(catalog, name, version)
	if !ok {
		return Entry{}, false
	}
	return idx.Entries[i], true
}

// Put adds an artifact, or replaces the entry for its catalog, name and version (which
// reinstates an expunged one). An empty State means published. Appending in sorted order
// costs O(1), so building a large index in order is linear.
func (idx *Index) Put(e Entry) {
	if e.State == "" {
		e.State = StatePublished
	}
	if n := len(idx.Entries); n == 0 || compareEntries(idx.Entries[n-1], e) < 0 {
		idx.Entries = append(idx.Entries, e)
		return
	}
	i, ok := idx.search(e.Catalog, e.Name, e.Version)
	if ok {
		idx.Entries[i] = e
		return
	}
	idx.Entries = slices.Insert(idx.Entries, i, e)
}

// Expunge marks a listed artifact expunged, keeping its infohash and files so followers
// know which bytes to drop.
func (idx *Index) Expunge(catalog, name, version, reason string) error {
	if reason == "" {
		return fmt.Errorf("expunge %s/%s/%s: %w: a reason is required", catalog, name, version, ErrInvalid)
	}
	i, ok := idx.search(catalog, name, version)
	if !ok {
		return fmt.Errorf("expunge %s/%s/%s: %w", catalog, name, version, ErrNotListed)
	}
	idx.Entries[i].State, idx.Entries[i].Reason = StateExpunged, reason
	return nil
}

// Remove drops an artifact from the index, reporting whether it was listed. Unlike
// Expunge, it leaves no trace: followers see the artifact as no longer vouched for.
func (idx *Index) Remove(catalog, name, version string) bool {
	i, ok := idx.search(catalog, name, version)
	if ok {
		idx.Entries = slices.Delete(idx.Entries, i, i+1)
	}
	return ok
}

// Check refuses content other than what the entry vouches for: an expunged artifact
// (ErrExpunged), or another infohash, file count, path, size or sha256 (ErrMismatch,
// naming what differs). Mixing a listed name with other bytes is thus refused.
func (e Entry) Check(infohash string, files []File) error {
	if e.State == StateExpunged {
		return fmt.Errorf("%s: %w: %s", e.ID(), ErrExpunged, e.Reason)
	}
	if infohash != e.InfoHash {
		return fmt.Errorf("%s: %w: infohash %s, the index lists %s", e.ID(), ErrMismatch, infohash, e.InfoHash)
	}
	if len(files) != len(e.Files) {
		return fmt.Errorf("%s: %w: %d files, the index lists %d", e.ID(), ErrMismatch, len(files), len(e.Files))
	}
	for i, f := range files {
		w := e.Files[i]
		switch {
		case f.Path != w.Path:
			return fmt.Errorf("%s: %w: file %d is %q, the index lists %q", e.ID(), ErrMismatch, i, f.Path, w.Path)
		case f.Size != w.Size:
			return fmt.Errorf("%s: %w: file %q has %d bytes, the index lists %d", e.ID(), ErrMismatch, f.Path, f.Size, w.Size)
		case f.SHA256 != w.SHA256:
			return fmt.Errorf("%s: %w: file %q has sha256 %s, the index lists %s", e.ID(), ErrMismatch, f.Path, f.SHA256, w.SHA256)
		}
	}
	return nil
}
