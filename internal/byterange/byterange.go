package byterange

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opendist/odi/internal/problem"
)

// maxRanges bounds the ranges one request may ask for: web seeds and download managers
// ask for one; hundreds of small or overlapping ones (CVE-2011-3192) make a multipart
// answer that costs more than the file. RFC 9110 section 15.5.17 lets a server answer
// 416 to "an excessive number of small or overlapping ranges".
const maxRanges = 16

// byteRange is [start, end], both inclusive, inside the file.
type byteRange struct{ start, end int64 }

// errRange is the class of Range headers answered 416: malformed, unsatisfiable, or
// too many ranges.
var errRange = errors.New("range not satisfiable")

// parseRanges reads a Range header (RFC 9110 section 14.1.2) against a file of size
// bytes. It returns the satisfiable ranges in the order asked, with numbers too large
// for int64 clamped to the file; nil and no error when the header is to be ignored
// (absent, or another unit than bytes, section 14.2). net/http's parser answers a
// suffix of 0 bytes ("bytes=-0", or any suffix of an empty file) 206 with a
// Content-Range whose end is before its start; here it is unsatisfiable.
func parseRanges(h string, size int64) ([]byteRange, error) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return nil, nil
	}
	var out []byteRange
	asked := 0
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.Trim(part, " \t")
		if part == "" {
			continue
		}
		if asked++; asked > maxRanges {
			return nil, fmt.Errorf("%w: more than %d ranges", errRange, maxRanges)
		}
		first, last, ok := strings.Cut(part, "-")
		first, last = strings.Trim(first, " \t"), strings.Trim(last, " \t")
		if !ok || (first == "" && last == "") {
			return nil, fmt.Errorf("%w: %q is not a byte range", errRange, part)
		}
		if first == "" { // the last n bytes
			n, err := digits(last)
			if err != nil {
				return nil, fmt.Errorf("%w: %q: %w", errRange, part, err)
			}
			if n > 0 && size > 0 {
				out = append(out, byteRange{size - min(n, size), size - 1})
			}
			continue
		}
		start, err := digits(first)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", errRange, part, err)
		}
		end := int64(math.MaxInt64)
		if last != "" {
			if end, err = digits(last); err != nil {
				return nil, fmt.Errorf("%w: %q: %w", errRange, part, err)
			}
			if end < start {
				return nil, fmt.Errorf("%w: %q ends before it starts", errRange, part)
			}
		}
		if start < size {
			out = append(out, byteRange{start, min(end, size-1)})
		}
	}
	switch {
	case asked == 0:
		return nil, fmt.Errorf("%w: %q names no range", errRange, h)
	case len(out) == 0:
		return nil, fmt.Errorf("%w: no range of %q is inside the %d bytes of the file", errRange, h, size)
	}
	return out, nil
}

// digits reads a non-negative decimal of ASCII digits only (no sign, no space); one
// past int64 is math.MaxInt64, which every file is shorter than.
func digits(s string) (int64, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number of bytes", s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil { // only a range error is left
		return math.MaxInt64, nil
	}
	return n, nil
}

// header is rs as a Range header, for http.ServeContent, which then sees no range that
// its parser gets wrong.
func header(rs []byteRange) string {
	var b strings.Builder
	b.WriteString("bytes=")
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d-%d", r.start, r.end)
	}
	return b.String()
}

// span is the smallest range that covers rs, as an offset and a length.
func span(rs []byteRange) (start, n int64) {
	start, end := rs[0].start, rs[0].end
	for _, r := range rs[1:] {
		start, end = min(start, r.start), max(end, r.end)
	}
	return start, end - start + 1
}

// Check answers r's Range header against content of size bytes: 416 with a problem
// body when it is malformed, unsatisfiable or asks for too many ranges (unless an
// If-Range lets the whole content go instead), or else it returns the request to hand
// http.ServeContent, its Range rewritten to the satisfiable ranges (or dropped), and the
// span [start, start+n) they cover (the whole content without a Range).
func Check(w http.ResponseWriter, r *http.Request, size int64) (_ *http.Request, start, n int64, ok bool) {
	rs, err := parseRanges(r.Header.Get("Range"), size)
	if err == nil && rs != nil {
		start, n = span(rs)
	} else {
		start, n = 0, size
	}
	if err != nil && r.Header.Get("If-Range") == "" {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		problem.Write(w, http.StatusRequestedRangeNotSatisfiable, err.Error())
		return nil, 0, 0, false
	}
	r = r.Clone(r.Context())
	if rs == nil {
		// Ignored: another unit, or a bad range a failed If-Range may void anyway (RFC
		// 9110 section 13.1.5); the whole file is a valid answer either way.
		r.Header.Del("Range")
	} else {
		r.Header.Set("Range", header(rs))
	}
	return r, start, n, true
}

// ServeContent is http.ServeContent for content of size bytes, its Range checked first.
func ServeContent(w http.ResponseWriter, r *http.Request, name string, modtime time.Time, content io.ReadSeeker, size int64) {
	if r.Header.Get("Range") != "" {
		var ok bool
		if r, _, _, ok = Check(w, r, size); !ok {
			return
		}
	}
	http.ServeContent(w, r, name, modtime, content)
}
