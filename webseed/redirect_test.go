package webseed

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/names"
)

// memResolver is a directory's artifact table in memory, as the directory keeps it: a
// Target once handed out is never changed, only replaced.
type memResolver struct {
	mu     sync.RWMutex
	byID   map[string]*Target // by catalog/name/version
	latest map[string]string  // catalog/name -> version
	gone   map[string]string  // catalog/name/version -> why
}

// set replaces an artifact's Target, prepared as the directory's resolver does.
func (m *memResolver) set(id string, t *Target) {
	t.Prepare()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byID[id] = t
}

func (m *memResolver) Resolve(catalog, name, version string) (*Target, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if version == names.Latest {
		version = m.latest[catalog+"/"+name]
	}
	id := catalog + "/" + name + "/" + version
	if why, ok := m.gone[id]; ok {
		return nil, fmt.Errorf("%s was expunged: %s: %w", id, why, ErrGone)
	}
	if id == "debian/broken/1" {
		return nil, errors.New("the table is on fire")
	}
	t, ok := m.byID[id]
	if !ok {
		return nil, fmt.Errorf("no artifact %s: %w", id, ErrNotFound)
	}
	return t, nil
}

// mapLocator places the few addresses a test knows.
type mapLocator map[netip.Addr][2]string

func (l mapLocator) Locate(addr netip.Addr) (country, continent string) {
	p := l[addr]
	return p[0], p[1]
}

// redirectNet is a small network on loopback: three relays and an origin, each a real web
// seed serving the same files, and a directory mounting the redirector and metalinks.
type redirectNet struct {
	dir                         *httptest.Server
	res                         *memResolver
	relays                      map[string]*httptest.Server // by country
	origin                      *httptest.Server
	iso, pkg, intl              *Target // intl is a single file named intlName
	isoBytes                    []byte
	pkgBytes                    map[string][]byte // by path
	ihISO, ihPkg, ihOld, ihIntl metainfo.Hash
}

// intlName is a file name that only RFC 6266's filename* carries as it is.
const intlName = "Jürgen's café 日本.iso"

const testPieceLength = 16

