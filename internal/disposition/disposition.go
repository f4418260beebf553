package disposition

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Attachment is the RFC 6266 Content-Disposition of a file named name: attachment
// with a quoted filename, and when that cannot carry the name as it is (non-ASCII, a
// control character, '"' or '\'), an ASCII fallback and the exact name in an RFC 8187
// filename*. The fallback drops accents ("é" is "e") and has "_" for any other such
// character; it is never backslash-escaped: curl -J, which takes no filename*, reads it
// up to the next '"'.
//
// mime.FormatMediaType will not do: it writes a bare token where the name is one, and a
// filename* without the fallback that curl needs.
func Attachment(name string) string {
	var fallback strings.Builder
	exact := true
	for _, c := range norm.NFD.String(name) {
		switch {
		case c >= 0x20 && c <= 0x7e && c != '"' && c != '\\':
			fallback.WriteRune(c)
			continue
		case unicode.Is(unicode.Mn, c):
		default:
			fallback.WriteByte('_')
		}
		exact = false
	}
	v := `attachment; filename="` + fallback.String() + `"`
	if exact {
		return v
	}
	return v + "; filename*=UTF-8''" + extValue(name)
}

// extValue percent-encodes s as an RFC 8187 value-chars: every byte but attr-char.
func extValue(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}

// isAttrChar reports whether c is an RFC 8187 attr-char, which goes unescaped.
func isAttrChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
