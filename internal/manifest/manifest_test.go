package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/opendist/odi/internal/names"
)

const digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func single() *Manifest {
	return &Manifest{Catalog: "debian", Name: "netinst", Version: "12.5.0", Root: "debian.iso",
		Files: []File{{Path: "", Size: 10, SHA256: digest}}}
}

func pkg(paths ...string) *Manifest {
	m := &Manifest{Catalog: "c", Name: "n", Version: "1", Root: "pkg"}
	for _, p := range paths {
		m.Files = append(m.Files, File{Path: p, Size: 1, SHA256: digest})
	}
	return m
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		m    *Manifest
		ok   bool
	}{
		{"single file", single(), true},
		{"package", pkg("README", "bin/tool", "doc/a.txt"), true},
		{"unsorted", pkg("b", "a"), false},
		{"repeated", pkg("a", "a"), false},
		{"case twins", pkg("README", "readme"), false},
		{"file and folder", pkg("a", "a/b"), false},
		{"file and folder apart", pkg("a", "a-b", "a/b"), false},
		{"traversal", pkg("../etc/passwd"), false},
		{"absolute", pkg("/etc/passwd"), false},
		{"empty path in package", pkg("", "a"), false},
		{"no files", pkg(), false},
		{"bad catalog", func() *Manifest { m := single(); m.Catalog = "../x"; return m }(), false},
		{"latest version", func() *Manifest { m := single(); m.Version = "latest"; return m }(), false},
		{"bad root", func() *Manifest { m := single(); m.Root = ".."; return m }(), false},
		{"root with slash", func() *Manifest { m := single(); m.Root = "a/b"; return m }(), false},
		{"negative size", func() *Manifest { m := single(); m.Files[0].Size = -1; return m }(), false},
		{"empty artifact", func() *Manifest { m := single(); m.Files[0].Size = 0; return m }(), false},
		{"upper-case digest", func() *Manifest { m := single(); m.Files[0].SHA256 = strings.ToUpper(digest); return m }(), false},
		{"short digest", func() *Manifest { m := single(); m.Files[0].SHA256 = "abcd"; return m }(), false},
		{"empty path last", pkg("a", ""), false},
		{"file and folder in case", pkg("A/x", "a"), false},
		{"folder twins", pkg("A/x", "a/y"), false},
		{"nfd twins", pkg("cafe\u0301", "caf\u00e9"), false},
		{"bidi override", pkg("invoice\u202Etxt.exe"), false},
		{"homoglyph", pkg("p\u0430ypal.exe"), false},
		{"windows device", pkg("doc/con.txt"), false},
		{"trailing dot", pkg("a."), false},
		{"root with zero-width space", func() *Manifest { m := single(); m.Root = "debian\u200B.iso"; return m }(), false},
	}
	for _, tt := range tests {
		err := tt.m.Validate(true)
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", tt.name, err)
		}
	}
}

func TestDeclaration(t *testing.T) {
	m := pkg("a", "b")
	d := m.Declaration()
	if err := d.Validate(false); err != nil {
		t.Fatalf("declaration: %v", err)
	}
	if err := m.Validate(false); err == nil {
		t.Fatal("a manifest with digests passed as a declaration")
	}
	if err := d.Validate(true); err == nil {
		t.Fatal("a declaration passed as a manifest")
	}
	if m.Files[0].SHA256 == "" {
		t.Fatal("Declaration changed the manifest it came from")
	}
}