// newRedirectNet starts the network. loc places clients; mirrors of the ISO are in DE (EU),
// FR (EU) and US (NA).
func newRedirectNet(t *testing.T, loc Locator) *redirectNet {
	t.Helper()
	n := &redirectNet{
		isoBytes: []byte("an installer image, several pieces long"),
		pkgBytes: map[string][]byte{"a b.txt": []byte("spaced"), "sub/c#d.txt": []byte("hashed name")},
		relays:   map[string]*httptest.Server{},
	}
	n.ihISO[0], n.ihPkg[0], n.ihOld[0], n.ihIntl[0] = 1, 2, 3, 4
	store := t.TempDir()
	write := func(ih metainfo.Hash, p string, b []byte) {
		full := filepath.Join(store, ih.HexString(), filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(n.ihISO, "netinst.iso", n.isoBytes)
	write(n.ihIntl, intlName, n.isoBytes)
	for p, b := range n.pkgBytes {
		write(n.ihPkg, "docs/"+p, b)
	}
	seed := func() *httptest.Server {
		mux := http.NewServeMux()
		mux.Handle("/ws/", http.StripPrefix("/ws", New(dirStore{dir: store}, slog.New(slog.DiscardHandler))))
		mux.Handle("/dl/", http.StripPrefix("/dl", New(dirStore{dir: store}, slog.New(slog.DiscardHandler))))
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return srv
	}
	for _, c := range []string{"DE", "FR", "US"} {
		n.relays[c] = seed()
	}
	n.origin = seed()
	base := func(srv *httptest.Server, ih metainfo.Hash) string { return srv.URL + "/ws/" + ih.HexString() + "/" }
	mirrors := func(ih metainfo.Hash) []Mirror {
		return []Mirror{
			{Base: base(n.relays["US"], ih), Country: "US", Continent: "NA", CapacityBytes: 1e6, Redirects: new(atomic.Int64)},
			{Base: base(n.relays["DE"], ih), Country: "DE", Continent: "EU", CapacityBytes: 1e6, Redirects: new(atomic.Int64)},
			{Base: base(n.relays["FR"], ih), Country: "fr", Continent: "EU", CapacityBytes: 1e6, Redirects: new(atomic.Int64)},
		}
	}
	var pieces []byte
	for p := n.isoBytes; len(p) > 0; p = p[min(testPieceLength, len(p)):] {
		sum := sha1.Sum(p[:min(testPieceLength, len(p))])
		pieces = append(pieces, sum[:]...)
	}
	n.iso = &Target{
		Manifest: manifest.Manifest{Catalog: "debian", Name: "netinst", Version: "12.5", Root: "netinst.iso",
			Files: []manifest.File{{Size: int64(len(n.isoBytes)), SHA256: sha256Hex(n.isoBytes)}}},
		InfoHash:    n.ihISO,
		PieceLength: testPieceLength,
		Pieces:      pieces,
		TorrentURL:  "http://directory.test/t/debian/netinst/12.5.torrent",
		Mirrors:     mirrors(n.ihISO),
		Origin:      base(n.origin, n.ihISO),
		// Plain users sent to the origin go where it does not ration.
		OriginDownload: n.origin.URL + "/dl/" + n.ihISO.HexString() + "/",
		Redirects:      new(atomic.Int64),
	}
	n.pkg = &Target{
		Manifest: manifest.Manifest{Catalog: "debian", Name: "docs", Version: "1.0", Root: "docs",
			Files: []manifest.File{
				{Path: "a b.txt", Size: int64(len(n.pkgBytes["a b.txt"])), SHA256: sha256Hex(n.pkgBytes["a b.txt"])},
				{Path: "sub/c#d.txt", Size: int64(len(n.pkgBytes["sub/c#d.txt"])), SHA256: sha256Hex(n.pkgBytes["sub/c#d.txt"])},
			}},
		InfoHash:    n.ihPkg,
		PieceLength: testPieceLength,
		Pieces:      make([]byte, sha1.Size),
		TorrentURL:  "http://directory.test/t/debian/docs/1.0.torrent",
		Mirrors:     mirrors(n.ihPkg)[:1],
		Origin:      base(n.origin, n.ihPkg),
	}
	n.intl = &Target{
		Manifest: manifest.Manifest{Catalog: "debian", Name: "intl", Version: "1", Root: intlName,
			Files: []manifest.File{{Size: int64(len(n.isoBytes)), SHA256: sha256Hex(n.isoBytes)}}},
		InfoHash: n.ihIntl,
		Mirrors:  mirrors(n.ihIntl)[:1],
		Origin:   base(n.origin, n.ihIntl),
	}
	n.res = &memResolver{
		byID: map[string]*Target{
			"debian/netinst/12.5": n.iso,
			"debian/docs/1.0":     n.pkg,
			"debian/intl/1":       n.intl,
			// Held by no relay, and its origin is not reachable either.
			"debian/lost/1": {Manifest: manifest.Manifest{Catalog: "debian", Name: "lost", Version: "1", Root: "lost.iso",
				Files: []manifest.File{{Size: 1}}}},
		},
		latest: map[string]string{"debian/netinst": "12.5", "debian/intl": "1"},
		gone:   map[string]string{"debian/old/1.0": "license withdrawn"},
	}
	for _, t := range n.res.byID {
		t.Prepare()
	}
	rd := NewRedirector(n.res, RedirectorOptions{Locator: loc, Rand: rand.NewPCG(1, 2)}, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	mux.Handle("/r/", http.StripPrefix("/r", rd))
	mux.Handle("/m/", http.StripPrefix("/m", rd.Metalink()))
	n.dir = httptest.NewServer(mux)
	t.Cleanup(n.dir.Close)
	return n
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// noFollow is a client that shows redirects instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t *testing.T, c *http.Client, method, u string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, c, req)
}

// doRaw sends path to srv byte for byte, even where it is not a valid URL path.
func doRaw(t *testing.T, srv *httptest.Server, method, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path
	return send(t, noFollow, req)
}

func send(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// TestRedirectFollow downloads through the redirector as curl -L does, and checks that
// the file answer names the file.
func TestRedirectFollow(t *testing.T) {
	n := newRedirectNet(t, nil)
	tests := []struct {
		path, filename string
		want           []byte
	}{
		{"/r/debian/netinst/12.5", "netinst.iso", n.isoBytes},
		{"/r/debian/netinst/latest", "netinst.iso", n.isoBytes},
		{"/r/debian/netinst/12.5/netinst.iso", "netinst.iso", n.isoBytes},
		{"/r/debian/netinst/LATEST/netinst.iso", "netinst.iso", n.isoBytes},
		{"/r/debian/intl/latest/" + url.PathEscape(intlName), intlName, n.isoBytes},
		{"/r/debian/docs/1.0/a%20b.txt", "a b.txt", n.pkgBytes["a b.txt"]},
		{"/r/debian/docs/1.0/sub/c%23d.txt", "c#d.txt", n.pkgBytes["sub/c#d.txt"]},
	}
	for _, tt := range tests {
		resp, body := do(t, http.DefaultClient, http.MethodGet, n.dir.URL+tt.path)
		if resp.StatusCode != http.StatusOK || body != string(tt.want) {
			t.Errorf("GET %s -L = %s %q; want 200 %q", tt.path, resp.Status, body, tt.want)
		}
		_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		if err != nil || params["filename"] != tt.filename {
			t.Errorf("GET %s -L: Content-Disposition %q names %q (%v); want %q",
				tt.path, resp.Header.Get("Content-Disposition"), params["filename"], err, tt.filename)
		}
		if strings.HasPrefix(resp.Request.URL.String(), n.dir.URL) {
			t.Errorf("GET %s -L ended at the directory, %s", tt.path, resp.Request.URL)
		}
	}
	if got := n.iso.Redirects.Load(); got != 4 {
		t.Errorf("redirects counted for the ISO = %d; want 4", got)
	}
	var toMirrors int64
	for _, m := range n.iso.Mirrors {
		toMirrors += m.Redirects.Load()
	}
	if toMirrors != 4 {
		t.Errorf("redirects counted by the ISO's mirrors = %d; want 4, one per GET", toMirrors)
	}
}

// TestRedirectHeaders checks the 302 itself: where it goes, the other copies it names, and
// the file's digest.
func TestRedirectHeaders(t *testing.T) {
	n := newRedirectNet(t, mapLocator{netip.MustParseAddr("127.0.0.1"): {"DE", "EU"}})
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		resp, body := do(t, noFollow, method, n.dir.URL+"/r/debian/netinst/12.5")
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("%s = %s %q; want 302", method, resp.Status, body)
		}
		if got, want := resp.Header.Get("Location"), n.relays["DE"].URL+"/ws/"+n.ihISO.HexString()+"/netinst.iso"; got != want {
			t.Errorf("%s Location = %q; want the nearest relay, %q", method, got, want)
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s Cache-Control = %q; want no-store", method, got)
		}
		wantLinks := []string{
			"<" + n.relays["FR"].URL + "/ws/" + n.ihISO.HexString() + "/netinst.iso>; rel=duplicate; pri=2; geo=fr",
			"<" + n.relays["US"].URL + "/ws/" + n.ihISO.HexString() + "/netinst.iso>; rel=duplicate; pri=3; geo=us",
			"<" + n.origin.URL + "/ws/" + n.ihISO.HexString() + "/netinst.iso>; rel=duplicate; pri=4",
			`<http://directory.test/t/debian/netinst/12.5.torrent>; rel=describedby; type="application/x-bittorrent"`,
		}
		if got := resp.Header.Values("Link"); !slices.Equal(got, wantLinks) {
			t.Errorf("%s Link =\n%s\nwant\n%s", method, strings.Join(got, "\n"), strings.Join(wantLinks, "\n"))
		}
		sum := sha256.Sum256(n.isoBytes)
		b64 := base64.StdEncoding.EncodeToString(sum[:])
		if got := resp.Header.Get("Digest"); got != "sha-256="+b64 {
			t.Errorf("%s Digest = %q; want sha-256=%s", method, got, b64)
		}
		if got := resp.Header.Get("Repr-Digest"); got != "sha-256=:"+b64+":" {
			t.Errorf("%s Repr-Digest = %q; want sha-256=:%s:", method, got, b64)
		}
		if method == http.MethodHead && body != "" {
			t.Errorf("HEAD body = %q; want none", body)
		}
	}
	if got := n.iso.Redirects.Load(); got != 1 {
		t.Errorf("redirects counted = %d; want 1, for the GET alone", got)
	}
}

// TestRedirectClientAddr places users by the address ClientAddr gives (what a reverse
// proxy forwarded), not the connection's.
func TestRedirectClientAddr(t *testing.T) {
	n := newRedirectNet(t, nil)
	loc := mapLocator{netip.MustParseAddr("127.0.0.1"): {"DE", "EU"}, netip.MustParseAddr("198.51.100.7"): {"US", "NA"}}
	forwarded := func(r *http.Request) netip.Addr {
		a, _ := netip.ParseAddr(r.Header.Get("X-Forwarded-For"))
		return a
	}
	rd := NewRedirector(n.res, RedirectorOptions{Locator: loc, ClientAddr: forwarded}, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(http.StripPrefix("/r", rd))
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		xff  string
		want *httptest.Server
	}{{"198.51.100.7", n.relays["US"]}, {"127.0.0.1", n.relays["DE"]}} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/r/debian/netinst/12.5", nil)
		req.Header.Set("X-Forwarded-For", tt.xff)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Location"); !strings.HasPrefix(got, tt.want.URL+"/") {
			t.Errorf("forwarded for %s: Location %s; want the relay at %s", tt.xff, got, tt.want.URL)
		}
	}
}

