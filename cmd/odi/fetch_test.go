package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/catalog"
	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/sign"
)

// runFetch runs `odi fetch --json` in this process against tn and decodes its result.
func runFetch(ctx context.Context, tn *testNet, args ...string) (client.FetchResult, string, error) {
	var stdout, stderr bytes.Buffer
	root := newRootCmd(&stdout, &stderr)
	root.SetArgs(append([]string{"fetch", "--directory", tn.base, "--json"}, args...))
	err := root.ExecuteContext(ctx)
	var res client.FetchResult
	if err == nil {
		if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
			err = jerr
		}
	}
	return res, stderr.String(), err
}

// checkFetched checks that out holds a's files with the catalog's sha256, that the result
// says so, and that no partial state is left.
func checkFetched(t *testing.T, a *catalogapi.Artifact, out string, res client.FetchResult) {
	t.Helper()
	if res.Artifact != a.ID || res.Bytes != a.Size || len(res.Files) != len(a.Files) {
		t.Fatalf("result %+v for %s (%d bytes, %d files)", res, a.ID, a.Size, len(a.Files))
	}
	if want, _ := filepath.Abs(filepath.Join(out, a.Root)); res.Path != want {
		t.Errorf("result path %s, want %s", res.Path, want)
	}
	for i, f := range a.Files {
		p := filepath.Join(out, a.Root, filepath.FromSlash(f.Path))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != f.SHA256 || int64(len(b)) != f.Size {
			t.Errorf("%s: %d bytes, sha256 %s; the catalog says %d bytes, %s", p, len(b), got, f.Size, f.SHA256)
		}
		if res.Files[i].Path != filepath.Join(filepath.Dir(res.Path), filepath.FromSlash(strings.TrimSuffix(a.Root+"/"+f.Path, "/"))) || res.Files[i].SHA256 != f.SHA256 {
			t.Errorf("result file %d: %+v", i, res.Files[i])
		}
	}
	if _, err := os.Stat(filepath.Join(out, a.Root+".part")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial state left behind: %v", err)
	}
}

func total(b client.FetchedBytes) int64 { return b.Peers + b.WebSeeds + b.HTTP }

// publishPackage publishes a folder whose files cross piece boundaries (pieces are at
// least 256 KiB), with an empty file and nested folders.
func publishPackage(t *testing.T, tn *testNet, version string) *catalogapi.Artifact {
	t.Helper()
	src := filepath.Join(t.TempDir(), "pkg")
	writeFiles(t, src, 11, map[string]int{
		"README":         1234,
		"bin/tool":       700 << 10,
		"share/empty":    0,
		"share/a b.txt":  300<<10 + 1,
		"share/doc/z.gz": 90 << 10,
	})
	a, err := client.Publish(context.Background(), tn.publisher, ident(version), src, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestFetchOverBitTorrent(t *testing.T) {
	tn := startTestDirectory(t)
	for _, tc := range []struct {
		name string
		a    *catalogapi.Artifact
	}{
		{"single file", publishSmall(t, tn, "1", 3<<20+17)},
		{"package", publishPackage(t, tn, "2")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "new", "folder")
			res, stderr, err := runFetch(context.Background(), tn, "test/art@"+tc.a.Version, "-o", out, "--torrent-only")
			if err != nil {
				t.Fatalf("fetch: %v\n%s", err, stderr)
			}
			checkFetched(t, tc.a, out, res)
			if res.Fetched.HTTP != 0 || res.Fetched.WebSeeds+res.Fetched.Peers < tc.a.Size || res.Resumed != 0 {
				t.Errorf("fetched %+v (resumed %d) of %d bytes: want it all over BitTorrent", res.Fetched, res.Resumed, tc.a.Size)
			}
		})
	}
}

