package manifest

import (
	"errors"
	"strings"
	"testing"
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

func FuzzDecode(f *testing.F) {
	f.Add(`{"catalog":"c","name":"n","version":"1","root":"p","files":[{"path":"a/b","size":3,"sha256":"` + digest + `"}]}`)
	f.Add(`{"catalog":"c","name":"n","version":"1","root":"p","files":[{"path":"../a","size":3}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, digests := range []bool{false, true} {
			m, err := Decode(strings.NewReader(s), digests)
			if err != nil {
				continue
			}
			for i := range m.Files {
				if p := m.LocalPath(i); strings.Contains("/"+p+"/", "/../") || strings.HasPrefix(p, "/") {
					t.Fatalf("accepted escaping path %q", p)
				}
			}
		}
	})
}
