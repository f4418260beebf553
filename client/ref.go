package client

import (
	"fmt"
	"strings"

	"github.com/opendist/odi/internal/names"
)

// Ref is an artifact as a user names it; Version "" means the highest published version.
type Ref struct{ Catalog, Name, Version string }

func (r Ref) String() string {
	if r.Version == "" {
		return r.Catalog + "/" + r.Name
	}
	return r.Catalog + "/" + r.Name + "/" + r.Version
}

// ParseRef reads CATALOG/NAME, CATALOG/NAME@VERSION or CATALOG/NAME/VERSION (the
// id the API shows); the version "latest" means the highest, as in URLs.
func ParseRef(s string) (Ref, error) {
	var r Ref
	rest, version, hasAt := strings.Cut(s, "@")
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2:
		r.Catalog, r.Name = parts[0], parts[1]
	case len(parts) == 3 && !hasAt:
		r.Catalog, r.Name, version = parts[0], parts[1], parts[2]
	default:
		return r, fmt.Errorf("%q is not CATALOG/NAME[@VERSION], e.g. debian/netinst@12.5.0", s)
	}
	if hasAt && version == "" {
		return r, fmt.Errorf("%q: empty version after @", s)
	}
	if !strings.EqualFold(version, names.Latest) {
		r.Version = version
	}
	for _, seg := range []struct{ kind, v string }{{"catalog", r.Catalog}, {"name", r.Name}, {"version", r.Version}} {
		if seg.kind == "version" && seg.v == "" {
			continue
		}
		if err := names.CheckSegment(seg.kind, seg.v); err != nil {
			return r, fmt.Errorf("%q: %w", s, err)
		}
	}
	return r, nil
}