// The swarm: a relay seeds the artifact, the directory's tracker introduces it, and the
// fetch gets every byte from it as a peer. The torrent is served without web seeds:
// warm fill would otherwise read them from the start, and on a fast machine finish
// before the peer's first piece arrives.
func TestFetchFromRelayPeer(t *testing.T) {
	tn, proxy := startProxiedDirectory(t, relayDirectory)
	a := publishSmall(t, tn, "1", 2<<20+5)
	r := startTestRelay(t, tn)
	waitServes(t, tn, 30*time.Second, r.id, a.InfoHash)
	proxy.noWebSeeds.Store(true)
	out := t.TempDir()
	res, stderr, err := runFetch(context.Background(), tn, "test/art@1", "-o", out, "--torrent-only")
	if err != nil {
		t.Fatalf("fetch: %v\n%s", err, stderr)
	}
	checkFetched(t, a, out, res)
	if res.Fetched != (client.FetchedBytes{Peers: a.Size}) {
		t.Errorf("fetched %+v, want all %d bytes from the relay as a peer", res.Fetched, a.Size)
	}
}

func TestFetchHTTPOnly(t *testing.T) {
	tn := startTestDirectory(t)
	a := publishPackage(t, tn, "1")
	out := t.TempDir()
	// No version: the newest published, which must not be the expunged later one.
	publishSmall(t, tn, "2", 1000)
	if err := run(context.Background(), []string{"admin", "--directory", tn.base, "--key", tn.adminKey, "expunge", "test/art/2", "--reason", "r"}); err != nil {
		t.Fatal(err)
	}
	res, stderr, err := runFetch(context.Background(), tn, "test/art", "-o", out, "--http-only")
	if err != nil {
		t.Fatalf("fetch: %v\n%s", err, stderr)
	}
	checkFetched(t, a, out, res)
	if res.Fetched != (client.FetchedBytes{HTTP: a.Size}) {
		t.Errorf("fetched %+v, want all %d bytes over HTTP", res.Fetched, a.Size)
	}
	// The result is in place: a second fetch refuses to overwrite it. (The directory
	// comes from the environment this time, as for the other client commands.)
	t.Setenv("ODI_CLIENT_DIRECTORY", tn.base)
	if err := run(context.Background(), []string{"fetch", "test/art/1", "-o", out, "-q"}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second fetch into the same folder: %v", err)
	}
}

// withoutWebSeeds is the torrent b without its url-list (BEP 19 web seeds).
func withoutWebSeeds(b []byte) []byte {
	mi, err := metainfo.Load(bytes.NewReader(b))
	if err != nil {
		return b
	}
	mi.UrlList = nil
	var out bytes.Buffer
	if err := mi.Write(&out); err != nil {
		return b
	}
	return out.Bytes()
}

// fetchProxy stands in front of a test directory as its public URL, so that torrents,
// web seeds and API answers all pass through it. It counts the origin's bytes (web seed
// /ws/ and plain download /dl/), can slow them down, can refuse the web seed to anything
// but odi's HTTP fallback, can rewrite API answers, and records the reports and
// heartbeats the directory received and what it answered.
type fetchProxy struct {
	rp      *httputil.ReverseProxy
	served  atomic.Int64 // /ws/ and /dl/ body bytes: what the origin sent
	rate    atomic.Int64 // origin bytes per second; 0 is unlimited
	onlyOdi atomic.Bool
	rewrite func(path string, body []byte) []byte // set before the first request
	// noWebSeeds serves torrents without their web seeds (url-list).
	noWebSeeds atomic.Bool
	// indexes answers a request under /indexes/ in the directory's stead when it returns
	// true, as a path that lies about indexes would; set before the first request.
	indexes func(w http.ResponseWriter, r *http.Request) bool

	mu        sync.Mutex
	exchanges []apiExchange
	// refuseReports answers reports 503 in the directory's stead, as one that is down.
	refuseReports atomic.Bool
}

// apiExchange is a request to the directory's API and its answer, as they went.
type apiExchange struct {
	path      string
	signer    string // the fingerprint of a signed request's key (a relay's id)
	req, resp []byte
	status    int
}

