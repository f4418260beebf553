package references

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/limit"
	"github.com/opendist/odi/internal/problem"
)

// maxDuplicates bounds the other healthy directories an answer names in Link headers.
const maxDuplicates = 3

// match returns the reference a request is for, and whether its answer is the API's
// (307) rather than a download's (302); nil for a request about no referenced catalog.
// It costs a prefix test and one map lookup: it runs before every request's routing.
func (rs *References) match(r *http.Request) (*reference, bool) {
	c, api, ok := catalogapi.RequestCatalog(r)
	if !ok {
		return nil, false
	}
	return rs.byCatalog[c], api
}

// Owns reports whether r is about a referenced catalog: the directory hands such
// requests to Handler before routing anything.
func (rs *References) Owns(r *http.Request) bool {
	ref, _ := rs.match(r)
	return ref != nil
}

// Empty reports whether there is no reference, so that the directory need not ask Owns.
func (rs *References) Empty() bool { return len(rs.list) == 0 }

// Handler answers requests Owns accepts: 302 (downloads) or 307 (the API) to the chosen
// directory, with the same path and query, and the other healthy directories as
// rel=duplicate links (RFC 6249); 503 with Retry-After when none is healthy. Users are
// placed by clientAddr (the tracker's trusted_proxies rule) and the Locator.
func (rs *References) Handler(clientAddr func(*http.Request) netip.Addr) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ref, api := rs.match(r)
		if ref == nil {
			problem.Write(w, http.StatusNotFound, "nothing at "+r.URL.Path)
			return
		}
		choices := *ref.choices.Load()
		addr := clientAddr(r)
		var country, continent string
		if rs.loc != nil {
			country, continent = rs.loc.Locate(addr)
		}
		key := limit.AddrKey(addr).As16()
		i := Choose(choices, country, continent, hashBytes(key[:]))
		if i < 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ref.interval.Seconds()))))
			problem.Write(w, http.StatusServiceUnavailable, fmt.Sprintf(
				"catalog %s is served by other directories, and none of the %d this directory knows passes its health checks now",
				ref.catalog, len(choices)))
			return
		}
		tail := r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			tail += "?" + r.URL.RawQuery
		}
		h := w.Header()
		h.Set("Location", ref.dirs[i].url+tail)
		n := 0
		for j := range choices {
			if j != i && choices[j].Healthy && n < maxDuplicates {
				h.Add("Link", "<"+ref.dirs[j].url+tail+">; rel=duplicate")
				n++
			}
		}
		status := http.StatusFound
		if api {
			status = http.StatusTemporaryRedirect
		}
		w.WriteHeader(status)
	})
}
