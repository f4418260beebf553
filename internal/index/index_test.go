package index

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMarshalCanonical(t *testing.T) {
	idx := testIndex()
	doc := mustMarshal(t, idx)
	want := `{"directory":"https://dir.example/","entries":[` +
		`{"catalog":"arch","files":[{"path":"arch/arch.iso","sha256":"` + idx.Entries[0].Files[0].SHA256 + `","size":100},{"path":"arch/arch.iso.sig","sha256":"` + idx.Entries[0].Files[1].SHA256 + `","size":200}],"infohash":"` + idx.Entries[0].InfoHash + `","name":"iso","state":"published","version":"2026.12.01"},` +
		`{"catalog":"debian","files":[{"path":"debian-12.0.iso","sha256":"` + idx.Entries[1].Files[0].SHA256 + `","size":100}],"infohash":"` + idx.Entries[1].InfoHash + `","name":"iso","reason":"superseded: <bad> & broken","state":"expunged","version":"12.0"},` +
		`{"catalog":"debian","files":[{"path":"debian-12.1.iso","sha256":"` + idx.Entries[2].Files[0].SHA256 + `","size":100}],"infohash":"` + idx.Entries[2].InfoHash + `","name":"iso","state":"published","version":"12.1"}],` +
		`"expires":"2026-12-10T12:00:00Z","format":"odi-index-v1","issued":"2026-12-03T12:00:00Z","key":"0123456789ABCDEF","version":1}`
	if string(doc) != want {
		t.Fatalf("Marshal:\n got %s\nwant %s", doc, want)
	}

	got, err := Parse(doc)
	if err != nil {
		t.Fatalf("Parse(Marshal): %v", err)
	}
	if !reflect.DeepEqual(got, idx) {
		t.Errorf("Parse(Marshal(idx)) = %+v, want %+v", got, idx)
	}
	if again := mustMarshal(t, got); !bytes.Equal(again, doc) {
		t.Errorf("Marshal(Parse(doc)) differs:\n got %s\nwant %s", again, doc)
	}

	// Same content, other representation in memory: same bytes.
	other := *idx
	other.Entries = slices.Clone(idx.Entries)
	slices.Reverse(other.Entries)
	loc := time.FixedZone("X", 5*3600)
	other.Issued, other.Expires = idx.Issued.In(loc), idx.Expires.In(loc)
	if b := mustMarshal(t, &other); !bytes.Equal(b, doc) {
		t.Errorf("Marshal of the same content in another order and zone:\n got %s\nwant %s", b, doc)
	}
	if !slices.IsSortedFunc(other.Entries, func(a, b Entry) int { return -compareEntries(a, b) }) {
		t.Error("Marshal reordered its argument's entries")
	}

	empty := testIndex()
	empty.Entries = nil
	if b := mustMarshal(t, empty); !bytes.Contains(b, []byte(`"entries":[]`)) {
		t.Errorf("no entries marshal as %s, want \"entries\":[]", b)
	}
}