// TestRedirectRegion moves the nearest relay out of the way, step by step.
func TestRedirectRegion(t *testing.T) {
	n := newRedirectNet(t, mapLocator{netip.MustParseAddr("127.0.0.1"): {"DE", "EU"}})
	location := func() string {
		t.Helper()
		resp, body := do(t, noFollow, http.MethodGet, n.dir.URL+"/r/debian/netinst/12.5")
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("GET = %s %q; want 302", resp.Status, body)
		}
		return resp.Header.Get("Location")
	}
	steps := []struct {
		full string // the relay that is now full
		want *httptest.Server
	}{
		{"", n.relays["DE"]},
		{"DE", n.relays["FR"]}, // same continent
		{"FR", n.relays["US"]}, // anywhere
		{"US", n.origin},       // nobody has room: the origin's plain download URL
	}
	iso := *n.iso
	iso.Mirrors = slices.Clone(iso.Mirrors)
	for _, s := range steps {
		for i := range iso.Mirrors {
			if strings.EqualFold(iso.Mirrors[i].Country, s.full) {
				iso.Mirrors[i].Load = 1
			}
		}
		next := iso
		next.Mirrors = slices.Clone(iso.Mirrors)
		n.res.set("debian/netinst/12.5", &next)
		for range 5 {
			want := s.want.URL + "/ws/"
			if s.want == n.origin {
				want = s.want.URL + "/dl/"
			}
			if got := location(); !strings.HasPrefix(got, want) {
				t.Fatalf("with %s full too, Location = %s; want %s...", s.full, got, want)
			}
		}
	}
}

