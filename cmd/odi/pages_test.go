package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"golang.org/x/net/html"

	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/problem"
	"github.com/opendist/odi/internal/webui"
)

// webPage is a page fetched with net/http, as a browser without JavaScript gets it.
type webPage struct {
	status int
	header http.Header
	body   string
	doc    *html.Node
}

// fetchPage GETs u and parses it as HTML, checking the headers every page carries.
func fetchPage(t *testing.T, u string) webPage {
	t.Helper()
	resp, body := get(t, u)
	p := webPage{status: resp.StatusCode, header: resp.Header, body: string(body)}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("GET %s: %d as %q, want text/html (%.300s)", u, resp.StatusCode, ct, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); csp != webui.ContentSecurityPolicy {
		t.Errorf("GET %s: Content-Security-Policy %q, want %q", u, csp, webui.ContentSecurityPolicy)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET %s: no X-Content-Type-Options: nosniff", u)
	}
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	p.doc = doc
	checkAccessible(t, u, p)
	return p
}

// checkAccessible checks what every page owes readers of assistive technology: a
// language, one h1, header cells with a scope, and a label for every field.
func checkAccessible(t *testing.T, u string, p webPage) {
	t.Helper()
	if l := attr(p.find("html")[0], "lang"); l != "en" {
		t.Errorf("%s: html lang=%q", u, l)
	}
	if n := len(p.find("h1")); n != 1 {
		t.Errorf("%s: %d h1 elements, want 1", u, n)
	}
	for _, th := range p.find("th") {
		if s := attr(th, "scope"); s != "col" && s != "row" {
			t.Errorf("%s: <th>%s</th> has scope %q", u, text(th), s)
		}
	}
	labels := map[string]bool{}
	for _, l := range p.find("label") {
		labels[attr(l, "for")] = true
	}
	for _, in := range p.find("input") {
		if attr(in, "type") != "hidden" && !labels[attr(in, "id")] {
			t.Errorf("%s: input %q has no label", u, attr(in, "name"))
		}
	}
}

// find returns the elements named tag, in document order.
func (p webPage) find(tag string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(p.doc)
	return out
}

