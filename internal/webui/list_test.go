package webui

import (
	"math"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseListQuery(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  listQuery
		err   string
	}{
		{"", listQuery{Page: 1}, ""},
		{"q=Debian&catalog=os&page=3", listQuery{Q: "Debian", Catalog: "os", Page: 3}, ""},
		{"page=0", listQuery{}, `page "0" is not a whole number from 1`},
		{"page=-1", listQuery{}, `page "-1" is not a whole number from 1`},
		{"page=abc", listQuery{}, `page "abc" is not a whole number from 1`},
		{"page=99999999999999999999", listQuery{}, "is not a whole number from 1"},
		{"q=" + strings.Repeat("x", maxQuery+1), listQuery{}, "the search text is 257 bytes long"},
		{"catalog=" + strings.Repeat("x", 10<<10), listQuery{}, "the catalog is 10240 bytes long"},
	} {
		v, _ := url.ParseQuery(tt.query)
		got, err := parseListQuery(v)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%.40s: error %v, want %q", tt.query, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("%.40s: %+v, %v; want %+v", tt.query, got, err, tt.want)
		}
	}
}

func TestFind(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ix := newIndex(7, []Summary{
		{Catalog: "os", Name: "netinst", Version: "12.4", PublishedAt: at},
		{Catalog: "os", Name: "netinst", Version: "12.5", PublishedAt: at.Add(time.Hour)},
		{Catalog: "tools", Name: "Editor", Version: "1.0", PublishedAt: at.Add(time.Hour)},
		{Catalog: "os", Name: "live", Version: "12.5", PublishedAt: at.Add(2 * time.Hour)},
	})
	ids := func(rows []Summary) string {
		var s []string
		for _, r := range rows {
			s = append(s, r.Catalog+"/"+r.Name+"/"+r.Version)
		}
		return strings.Join(s, " ")
	}
	for _, tt := range []struct {
		q, catalog  string
		page, size  int
		want        string
		wantMatches int
	}{
		// Newest first; the same second's by identity, the later first.
		{"", "", 1, 10, "os/live/12.5 tools/Editor/1.0 os/netinst/12.5 os/netinst/12.4", 4},
		{"", "", 2, 3, "os/netinst/12.4", 4},
		{"", "", 3, 3, "", 4},
		{"EDIT", "", 1, 10, "tools/Editor/1.0", 1},
		{"12.5", "", 1, 10, "os/live/12.5 os/netinst/12.5", 2},
		{"netinst/12", "os", 2, 1, "os/netinst/12.4", 2},
		{"", "tools", 1, 10, "tools/Editor/1.0", 1},
		{"", "TOOLS", 1, 10, "", 0},
		{"", "", math.MaxInt, 50, "", 4},
		{"os", "", math.MaxInt, 50, "", 3},
	} {
		rows, n := ix.find(tt.q, tt.catalog, tt.page, tt.size)
		if got := ids(rows); got != tt.want || n != tt.wantMatches {
			t.Errorf("find(%q, %q, page %d of %d): %q, %d matches; want %q, %d", tt.q, tt.catalog, tt.page, tt.size, got, n, tt.want, tt.wantMatches)
		}
	}
	if len(ix.catalogs) != 2 || ix.catalogs[0] != (catalogCount{"os", 3}) {
		t.Errorf("catalogs %v", ix.catalogs)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"https://d.example/r/a/b/1/x%20y": `'https://d.example/r/a/b/1/x%20y'`,
		"it's $HOME":                      `'it'\''s $HOME'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