func TestRedirectErrors(t *testing.T) {
	n := newRedirectNet(t, nil)
	tests := []struct {
		method, path string
		status       int
		body         string // a part of it
	}{
		{"GET", "/r/debian/netinst/9.9", 404, "no artifact debian/netinst/9.9"},
		{"GET", "/r/debian/old/1.0", 410, "license withdrawn"},
		{"HEAD", "/r/debian/old/1.0", 410, ""},
		{"GET", "/r/debian/broken/1", 500, "internal error"},
		{"GET", "/r/debian/lost/1", 503, "no copy"},
		{"GET", "/r/", 404, "/r/<catalog>/<name>/<version or latest>[/<path or file name>]"},
		{"GET", "/r/debian/netinst", 404, "/r/<catalog>"},
		{"GET", "/r/debian/netinst/12.5/extra", 404, `debian/netinst/12.5 is the single file "netinst.iso", not "extra": end the URL with "netinst.iso"`},
		{"GET", "/r/debian/netinst/latest/NETINST.ISO", 404, `the single file "netinst.iso", not "NETINST.ISO"`},
		{"GET", "/r/debian/netinst/12.5/netinst.iso/x", 404, `the single file "netinst.iso", not "netinst.iso/x"`},
		{"GET", "/r/debian/intl/1/x", 404, `end the URL with "J%C3%BCrgen%27s%20caf%C3%A9%20%E6%97%A5%E6%9C%AC.iso"`},
		{"GET", "/r/debian/netinst/12.5/netinst.iso", 302, ""},
		{"GET", "/r/debian/netinst/latest/netinst.iso", 302, ""},
		{"GET", "/r/debian/docs/1.0/docs", 404, `no file "docs"`},
		{"GET", "/r/debian/docs/1.0", 404, "package of 2 files"},
		{"GET", "/r/debian/docs/1.0/", 404, "package of 2 files"},
		{"GET", "/r/debian/docs/1.0/missing.txt", 404, `no file "missing.txt"`},
		{"GET", "/r/debian/docs/1.0/sub", 404, `no file "sub"`},
		{"GET", "/r/debian/docs/1.0/%2e%2e/" + ih1 + "/secret", 400, `".."`},
		{"GET", "/r/debian/docs/1.0/sub/%2E%2E/a%20b.txt", 400, `".."`},
		{"GET", "/r/debian/docs/1.0/a%2F..%2Fb", 400, `".."`},
		{"GET", "/r/debian/docs/1.0/.%2Fa", 400, `"."`},
		{"GET", "/r/debian/docs/1.0/a%5Cb", 400, "contains"},
		{"GET", "/r/debian/docs/1.0/a%00b", 400, "contains"},
		{"GET", "/r/debian/docs/1.0/" + strings.Repeat("a", names.MaxPathLen+1), 400, "longer than"},
		{"GET", "/r/debian/docs/" + strings.Repeat("1", names.MaxSegmentLen+1), 400, "longer than"},
		{"GET", "/r/debian/net%20inst/1", 400, "contains"},
		{"GET", "/r/%2e%2e/netinst/1", 400, `".."`},
		{"GET", "/r/debian/netinst/latest%2F..", 400, `".."`},
		{"GET", "/r/debian/netinst/1%zz", 400, ""}, // net/http refuses it before the handler
		{"POST", "/r/debian/netinst/12.5", 405, "is not allowed"},
		{"GET", "/r/debian/netinst/LATEST", 302, ""},
	}
	for _, tt := range tests {
		resp, body := doRaw(t, n.dir, tt.method, tt.path)
		if resp.StatusCode >= 400 && tt.body != "" {
			assertProblem(t, resp, []byte(body))
			body = problemDetail(body)
		}
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("%s %.80s = %s %q; want %d containing %q", tt.method, tt.path, resp.Status, body, tt.status, tt.body)
		}
	}
}

