package names

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// CheckComponent checks one component of a file path inside an artifact, or a torrent's
// name. A component becomes a file or folder name on every user's machine, so it refuses
// what would escape a folder, mean different things on different systems, or look like
// another name:
//
//   - "", ".", "..", separators, invalid UTF-8 and control characters;
//   - what Windows cannot create: < > : " | ? *, a trailing dot or space (Windows strips
//     them), and the device names CON, PRN, AUX, NUL, COM0-9, LPT0-9 (with ¹²³ as digits
//     too), CONIN$ and CONOUT$, in any case, with or without an extension;
//   - a leading space, and spaces other than U+0020;
//   - text not in Unicode NFC (its NFD twin would be another name on Linux and the same
//     one on macOS), or that starts with a combining mark;
//   - invisible characters: bidirectional controls, which can make a name display as
//     another, and the other format (Cf) and default-ignorable code points (zero-width
//     joiners and spaces, soft hyphen, variation selectors, tags, Hangul fillers, ...);
//   - private-use, noncharacter and unassigned code points, which mean nothing portable;
//   - words that mix scripts or digit systems: see checkScripts.
//
// Unicode properties come from the standard library's tables (unicode.Version) and
// normalization from golang.org/x/text, both Unicode 15.0.0 with our Go version.
func CheckComponent(c string) error {
	switch {
	case c == "":
		return fmt.Errorf("%w: empty path component", ErrInvalid)
	case c == "." || c == "..":
		return fmt.Errorf("%w: path component %q", ErrInvalid, c)
	case len(c) > MaxComponentLen:
		return fmt.Errorf("%w: path component longer than %d bytes", ErrInvalid, MaxComponentLen)
	case !utf8.ValidString(c):
		return fmt.Errorf("%w: path component %q is not valid UTF-8", ErrInvalid, c)
	}
	for i, r := range c {
		if why := badRune(r); why != "" {
			return fmt.Errorf("%w: path component %q contains %s at byte %d", ErrInvalid, c, why, i)
		}
	}
	if r, _ := utf8.DecodeRuneInString(c); unicode.In(r, unicode.M) {
		return fmt.Errorf("%w: path component %q starts with combining mark %U", ErrInvalid, c, r)
	}
	if !norm.NFC.IsNormalString(c) {
		return fmt.Errorf("%w: path component %q is not in Unicode NFC; its NFC form is %q", ErrInvalid, c, norm.NFC.String(c))
	}
	switch {
	case c[0] == ' ':
		return fmt.Errorf("%w: path component %q starts with a space", ErrInvalid, c)
	case strings.HasSuffix(c, ".") || strings.HasSuffix(c, " "):
		return fmt.Errorf("%w: path component %q ends with a dot or space, which Windows strips", ErrInvalid, c)
	}
	if dev := windowsDevice(c); dev != "" {
		return fmt.Errorf("%w: path component %q names the Windows device %s", ErrInvalid, c, dev)
	}
	if err := checkScripts(c); err != nil {
		return fmt.Errorf("%w: path component %q %w", ErrInvalid, c, err)
	}
	return nil
}

// badRune says what is wrong with r as part of a file name, or "" if nothing is.
func badRune(r rune) string {
	switch {
	case r == '/' || r == '\\':
		return fmt.Sprintf("the separator %q", r)
	case unicode.IsControl(r):
		return fmt.Sprintf("control character %U", r)
	case strings.ContainsRune(`<>:"|?*`, r):
		return fmt.Sprintf("%q, which Windows forbids in file names", r)
	case r < utf8.RuneSelf:
		return ""
	case isBidiControl(r):
		return fmt.Sprintf("bidirectional control %U", r)
	// Default_Ignorable_Code_Point (UAX #44) is derived from these three; its exceptions
	// (white space, a few prepended marks) are refused by the other cases anyway.
	case unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector):
		return fmt.Sprintf("invisible character %U", r)
	case unicode.IsSpace(r):
		return fmt.Sprintf("%U, a space other than U+0020", r)
	case unicode.Is(unicode.Co, r):
		return fmt.Sprintf("private-use character %U", r)
	case r >= 0xFDD0 && r <= 0xFDEF || r&0xFFFE == 0xFFFE:
		return fmt.Sprintf("noncharacter %U", r)
	case !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Zs):
		return fmt.Sprintf("%U, unassigned in Unicode %s", r, unicode.Version)
	}
	return ""
}

// isBidiControl reports the explicit directional formatting characters of UAX #9 §2:
// embeddings and overrides, isolates, and the implicit marks (LRM, RLM, ALM). They are
// Cf too; they are named apart because they are the Trojan Source attack (CVE-2021-42574).
func isBidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 ||
		r == 0x200E || r == 0x200F || r == 0x061C
}

// windowsDevice returns the device a component names on Windows, or "". Windows reads
// the name up to the first dot, less trailing spaces, as a device whatever the extension
// (Windows 11 relaxed this; earlier versions and many tools did not). This follows Go's
// internal/filepathlite isReservedName and Microsoft's "Naming Files, Paths, and
// Namespaces", which also lists COM0 and LPT0 and the superscript digits.
func windowsDevice(c string) string {
	base, _, _ := strings.Cut(c, ".")
	base = strings.TrimRight(base, " ")
	// ASCII only, as Windows: strings.ToUpper would make "ı" (U+0131) an "I".
	upper := []byte(base)
	for i, b := range upper {
		if b >= 'a' && b <= 'z' {
			upper[i] = b - 'a' + 'A'
		}
	}
	switch u := string(upper); u {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return u
	}
	if len(base) < 4 {
		return ""
	}
	if p := string(upper[:3]); p == "COM" || p == "LPT" {
		switch d := base[3:]; d {
		case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "\u00b9", "\u00b2", "\u00b3":
			return p + d
		}
	}
	return ""
}