// recorded are the requests to the API the proxy records.
var recorded = map[string]bool{"/api/v1/reports": true, "/api/v1/relays/heartbeat": true}

// recordedExchanges returns the exchanges with path so far.
func (p *fetchProxy) recordedExchanges(path string) []apiExchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []apiExchange
	for _, e := range p.exchanges {
		if e.path == path {
			out = append(out, e)
		}
	}
	return out
}

func startProxiedDirectory(t *testing.T, opts ...func(*DirectoryConfig)) (*testNet, *fetchProxy) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	direct := freePort(t)
	p := &fetchProxy{rp: httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: direct})}
	p.rp.ModifyResponse = func(resp *http.Response) error {
		path := resp.Request.URL.Path
		rewrite := func(b []byte) []byte { return p.rewrite(path, b) }
		switch {
		case p.rewrite != nil && strings.HasPrefix(path, "/api/"):
		case p.noWebSeeds.Load() && strings.HasPrefix(path, "/t/"):
			rewrite = withoutWebSeeds
		default:
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body.Close()
		b = rewrite(b)
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		resp.Header.Del("Content-Length")
		return nil
	}
	srv := &http.Server{Handler: p}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	tn := startTestDirectory(t, append(opts, func(c *DirectoryConfig) {
		c.Listen = direct
		c.PublicURL = "http://" + ln.Addr().String()
	})...)
	return tn, p
}

func (p *fetchProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.indexes != nil && strings.HasPrefix(r.URL.Path, "/indexes/") && p.indexes(w, r) {
		return
	}
	web, direct := strings.HasPrefix(r.URL.Path, "/ws/"), strings.HasPrefix(r.URL.Path, "/dl/")
	if web && p.onlyOdi.Load() && !strings.HasPrefix(r.UserAgent(), "odi-fetch/") {
		http.Error(w, "refused by the test proxy", http.StatusForbidden)
		return
	}
	if web || direct { // the origin's bytes, for torrent clients or plain HTTP users
		w = &countingWriter{ResponseWriter: w, p: p}
	}
	if !recorded[r.URL.Path] || r.Method != http.MethodPost {
		p.rp.ServeHTTP(w, r)
		return
	}
	req, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(req))
	rec := httptest.NewRecorder()
	if r.URL.Path == "/api/v1/reports" && p.refuseReports.Load() {
		http.Error(rec, "refused by the test proxy", http.StatusServiceUnavailable)
	} else {
		p.rp.ServeHTTP(rec, r)
	}
	ex := apiExchange{path: r.URL.Path, req: req, resp: rec.Body.Bytes(), status: rec.Code}
	if c, err := sign.ParseRequest(r.Header); err == nil {
		ex.signer = sign.Fingerprint(c.PublicKey)
	}
	p.mu.Lock()
	p.exchanges = append(p.exchanges, ex)
	p.mu.Unlock()
	maps.Copy(w.Header(), rec.Header())
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

type countingWriter struct {
	http.ResponseWriter
	p *fetchProxy
}