// TestPreparedAnswersAreTheBuiltOnes checks that the answers a prepared single-file
// Target keeps for users the Locator does not place are the ones built per request.
func TestPreparedAnswersAreTheBuiltOnes(t *testing.T) {
	n := newRedirectNet(t, mapLocator{})
	built := *n.iso
	built.prep, built.plain = nil, nil
	for _, tg := range []*Target{n.iso, &built} {
		if (tg.plain != nil) != (tg == n.iso) {
			t.Fatalf("prepared answers: %v; want them on the prepared Target only", tg.plain != nil)
		}
	}
	full := *n.iso
	full.Mirrors = slices.Clone(full.Mirrors)
	for i := range full.Mirrors {
		full.Mirrors[i].Load = 1
	}
	fullBuilt := full
	full.Prepare()
	fullBuilt.prep, fullBuilt.plain = nil, nil
	for _, pair := range [][2]*Target{{n.iso, &built}, {&full, &fullBuilt}} {
		var answers [2][]string
		for k, tg := range pair {
			res := &memResolver{byID: map[string]*Target{"debian/netinst/12.5": tg}}
			rd := NewRedirector(res, RedirectorOptions{Rand: rand.NewPCG(3, 4)}, slog.New(slog.DiscardHandler))
			for range 30 {
				w := headerWriter{h: http.Header{}}
				rd.ServeHTTP(&w, httptest.NewRequest("GET", "/debian/netinst/12.5", nil))
				answers[k] = append(answers[k], fmt.Sprint(w.code, w.h))
			}
		}
		if !slices.Equal(answers[0], answers[1]) {
			t.Errorf("prepared answers:\n%s\nbuilt per request:\n%s", strings.Join(answers[0], "\n"), strings.Join(answers[1], "\n"))
		}
		if locs := strings.Join(answers[0], " "); pair[0] == n.iso && !strings.Contains(locs, n.relays["US"].URL) {
			t.Errorf("30 draws never sent a user to the US relay: %s", locs)
		}
	}
}

func TestChooseWeighted(t *testing.T) {
	ms := []Mirror{
		{CapacityBytes: 100},
		{CapacityBytes: 300},
		{CapacityBytes: 200, Load: 0.5},
		{Load: 0.5},                     // unknown capacity: the mean of the known ones, 200
		{CapacityBytes: 200, Load: 1},   // full
		{CapacityBytes: 200, Load: 1.5}, // over full
		{CapacityBytes: 200, Load: -1},  // a bad load reads as idle
	}
	rd := NewRedirector(nil, RedirectorOptions{Rand: rand.NewPCG(7, 11)}, nil)
	rk := newRanker(ms, "", "")
	const draws = 65_000
	var got [7]int
	for range draws {
		got[rk.choose(ms, rd.draw())]++
	}
	// Spare capacity, of 800 in all.
	want := [7]float64{100, 300, 100, 100, 0, 0, 200}
	for i, w := range want {
		share := float64(got[i]) / draws
		if d := share - w/800; d > 0.01 || d < -0.01 {
			t.Errorf("mirror %d got %.3f of users; want %.3f (counts %v)", i, share, w/800, got)
		}
	}
	if i := rk.choose(ms[4:6], 0.5); i != -1 {
		t.Errorf("choose among full mirrors = %d; want -1, the origin", i)
	}
}

