package byterange

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseContentRange reads the Content-Range of a 206 answer (RFC 9110 section 14.4):
// "bytes first-last/complete", or "bytes first-last/*" when the server does not know the
// length (complete is then -1). Whoever asked for a range checks that this is the one
// that came before trusting a byte of the body.
func ParseContentRange(h string) (first, last, complete int64, err error) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	rng, length, ok2 := strings.Cut(rest, "/")
	a, b, ok3 := strings.Cut(rng, "-")
	if !ok || !ok2 || !ok3 {
		return 0, 0, 0, fmt.Errorf("content-range %q is not bytes FIRST-LAST/LENGTH", h)
	}
	first, err1 := parseDigits(a)
	last, err2 := parseDigits(b)
	complete = -1
	var err3 error
	if length != "*" {
		complete, err3 = parseDigits(length)
	}
	switch {
	case err1 != nil || err2 != nil || err3 != nil:
		return 0, 0, 0, fmt.Errorf("content-range %q is not bytes FIRST-LAST/LENGTH", h)
	case last < first:
		return 0, 0, 0, fmt.Errorf("content-range %q ends before it begins", h)
	case complete >= 0 && last >= complete:
		return 0, 0, 0, fmt.Errorf("content-range %q goes past the length", h)
	}
	return first, last, complete, nil
}

// parseDigits is a non-negative decimal of digits only (no sign, no space).
func parseDigits(s string) (int64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return strconv.ParseInt(s, 10, 64)
}
