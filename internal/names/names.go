package names

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrInvalid is returned (wrapped, with the reason) when a name or path is not acceptable.
var ErrInvalid = errors.New("invalid name")

// Limits on names. Segments appear in URLs and file names, so they are kept short; path
// components follow the common file system limit of 255 bytes.
const (
	MaxSegmentLen   = 128
	MaxComponentLen = 255
	MaxPathLen      = 4096
	MaxPathDepth    = 64
)

// Latest is the version word that URLs use to mean the newest version, so no artifact may
// be published under it.
const Latest = "latest"

// CheckSegment checks one segment of an artifact's identity; kind ("catalog", "name",
// "version") only shapes the error message. A segment starts with a letter or digit and
// continues with letters, digits and . _ + ~ -, so it is safe unescaped in a URL path, a
// file name and a shell word.
func CheckSegment(kind, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalid, kind)
	case len(s) > MaxSegmentLen:
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, kind, MaxSegmentLen)
	case strings.Contains(s, ".."):
		return fmt.Errorf("%w: %s %q contains \"..\"", ErrInvalid, kind, s)
	case kind == "version" && strings.EqualFold(s, Latest):
		return fmt.Errorf("%w: version %q is reserved", ErrInvalid, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return fmt.Errorf("%w: %s %q must start with a letter or digit", ErrInvalid, kind, s)
		}
		if !alnum && !strings.ContainsRune("._+~-", rune(c)) {
			return fmt.Errorf("%w: %s %q contains %q; use letters, digits and . _ + ~ -", ErrInvalid, kind, s, rune(c))
		}
	}
	return nil
}

// SplitPath checks a slash-separated relative path, each component as CheckComponent
// does, and returns its components. The paths of one artifact are checked together by
// CheckPaths.
func SplitPath(p string) ([]string, error) {
	parts, err := splitPath(p)
	if err != nil {
		return nil, err
	}
	for _, c := range parts {
		if err := CheckComponent(c); err != nil {
			return nil, fmt.Errorf("path %q: %w", p, err)
		}
	}
	return parts, nil
}

// splitPath is SplitPath without checking the components.
func splitPath(p string) ([]string, error) {
	if len(p) > MaxPathLen {
		return nil, fmt.Errorf("%w: path longer than %d bytes", ErrInvalid, MaxPathLen)
	}
	if strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("%w: path %q is absolute", ErrInvalid, p)
	}
	parts := strings.Split(p, "/")
	if len(parts) > MaxPathDepth {
		return nil, fmt.Errorf("%w: path %q is deeper than %d", ErrInvalid, p, MaxPathDepth)
	}
	return parts, nil
}

// EscapePath is a slash-separated path as a URL path: each component escaped, the
// slashes kept. It is how BEP 19 clients append a torrent's name and a file's path to a
// web seed's base URL, so every URL odi builds for a file goes through it.
func EscapePath(p string) string {
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; ; i++ {
		comp, rest, more := strings.Cut(p, "/")
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(comp))
		if !more {
			return b.String()
		}
		p = rest
	}
}