// checkScripts refuses a word that mixes scripts or digit systems, the usual homoglyph
// trick: a Latin "paypal" with a Cyrillic "а" (U+0430), or "1" next to a fullwidth "１".
//
// A word is a maximal run of letters, marks and digits; a component's words are checked
// apart, so "отчёт-2024.pdf" (a Cyrillic word, a Latin extension) is fine, as in IDNA,
// where each label is checked on its own. Each word must meet UTS #39 §5.2's "Highly
// Restrictive" level: its characters, Common and Inherited aside, are of one script, or
// all within Latin + Han + Hiragana + Katakana, Latin + Han + Bopomofo or Latin + Han +
// Hangul (Japanese, Chinese and Korean writing mix these). Its decimal digits must come
// from one numbering system (UTS #39 §5.3).
//
// Limits: the standard library has no Script_Extensions, so a character shared by
// scripts counts for its Script property only; and whole-script confusables (a word of
// Cyrillic letters only that reads as Latin) need UTS #39's confusables table, which
// neither the standard library nor x/text ship. CheckPaths still refuses such a twin of
// another path in the same artifact when they fold to the same text.
func checkScripts(c string) error {
	var scripts []string
	zero := rune(-1)
	for i, r := range c {
		if !unicode.In(r, unicode.L, unicode.M, unicode.N) {
			scripts, zero = scripts[:0], -1
			continue
		}
		if z := digitZero(r); z >= 0 {
			if zero >= 0 && z != zero {
				return fmt.Errorf("mixes digits of different numbering systems (%U at byte %d)", r, i)
			}
			zero = z
		}
		s := scriptOf(r)
		if s == "Common" || s == "Inherited" || slices.Contains(scripts, s) {
			continue
		}
		scripts = append(scripts, s)
		if !highlyRestrictive(scripts) {
			return fmt.Errorf("mixes scripts %s in one word (%U at byte %d is %s)", strings.Join(scripts, " and "), r, i, s)
		}
	}
	return nil
}

// cjkCovers are the script sets UTS #39 §5.2 allows a Highly Restrictive string to mix.
var cjkCovers = [][]string{
	{"Latin", "Han", "Hiragana", "Katakana"},
	{"Latin", "Han", "Bopomofo"},
	{"Latin", "Han", "Hangul"},
}

func highlyRestrictive(scripts []string) bool {
	if len(scripts) <= 1 {
		return true
	}
	for _, cover := range cjkCovers {
		if !slices.ContainsFunc(scripts, func(s string) bool { return !slices.Contains(cover, s) }) {
			return true
		}
	}
	return false
}

// digitZero is the zero of r's numbering system if r is a decimal digit (Nd), else -1.
// Unicode assigns decimal digits only in contiguous runs of ten from zero to nine (a
// stability policy), so the runs in unicode.Nd start at zeros.
func digitZero(r rune) rune {
	if r >= '0' && r <= '9' {
		return '0'
	}
	if r < utf8.RuneSelf {
		return -1
	}
	for _, rg := range unicode.Nd.R16 {
		if lo, hi := rune(rg.Lo), rune(rg.Hi); r >= lo && r <= hi {
			return lo + (r-lo)/10*10
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if lo, hi := rune(rg.Lo), rune(rg.Hi); r >= lo && r <= hi {
			return lo + (r-lo)/10*10
		}
	}
	return -1
}

type scriptRange struct {
	lo, hi rune
	name   string
}

// scriptRanges is every range of unicode.Scripts in one sorted list, so that finding a
// rune's script is one binary search rather than a search in each of ~160 tables.
var scriptRanges = sync.OnceValue(func() []scriptRange {
	var out []scriptRange
	add := func(name string, lo, hi, stride rune) {
		if stride == 1 {
			out = append(out, scriptRange{lo, hi, name})
			return
		}
		for r := lo; r <= hi; r += stride {
			out = append(out, scriptRange{r, r, name})
		}
	}
	for name, t := range unicode.Scripts {
		for _, rg := range t.R16 {
			add(name, rune(rg.Lo), rune(rg.Hi), rune(rg.Stride))
		}
		for _, rg := range t.R32 {
			add(name, rune(rg.Lo), rune(rg.Hi), rune(rg.Stride))
		}
	}
	// Scripts do not overlap, so sorted by lo the ranges are sorted by hi too.
	sort.Slice(out, func(i, j int) bool { return out[i].lo < out[j].lo })
	return out
})

// scriptOf is r's Script property (UAX #24), "Unknown" for an unassigned code point.
func scriptOf(r rune) string {
	if r < utf8.RuneSelf {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return "Latin"
		}
		return "Common"
	}
	rs := scriptRanges()
	i := sort.Search(len(rs), func(i int) bool { return rs[i].hi >= r })
	if i < len(rs) && rs[i].lo <= r {
		return rs[i].name
	}
	return "Unknown"
}