func TestDecode(t *testing.T) {
	good := `{"catalog":"c","name":"n","version":"1","root":"f.iso","files":[{"path":"","size":3,"sha256":"` + digest + `"}]}`
	m, err := Decode(strings.NewReader(good), true)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID() != "c/n/1" || !m.SingleFile() || m.TotalSize() != 3 || m.LocalPath(0) != "f.iso" {
		t.Fatalf("decoded %+v", m)
	}
	for _, bad := range []string{
		``, `{`, `[]`, `{"catalog":"c","unknown":1}`, good + `{}`,
		`{"catalog":"c","name":"n","version":"1","root":"f","files":[{"path":"","size":"3"}]}`,
	} {
		if _, err := Decode(strings.NewReader(bad), true); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	huge := `{"catalog":"` + strings.Repeat("a", MaxBytes) + `"}`
	if _, err := Decode(strings.NewReader(huge), true); !errors.Is(err, ErrInvalid) {
		t.Errorf("Decode(huge) = %v, want ErrInvalid", err)
	}
}

// files is a package of n files of size bytes each, then one of each of the more sizes.
func files(n int, size int64, more ...int64) *Manifest {
	m := &Manifest{Catalog: "c", Name: "n", Version: "1", Root: "pkg"}
	for i := range n {
		m.Files = append(m.Files, File{Path: fmt.Sprintf("f%06d", i), Size: size, SHA256: digest})
	}
	for i, size := range more {
		m.Files = append(m.Files, File{Path: fmt.Sprintf("z%d", i), Size: size, SHA256: digest})
	}
	return m
}

func TestSizes(t *testing.T) {
	tests := []struct {
		name  string
		m     *Manifest
		want  string // a part of Validate's error, or "" for accepted
		total int64  // TotalSize
	}{
		{"one byte", files(1, 1), "", 1},
		{"the maximum in one file", files(1, MaxTotalSize), "", MaxTotalSize},
		{"the maximum in two files", files(1, MaxTotalSize-1, 1), "", MaxTotalSize},
		{"empty files and one byte", files(3, 0, 1), "", 1},
		{"empty", files(3, 0), "the artifact is empty", 0},
		{"negative", files(1, -1), `file "f000000" has a negative size, -1`, math.MaxInt64},
		{"most negative", files(1, 10, math.MinInt64), "negative size", math.MaxInt64},
		{"negative making a sum small", files(2, 1<<49, -(1 << 49)), "negative size", math.MaxInt64},
		{"over the maximum", files(1, MaxTotalSize+1), "has 1125899906842625 bytes, more than 1125899906842624", math.MaxInt64},
		{"largest int64", files(1, math.MaxInt64), "more than 1125899906842624", math.MaxInt64},
		{"two largest int64", files(2, math.MaxInt64), "more than 1125899906842624", math.MaxInt64},
		{"sum just over", files(1, MaxTotalSize, 1), `the files up to "z0" add up to more than 1125899906842624 bytes`, math.MaxInt64},
		// The attack of issue 13: the sum wrapped to 100 bytes, and to a negative size
		// that a later PUT made a slice of.
		{"16384 files of 2^50 and 100 bytes", files(16384, 1<<50, 100), `the files up to "f000001" add up`, math.MaxInt64},
		{"8193 files of 2^50", files(8193, 1<<50), "add up to more than", math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.Validate(true)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Errorf("Validate = nil, want an error containing %q", tt.want)
			case err != nil && !errors.Is(err, ErrInvalid):
				t.Errorf("Validate = %v, not ErrInvalid", err)
			case err != nil && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Validate = %v, want it to contain %q", err, tt.want)
			}
			if got := tt.m.TotalSize(); got != tt.total {
				t.Errorf("TotalSize = %d, want %d", got, tt.total)
			}
		})
	}
}

