package byterange

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseRanges(t *testing.T) {
	const size = 950
	huge := "99999999999999999999999"
	tests := []struct {
		header string
		want   []byteRange
		bad    bool // 416
	}{
		{"bytes=0-99", []byteRange{{0, 99}}, false},
		{"bytes=900-", []byteRange{{900, 949}}, false},
		{"bytes=900-5000", []byteRange{{900, 949}}, false},
		{"bytes=-10", []byteRange{{940, 949}}, false},
		{"bytes=-5000", []byteRange{{0, 949}}, false},
		{"bytes= 5 - 9", []byteRange{{5, 9}}, false},
		{"bytes=0-1,5-6", []byteRange{{0, 1}, {5, 6}}, false},
		{"bytes=0-1,-0", []byteRange{{0, 1}}, false},
		{"bytes=0-1,2000-", []byteRange{{0, 1}}, false},
		{"bytes=0-" + huge, []byteRange{{0, 949}}, false},
		{"bytes=-" + huge, []byteRange{{0, 949}}, false},
		{"", nil, false},
		{"items=0-5", nil, false},
		{"bytes=-0", nil, true},
		{"bytes=950-", nil, true},
		{"bytes=" + huge + "-", nil, true},
		{"bytes=9-5", nil, true},
		{"bytes=5-4", nil, true},
		{"bytes=a-b", nil, true},
		{"bytes=+1-2", nil, true},
		{"bytes=-", nil, true},
		{"bytes=5", nil, true},
		{"bytes=", nil, true},
		{"bytes=,,", nil, true},
		{"bytes=" + strings.Repeat("0-0,", maxRanges+1), nil, true},
	}
	for _, tt := range tests {
		got, err := parseRanges(tt.header, size)
		if !reflect.DeepEqual(got, tt.want) || (err != nil) != tt.bad || (err != nil && !errors.Is(err, errRange)) {
			t.Errorf("parseRanges(%q) = %v, %v; want %v, 416 %v", tt.header, got, err, tt.want, tt.bad)
		}
	}
	for _, h := range []string{"bytes=0-", "bytes=-1", "bytes=0-0"} {
		if got, err := parseRanges(h, 0); err == nil {
			t.Errorf("parseRanges(%q) of an empty file = %v, want 416", h, got)
		}
	}
}

// FuzzParseRanges: any header either fails with errRange or gives ranges inside the
// file, no more than maxRanges, that read back the same from their rewritten header.
func FuzzParseRanges(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=-0", "bytes=5-4", "bytes=0-1,-5,7-", "bytes=99999999999999999999-", "bytes= , 1-"} {
		f.Add(s, int64(950))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
			if size < 0 {
				return
			}
		}
		rs, err := parseRanges(h, size)
		if err != nil {
			if !errors.Is(err, errRange) || rs != nil {
				t.Fatalf("parseRanges(%q, %d) = %v, %v", h, size, rs, err)
			}
			return
		}
		if len(rs) > maxRanges {
			t.Fatalf("parseRanges(%q) gave %d ranges", h, len(rs))
		}
		for _, r := range rs {
			if r.start < 0 || r.start > r.end || r.end >= size {
				t.Fatalf("parseRanges(%q, %d) gave %v", h, size, r)
			}
		}
		if rs != nil {
			again, err := parseRanges(header(rs), size)
			if err != nil || !reflect.DeepEqual(again, rs) {
				t.Fatalf("header(%v) = %q reads back as %v, %v", rs, header(rs), again, err)
			}
			if start, n := span(rs); start < 0 || n < 1 || start+n > size {
				t.Fatalf("span(%v) = %d, %d", rs, start, n)
			}
		}
	})
}

func TestParseContentRange(t *testing.T) {
	for _, tt := range []struct {
		h                     string
		first, last, complete int64
		ok                    bool
	}{
		{"bytes 0-99/1000", 0, 99, 1000, true},
		{"bytes 500-999/1000", 500, 999, 1000, true},
		{"bytes 7-7/*", 7, 7, -1, true},
		{"bytes 0-999/1000", 0, 999, 1000, true},
		{"bytes 0-1000/1000", 0, 0, 0, false}, // past the length
		{"bytes 9-3/10", 0, 0, 0, false},      // backwards
		{"bytes */1000", 0, 0, 0, false},      // a 416's, not a 206's
		{"bytes -1-5/10", 0, 0, 0, false},
		{"bytes +1-5/10", 0, 0, 0, false},
		{"bytes 1 -5/10", 0, 0, 0, false},
		{"items 0-1/2", 0, 0, 0, false},
		{"bytes 0-99", 0, 0, 0, false},
		{"bytes 0-99999999999999999999/1", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		first, last, complete, err := ParseContentRange(tt.h)
		if (err == nil) != tt.ok || tt.ok && (first != tt.first || last != tt.last || complete != tt.complete) {
			t.Errorf("ParseContentRange(%q) = %d, %d, %d, %v; want %d, %d, %d, ok=%v", tt.h, first, last, complete, err, tt.first, tt.last, tt.complete, tt.ok)
		}
	}
}
