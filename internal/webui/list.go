package webui

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// maxQuery bounds the search text and the catalog filter, in bytes: longer matches no
// name anyway (a catalog, name and version are names.MaxSegmentLen each).
const maxQuery = 256

// maxCatalogs bounds the catalogs the list names at its top, which every page repeats.
const maxCatalogs = 100

// index is the artifacts of one catalog generation, newest first, ready to search.
type index struct {
	generation uint64
	newest     []Summary
	keys       []string // lower-case "catalog/name/version" of newest[i]
	catalogs   []catalogCount
}

type catalogCount struct {
	Name      string
	Artifacts int
}

// indexCache keeps the index of the latest generation asked for. Requests read it
// without locking; the first one after a publish or expunge builds the next, and those
// arriving meanwhile wait for it rather than build their own.
type indexCache struct {
	cur   atomic.Pointer[index]
	build sync.Mutex
}

func (c *indexCache) get(cat Catalog) *index {
	gen := cat.Generation()
	if ix := c.cur.Load(); ix != nil && ix.generation == gen {
		return ix
	}
	c.build.Lock()
	defer c.build.Unlock()
	if ix := c.cur.Load(); ix != nil && ix.generation == gen {
		return ix
	}
	// Summaries may be newer than gen (a publish in between): the next request then
	// sees another generation and builds again, never an index older than its label.
	ix := newIndex(gen, cat.Summaries())
	c.cur.Store(ix)
	return ix
}

func newIndex(gen uint64, arts []Summary) *index {
	ix := &index{generation: gen, newest: slices.Clone(arts), keys: make([]string, len(arts))}
	// Newest first; one second's publishes (times are kept to the second) by identity,
	// the later first, so that pages never shuffle.
	slices.SortFunc(ix.newest, func(a, b Summary) int {
		return cmp.Or(b.PublishedAt.Compare(a.PublishedAt),
			strings.Compare(b.Catalog, a.Catalog), strings.Compare(b.Name, a.Name), strings.Compare(b.Version, a.Version))
	})
	counts := map[string]int{}
	for i, a := range ix.newest {
		ix.keys[i] = strings.ToLower(a.Catalog + "/" + a.Name + "/" + a.Version)
		counts[a.Catalog]++
	}
	for name, n := range counts {
		ix.catalogs = append(ix.catalogs, catalogCount{name, n})
	}
	slices.SortFunc(ix.catalogs, func(a, b catalogCount) int { return strings.Compare(a.Name, b.Name) })
	return ix
}

// find returns page (from 1) of the artifacts that match q (a case-insensitive
// substring of "catalog/name/version") and are in catalog ("" for any), and how many
// match in all. Unfiltered, it is a slice of the index; filtered, one pass over it.
func (ix *index) find(q, catalog string, page, size int) (rows []Summary, total int) {
	// A page past every artifact has no rows: its offset is not computed, which for a
	// page number near math.MaxInt would overflow.
	from := -1
	if page-1 <= len(ix.newest)/size {
		from = (page - 1) * size
	}
	if q == "" && catalog == "" {
		if from >= 0 && from < len(ix.newest) {
			rows = ix.newest[from:min(from+size, len(ix.newest))]
		}
		return rows, len(ix.newest)
	}
	q = strings.ToLower(q)
	for i, a := range ix.newest {
		if (catalog == "" || a.Catalog == catalog) && strings.Contains(ix.keys[i], q) {
			if from >= 0 && total >= from && total < from+size {
				rows = append(rows, a)
			}
			total++
		}
	}
	return rows, total
}

// listQuery is what a request to the list asks for.
type listQuery struct {
	Q, Catalog string
	Page       int
}

// parseListQuery reads ?q=, ?catalog= and ?page= (from 1), or says what is wrong.
func parseListQuery(v url.Values) (listQuery, error) {
	lq := listQuery{Q: v.Get("q"), Catalog: v.Get("catalog"), Page: 1}
	for _, s := range []struct{ name, v string }{{"search text", lq.Q}, {"catalog", lq.Catalog}} {
		if len(s.v) > maxQuery {
			return lq, fmt.Errorf("the %s is %d bytes long; at most %d are searched", s.name, len(s.v), maxQuery)
		}
	}
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return lq, fmt.Errorf("page %q is not a whole number from 1", truncate(p, 40))
		}
		lq.Page = n
	}
	return lq, nil
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// url is the list's URL for this query at page n.
func (lq listQuery) url(n int) string {
	v := url.Values{}
	if lq.Q != "" {
		v.Set("q", lq.Q)
	}
	if lq.Catalog != "" {
		v.Set("catalog", lq.Catalog)
	}
	if n > 1 {
		v.Set("page", strconv.Itoa(n))
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// listPage is the list's data.
type listPage struct {
	listQuery
	Rows             []Summary
	Total, Pages     int
	All              int            // artifacts in the directory
	Catalogs         []catalogCount // the first maxCatalogs, by name
	CatalogCount     int
	MoreCatalogs     int // not listed
	First, Last      int // the rows' positions among the matches, from 1
	PrevURL, NextURL string
}

func (p *Pages) serveList(w http.ResponseWriter, r *http.Request) {
	lq, err := parseListQuery(r.URL.Query())
	if err != nil {
		p.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	ix := p.idx.get(p.cat)
	rows, total := ix.find(lq.Q, lq.Catalog, lq.Page, p.cfg.PageSize)
	pages := max(1, (total+p.cfg.PageSize-1)/p.cfg.PageSize)
	if lq.Page > pages {
		p.fail(w, http.StatusNotFound, fmt.Sprintf("page %d is past the last, %d", lq.Page, pages))
		return
	}
	lp := listPage{listQuery: lq, Rows: rows, Total: total, Pages: pages, All: len(ix.newest),
		Catalogs: ix.catalogs[:min(len(ix.catalogs), maxCatalogs)], CatalogCount: len(ix.catalogs)}
	lp.MoreCatalogs = lp.CatalogCount - len(lp.Catalogs)
	if len(rows) > 0 {
		lp.First = (lq.Page-1)*p.cfg.PageSize + 1
		lp.Last = lp.First + len(rows) - 1
	}
	if lq.Page > 1 {
		lp.PrevURL = lq.url(lq.Page - 1)
	}
	if lq.Page < pages {
		lp.NextURL = lq.url(lq.Page + 1)
	}
	render(w, p.log, http.StatusOK, listTmpl, "Artifacts", lp)
}