func TestChooseNearest(t *testing.T) {
	ms := []Mirror{
		{Country: "US", Continent: "NA", CapacityBytes: 10},
		{Country: "FR", Continent: "EU", CapacityBytes: 10},
		{Country: "de", Continent: "eu", CapacityBytes: 1},
		{Continent: "AS", CapacityBytes: 10},
		{CapacityBytes: 10},
	}
	tests := []struct {
		country, continent string
		want               []int // the mirrors that may be chosen
	}{
		{"DE", "EU", []int{2}},
		{"IT", "EU", []int{1, 2}},
		{"JP", "AS", []int{3}},
		{"", "AS", []int{3}},
		{"BR", "SA", []int{0, 1, 2, 3, 4}},
		{"", "", []int{0, 1, 2, 3, 4}},
	}
	for _, tt := range tests {
		loc := mapLocator{netip.MustParseAddr("192.0.2.1"): {tt.country, tt.continent}}
		rd := NewRedirector(nil, RedirectorOptions{Locator: loc}, nil)
		req := httptest.NewRequest("GET", "/", nil) // from 192.0.2.1
		country, continent := rd.locate(req)
		rk := newRanker(ms, country, continent)
		seen := map[int]bool{}
		for u := 0.0; u < 1; u += 0.01 {
			seen[rk.choose(ms, u)] = true
		}
		var got []int
		for i := range ms {
			if seen[i] {
				got = append(got, i)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("client in %q/%q may get mirrors %v; want %v", tt.country, tt.continent, got, tt.want)
		}
	}
}

func TestFileSuffix(t *testing.T) {
	tests := []struct{ root, path, want string }{
		{"disk.iso", "", "disk.iso"},
		{"my disk#1.iso", "", "my%20disk%231.iso"},
		{"pkg", "docs/a b.txt", "pkg/docs/a%20b.txt"},
		{"pkg", "caf\u00e9/100%.txt", "pkg/caf%C3%A9/100%25.txt"},
		{"pkg", "a?b/c+d", "pkg/a%3Fb/c+d"},
	}
	for _, tt := range tests {
		got := fileSuffix(tt.root, tt.path)
		if got != tt.want {
			t.Errorf("fileSuffix(%q, %q) = %q; want %q", tt.root, tt.path, got, tt.want)
		}
		// A web seed must read back the very names: the BEP 19 round trip.
		back, err := url.PathUnescape(got)
		if want := strings.TrimSuffix(tt.root+"/"+tt.path, "/"); err != nil || back != want {
			t.Errorf("PathUnescape(%q) = %q, %v; want %q", got, back, err, want)
		}
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		in   string
		want ref
		err  error // nil, errRefShape or names.ErrInvalid
	}{
		{"/c/n/v", ref{"c", "n", "v", ""}, nil},
		{"/c/n/v/", ref{"c", "n", "v", ""}, nil},
		{"/c/n/Latest/p/q", ref{"c", "n", "latest", "p/q"}, nil},
		{"/c/n/1.0+b~2/a b", ref{"c", "n", "1.0+b~2", "a b"}, nil},
		{"", ref{}, errRefShape},
		{"c/n/v", ref{}, errRefShape},
		{"/c/n", ref{}, errRefShape},
		{"/c", ref{}, errRefShape},
		{"//n/v", ref{}, names.ErrInvalid},
		{"/c//v", ref{}, names.ErrInvalid},
		{"/c/n//x", ref{}, names.ErrInvalid},
		{"/c/n/v//x", ref{}, names.ErrInvalid},
		{"/c/n/v/x/", ref{}, names.ErrInvalid},
		{"/c/n/v/../x", ref{}, names.ErrInvalid},
		{"/c/n/v/x/./y", ref{}, names.ErrInvalid},
		{"/c/n/-v", ref{}, names.ErrInvalid},
		{"/../n/v", ref{}, names.ErrInvalid},
	}
	for _, tt := range tests {
		got, err := parseRef(tt.in)
		switch {
		case tt.err == nil && (err != nil || got != tt.want):
			t.Errorf("parseRef(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		case tt.err != nil && !errors.Is(err, tt.err):
			t.Errorf("parseRef(%q) = %+v, %v; want %v", tt.in, got, err, tt.err)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"/c/n/v", "/c/n/latest/a/b", "/c/n/v/", "/c/n/v/../x", "/c/n/v/a\\b",
		"/c/n/LATEST", "//", "/c/n/v/\xff", "/c/n/v/a\x00b", "/c/n/1..2",
		"/c/n/v/file.iso", "/c/n/latest/file.iso", "/c/n/Latest/" + intlName, "/c/n/v/file.iso/", "/c/n/v/a b.iso"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		r, err := parseRef(p)
		if err != nil {
			if !errors.Is(err, errRefShape) && !errors.Is(err, names.ErrInvalid) {
				t.Fatalf("parseRef(%q) = %v; want errRefShape or names.ErrInvalid", p, err)
			}
			return
		}
		rebuilt := "/" + r.catalog + "/" + r.name + "/" + r.version
		if r.path != "" {
			rebuilt += "/" + r.path
		}
		same := func(a, b string) bool { return a == b || r.version == names.Latest && strings.EqualFold(a, b) }
		if !same(p, rebuilt) && !same(p, rebuilt+"/") {
			t.Fatalf("parseRef(%q) = %+v, which does not rebuild it", p, r)
		}
		for _, c := range strings.Split(r.catalog+"/"+r.name+"/"+r.version+"/"+r.path, "/") {
			if c == ".." || c == "." || strings.ContainsAny(c, "\\\x00") {
				t.Fatalf("parseRef(%q) accepted component %q", p, c)
			}
		}
	})
}

// BenchmarkRedirect measures the hot path: a package file, five mirrors, a located client.
// BenchmarkRedirect measures the redirector's own work: for a package file to a client
// the Locator places, and for a single file to one it does not (the prepared answers).
func BenchmarkRedirect(b *testing.B) {
	pool := &Target{
		Manifest: manifest.Manifest{Catalog: "debian", Name: "pool", Version: "1", Root: "pool",
			Files: []manifest.File{
				{Path: "main/a.deb", Size: 1, SHA256: strings.Repeat("ab", 32)},
				{Path: "main/b b.deb", Size: 1, SHA256: strings.Repeat("cd", 32)},
				{Path: "main/c.deb", Size: 1, SHA256: strings.Repeat("ef", 32)},
			}},
		TorrentURL: "http://directory.example/t/debian/pool/1.torrent",
		Origin:     "http://directory.example/ws/" + ih1 + "/",
	}
	for i, c := range []string{"DE", "FR", "US", "JP", "BR"} {
		pool.Mirrors = append(pool.Mirrors, Mirror{Base: fmt.Sprintf("http://relay%d.example/ws/%s/", i, ih1), Country: c,
			Continent: map[string]string{"DE": "EU", "FR": "EU", "US": "NA", "JP": "AS", "BR": "SA"}[c], CapacityBytes: 1e6 * float64(i+1)})
	}
	iso := *pool
	iso.Manifest = manifest.Manifest{Catalog: "debian", Name: "netinst", Version: "1", Root: "netinst.iso",
		Files: []manifest.File{{Size: 1, SHA256: strings.Repeat("ab", 32)}}}
	// As the directory's resolver prepares them.
	for _, tg := range []*Target{pool, &iso} {
		tg.Redirects = new(atomic.Int64)
		tg.Prepare()
	}
	res := &memResolver{byID: map[string]*Target{"debian/pool/1": pool, "debian/netinst/1": &iso}}
	loc := mapLocator{netip.MustParseAddr("192.0.2.1"): {"FR", "EU"}}
	for _, bc := range []struct{ name, path, remote string }{
		{"package file, client placed", "/r/debian/pool/1/main/b%20b.deb", "192.0.2.1:1234"},
		{"single file, client not placed", "/r/debian/netinst/1", "198.51.100.1:1234"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rd := NewRedirector(res, RedirectorOptions{Locator: loc, Prefix: "/r"}, slog.New(slog.DiscardHandler))
			// A writer that keeps nothing, so that only the redirector's own work is measured.
			req := httptest.NewRequest("GET", bc.path, nil)
			req.RemoteAddr = bc.remote
			w := headerWriter{h: http.Header{}}
			rd.ServeHTTP(&w, req)
			if w.code != http.StatusFound {
				b.Fatalf("status %d; want 302", w.code)
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				rd.ServeHTTP(&w, req)
			}
		})
	}
}

// headerWriter is a ResponseWriter that keeps the header and status only.
type headerWriter struct {
	h    http.Header
	code int
}

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *headerWriter) WriteHeader(code int)        { w.code = code }

