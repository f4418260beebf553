package originpull

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const (
	sumA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	sumB = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
)

func TestParseListing(t *testing.T) {
	tests := []struct {
		name    string
		listing string
		want    string // releases as "name/version root [path=sum ...]", ";"-joined
		err     string // a substring of the error, if refused
	}{
		{"empty", "", "", ""},
		{"single file", sumA + "  tool/1.0/tool.tar.gz\n", "tool/1.0 tool.tar.gz [=" + sumA[:4] + "]", ""},
		{"no final newline", sumA + "  tool/1.0/tool.tar.gz", "tool/1.0 tool.tar.gz [=" + sumA[:4] + "]", ""},
		{"binary mode", sumA + " *tool/1.0/tool.tar.gz\n", "tool/1.0 tool.tar.gz [=" + sumA[:4] + "]", ""},
		{"upper-case hex", strings.ToUpper(sumA) + "  tool/1.0/t\n", "tool/1.0 t [=" + sumA[:4] + "]", ""},
		{"package sorted", sumB + "  tool/2.0/b\n" + sumA + "  tool/2.0/a/x\n",
			"tool/2.0 tool-2.0 [a/x=" + sumA[:4] + " b=" + sumB[:4] + "]", ""},
		{"lone file in a folder is a package", sumA + "  tool/2.0/doc/x\n", "tool/2.0 tool-2.0 [doc/x=" + sumA[:4] + "]", ""},
		{"two releases", sumA + "  b/1/f\n" + sumB + "  a/1/g\n", "a/1 g [=" + sumB[:4] + "];b/1 f [=" + sumA[:4] + "]", ""},
		{"same bytes twice", sumA + "  a/1/f\n" + sumA + "  a/1/g\n", "a/1 a-1 [f=" + sumA[:4] + " g=" + sumA[:4] + "]", ""},
		{"bad hex", strings.Replace(sumA, "9", "g", 1) + "  a/1/f\n", "", "line 1: bad hex"},
		{"short sum", sumA[:63] + "  a/1/f\n", "", `line 1: not "<sha256 hex>  <path>"`},
		{"one space", sumA + " a/1/f\n", "", `not "<sha256 hex>  <path>"`},
		{"traversal", sumA + "  a/1/../../etc/passwd\n", "", "path traversal"},
		{"traversal as name", sumA + "  ../1/f\n", "", "path traversal"},
		{"absolute", sumA + "  /etc/passwd\n", "", "absolute path"},
		{"dot slash", sumA + "  ./a/1/f\n", "", `"." component`},
		{"double slash", sumA + "  a//1/f\n", "", "empty component"},
		{"too shallow", sumA + "  a/f\n", "", "is not <name>/<version>/<file>"},
		{"duplicate", sumA + "  a/1/f\n" + sumB + "  a/1/f\n", "", `line 2: "a/1/f" is listed twice (first on line 1)`},
		{"bad name", sumA + "  -a/1/f\n", "", "name \"-a\" must start with a letter or digit"},
		{"reserved version", sumA + "  a/latest/f\n", "", "version \"latest\" is reserved"},
		{"bad component", sumA + "  a/1/con.txt\n", "", "line 1:"},
		{"escaped", "\\" + sumA + "  a/1/f\\nx\n", "", "escaped line"},
		{"crlf", sumA + "  a/1/f\r\n", "", "carriage return"},
		{"blank line", sumA + "  a/1/f\n\n" + sumB + "  a/1/g\n", "", "line 2: empty line"},
		{"case twins", sumA + "  a/1/README\n" + sumB + "  a/1/readme\n", "", "a/1:"},
		{"file and folder", sumA + "  a/1/x\n" + sumB + "  a/1/x/y\n", "", "a/1:"},
		{"bsd tag format", "SHA256 (a/1/f) = " + sumA + "\n", "", "line 1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := ParseListing([]byte(tt.listing))
			if tt.err != "" {
				if err == nil || !errors.Is(err, ErrListing) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseListing = %v, want ErrListing containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseListing: %v", err)
			}
			var got []string
			for _, r := range rs {
				var fs []string
				for _, f := range r.Files {
					fs = append(fs, f.Path+"="+f.SHA256[:4])
				}
				got = append(got, r.Name+"/"+r.Version+" "+r.Root+" ["+strings.Join(fs, " ")+"]")
			}
			if g := strings.Join(got, ";"); g != tt.want {
				t.Errorf("ParseListing =\n  %s\nwant\n  %s", g, tt.want)
			}
		})
	}
}

// FuzzParseListing checks that any listing is refused with ErrListing or gives releases
// whose every file is inside its <name>/<version>/ folder and whose manifest is sound.
func FuzzParseListing(f *testing.F) {
	f.Add([]byte(sumA + "  tool/1.0/tool.tar.gz\n"))
	f.Add([]byte(sumA + "  a/1/x/y\n" + sumB + " *a/1/z\n"))
	f.Add([]byte(sumA + "  a/1/../../x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseListing(data)
		if err != nil {
			if !errors.Is(err, ErrListing) {
				t.Fatalf("error %v is not ErrListing", err)
			}
			return
		}
		for _, r := range rs {
			sizes := make([]int64, len(r.Files))
			for i := range sizes {
				sizes[i] = 1
			}
			if err := r.Manifest("c", sizes).Validate(true); err != nil {
				t.Fatalf("release %s/%s: manifest refused: %v", r.Name, r.Version, err)
			}
			for _, f := range r.Files {
				if !strings.HasPrefix(f.Source, r.Name+"/"+r.Version+"/") || slices.Contains(strings.Split(f.Source, "/"), "..") {
					t.Fatalf("file %q outside its release %s/%s", f.Source, r.Name, r.Version)
				}
			}
		}
	})
}