func (w *countingWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		n := min(len(b), 16<<10)
		if rate := w.p.rate.Load(); rate > 0 {
			time.Sleep(time.Duration(int64(n) * int64(time.Second) / rate))
		}
		n, err := w.ResponseWriter.Write(b[:n])
		written += n
		w.p.served.Add(int64(n))
		if err != nil {
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}

// Resuming across modes covers both sides: BitTorrent leaves state that HTTP resumes
// from, and BitTorrent resumes from records it did not write. (Torrent after torrent pays
// anacrolix's 5 s web-seed timer twice.)
func TestFetchResume(t *testing.T) {
	for _, tc := range []struct {
		name          string
		first, second string
	}{
		{"torrent then http", "--torrent-only", "--http-only"},
		{"http then torrent", "--http-only", "--torrent-only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tn, proxy := startProxiedDirectory(t)
			a := publishSmall(t, tn, "1", 8<<20)
			out := t.TempDir()

			proxy.rate.Store(4 << 20)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				for proxy.served.Load() < 2<<20 && ctx.Err() == nil {
					time.Sleep(5 * time.Millisecond)
				}
				cancel()
			}()
			_, stderr, err := runFetch(ctx, tn, "test/art@1", "-o", out, tc.first)
			if codeOf(err) != exitCanceled || !strings.Contains(err.Error(), "interrupted") {
				t.Fatalf("interrupted fetch: exit %d (%v)\n%s", codeOf(err), err, stderr)
			}
			if _, err := os.Stat(filepath.Join(out, a.Root)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("an interrupted fetch put %s in place (%v)", a.Root, err)
			}
			if _, err := os.Stat(filepath.Join(out, a.Root+".part", client.PartStateFile)); err != nil {
				t.Fatalf("no partial state after the interruption: %v", err)
			}

			proxy.rate.Store(0)
			proxy.served.Store(0)
			res, stderr, err := runFetch(context.Background(), tn, "test/art@1", "-o", out, tc.second)
			if err != nil {
				t.Fatalf("resumed fetch: %v\n%s", err, stderr)
			}
			checkFetched(t, a, out, res)
			if res.Resumed <= 0 || total(res.Fetched) >= a.Size || proxy.served.Load() >= a.Size {
				t.Errorf("resumed fetch: %d bytes already here, fetched %+v, origin served %d, of %d: want only the rest fetched",
					res.Resumed, res.Fetched, proxy.served.Load(), a.Size)
			}
		})
	}
}

func TestFetchFallsBackToHTTP(t *testing.T) {
	tn, proxy := startProxiedDirectory(t)
	a := publishSmall(t, tn, "1", 600<<10)
	proxy.onlyOdi.Store(true) // the torrent's web seed refuses anacrolix: BitTorrent stalls
	out := t.TempDir()
	res, stderr, err := runFetch(context.Background(), tn, "test/art@1", "-o", out, "--stall-timeout", "1s")
	if err != nil {
		t.Fatalf("fetch: %v\n%s", err, stderr)
	}
	checkFetched(t, a, out, res)
	if res.Fetched.HTTP != a.Size || !strings.Contains(stderr, "taking HTTP from") {
		t.Errorf("fetched %+v, stderr %q: want a fallback to HTTP for all %d bytes", res.Fetched, stderr, a.Size)
	}

	// Forced to BitTorrent, the stall is an error that keeps what arrived.
	_, _, err = runFetch(context.Background(), tn, "test/art@1", "-o", t.TempDir(), "--stall-timeout", "1s", "--torrent-only")
	if codeOf(err) != exitError || !errors.Is(err, client.ErrStalled) {
		t.Errorf("--torrent-only without progress: exit %d (%v)", codeOf(err), err)
	}
}

