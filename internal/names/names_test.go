package names

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckSegment(t *testing.T) {
	tests := []struct {
		kind, in string
		ok       bool
	}{
		{"catalog", "debian", true},
		{"version", "12.5.0+deb1~rc1", true},
		{"name", "a_b-c", true},
		{"name", "", false},
		{"name", "..", false},
		{"version", "1..2", false},
		{"name", ".hidden", false},
		{"name", "-flag", false},
		{"name", "a/b", false},
		{"name", "a b", false},
		{"name", "a\x00b", false},
		{"name", "caf\u00e9", false},
		{"version", "latest", false},
		{"version", "LATEST", false},
		{"name", "latest", true},
		{"name", strings.Repeat("a", MaxSegmentLen), true},
		{"name", strings.Repeat("a", MaxSegmentLen+1), false},
	}
	for _, tt := range tests {
		err := CheckSegment(tt.kind, tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("CheckSegment(%q, %q) = %v, want ok=%v", tt.kind, tt.in, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckSegment(%q, %q) = %v, want ErrInvalid", tt.kind, tt.in, err)
		}
	}
}

func TestSplitPath(t *testing.T) {
	tests := []struct {
		in   string
		want int // components, or -1 for an error
	}{
		{"a", 1},
		{"docs/README.md", 2},
		{"caf\u00e9/\u00fcber.txt", 2},
		{"", -1},
		{"/etc/passwd", -1},
		{"../x", -1},
		{"a/../../x", -1},
		{"a/./b", -1},
		{"a//b", -1},
		{"a/", -1},
		{`a\..\b`, -1},
		{"a\nb", -1},
		{"a\x7fb", -1},
		{"\xff", -1},
		{strings.Repeat("a/", MaxPathDepth) + "a", -1},
		{strings.Repeat("a", MaxComponentLen+1), -1},
	}
	for _, tt := range tests {
		got, err := SplitPath(tt.in)
		if tt.want < 0 {
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Errorf("SplitPath(%q) = %q, %v; want ErrInvalid", tt.in, got, err)
			}
			continue
		}
		if err != nil || len(got) != tt.want {
			t.Errorf("SplitPath(%q) = %q, %v; want %d components", tt.in, got, err, tt.want)
		}
	}
}

func TestEscapePath(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"image.iso", "image.iso"},
		{"pkg/share/doc/user guide.txt", "pkg/share/doc/user%20guide.txt"},
		{"a?b/c#d/100%", "a%3Fb/c%23d/100%25"},
		{"ünï/x", "%C3%BCn%C3%AF/x"},
	} {
		if got := EscapePath(tt.in); got != tt.want {
			t.Errorf("EscapePath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
