package names

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

func TestCheckPaths(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		want  string // a part of the error message, or "" for accepted
	}{
		{"none", nil, ""},
		{"distinct", []string{"README", "bin/tool", "doc/a.txt", "doc/b.txt"}, ""},
		{"shared folders", []string{"a/b/c", "a/b/d", "a/e"}, ""},
		{"prefix names that are not folders", []string{"a", "a-b", "ab/c"}, ""},
		{"listed twice", []string{"a/b", "a/b"}, `path "a/b" is listed twice`},
		{"case twins", []string{"README", "readme"}, `paths "README" and "readme" differ only in case`},
		{"case twins deep", []string{"d/Makefile", "d/makefile"}, `paths "d/Makefile" and "d/makefile"`},
		{"file and folder", []string{"a", "a/x"}, `"a" is a file and also a folder of "a/x"`},
		{"folder then file", []string{"a/x", "a"}, `"a" is a file and also a folder of "a/x"`},
		{"file and folder in case", []string{"a", "A/x"}, `file "a" and folder "A" of "A/x" differ only in case`},
		{"folder and file in case", []string{"A/x", "a"}, `file "a" and folder "A" of "A/x" differ only in case`},
		{"folder twins", []string{"A/x", "a/y"}, `folders "A" (of "A/x") and "a" (of "a/y") differ only in case`},
		{"deep folder twins", []string{"p/Docs/x", "p/docs/y"}, `folders "p/Docs"`},
		{"sharp s", []string{"STRASSE", "straße"}, "differ only in case"},
		{"kelvin sign", []string{"\u212A", "k"}, "not in Unicode NFC"}, // a singleton decomposition
		{"long s", []string{"ſize", "size"}, "differ only in case"},
		{"ligature", []string{"\uFB01le", "file"}, "compatibility form"},
		{"fullwidth", []string{"ＲＥＡＤＭＥ", "readme"}, "compatibility form"},
		{"greek final sigma", []string{"ΟΔΟΣ", "οδος", "οδοσ"}, "differ only in case"},
		{"bad component", []string{"ok", "a/CON"}, "the Windows device CON"},
		{"bad path", []string{"../x"}, `path component ".."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPaths(tt.paths)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckPaths(%q) = %v, want nil", tt.paths, err)
			case tt.want != "" && err == nil:
				t.Errorf("CheckPaths(%q) = nil, want an error containing %q", tt.paths, tt.want)
			case err != nil && !errors.Is(err, ErrInvalid):
				t.Errorf("CheckPaths(%q) = %v, not ErrInvalid", tt.paths, err)
			case err != nil && !strings.Contains(err.Error(), tt.want):
				t.Errorf("CheckPaths(%q) = %v, want it to contain %q", tt.paths, err, tt.want)
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	for _, tt := range []struct {
		p    string
		j    int
		want string
	}{
		{"a", 0, "a"}, {"a/b/c", 0, "a"}, {"a/b/c", 1, "a/b"}, {"a/b/c", 2, "a/b/c"},
	} {
		if got := prefix(tt.p, tt.j); got != tt.want {
			t.Errorf("prefix(%q, %d) = %q, want %q", tt.p, tt.j, got, tt.want)
		}
	}
}

// The attack on issue 13 got each of these accepted as a path of an artifact.
func TestAttackPaths(t *testing.T) {
	for _, paths := range [][]string{
		{"invoice\u202Eexe.txt"},    // right-to-left override
		{"doc/\u2066a\u2069"},       // isolate
		{"pay\u200Bpal"},            // zero-width space
		{"a\u200Db"},                // zero-width joiner
		{"\uFEFFsetup.exe"},         // byte order mark
		{"soft\u00ADhyphen"},        // soft hyphen
		{"p\u0430ypal.exe"},         // Cyrillic а in a Latin word
		{"caf\u00e9", "cafe\u0301"}, // NFC/NFD twins
		{"cafe\u0301"},              // NFD alone
		{"a", "A/x"},                // a file and a folder of one name
		{"README", "readme"},        // case twins
		{"CON"},                     // Windows device
		{"dir/nul.txt"},             // Windows device with extension
		{"COM\u00b9"},               // superscript digit device
		{"a."},                      // trailing dot
		{"a "},                      // trailing space
		{" a"},                      // leading space
		{"a:b"},                     // NTFS stream separator
		{"\uE000"},                  // private use
	} {
		if err := CheckPaths(paths); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckPaths(%+q) = %v, want ErrInvalid", paths, err)
		}
	}
}

func FuzzSplitPath(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a//b", "\xff", "a\\b", "p\u0430ypal", "cafe\u0301",
		"CON.txt", "a\u202Eb", "a.", "COM\u00b9", "日本語.txt", "отчёт.pdf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		parts, err := SplitPath(p)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("SplitPath(%q) = %v, not ErrInvalid", p, err)
			}
			return
		}
		if strings.Join(parts, "/") != p {
			t.Fatalf("SplitPath(%q) = %q does not rejoin", p, parts)
		}
		if !norm.NFC.IsNormalString(p) {
			t.Fatalf("SplitPath(%q) accepted a path not in NFC", p)
		}
		for _, c := range parts {
			if c == ".." || c == "." || c == "" || strings.ContainsAny(c, "/\\\x00<>:\"|?*") ||
				c[0] == ' ' || strings.HasSuffix(c, " ") || strings.HasSuffix(c, ".") {
				t.Fatalf("SplitPath(%q) accepted component %q", p, c)
			}
			for _, r := range c {
				if isBidiControl(r) || badRune(r) != "" {
					t.Fatalf("SplitPath(%q) accepted %U in %q", p, r, c)
				}
			}
			if dev := windowsDevice(c); dev != "" {
				t.Fatalf("SplitPath(%q) accepted the device %s", p, dev)
			}
		}
		if err := CheckPaths([]string{p}); err != nil {
			t.Fatalf("SplitPath(%q) accepted what CheckPaths refuses: %v", p, err)
		}
	})
}

// FuzzCheckPaths checks CheckPaths's tree against the definition, pair by pair: no two
// accepted paths have the same folded form, and a folded prefix of one is a folder of the
// other only if it is spelled the same. The paths are the lines of the input.
func FuzzCheckPaths(f *testing.F) {
	for _, s := range []string{"a\nA/x", "README\nreadme", "a\na/x", "a/x\na", "A/x\na/y",
		"a/b\na/c\nd", "\uFB01le\nfile", "straße\nSTRASSE", "x/y/z\nx/Y", "a\na"} {
		f.Add(s)
	}
	fold := cases.Fold()
	key := func(p string) []string {
		var k []string
		for _, c := range strings.Split(p, "/") {
			k = append(k, foldKey(fold, c))
		}
		return k
	}
	f.Fuzz(func(t *testing.T, s string) {
		paths := strings.Split(s, "\n")
		err := CheckPaths(paths)
		reversed := slices.Clone(paths)
		slices.Reverse(reversed)
		if rerr := CheckPaths(reversed); (rerr == nil) != (err == nil) {
			t.Fatalf("CheckPaths(%q) = %v, but reversed %v", paths, err, rerr)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("CheckPaths(%q) = %v, not ErrInvalid", paths, err)
			}
			return
		}
		for i, p := range paths {
			kp := key(p)
			for _, q := range paths[i+1:] {
				kq := key(q)
				if slices.Equal(kp, kq) {
					t.Fatalf("CheckPaths accepted %q and %q, which fold alike", p, q)
				}
				short, long, sp, lp := kp, kq, p, q
				if len(short) > len(long) {
					short, long, sp, lp = kq, kp, q, p
				}
				if slices.Equal(short, long[:len(short)]) {
					t.Fatalf("CheckPaths accepted file %q and a folder of %q", sp, lp)
				}
				pp, qp := strings.Split(p, "/"), strings.Split(q, "/")
				for j := 0; j < len(short)-1 && kp[j] == kq[j]; j++ {
					if pp[j] != qp[j] {
						t.Fatalf("CheckPaths accepted folders %q and %q of %q and %q", pp[j], qp[j], p, q)
					}
				}
			}
		}
	})
}