// links are the page's hrefs.
func (p webPage) links() []string {
	var out []string
	for _, a := range p.find("a") {
		out = append(out, attr(a, "href"))
	}
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// pageNet is a directory whose pages show every state: a single file (test/art 1), a
// package (2) and a tombstone (3, expunged for expungeReason), the first two served by a
// relay.
type pageNet struct {
	tn          *testNet
	relay       *testRelay
	single, pkg *catalogapi.Artifact
}

// expungeReason is the tombstone's reason: markup that must show as text.
const expungeReason = `<script>alert("x")</script> & CVE-2026-1`

// startPageNet publishes pageNet's artifacts and waits until the relay serves them.
func startPageNet(t *testing.T) *pageNet {
	t.Helper()
	tn := startTestDirectory(t, relayDirectory)
	pn := &pageNet{tn: tn, single: publishSmall(t, tn, "1", 300<<10+7), pkg: publishPackage(t, tn, "2")}
	gone := publishSmall(t, tn, "3", 1000)
	if err := run(context.Background(), []string{"admin", "--directory", tn.base, "--key", tn.adminKey, "expunge", gone.ID, "--reason", expungeReason}); err != nil {
		t.Fatal(err)
	}
	pn.relay = startTestRelay(t, tn)
	waitServes(t, tn, 60*time.Second, pn.relay.id, pn.single.InfoHash, pn.pkg.InfoHash)
	return pn
}

// TestWebPages browses a directory with a single file, a package, a tombstone and a
// relay as a browser without JavaScript would: every page, every download link on the
// artifact pages (the /r/ ones to bytes whose sha256 is checked), the relay's own page,
// escaping, and the answers to bad input. TestBrowser browses them with Chromium.
func TestWebPages(t *testing.T) {
	pn := startPageNet(t)
	tn, r, single, pkg, reason := pn.tn, pn.relay, pn.single, pn.pkg, expungeReason

	list := fetchPage(t, tn.base+"/")
	if list.status != http.StatusOK {
		t.Fatalf("GET /: %d", list.status)
	}
	// Newest first: the tombstone, the package, the single file.
	var rows []string
	for _, l := range list.links() {
		if strings.HasPrefix(l, "/a/") {
			rows = append(rows, l)
		}
	}
	if want := []string{"/a/test/art/3", "/a/test/art/2", "/a/test/art/1"}; !slices.Equal(rows, want) {
		t.Errorf("GET /: artifact links %q, want %q", rows, want)
	}
	if len(list.find("form")) != 1 || attr(list.find("form")[0], "role") != "search" || !strings.Contains(list.body, "expunged") {
		t.Errorf("GET /: no search form or no expunged artifact:\n%s", list.body)
	}

	for _, a := range []*catalogapi.Artifact{single, pkg} {
		checkArtifactPage(t, tn, r, a)
	}

	// A tombstone's page says why it went, escaped; it offers no way to the bytes.
	tomb := fetchPage(t, tn.base+"/a/test/art/3")
	if tomb.status != http.StatusGone || !strings.Contains(tomb.body, html.EscapeString(reason)) || strings.Contains(tomb.body, "<script>") {
		t.Errorf("GET /a/test/art/3: %d, want 410 with the reason escaped:\n%s", tomb.status, tomb.body)
	}
	for _, l := range tomb.links() {
		if strings.Contains(l, "/t/") || strings.Contains(l, "/r/") || strings.HasPrefix(l, "magnet:") {
			t.Errorf("the tombstone's page links %s", l)
		}
	}

	relays := fetchPage(t, tn.base+"/relays")
	if relays.status != http.StatusOK || !strings.Contains(relays.body, r.url) || !strings.Contains(relays.body, r.id) ||
		!strings.Contains(relays.body, ">up<") {
		t.Errorf("GET /relays: %d, want the relay %s up:\n%s", relays.status, r.url, relays.body)
	}

	relayPage := fetchPage(t, r.url+"/")
	if relayPage.status != http.StatusOK || !slices.Contains(relayPage.links(), tn.base) || !strings.Contains(relayPage.body, "Serving.") {
		t.Errorf("the relay's page: %d, want it serving, linking its directory %s:\n%s", relayPage.status, tn.base, relayPage.body)
	}
	for _, base := range []string{tn.base, r.url} {
		resp, css := get(t, base+webui.StylePath)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" || len(css) == 0 {
			t.Errorf("GET %s%s: %d %s", base, webui.StylePath, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}

	// Search text is escaped where the page repeats it.
	search := fetchPage(t, tn.base+"/?q="+url.QueryEscape("<script>"))
	if search.status != http.StatusOK || strings.Contains(search.body, "<script>") || !strings.Contains(search.body, "No artifacts") {
		t.Errorf("a search for <script>: %d\n%s", search.status, search.body)
	}

	// HEAD answers as GET does, without the body.
	resp, err := http.Head(tn.base + "/a/test/art/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") == "" || resp.ContentLength <= 0 {
		t.Errorf("HEAD /a/test/art/1: %d, length %d, headers %v", resp.StatusCode, resp.ContentLength, resp.Header)
	}

	// Bad input gets an HTML page with a 4xx, never a 500.
	for path, status := range map[string]int{
		"/a/test/art/9":                             http.StatusNotFound,
		"/a/nope/art/1":                             http.StatusNotFound,
		"/?page=-1":                                 http.StatusBadRequest,
		"/?page=abc":                                http.StatusBadRequest,
		"/?page=0":                                  http.StatusBadRequest,
		"/?page=99999999999999999999999":            http.StatusBadRequest,
		"/?page=2":                                  http.StatusNotFound,
		"/?page=9223372036854775807":                http.StatusNotFound,
		"/?page=9223372036854775807&q=art":          http.StatusNotFound,
		"/?q=" + strings.Repeat("x", 10<<10):        http.StatusBadRequest,
		"/?catalog=" + strings.Repeat("x", 300):     http.StatusBadRequest,
		"/relays?after=" + strings.Repeat("x", 300): http.StatusBadRequest,
	} {
		p := fetchPage(t, tn.base+path)
		if p.status != status {
			t.Errorf("GET %.60s: %d, want %d", path, p.status, status)
		}
	}

	// The API and everything else keep their answers: JSON, problems, the tracker.
	resp, body := get(t, tn.base+"/api/v1/artifacts")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || !bytes.Contains(body, []byte(single.InfoHash)) {
		t.Errorf("GET /api/v1/artifacts: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	checkProblems(t, http.DefaultClient, tn.base, []errorCase{
		{method: "POST", path: "/", status: 404},
		{method: "DELETE", path: "/relays", status: 404},
		{method: "GET", path: "/a/test/art/1/extra", status: 404},
		{method: "GET", path: "/relays/", status: 404},
	})
	if resp, _ := get(t, tn.base+"/healthz"); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") == problem.ContentType {
		t.Errorf("GET /healthz: %d", resp.StatusCode)
	}
}

// checkArtifactPage fetches a's page and follows its download links: the torrent is
// a's, the metalink lists a's sha256, each /r/ link gives a file whose sha256 is the
// page's and the catalog's.
func checkArtifactPage(t *testing.T, tn *testNet, r *testRelay, a *catalogapi.Artifact) {
	t.Helper()
	u := tn.base + "/a/" + a.ID
	p := fetchPage(t, u)
	if p.status != http.StatusOK {
		t.Fatalf("GET %s: %d", u, p.status)
	}
	for _, want := range []string{"Seeders", "Leechers", "Completed downloads", "odi fetch --directory '" + tn.base + "' 'test/art@" + a.Version + "'",
		"aria2c --seed-time=0", "sha256sum -c", r.url} {
		if !strings.Contains(p.body, html.EscapeString(want)) {
			t.Errorf("%s does not show %q", u, want)
		}
	}
	for _, f := range a.Files {
		if !strings.Contains(p.body, f.SHA256) {
			t.Errorf("%s does not show the sha256 of %q", u, f.Path)
		}
	}
	got := map[string]int{}
	for _, l := range p.links() {
		switch {
		case strings.HasPrefix(l, "magnet:"):
			got["magnet"]++
			if !strings.HasPrefix(l, "magnet:?xt=urn:btih:"+a.InfoHash) {
				t.Errorf("%s: magnet %s", u, l)
			}
		case strings.HasSuffix(l, ".torrent"):
			got["torrent"]++
			resp, body := get(t, l)
			mi, err := metainfo.Load(bytes.NewReader(body))
			if resp.StatusCode != http.StatusOK || err != nil || mi.HashInfoBytes().HexString() != a.InfoHash {
				t.Errorf("%s: torrent %s: %d, %v", u, l, resp.StatusCode, err)
			}
		case strings.HasSuffix(l, ".meta4"):
			got["metalink"]++
			resp, body := get(t, l)
			if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(a.Files[0].SHA256)) {
				t.Errorf("%s: metalink %s: %d %.200s", u, l, resp.StatusCode, body)
			}
		case strings.HasSuffix(l, "/SHA256SUMS"):
			got["sums"]++
			if resp, body := get(t, l); resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(a.Files[0].SHA256)) {
				t.Errorf("%s: SHA256SUMS %s: %d", u, l, resp.StatusCode)
			}
		case strings.HasPrefix(l, tn.base+"/r/"):
			got["r"]++
			resp, body := get(t, l)
			sum := sha256.Sum256(body)
			if resp.StatusCode != http.StatusOK || !slices.ContainsFunc(a.Files, func(f manifest.File) bool { return f.SHA256 == hex.EncodeToString(sum[:]) }) {
				t.Errorf("%s: %s gave %d, %d bytes whose sha256 is no file's", u, l, resp.StatusCode, len(body))
			}
		}
	}
	// A single file has its /r/ link twice: under "Get it" and in the file table.
	wantR := len(a.Files)
	if len(a.Files) == 1 {
		wantR = 2
	}
	if got["magnet"] != 1 || got["torrent"] != 1 || got["metalink"] != 1 || got["sums"] != 1 || got["r"] != wantR {
		t.Errorf("%s links %v; want a magnet, torrent, metalink, SHA256SUMS and %d /r/ links", u, got, wantR)
	}
}