// A redirector mounted with RedirectorOptions.Prefix cuts the prefix off itself, and
// answers a path without it as not one of its URLs.
func TestRedirectPrefix(t *testing.T) {
	n := newRedirectNet(t, nil)
	rd := NewRedirector(n.res, RedirectorOptions{Prefix: "/r"}, slog.New(slog.DiscardHandler))
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/r/debian/netinst/12.5", http.StatusFound},
		{"/r/debian/netinst/latest", http.StatusFound},
		{"/debian/netinst/12.5", http.StatusNotFound},
		{"/rdebian/netinst/12.5", http.StatusNotFound},
	} {
		w := &headerWriter{h: http.Header{}}
		rd.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if w.code != tt.status {
			t.Errorf("GET %s: %d, want %d", tt.path, w.code, tt.status)
		}
	}
}

// TestRedirectHolds: a user the redirector would send to the origin waits while Hold says
// so, and goes to the first relay that holds the artifact, or to the origin after
// MaxHold or once Hold says no more; a held GET counts as one redirect.
func TestRedirectHolds(t *testing.T) {
	n := newRedirectNet(t, nil)
	unplaced := func() *Target {
		tg := *n.iso
		tg.Mirrors, tg.Redirects = nil, new(atomic.Int64)
		tg.Manifest.Name = "new"
		return &tg
	}
	var hold atomic.Bool
	rd := NewRedirector(n.res, RedirectorOptions{
		Hold:    func(ih metainfo.Hash) bool { return ih == n.ihISO && hold.Load() },
		MaxHold: 2 * time.Second,
	}, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(http.StripPrefix("/r", rd))
	t.Cleanup(srv.Close)
	origin := n.iso.OriginDownload + "netinst.iso"
	relay := n.iso.Mirrors[0].Base + "netinst.iso"

	t.Run("not held", func(t *testing.T) {
		n.res.set("debian/new/1", unplaced())
		hold.Store(false)
		if resp, _ := do(t, noFollow, http.MethodGet, srv.URL+"/r/debian/new/1"); resp.Header.Get("Location") != origin {
			t.Errorf("Location %q; want the origin's %q", resp.Header.Get("Location"), origin)
		}
	})
	t.Run("held until a relay holds it", func(t *testing.T) {
		tg := unplaced()
		n.res.set("debian/new/1", tg)
		hold.Store(true)
		placed := make(chan struct{})
		go func() {
			// Once the request is held (its GET counted), a relay comes to hold the artifact.
			for tg.Redirects.Load() == 0 {
				time.Sleep(10 * time.Millisecond)
			}
			withMirror := *tg
			withMirror.Mirrors = n.iso.Mirrors[:1]
			n.res.set("debian/new/1", &withMirror)
			close(placed)
		}()
		resp, _ := do(t, noFollow, http.MethodGet, srv.URL+"/r/debian/new/1")
		<-placed
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != relay {
			t.Errorf("%s, Location %q; want 302 to the relay %q", resp.Status, resp.Header.Get("Location"), relay)
		}
		if got := tg.Redirects.Load(); got != 1 {
			t.Errorf("a held GET counted %d redirects, want 1", got)
		}
	})
	t.Run("released when Hold says no more", func(t *testing.T) {
		n.res.set("debian/new/1", unplaced())
		hold.Store(true)
		go func() {
			time.Sleep(300 * time.Millisecond)
			hold.Store(false)
		}()
		if resp, _ := do(t, noFollow, http.MethodHead, srv.URL+"/r/debian/new/1"); resp.Header.Get("Location") != origin {
			t.Errorf("Location %q; want the origin's %q", resp.Header.Get("Location"), origin)
		}
	})
	t.Run("released after MaxHold", func(t *testing.T) {
		n.res.set("debian/new/1", unplaced())
		hold.Store(true)
		if resp, _ := do(t, noFollow, http.MethodGet, srv.URL+"/r/debian/new/1"); resp.Header.Get("Location") != origin {
			t.Errorf("Location %q; want the origin's %q", resp.Header.Get("Location"), origin)
		}
	})
}