// TestKeysSorted keeps the field order that makes encoding/json write keys sorted.
func TestKeysSorted(t *testing.T) {
	for _, v := range []any{Index{}, Entry{}, File{}, Revocation{}, KeyState{}} {
		typ := reflect.TypeOf(v)
		var names []string
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			names = append(names, name)
		}
		if !slices.IsSorted(names) {
			t.Errorf("%s fields are not in JSON key order: %v", typ.Name(), names)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	doc := string(mustMarshal(t, testIndex()))
	empty := testIndex()
	empty.Entries = nil
	emptyDoc := string(mustMarshal(t, empty))
	tests := []struct {
		name    string
		doc     string
		want    error
		message string // in the error
	}{
		{"leading space", " " + doc, ErrNotCanonical, "byte 0"},
		{"trailing newline", doc + "\n", ErrNotCanonical, "byte " + strconv.Itoa(len(doc))},
		{"space after colon", strings.Replace(doc, `"format":"`, `"format": "`, 1), ErrNotCanonical, `\"format\": \"`},
		{"indented", indent(doc), ErrNotCanonical, "byte 1"},
		{"keys out of order", strings.Replace(doc, `"key":"0123456789ABCDEF","version":1`, `"version":1,"key":"0123456789ABCDEF"`, 1), ErrNotCanonical, `\"version\":1,\"key\"`},
		{"duplicate key", strings.Replace(doc, `{"directory":"https://dir.example/"`, `{"directory":"https://evil.example/","directory":"https://dir.example/"`, 1), ErrNotCanonical, "evil"},
		{"duplicate key differing in case", strings.Replace(doc, `"format":`, `"Format":"x","format":`, 1), ErrNotCanonical, `Format`},
		{"unknown field", strings.Replace(doc, `{"directory"`, `{"comment":"hi","directory"`, 1), ErrInvalid, `unknown field "comment"`},
		{"unicode escape", strings.Replace(doc, `"format":"odi`, `"format":"\u006fdi`, 1), ErrNotCanonical, `\\u006f`},
		{"html escape", strings.Replace(doc, `<bad>`, `\u003cbad>`, 1), ErrNotCanonical, `\\u003c`},
		{"time with offset", strings.Replace(doc, `"issued":"2026-12-03T12:00:00Z"`, `"issued":"2026-12-03T13:00:00+01:00"`, 1), ErrNotCanonical, `+01:00`},
		{"fractional seconds", strings.Replace(doc, `"issued":"2026-12-03T12:00:00Z"`, `"issued":"2026-12-03T12:00:00.5Z"`, 1), ErrInvalid, "whole seconds"},
		{"trailing data", doc + "{}", ErrNotCanonical, "byte " + strconv.Itoa(len(doc))},
		{"null entries", strings.Replace(emptyDoc, `"entries":[]`, `"entries":null`, 1), ErrNotCanonical, `null`},
		{"null files", strings.Replace(doc, `"files":[`, `"files":null,"x":[`, 1), ErrInvalid, `unknown field "x"`},
		{"upper-case infohash", strings.Replace(doc, testIndex().Entries[0].InfoHash, strings.ToUpper(testIndex().Entries[0].InfoHash), 1), ErrInvalid, "infohash"},
		{"upper-case key id", strings.Replace(doc, `"key":"0123456789ABCDEF"`, `"key":"0123456789abcdef"`, 1), ErrInvalid, "upper-case"},
		{"unsorted entries", swapEntries(t, doc), ErrInvalid, "not sorted"},
		{"duplicate entries", dupEntry(t, doc), ErrInvalid, "listed twice"},
		{"number form", strings.Replace(doc, `"version":1}`, `"version":1.0}`, 1), ErrInvalid, ""},
		{"leading zero version", strings.Replace(doc, `"version":1}`, `"version":01}`, 1), ErrInvalid, ""},
		{"not JSON", "odi", ErrInvalid, ""},
		{"empty", "", ErrInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if !errors.Is(err, tt.want) || !strings.Contains(errString(err), tt.message) {
				t.Errorf("Parse = %v, want %v containing %q", err, tt.want, tt.message)
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	// Not JSON at all: the size is refused before anything reads it.
	_, err := Parse(bytes.Repeat([]byte{'x'}, MaxBytes+1))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("Parse(MaxBytes+1) = %v, want ErrTooLarge", err)
	}
}

// endless is a server that never stops sending.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

func TestReadDoc(t *testing.T) {
	if _, err := ReadDoc(endless{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadDoc(endless) = %v, want ErrTooLarge", err)
	}
	doc := mustMarshal(t, testIndex())
	got, err := ReadDoc(bytes.NewReader(doc))
	if err != nil || !bytes.Equal(got, doc) {
		t.Errorf("ReadDoc = %d bytes, %v; want the document", len(got), err)
	}
}

func TestMarshalRefuses(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Index)
		message string
	}{
		{"format", func(i *Index) { i.Format = "odi-index-v2" }, "format"},
		{"directory", func(i *Index) { i.Directory = "dir.example" }, "directory"},
		{"key id", func(i *Index) { i.Key = "0123" }, "key"},
		{"version 0", func(i *Index) { i.Version = 0 }, "version"},
		{"expires before issued", func(i *Index) { i.Expires = i.Issued }, "not after issued"},
		{"zero time", func(i *Index) { i.Issued = time.Time{} }, "issued"},
		{"sub-second", func(i *Index) { i.Expires = i.Expires.Add(time.Millisecond) }, "whole seconds"},
		{"next key", func(i *Index) { i.NextKey = "RWnotakey" }, "next_key"},
		{"duplicate entry", func(i *Index) { i.Entries = append(i.Entries, i.Entries[0]) }, "listed twice"},
		{"infohash", func(i *Index) { i.Entries[0].InfoHash = "abc" }, "infohash"},
		{"sha256", func(i *Index) { i.Entries[0].Files[0].SHA256 = strings.ToUpper(i.Entries[0].Files[0].SHA256) }, "sha256"},
		{"negative size", func(i *Index) { i.Entries[0].Files[0].Size = -1 }, "negative size"},
		{"empty path", func(i *Index) { i.Entries[0].Files[0].Path = "" }, `file ""`},
		{"absolute path", func(i *Index) { i.Entries[0].Files[0].Path = "/etc/passwd" }, "passwd"},
		{"dot-dot path", func(i *Index) { i.Entries[0].Files[0].Path = "../etc/passwd" }, "passwd"},
		{"files unsorted", func(i *Index) { slices.Reverse(i.Entries[0].Files) }, "sorted"},
		{"no files", func(i *Index) { i.Entries[0].Files = nil }, "no files"},
		{"unknown state", func(i *Index) { i.Entries[0].State = "hidden" }, "state"},
		{"reason when published", func(i *Index) { i.Entries[0].Reason = "x" }, "no reason"},
		{"expunged without reason", func(i *Index) { i.Entries[1].Reason = "" }, "needs a reason"},
		{"bad name", func(i *Index) { i.Entries[0].Name = "a/b" }, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := testIndex()
			tt.edit(idx)
			_, err := Marshal(idx)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(errString(err), tt.message) {
				t.Errorf("Marshal = %v, want ErrInvalid containing %q", err, tt.message)
			}
		})
	}
}

func TestEntries(t *testing.T) {
	idx := testIndex()
	if _, ok := idx.Find("debian", "iso", "12.2"); ok {
		t.Error("Find found an artifact never put")
	}
	e, ok := idx.Find("debian", "iso", "12.0")
	if !ok || e.State != StateExpunged || e.Reason == "" {
		t.Fatalf("Find(expunged) = %+v, %v", e, ok)
	}
	if err := idx.Expunge("debian", "iso", "9", "x"); !errors.Is(err, ErrNotListed) {
		t.Errorf("Expunge(unlisted) = %v, want ErrNotListed", err)
	}
	if err := idx.Expunge("debian", "iso", "12.1", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("Expunge without a reason = %v, want ErrInvalid", err)
	}

	// Reinstating: Put replaces the entry, reason and all.
	next := Next(idx, t0.Add(time.Hour), 0)
	next.Put(Entry{Catalog: "debian", Name: "iso", Version: "12.0", InfoHash: e.InfoHash, Files: e.Files})
	if got, _ := next.Find("debian", "iso", "12.0"); got.State != StatePublished || got.Reason != "" {
		t.Errorf("after Put, entry = %+v, want published without reason", got)
	}
	if got, _ := idx.Find("debian", "iso", "12.0"); got.State != StateExpunged {
		t.Error("Next shares entries with its predecessor: editing one changed the other")
	}
	next.Put(testEntry("alpine", "iso", "3.20", "a.iso")) // before all: an insert, not an append
	if !next.Remove("arch", "iso", "2026.12.01") || next.Remove("arch", "iso", "2026.12.01") {
		t.Error("Remove: want true, then false")
	}
	var ids []string
	for _, e := range next.Entries {
		ids = append(ids, e.ID())
	}
	if want := []string{"alpine/iso/3.20", "debian/iso/12.0", "debian/iso/12.1"}; !slices.Equal(ids, want) {
		t.Errorf("entries = %v, want %v", ids, want)
	}
	next.Key = idx.Key // Sign's job
	if _, err := Marshal(next); err != nil {
		t.Fatal(err)
	}
	if next.Version != 2 || !next.Issued.Equal(t0.Add(time.Hour)) || !next.Expires.Equal(t0.Add(time.Hour+DefaultTTL)) || next.Directory != idx.Directory {
		t.Errorf("Next = version %d issued %v expires %v directory %q", next.Version, next.Issued, next.Expires, next.Directory)
	}
	if n := Next(nil, t0.Add(1500*time.Millisecond), time.Hour); n.Version != 1 || !n.Issued.Equal(t0.Add(time.Second)) || !n.Expires.Equal(t0.Add(time.Hour+time.Second)) {
		t.Errorf("Next(nil) = version %d issued %v expires %v", n.Version, n.Issued, n.Expires)
	}
}

// TestCheckMixAndMatch: a listed name with other bytes is refused, naming the difference.
func TestCheckMixAndMatch(t *testing.T) {
	e := testEntry("arch", "iso", "1", "arch/a.iso", "arch/a.sig")
	files := func(edit func([]File) []File) []File { return edit(slices.Clone(e.Files)) }
	same := func(f []File) []File { return f }
	tests := []struct {
		name     string
		infohash string
		files    []File
		want     error
		message  string
	}{
		{"match", e.InfoHash, files(same), nil, ""},
		{"other infohash", hexOf("other", 40), files(same), ErrMismatch, "infohash"},
		{"file missing", e.InfoHash, files(func(f []File) []File { return f[:1] }), ErrMismatch, "1 files, the index lists 2"},
		{"file renamed", e.InfoHash, files(func(f []File) []File { f[1].Path = "arch/b.sig"; return f }), ErrMismatch, `"arch/b.sig"`},
		{"other size", e.InfoHash, files(func(f []File) []File { f[0].Size++; return f }), ErrMismatch, "101 bytes"},
		{"other sha256", e.InfoHash, files(func(f []File) []File { f[0].SHA256 = hexOf("x", 64); return f }), ErrMismatch, "sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.Check(tt.infohash, tt.files)
			if !errors.Is(err, tt.want) || (tt.want != nil && !strings.Contains(err.Error(), tt.message)) {
				t.Errorf("Check = %v, want %v containing %q", err, tt.want, tt.message)
			}
		})
	}
	x := e
	x.State, x.Reason = StateExpunged, "malware"
	if err := x.Check(e.InfoHash, e.Files); !errors.Is(err, ErrExpunged) || !strings.Contains(err.Error(), "malware") {
		t.Errorf("Check(expunged) = %v, want ErrExpunged with its reason", err)
	}
}

func indent(doc string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(doc), "", "  "); err != nil {
		panic(err)
	}
	return b.String()
}

func swapEntries(t *testing.T, doc string) string {
	idx, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	idx.Entries[0], idx.Entries[1] = idx.Entries[1], idx.Entries[0]
	b, err := encode(idx)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func dupEntry(t *testing.T, doc string) string {
	idx, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	idx.Entries = append(idx.Entries[:1], idx.Entries...)
	b, err := encode(idx)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