// TestWebPagesPaging publishes a few hundred artifacts and pages through the list:
// every one exactly once, newest first, and searches count what they match.
func TestWebPagesPaging(t *testing.T) {
	tn := startTestDirectory(t)
	const n = 230
	src := t.TempDir()
	var wg sync.WaitGroup
	versions := make(chan string)
	errs := make(chan error, n)
	for range 2 { // max_uploads_per_publisher
		wg.Go(func() {
			for v := range versions {
				f := filepath.Join(src, "f-"+v+".bin")
				if err := os.WriteFile(f, []byte("artifact "+v), 0o644); err != nil {
					errs <- err
					continue
				}
				if _, err := client.Publish(context.Background(), tn.publisher, ident(v), f, io.Discard); err != nil {
					errs <- fmt.Errorf("publish %s: %w", v, err)
				}
			}
		})
	}
	for i := 1; i <= n; i++ {
		versions <- fmt.Sprint(i)
	}
	close(versions)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	seen := map[string]bool{}
	var last time.Time
	next := "/"
	for pages := 0; next != ""; pages++ {
		if pages == 10 {
			t.Fatalf("more than 10 pages of %d artifacts", n)
		}
		p := fetchPage(t, tn.base+next)
		if p.status != http.StatusOK {
			t.Fatalf("GET %s: %d", next, p.status)
		}
		for _, tm := range p.find("time") {
			at, err := time.Parse(time.RFC3339, attr(tm, "datetime"))
			if err != nil || (!last.IsZero() && at.After(last)) {
				t.Errorf("GET %s: published %s after %s: not newest first (%v)", next, at, last, err)
			}
			last = at
		}
		next = ""
		for _, a := range p.find("a") {
			l := attr(a, "href")
			switch {
			case strings.HasPrefix(l, "/a/"):
				if seen[l] {
					t.Errorf("%s twice", l)
				}
				seen[l] = true
			case attr(a, "rel") == "next":
				next = l
			}
		}
	}
	if len(seen) != n {
		t.Errorf("paged through %d artifacts, want %d", len(seen), n)
	}
	// "ART/1" matches versions 1, 10-19 and 100-199, whatever the case.
	p := fetchPage(t, tn.base+"/?q=ART/1")
	if caption := text(p.find("caption")[0]); !strings.Contains(caption, "of 111") || !strings.Contains(caption, "page 1 of 3") {
		t.Errorf("search ART/1: %q, want 111 matches on 3 pages", caption)
	}
	p = fetchPage(t, tn.base+"/?q=ART/1&page=3")
	if rows := len(p.find("tr")) - 1; p.status != http.StatusOK || rows != 11 {
		t.Errorf("search ART/1, page 3: %d with %d rows, want the last 11", p.status, rows)
	}
	if p := fetchPage(t, tn.base+"/?catalog=other"); !strings.Contains(p.body, "No artifacts") {
		t.Errorf("catalog other lists artifacts")
	}
}
