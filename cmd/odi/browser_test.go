package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/manifest"
)

// TestBrowser browses pageNet's pages in headless Chromium, as TestWebPages does without
// JavaScript: each page's status, headings, tables and links (every one on the directory
// or the relay answers), that the stylesheet applies under the CSP and the console stays
// free of errors and CSP violations; a search through the form; a download by a click on
// a file's /r/ link, whose bytes are the catalog's. It saves a screenshot of each page
// under testOutput's browser folder, for people to look at.
func TestBrowser(t *testing.T) {
	exe := chromiumPath(t)
	pn := startPageNet(t)
	b := startBrowser(t, exe, testOutput(t, "browser"), pn.tn.base, pn.relay.url)
	tn, r := pn.tn, pn.relay

	// The list: newest first, the tombstone marked.
	b.open("list", tn.base+"/", http.StatusOK, "Artifacts")
	if rows := b.attrs("tbody th a", "href"); !slices.Equal(rows, []string{"/a/test/art/3", "/a/test/art/2", "/a/test/art/1"}) {
		t.Errorf("the list's rows link %q", rows)
	}
	if got := b.texts("tbody .expunged"); len(got) != 1 {
		t.Errorf("the list marks %d artifacts expunged, want 1", len(got))
	}
	b.done("list", http.StatusOK)

	// A search as people make one: type, click the button.
	inTab(b, chromedp.SendKeys(chromedp.CSS("#q"), "art/2"))
	status := b.click(`form[role="search"] button[type="submit"]`)
	if loc := inTab(b, chromedp.Location()); status != http.StatusOK || !strings.HasSuffix(loc, "/?q=art%2F2") {
		t.Errorf("the search form went to %s, %d", loc, status)
	}
	if rows := b.attrs("tbody th a", "href"); !slices.Equal(rows, []string{"/a/test/art/2"}) {
		t.Errorf("a search for art/2 lists %q", rows)
	}
	if v := inTab(b, chromedp.Value(chromedp.CSS("#q"))); v != "art/2" {
		t.Errorf("the search field shows %q after the search", v)
	}
	b.done("search", http.StatusOK)

	for _, a := range []*catalogapi.Artifact{pn.single, pn.pkg} {
		name := "artifact-file"
		if len(a.Files) > 1 {
			name = "artifact-package"
		}
		b.open(name, tn.base+"/a/"+a.ID, http.StatusOK, "test/art "+a.Version)
		var paths, sums []string
		for _, f := range a.Files {
			paths, sums = append(paths, laidOut(a, f)), append(sums, f.SHA256)
		}
		if got := b.texts("#files ~ table tbody th"); !slices.Equal(got, paths) {
			t.Errorf("%s's file table lists %q, want %q", a.ID, got, paths)
		}
		if got := b.texts("#files ~ table tbody code"); !slices.Equal(got, sums) {
			t.Errorf("%s's file table shows the sha256s %q, want %q", a.ID, got, sums)
		}
		if got := b.texts("#get ~ ul a"); len(got) < 4 {
			t.Errorf("%s offers %q under Get it", a.ID, got)
		}
		if got := b.texts("#mirrors ~ table tbody th"); !slices.Equal(got, []string{r.url}) {
			t.Errorf("%s's mirrors are %q, want %s", a.ID, got, r.url)
		}
		if a == pn.single {
			b.download(`#files ~ table tbody a[href*="/r/"]`, a.Root, a.Files[0].SHA256)
		}
		b.done(name, http.StatusOK)
	}

	// The tombstone: its reason as text, no script in the page, no way to the bytes.
	b.open("tombstone", tn.base+"/a/test/art/3", http.StatusGone, "test/art 3")
	if got := b.texts(`.expunged[role="alert"]`); len(got) != 1 || !strings.HasSuffix(got[0], ": "+expungeReason) {
		t.Errorf("the tombstone's reason shows as %q, want it to end in %q", got, expungeReason)
	}
	if n := inTab(b, chromedp.Evaluate[int](`document.querySelectorAll("script").length`)); n != 0 {
		t.Errorf("the tombstone's page has %d script elements", n)
	}
	if got := b.texts("#mirrors ~ p"); !slices.Equal(got, []string{"Nobody serves it: its bytes are gone."}) {
		t.Errorf("the tombstone's mirrors: %q", got)
	}
	for _, l := range b.attrs("a", "href") {
		if strings.Contains(l, "/r/") || strings.Contains(l, "/t/") || strings.HasPrefix(l, "magnet:") {
			t.Errorf("the tombstone's page links %s", l)
		}
	}
	b.done("tombstone", http.StatusGone)

	b.open("relays", tn.base+"/relays", http.StatusOK, "Relays")
	if got := b.texts("tbody th"); len(got) != 1 || !strings.Contains(got[0], r.url) || !strings.Contains(got[0], r.id) {
		t.Errorf("/relays lists %q, want %s", got, r.url)
	}
	if got := b.texts("tbody td"); len(got) == 0 || got[0] != "up" {
		t.Errorf("/relays: the relay's row is %q, want it up", got)
	}
	b.done("relays", http.StatusOK)

	// The charts are inline SVG, each with a title for screen readers.
	b.open("network", tn.base+"/network", http.StatusOK, "Network")
	titles := inTab(b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("figure svg"), s => s.querySelector(":scope > title")?.textContent ?? "")`))
	if len(titles) < 2 || slices.Contains(titles, "") {
		t.Errorf("/network's charts have the titles %q, want 2 or more, none empty", titles)
	}
	b.done("network", http.StatusOK)

	b.open("relay", r.url+"/", http.StatusOK, "Relay "+r.url)
	if got := b.attrs("#directories ~ ul a", "href"); !slices.Equal(got, []string{tn.base}) {
		t.Errorf("the relay's page links the directories %q, want %s", got, tn.base)
	}
	if got := b.texts("main > p"); len(got) == 0 || got[0] != "Serving." {
		t.Errorf("the relay's page says %q, want Serving.", got)
	}
	b.done("relay", http.StatusOK)

	b.open("not-found", tn.base+"/a/test/art/9", http.StatusNotFound, "404 Not Found")
	b.done("not-found", http.StatusNotFound)

	// The console check sees what it is there for: an inline script, which the CSP stops.
	inTab(b, chromedp.Evaluate[chromedp.Void](`document.body.append(Object.assign(document.createElement("script"), {textContent: "1"}))`))
	if errs := b.settle("not-found", http.StatusNotFound); len(errs) != 1 || !strings.Contains(errs[0].Text, "Content Security Policy") {
		t.Errorf("an inline script gave the console errors %v, want one CSP violation", errs)
	}
}

// chromiumPath is Debian's Chromium, or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed (.ci/run installs it)")
	return ""
}

// testOutput is a folder for what tests leave for people to look at, such as
// screenshots: sub under $ODI_TEST_OUTPUT, else under the repository's test-output/.
func testOutput(t *testing.T, sub string) string {
	t.Helper()
	dir := os.Getenv("ODI_TEST_OUTPUT")
	if dir == "" {
		dir = filepath.Join("..", "..", "test-output")
	}
	dir, err := filepath.Abs(filepath.Join(dir, sub))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserTimeout bounds the whole browsing; stepTimeout one navigation or query.
const (
	browserTimeout = 3 * time.Minute
	stepTimeout    = 30 * time.Second
)

// tab is a headless Chromium tab that a test drives.
type tab struct {
	t       *testing.T
	ctx     context.Context
	out     string                       // where screenshots go
	hosts   []string                     // the hosts links may point to: the directory's and the relay's
	console chan chromedp.ConsoleMessage // every console message, in order
	checked map[string]bool              // links already followed
	marks   int                          // settle's markers
}

// startBrowser starts Chromium with a fresh profile and opens a tab. Only the test's
// hosts (bases) are ever a target: the flags stop Chromium's own calls to Google, and
// no name resolves. The browser is killed when the test ends.
func startBrowser(t *testing.T, exe, out string, bases ...string) *tab {
	t.Helper()
	stderr := &logTail{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // we run as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.CombinedOutput(stderr),
	)
	bounded, cancelBound := context.WithTimeout(context.Background(), browserTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(bounded, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &tab{t: t, ctx: ctx, out: out, console: make(chan chromedp.ConsoleMessage, 64), checked: map[string]bool{}}
	for _, base := range bases {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		b.hosts = append(b.hosts, u.Host)
	}
	read := make(chan struct{})
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // kills Chromium and waits for it
		cancelBound()
		<-read
		if t.Failed() {
			t.Logf("the end of chromium's output:\n%s", stderr.String())
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		close(read)
		t.Fatalf("start %s: %v", exe, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		defer close(read)
		for m, err := range messages {
			if err != nil {
				return
			}
			select {
			case b.console <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Logf("screenshots in %s", out)
	return b
}

// inTab runs a in b's tab, failing the test on an error.
func inTab[T any](b *tab, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// click clicks the element css selects and waits for the page that loads, giving its
// status.
func (b *tab) click(css string) int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(css)))
	if err != nil {
		b.t.Fatalf("click %s: %v", css, err)
	}
	return int(resp.Status)
}

// open navigates to u and checks its status and heading.
func (b *tab) open(name, u string, status int, h1 string) {
	b.t.Helper()
	resp := inTab(b, chromedp.NavigateResponse(u))
	if int(resp.Status) != status {
		b.t.Errorf("%s: GET %s: %d, want %d", name, u, resp.Status, status)
	}
	if got := inTab(b, chromedp.Text(chromedp.CSS("h1"))); got != h1 {
		b.t.Errorf("%s: h1 %q, want %q", name, got, h1)
	}
}

// texts are the trimmed text of the elements css selects, in document order.
func (b *tab) texts(css string) []string {
	b.t.Helper()
	return inTab(b, chromedp.Evaluate[[]string](fmt.Sprintf(`Array.from(document.querySelectorAll(%s), e => e.textContent.trim())`, jsString(css))))
}

// attrs are the attribute name of the elements css selects, in document order.
func (b *tab) attrs(css, name string) []string {
	b.t.Helper()
	return inTab(b, chromedp.Evaluate[[]string](fmt.Sprintf(`Array.from(document.querySelectorAll(%s), e => e.getAttribute(%s))`, jsString(css), jsString(name))))
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	j, _ := json.Marshal(s)
	return string(j)
}

// done checks what every page owes, then saves its screenshot as name.png: the
// stylesheet applied, each link on the directory or the relay answering, nothing on the
// console.
func (b *tab) done(name string, status int) {
	b.t.Helper()
	if n := inTab(b, chromedp.Evaluate[int](`Array.from(document.styleSheets, s => s.cssRules.length).reduce((a, b) => a + b, 0)`)); n == 0 {
		b.t.Errorf("%s: no style rules apply", name)
	}
	for _, l := range inTab(b, chromedp.Evaluate[[]string](`Array.from(document.links, a => a.href)`)) {
		b.checkLink(name, l)
	}
	png := inTab(b, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.out, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.quiet(name, status)
}

// quiet checks that the console has shown no error since the last check.
func (b *tab) quiet(page string, status int) {
	b.t.Helper()
	for _, m := range b.settle(page, status) {
		b.t.Errorf("%s: the console says %s (%s)", page, m, m.URL)
	}
}

// checkLink follows an http link once: it must stay on the test's hosts and answer.
func (b *tab) checkLink(page, l string) {
	b.t.Helper()
	u, err := url.Parse(l)
	if err != nil {
		b.t.Errorf("%s: link %q: %v", page, l, err)
		return
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return // magnet:
	}
	if !slices.Contains(b.hosts, u.Host) {
		b.t.Errorf("%s links %s, off the directory and relay", page, l)
		return
	}
	if b.checked[l] {
		return
	}
	b.checked[l] = true
	// A tombstone's page answers 410 Gone, by design.
	if resp, _ := get(b.t, l); resp.StatusCode >= 400 && resp.StatusCode != http.StatusGone {
		b.t.Errorf("%s: link %s answers %d", page, l, resp.StatusCode)
	}
}

// settle returns the console's errors since the last settle: every message before a
// marker it logs, but the one a page with an error status gets for its own load.
func (b *tab) settle(page string, status int) []chromedp.ConsoleMessage {
	b.t.Helper()
	b.marks++
	mark := fmt.Sprintf("odi-test-mark-%d", b.marks)
	loc := inTab(b, chromedp.Location())
	inTab(b, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("console.debug(%s)", jsString(mark))))
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	var errs []chromedp.ConsoleMessage
	for {
		select {
		case m := <-b.console:
			switch {
			case m.Type == chromedp.ConsoleDebug && m.Text == mark:
				return errs
			case status >= 400 && m.Source == "network" && m.URL == loc && strings.Contains(m.Text, fmt.Sprint(status)):
			case m.Type == chromedp.ConsoleError || m.IsException():
				errs = append(errs, m)
			}
		case <-ctx.Done():
			b.t.Fatalf("%s: the console did not show the marker %s", page, mark)
		}
	}
}

// laidOut is f's path as a download lays it out, as the artifact's page shows it.
func laidOut(a *catalogapi.Artifact, f manifest.File) string {
	return strings.TrimSuffix(a.Root+"/"+f.Path, "/")
}

// download clicks the link css selects, as a person would, and checks that the browser
// saves the file as name, its sha256 sum.
func (b *tab) download(css, name, sum string) {
	b.t.Helper()
	dir := b.t.TempDir()
	if _, err := chromedp.CallBrowser(b.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true),
	}); err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	begun := chromedp.BrowserEvents(ctx, browser.DownloadWillBegin)
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	inTab(b, chromedp.Click(chromedp.CSS(css)))
	var guid string
	for ev, err := range begun {
		if err != nil {
			b.t.Fatalf("no download began: %v", err)
		}
		if ev.SuggestedFilename != name {
			b.t.Errorf("the browser would save %s as %q, want %q", ev.URL, ev.SuggestedFilename, name)
		}
		guid = ev.GUID
		break
	}
	for ev, err := range progress {
		if err != nil {
			b.t.Fatalf("the download did not complete: %v", err)
		}
		if ev.GUID != guid || ev.State == browser.DownloadProgressStateInProgress {
			continue
		}
		if ev.State != browser.DownloadProgressStateCompleted {
			b.t.Fatalf("the download ended %s", ev.State)
		}
		break
	}
	body, err := os.ReadFile(filepath.Join(dir, guid)) // AllowAndName names files by their GUID
	if err != nil {
		b.t.Fatal(err)
	}
	if got := sha256.Sum256(body); hex.EncodeToString(got[:]) != sum {
		b.t.Errorf("the browser downloaded %d bytes whose sha256 is %x, want %s", len(body), got, sum)
	}
}
