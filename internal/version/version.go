package version

import (
	"strings"
	"time"
)

// preReleaseWords are the semver pre-release labels in common use that Compare puts before
// their release.
var preReleaseWords = []string{"alpha", "beta", "pre", "dev", "rc", "a", "b"}

// Compare returns -1 if a orders before b, +1 if after, and 0 if the two are equal in the
// ordering described in the package documentation. It accepts any string.
func Compare(a, b string) int {
	ea, ra := split(a)
	eb, rb := split(b)
	if c := compareNumbers(ea, eb); c != 0 {
		return c
	}
	return compareRest(ra, rb)
}

// split normalizes v and returns its epoch (digits, "" for none) and the rest.
func split(v string) (epoch, rest string) {
	v, _, _ = strings.Cut(v, "+")
	if e, r, ok := strings.Cut(v, ":"); ok && e != "" && allDigits(e) {
		epoch, v = e, r
	}
	if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && isDigit(v[1]) {
		v = v[1:]
	}
	return epoch, markPreRelease(v)
}

// markPreRelease turns the "-" before a trailing pre-release ("-rc1", "-beta.2") into "~".
func markPreRelease(v string) string {
	i := strings.LastIndexByte(v, '-')
	if i < 0 {
		return v
	}
	tail := strings.ToLower(v[i+1:])
	for _, w := range preReleaseWords {
		if rest, ok := strings.CutPrefix(tail, w); ok && strings.Trim(rest, "0123456789.") == "" {
			return v[:i] + "~" + v[i+1:]
		}
	}
	return v
}

// compareRest is dpkg's verrevcmp: alternate a non-digit run and a digit run until both
// strings are used up. Each pass consumes at least one byte of a or b, so it ends.
func compareRest(a, b string) int {
	for a != "" || b != "" {
		var na, nb string
		na, a = cutRun(a, false)
		nb, b = cutRun(b, false)
		if c := compareNonDigits(na, nb); c != 0 {
			return c
		}
		na, a = cutRun(a, true)
		nb, b = cutRun(b, true)
		if c := compareNumbers(na, nb); c != 0 {
			return c
		}
	}
	return 0
}

// cutRun splits s after its leading run of digits (or of non-digits).
func cutRun(s string, digits bool) (run, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) == digits {
		i++
	}
	return s[:i], s[i:]
}

// compareNonDigits compares two non-digit runs by weight, the shorter one padded with the
// end-of-string weight.
func compareNonDigits(a, b string) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		wa, wb := weight(a, i), weight(b, i)
		if wa != wb {
			return sign(wa - wb)
		}
	}
	return 0
}

// weight is dpkg's order(): "~" first, then the end of the run, then letters, then the rest.
func weight(s string, i int) int {
	switch {
	case i >= len(s):
		return 0
	case s[i] == '~':
		return -1
	case s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z':
		return int(s[i])
	default:
		return int(s[i]) + 256
	}
}

// compareNumbers compares two digit runs by value ("" is 0) without parsing them, so
// no length overflows.
func compareNumbers(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return strings.Compare(a, b)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// Newer reports whether version a, published at aTime, rather than b, published at bTime,
// is "latest": the higher version (so a backport published after a release does not
// displace it); among versions Compare calls equal (1.0 and 1.00, v1.0 and 1.0) the later
// publish; then the larger string, so the answer never depends on the order of the
// candidates. Everything that resolves "latest" decides with it, so all agree.
func Newer(a string, aTime time.Time, b string, bTime time.Time) bool {
	if c := Compare(a, b); c != 0 {
		return c > 0
	}
	if !aTime.Equal(bTime) {
		return aTime.After(bTime)
	}
	return a > b
}