func TestDecodeStrict(t *testing.T) {
	const head = `{"catalog":"c","name":"n","version":"1","root":"p",`
	file := func(path string, size int) string {
		return fmt.Sprintf(`{"path":%q,"size":%d,"sha256":%q}`, path, size, digest)
	}
	tests := []struct {
		name, in string
		want     string // a part of the error message, or "" for accepted
	}{
		{"good", head + `"files":[` + file("a", 1) + `,` + file("b", 2) + `]}`, ""},
		{"duplicate catalog", `{"catalog":"c","catalog":"evil",` + head[1:] + `"files":[` + file("a", 1) + `]}`, `duplicate key "catalog" in $`},
		{"duplicate size", head + `"files":[{"path":"a","size":1,"size":2,"sha256":"` + digest + `"}]}`, `duplicate key "size" in $.files[0]`},
		{"size in two cases", head + `"files":[{"path":"a","size":1,"Size":2,"sha256":"` + digest + `"}]}`, `keys "size" and "Size" in $.files[0] differ only in case`},
		{"size spelled with a long s", head + `"files":[{"path":"a","ſize":1,"sha256":"` + digest + `"}]}`, `must be spelled "size"`},
		{"duplicate files", head + `"files":[` + file("a", 1) + `],"files":[` + file("b", 1) + `]}`, `duplicate key "files" in $`},
		{"unknown field", head + `"files":[` + file("a", 1) + `],"signer":"x"}`, `unknown field "signer" in $`},
		{"null path", head + `"files":[{"path":null,"size":1,"sha256":"` + digest + `"}]}`, "null at $.files[0].path"},
		{"trailing data", head + `"files":[` + file("a", 1) + `]}{}`, "data after the value"},
		{"lone surrogate", head + `"files":[` + file("a", 1) + `],"version":"\udc00"}`, "unpaired surrogate"},
		{"case collision", head + `"files":[` + file("A/x", 1) + `,` + file("a", 1) + `]}`, `file "a" and folder "A" of "A/x"`},
		{"wrapped size", head + `"files":[` + file("a", 1<<50) + `,` + file("b", 1<<50) + `]}`, "add up to more than"},
		{"size beyond int64", head + `"files":[{"path":"a","size":9223372036854775808,"sha256":"` + digest + `"}]}`, "cannot unmarshal number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tt.in), true)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Decode = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Errorf("Decode = nil, want an error containing %q", tt.want)
			case err != nil && !errors.Is(err, ErrInvalid):
				t.Errorf("Decode = %v, not ErrInvalid", err)
			case err != nil && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Decode = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(`{"catalog":"c","name":"n","version":"1","root":"p","files":[{"path":"a/b","size":3,"sha256":"` + digest + `"}]}`)
	f.Add(`{"catalog":"c","name":"n","version":"1","root":"p","files":[{"path":"../a","size":3}]}`)
	f.Add(`{"catalog":"c","name":"n","version":"1","root":"p","files":[{"path":"a","size":1125899906842624},{"path":"b","size":1125899906842624}]}`)
	f.Add(`{"catalog":"c","name":"n","version":"1","root":"p","files":[{"path":"a","size":3,"size":4}]}`)
	f.Add(`{"catalog":"c","name":"n","version":"1","root":"p","files":[{"path":"a","size":1},{"path":"A/x","size":1}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, digests := range []bool{false, true} {
			m, err := Decode(strings.NewReader(s), digests)
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Decode(%q) = %v, not ErrInvalid", s, err)
				}
				continue
			}
			for i := range m.Files {
				if p := m.LocalPath(i); strings.Contains("/"+p+"/", "/../") || strings.HasPrefix(p, "/") {
					t.Fatalf("accepted escaping path %q", p)
				}
			}
			if n := m.TotalSize(); n <= 0 || n > MaxTotalSize {
				t.Fatalf("accepted a total size of %d", n)
			}
			if !m.SingleFile() {
				var paths []string
				for _, f := range m.Files {
					paths = append(paths, f.Path)
				}
				if err := names.CheckPaths(paths); err != nil {
					t.Fatalf("accepted colliding paths: %v", err)
				}
			}
			// What encoding/json writes back is the same manifest, accepted again.
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Decode(strings.NewReader(string(b)), digests)
			if err != nil || !again.Equal(m) {
				t.Fatalf("Decode(%q) = %+v; written back as %s, Decode = %+v, %v", s, m, b, again, err)
			}
		}
	})
}

// FuzzDecodeSizes declares n files of size bytes and one of last bytes, and checks
// Decode and TotalSize against arbitrary-precision arithmetic: accepted exactly when no
// size is negative and the sum is in (0, MaxTotalSize], and TotalSize that sum (or
// math.MaxInt64 when the sizes are not acceptable).
func FuzzDecodeSizes(f *testing.F) {
	f.Add(uint16(16384), int64(1<<50), int64(100)) // the issue 13 attack: wrapped to 100 B
	f.Add(uint16(8193), int64(1<<50), int64(0))    // wrapped negative: makeslice panic
	f.Add(uint16(1), int64(math.MaxInt64), int64(1))
	f.Add(uint16(2), int64(1<<62), int64(-1<<62))
	f.Add(uint16(1), int64(MaxTotalSize), int64(0))
	f.Add(uint16(0), int64(0), int64(MaxTotalSize+1))
	f.Add(uint16(3), int64(7), int64(-1))
	f.Fuzz(func(t *testing.T, n uint16, size, last int64) {
		count := int(n) % 20_000
		var b strings.Builder
		b.WriteString(`{"catalog":"c","name":"n","version":"1","root":"p","files":[`)
		sum, ok := new(big.Int), true
		for i := range count {
			fmt.Fprintf(&b, `{"path":"f%06d","size":%d},`, i, size)
			sum.Add(sum, big.NewInt(size))
			ok = ok && size >= 0
		}
		fmt.Fprintf(&b, `{"path":"z0","size":%d}]}`, last)
		sum.Add(sum, big.NewInt(last))
		ok = ok && last >= 0
		valid := ok && sum.Sign() > 0 && sum.Cmp(big.NewInt(MaxTotalSize)) <= 0

		m, err := Decode(strings.NewReader(b.String()), false)
		if valid != (err == nil) {
			t.Fatalf("%d files of %d and one of %d (sum %v): Decode error %v", count, size, last, sum, err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Decode = %v, not ErrInvalid", err)
		}
		if m == nil {
			m = files(count, size, last)
		}
		want := int64(math.MaxInt64)
		if ok && sum.Cmp(big.NewInt(MaxTotalSize)) <= 0 {
			want = sum.Int64()
		}
		if got := m.TotalSize(); got != want {
			t.Fatalf("%d files of %d and one of %d: TotalSize = %d, want %d", count, size, last, got, want)
		}
	})
}

// BenchmarkDecodeLarge decodes a manifest of MaxFiles non-ASCII paths four folders deep
// (16 MB): the most checking a publish can ask of the directory.
func BenchmarkDecodeLarge(b *testing.B) {
	m := &Manifest{Catalog: "c", Name: "n", Version: "1", Root: "pkg"}
	for i := range MaxFiles {
		m.Files = append(m.Files, File{Path: fmt.Sprintf("usr/share/пакет-%03d/подпапка/файл-%05d.txt", i/1000, i), Size: 1, SHA256: digest})
	}
	data, err := json.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(strings.NewReader(string(data)), true); err != nil {
			b.Fatal(err)
		}
	}
}