func TestFetchVerificationFails(t *testing.T) {
	t.Run("origin bytes differ", func(t *testing.T) {
		tn := startTestDirectory(t)
		a := publishSmall(t, tn, "1", 700<<10)
		origin := filepath.Join(tn.data, "origin", a.InfoHash, a.Root)
		b, err := os.ReadFile(origin)
		if err != nil {
			t.Fatal(err)
		}
		b[300<<10] ^= 0xff
		os.Chmod(origin, 0o644)
		if err := os.WriteFile(origin, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		_, _, err = runFetch(context.Background(), tn, "test/art@1", "-o", out, "--http-only")
		if codeOf(err) != exitVerify || !errors.Is(err, client.ErrChecksum) {
			t.Fatalf("fetch of tampered bytes: exit %d (%v), want %d", codeOf(err), err, exitVerify)
		}
		if _, err := os.Stat(filepath.Join(out, a.Root)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("tampered bytes were put in place (%v)", err)
		}
	})
	t.Run("catalog sha256 differs", func(t *testing.T) {
		tn, proxy := startProxiedDirectory(t)
		a := publishPackage(t, tn, "1")
		bad := strings.Repeat("0", 64)
		proxy.rewrite = func(_ string, b []byte) []byte {
			return bytes.ReplaceAll(b, []byte(a.Files[1].SHA256), []byte(bad))
		}
		out := t.TempDir()
		_, _, err := runFetch(context.Background(), tn, "test/art@1", "-o", out, "--http-only")
		if codeOf(err) != exitVerify || !strings.Contains(err.Error(), "sha256") {
			t.Fatalf("fetch against another sha256: exit %d (%v), want %d", codeOf(err), err, exitVerify)
		}
		if _, err := os.Stat(filepath.Join(out, a.Root)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("unverified bytes were put in place (%v)", err)
		}
		if _, err := os.Stat(filepath.Join(out, a.Root+".part", a.Root, filepath.FromSlash(a.Files[1].Path))); err != nil {
			t.Fatalf("the bytes that failed are not kept for inspection: %v", err)
		}
	})
}

func TestFetchExpunged(t *testing.T) {
	tn := startTestDirectory(t)
	a := publishSmall(t, tn, "1", 1000)
	// A partial download of it, and one of something else under the same name.
	out, other := t.TempDir(), t.TempDir()
	for dir, ih := range map[string]string{out: a.InfoHash, other: strings.Repeat("ab", 20)} {
		part := filepath.Join(dir, a.Root+".part")
		os.MkdirAll(part, 0o755)
		b, _ := json.Marshal(map[string]string{"artifact": a.ID, "infohash": ih})
		if err := os.WriteFile(filepath.Join(part, client.PartStateFile), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(context.Background(), []string{"admin", "--directory", tn.base, "--key", tn.adminKey, "expunge", "test/art/1", "--reason", "CVE-2026-0042"}); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{"test/art@1", "test/art"} {
		for _, dir := range []string{out, other} {
			_, _, err := runFetch(context.Background(), tn, arg, "-o", dir)
			if codeOf(err) != exitError || err == nil || !strings.HasSuffix(err.Error(), "artifact test/art/1 was expunged: CVE-2026-0042") {
				t.Errorf("fetch %s: exit %d (%v)", arg, codeOf(err), err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(out, a.Root+".part")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the partial download of an expunged artifact is kept (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(other, a.Root+".part", client.PartStateFile)); err != nil {
		t.Errorf("the partial download of another artifact was deleted (%v)", err)
	}
	_, _, err := runFetch(context.Background(), tn, "test/nothing@1", "-o", t.TempDir())
	if codeOf(err) != exitError || !strings.Contains(err.Error(), "no artifact test/nothing/1") {
		t.Errorf("fetch of an unknown artifact: exit %d (%v)", codeOf(err), err)
	}
}

func TestFetchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"fetch"},
		{"fetch", "no-slash"},
		{"fetch", "a/b/c/d"},
		{"fetch", "a/b@"},
		{"fetch", "a/b/c@d"},
		{"fetch", "a/../b"},
		{"fetch", "a/b", "c/d"},
		{"fetch", "a/b", "--torrent-only", "--http-only"},
		{"fetch", "a/b", "--stall-timeout", "0s"},
		{"fetch", "a/b", "--directory", "ftp://x"},
	} {
		if err := run(context.Background(), args); codeOf(err) != exitUsage {
			t.Errorf("odi %s: exit %d (%v), want %d", strings.Join(args, " "), codeOf(err), err, exitUsage)
		}
	}
}

// A relay whose disk rotted serves wrong bytes as a web seed, still listed: odi fetch
// takes those pieces from the origin, tells the user which web seed lied, and reports
// the pieces to the directory; a directory that does not take the report fails nothing.
func TestFetchReportsBadWebSeed(t *testing.T) {
	for _, refused := range []bool{false, true} {
		t.Run(fmt.Sprintf("refused=%v", refused), func(t *testing.T) { testFetchReportsBadWebSeed(t, refused) })
	}
}

func testFetchReportsBadWebSeed(t *testing.T, refused bool) {
	tn, proxy := startProxiedDirectory(t, liarDirectory)
	proxy.refuseReports.Store(refused)
	outcome := "reported to the directory"
	if refused {
		outcome = "the directory did not take the report"
	}
	a := publishSmall(t, tn, "1", 1<<20)
	r := lyingRelay(t, tn, a)
	relaySeed := r.url + "/ws/" + a.InfoHash + "/"
	if l := urlListOf(t, a.TorrentURL); len(l) != 2 || l[0] != relaySeed {
		t.Fatalf("url-list %q, want the relay first, then the origin", l)
	}

	out := t.TempDir()
	res, stderr, err := runFetch(context.Background(), tn, "test/art@1", "-o", out, "--torrent-only")
	if err != nil {
		t.Fatalf("fetch: %v\n%s", err, stderr)
	}
	checkFetched(t, a, out, res)
	// One report per BitTorrent round: a second round (pieces found damaged on disk at
	// the end, as a peer's late write of the liar's bytes can leave them) reports again.
	var told int
	for _, m := range regexp.MustCompile(`web seed (\S+) sent (\d+) bad pieces?; `+regexp.QuoteMeta(outcome)).FindAllStringSubmatch(stderr, -1) {
		n, _ := strconv.Atoi(m[2])
		if m[1] != relaySeed || n == 0 {
			t.Errorf("stderr names %s with %d bad pieces, want %s", m[1], n, relaySeed)
		}
		told += n
	}
	if told == 0 {
		t.Fatalf("stderr does not name the lying web seed:\n%s", stderr)
	}
	reports := proxy.recordedExchanges("/api/v1/reports")
	pieces := int((a.Size + a.PieceLength - 1) / a.PieceLength)
	reported := 0
	for i, rep := range reports {
		var got relayapi.Reports
		if err := json.Unmarshal(rep.req, &got); err != nil {
			t.Fatal(err)
		}
		var ans catalog.ReportsAnswer
		if refused {
			ans.Accepted = len(got.BadPieces)
		} else if err := json.Unmarshal(rep.resp, &ans); err != nil || rep.status != http.StatusAccepted {
			t.Fatalf("report %d: the directory answered %d %s (%v)", i, rep.status, rep.resp, err)
		}
		for _, bp := range got.BadPieces {
			if bp.InfoHash != a.InfoHash || bp.WebSeed != relaySeed || bp.Piece < 0 || bp.Piece >= pieces {
				t.Errorf("reported %+v, want pieces of %s (%d pieces) from %s", bp, a.InfoHash, pieces, relaySeed)
			}
		}
		// The first names a holding of a listed relay; later ones may come after the
		// directory's audit, which the first set off, quarantined it.
		if i == 0 && ans.Accepted != len(got.BadPieces) {
			t.Errorf("the directory accepted %d of the first report's %d bad pieces, want all", ans.Accepted, len(got.BadPieces))
		}
		reported += len(got.BadPieces)
	}
	if reported != told {
		t.Errorf("reported %d bad pieces in %d reports, told the user %d", reported, len(reports), told)
	}
	t.Logf("%d reports of %d bad pieces; stderr:\n%s", len(reports), reported, stderr)
}

// odi fetch C/N takes the highest version, not the last published: a backport published
// after a release is not "latest".
func TestFetchResolvesTheHighestVersion(t *testing.T) {
	tn := startTestDirectory(t)
	for _, v := range []string{"2.10.0", "2.9.0"} {
		publishSmall(t, tn, v, 1000)
	}
	a, err := client.Resolve(context.Background(), tn.publisher, client.Ref{Catalog: "test", Name: "art"})
	if err != nil || a.Version != "2.10.0" {
		t.Fatalf("latest of 2.10.0 then 2.9.0: %+v, %v; want 2.10.0", a, err)
	}
}
