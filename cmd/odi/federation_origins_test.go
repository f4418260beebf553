package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/catalog/originpull"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/sign"
)

// upstream is a project's static upstream on 127.0.0.1: net/http's FileServer over a
// folder signed with the README's recipe, logging every request, and able to cut a
// file's body after a number of bytes, as a server going down mid-download does.
type upstream struct {
	t    *testing.T
	dir  string
	home string // HOME of the recipe: the project's key is there
	srv  *httptest.Server
	// keyed: the recipe's first line (the key pair) has run.
	keyed bool

	mu   sync.Mutex
	reqs []upstreamRequest
	cuts map[string][]int64 // path -> bytes sent before the cut, per next request
}

type upstreamRequest struct{ path, rng string }

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	if _, err := exec.LookPath("minisign"); err != nil {
		t.Skip("minisign is not installed")
	}
	u := &upstream{t: t, dir: t.TempDir(), home: t.TempDir(), cuts: map[string][]int64{}}
	files := http.FileServer(http.Dir(u.dir))
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, upstreamRequest{r.URL.Path, r.Header.Get("Range")})
		var cut int64 = -1
		if c := u.cuts[r.URL.Path]; len(c) > 0 {
			cut, u.cuts[r.URL.Path] = c[0], c[1:]
		}
		u.mu.Unlock()
		if cut >= 0 {
			w = &cutWriter{ResponseWriter: w, left: cut}
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// cutWriter aborts the response (the connection closes mid-body) after left bytes.
type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		n, _ := c.ResponseWriter.Write(p[:c.left])
		c.left -= int64(n)
		c.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	n, err := c.ResponseWriter.Write(p)
	c.left -= int64(n)
	return n, err
}

// recipe runs README's upstream recipe as written, in u's folder; the key pair is made
// on the first run only.
func (u *upstream) recipe() {
	u.t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		u.t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```bash\nminisign -G")
	block, _, ok2 := strings.Cut(block, "```\n")
	if !ok || !ok2 {
		u.t.Fatal("README has no upstream recipe (a ```bash block starting with minisign -G)")
	}
	lines := strings.Split(strings.TrimSpace("minisign -G"+block), "\n")
	if len(lines) != 5 {
		u.t.Fatalf("the README's recipe has %d lines, not 5", len(lines))
	}
	if u.keyed {
		lines = lines[1:]
	}
	u.keyed = true
	script := strings.ReplaceAll(strings.Join(lines, "\n"), "/srv/upstream", u.dir)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "HOME="+u.home)
	if out, err := cmd.CombinedOutput(); err != nil {
		u.t.Fatalf("recipe: %v\n%s", err, out)
	}
}

// put writes a file below the upstream folder.
func (u *upstream) put(path string, data []byte) {
	u.t.Helper()
	p := filepath.Join(u.dir, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		u.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		u.t.Fatal(err)
	}
}

func (u *upstream) cut(path string, after ...int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.cuts[path] = append(u.cuts[path], after...)
}

// requests are the requests for path so far, with their Range headers.
func (u *upstream) requests(path string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for _, r := range u.reqs {
		if r.path == path {
			out = append(out, "GET "+r.rng)
		}
	}
	return out
}

func (u *upstream) origin(interval time.Duration) originpull.Config {
	return originpull.Config{Catalog: "proj", URL: u.srv.URL + "/", Key: filepath.Join(u.home, "project.pub"), Interval: interval}
}

// startPullDirectory runs a directory with data in data and o as its one origin, until
// the test ends or stop is called.
func startPullDirectory(t *testing.T, data string, o originpull.Config) (d *directory, stop func()) {
	t.Helper()
	cfg := defaultConfig().Directory
	cfg.DataDir, cfg.MinFreeSpace, cfg.Listen = data, 0, "127.0.0.1:0"
	cfg.Relays.AllowPrivateURLs = true
	cfg.Federation.Origins = []originpull.Config{o}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := startDirectory(ctx, cfg, testLogger(t, "directory"))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := d.Wait(); err != nil {
				t.Errorf("directory stopped with %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return d, stop
}

// pulledBytes waits for proj/name/version and returns the bytes /dl/ serves of path
// ("" for a single file's).
func pulledBytes(t *testing.T, d *directory, within time.Duration, name, version, path string) []byte {
	t.Helper()
	waitFor(t, within, "proj/"+name+"/"+version+" published; status "+statusText(d), func() bool {
		_, err := d.cat.Artifact("proj", name, version)
		return err == nil
	})
	a, _ := d.cat.Artifact("proj", name, version)
	if a.Publisher != "origin:proj" {
		t.Errorf("publisher %q, want origin:proj", a.Publisher)
	}
	u := d.cfg.PublicURL + "/dl/" + a.InfoHash.HexString() + "/" + a.Root
	if path != "" {
		u += "/" + path
	}
	resp, body := get(t, u)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	return body
}

func statusText(d *directory) string {
	var b strings.Builder
	for _, s := range d.pull.Status() {
		b.WriteString(s.Catalog + ": " + s.Error + "; ")
	}
	return b.String()
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestOriginPullPublishesEachVersionOnce(t *testing.T) {
	u := newUpstream(t)
	one := randomBytes(t, 300<<10)
	u.put("tool/1.0/tool.bin", one)
	u.recipe()
	interval := 300 * time.Millisecond
	d, _ := startPullDirectory(t, t.TempDir(), u.origin(interval))

	if got := pulledBytes(t, d, 10*interval, "tool", "1.0", ""); !bytes.Equal(got, one) {
		t.Fatal("tool 1.0: /dl/ serves other bytes than the upstream's")
	}

	// A new version, a package, appears within a poll or so of being signed.
	readme, bin := []byte("read me\n"), randomBytes(t, 100<<10)
	u.put("tool/1.1/README", readme)
	u.put("tool/1.1/bin/tool", bin)
	u.recipe()
	if got := pulledBytes(t, d, 10*interval, "tool", "1.1", "bin/tool"); !bytes.Equal(got, bin) {
		t.Fatal("tool 1.1: /dl/ serves other bytes than the upstream's")
	}
	a, _ := d.cat.Artifact("proj", "tool", "1.1")
	if a.Root != "tool-1.1" || len(a.Files) != 2 {
		t.Errorf("tool 1.1: root %q with %d files, want tool-1.1 with 2", a.Root, len(a.Files))
	}
	// The row keeps the project's signed listing: anyone can check it again.
	key, err := sign.ParsePublicKey(filepath.Join(u.home, "project.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if !minisign.Verify(key, a.Signed.Manifest, a.Signed.Signature) || !bytes.Contains(a.Signed.Manifest, []byte(a.Files[1].SHA256+"  tool/1.1/bin/tool\n")) {
		t.Errorf("the artifact's signed manifest is not the signed listing: %q", a.Signed.Manifest)
	}

	// Polls go on; nothing is downloaded twice, and an unchanged listing is a 304 (its
	// Last-Modified a validator once a second old), whose signature is not fetched.
	time.Sleep(8 * interval)
	if lists, sigs := len(u.requests("/SHA256SUMS")), len(u.requests("/SHA256SUMS.minisig")); sigs >= lists {
		t.Errorf("%d listing and %d signature requests: want 304s for the unchanged listing", lists, sigs)
	}
	for _, p := range []string{"/tool/1.0/tool.bin", "/tool/1.1/README", "/tool/1.1/bin/tool"} {
		if got := u.requests(p); len(got) != 1 {
			t.Errorf("%s requested %d times (%q), want once", p, len(got), got)
		}
	}
	st := d.pull.Status()
	if len(st) != 1 || st[0].Pulled != 2 || st[0].Error != "" || st[0].LastPoll.IsZero() {
		t.Errorf("status %+v, want 2 pulled and no error", st)
	}

	// An expunged version is never fetched again.
	if _, err := d.cat.Expunge(context.Background(), "proj/tool/1.0", "test"); err != nil {
		t.Fatal(err)
	}
	u.put("tool/1.2/tool.bin", []byte("1.2"))
	u.recipe()
	pulledBytes(t, d, 10*interval, "tool", "1.2", "")
	if got := u.requests("/tool/1.0/tool.bin"); len(got) != 1 {
		t.Errorf("expunged tool 1.0 requested %d times", len(got))
	}

	_, metrics := get(t, d.cfg.PublicURL+"/metrics")
	for _, want := range []string{`odi_origin_pull_artifacts_total{catalog="proj"} 3`, `odi_origin_pull_bytes_total{catalog="proj"} 409611`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A version withdrawn upstream mid-download leaves no part behind.
	u.put("tool/1.3/tool.bin", randomBytes(t, 64<<10))
	u.cut("/tool/1.3/tool.bin", 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000)
	u.recipe()
	work := filepath.Join(d.cfg.DataDir, "pull", "proj")
	waitFor(t, 10*interval, "a part of tool 1.3", func() bool {
		parts, _ := filepath.Glob(filepath.Join(work, "*.part"))
		return len(parts) == 1
	})
	os.RemoveAll(filepath.Join(u.dir, "tool", "1.3"))
	u.recipe()
	waitFor(t, 10*interval, "the work folder swept", func() bool {
		left, _ := filepath.Glob(filepath.Join(work, "*"))
		return len(left) == 1 // refused/
	})
}

func TestOriginPullRefuses(t *testing.T) {
	interval := 200 * time.Millisecond
	tests := []struct {
		name  string
		spoil func(t *testing.T, u *upstream)
		want  string
	}{
		{"tampered file", func(t *testing.T, u *upstream) {
			u.put("tool/1.0/tool.bin", []byte("not what was signed"))
		}, "sha256 differs from the signed listing"},
		{"unsigned listing", func(t *testing.T, u *upstream) {
			os.Remove(filepath.Join(u.dir, "SHA256SUMS.minisig"))
		}, "SHA256SUMS signature refused: fetch SHA256SUMS.minisig: upstream answer refused: 404"},
		{"another key", func(t *testing.T, u *upstream) {
			other := t.TempDir()
			cmd := exec.Command("bash", "-c", "minisign -G -W -s k -p k.pub && minisign -S -s k -m "+filepath.Join(u.dir, "SHA256SUMS"))
			cmd.Dir = other
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		}, "SHA256SUMS.minisig: signed by key "},
		{"listing changed after signing", func(t *testing.T, u *upstream) {
			f, _ := os.OpenFile(filepath.Join(u.dir, "SHA256SUMS"), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  tool/1.0/extra\n")
			f.Close()
		}, "the signature does not match SHA256SUMS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t)
			u.put("tool/1.0/tool.bin", randomBytes(t, 64<<10))
			u.recipe()
			tt.spoil(t, u)
			d, _ := startPullDirectory(t, t.TempDir(), u.origin(interval))
			var st []catalogapi.OriginStatus
			waitFor(t, 10*interval, "an error saying "+tt.want, func() bool {
				st = d.pull.Status()
				return strings.Contains(st[0].Error, tt.want)
			})
			if n := len(d.cat.Artifacts("proj", "")); n != 0 {
				t.Errorf("%d artifacts listed after a refused listing (%s)", n, st[0].Error)
			}
		})
	}
}

func TestOriginPullResumesAfterCutsAndRestart(t *testing.T) {
	u := newUpstream(t)
	big := randomBytes(t, 3<<20)
	u.put("tool/2.0/tool.img", big)
	u.recipe()
	// The first request is cut after 1 MiB, the resumed one after 1 MiB more.
	u.cut("/tool/2.0/tool.img", 1<<20, 1<<20)
	interval := 500 * time.Millisecond
	data := t.TempDir()
	o := u.origin(interval)
	o.RateLimit = 16 << 20 // paced, well within the test's time
	d, stop := startPullDirectory(t, data, o)
	waitFor(t, 10*interval, "two cut downloads", func() bool { return len(u.requests("/tool/2.0/tool.img")) >= 2 })
	if n := len(d.cat.Artifacts("proj", "")); n != 0 {
		t.Fatalf("%d artifacts listed while their bytes were cut off", n)
	}
	if st := d.pull.Status(); !strings.Contains(st[0].Error, "kept to resume") {
		t.Errorf("status error %q, want the cut download", st[0].Error)
	}
	// Restart mid-pull: the upstream stays down (cut at once) until the directory is gone.
	u.cut("/tool/2.0/tool.img", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	stop()
	u.mu.Lock()
	u.cuts = map[string][]int64{}
	u.mu.Unlock()
	d, _ = startPullDirectory(t, data, o)
	if got := pulledBytes(t, d, 20*interval, "tool", "2.0", ""); !bytes.Equal(got, big) {
		t.Fatal("/dl/ serves other bytes than the upstream's")
	}
	reqs := u.requests("/tool/2.0/tool.img")
	if reqs[0] != "GET " || reqs[1] != "GET bytes=1048576-" || reqs[len(reqs)-1] != "GET bytes=2097152-" {
		t.Errorf("requests %q: want a whole GET, then resumes from 1 MiB, and after the restart from 2 MiB", reqs)
	}
	if parts, _ := filepath.Glob(filepath.Join(data, "pull", "proj", "*")); len(parts) != 1 {
		t.Errorf("work folder holds %q after the publish, want only refused/", parts)
	}
}

func TestOriginPullRemembersRefusals(t *testing.T) {
	u := newUpstream(t)
	same := randomBytes(t, 64<<10)
	u.put("tool/1.0/a.bin", same)
	u.put("tool/1.1/a.bin", same) // the same content again: the catalog refuses it for good
	u.recipe()
	interval := 200 * time.Millisecond
	data := t.TempDir()
	d, stop := startPullDirectory(t, data, u.origin(interval))
	pulledBytes(t, d, 10*interval, "tool", "1.0", "")
	waitFor(t, 10*interval, "tool 1.1 refused", func() bool {
		_, err := os.Stat(filepath.Join(data, "pull", "proj", "refused", "tool@1.1"))
		return err == nil
	})
	before := len(u.requests("/tool/1.1/a.bin"))
	stop()
	d, _ = startPullDirectory(t, data, u.origin(interval))
	waitFor(t, 10*interval, "a clean poll after the restart", func() bool {
		st := d.pull.Status()
		return !st[0].LastPoll.IsZero() && st[0].Error == ""
	})
	if after := len(u.requests("/tool/1.1/a.bin")); after != before {
		t.Errorf("refused tool 1.1 fetched again after a restart (%d requests, then %d)", before, after)
	}
	if _, err := d.cat.Artifact("proj", "tool", "1.1"); err == nil {
		t.Error("tool 1.1, the same content as 1.0, was published")
	}
}

func TestOriginPullConfigErrors(t *testing.T) {
	key := newKeys(t, "project")[0] + ".pub"
	tests := []struct {
		o       originpull.Config
		private bool
		want    string
	}{
		{originpull.Config{Catalog: "proj", URL: "ftp://127.0.0.1/", Key: key}, true, "federation.origins[0].url: "},
		{originpull.Config{Catalog: "../x", URL: "http://127.0.0.1/", Key: key}, true, "federation.origins[0].catalog: "},
		{originpull.Config{Catalog: "proj", URL: "http://127.0.0.1/"}, true, "federation.origins[0].key: "},
		{originpull.Config{Catalog: "proj", URL: "http://127.0.0.1/", Key: key}, false, "allow_private_urls"},
		{originpull.Config{Catalog: "proj", URL: "http://127.0.0.1/", Key: key, Interval: -time.Second}, true, "federation.origins[0].interval: "},
	}
	for _, tt := range tests {
		cfg := defaultConfig().Directory
		cfg.DataDir, cfg.Listen = t.TempDir(), "127.0.0.1:0"
		cfg.Relays.AllowPrivateURLs = tt.private
		cfg.Federation.Origins = []originpull.Config{tt.o}
		ctx, cancel := context.WithCancel(context.Background())
		d, err := startDirectory(ctx, cfg, slog.New(slog.DiscardHandler))
		if err == nil {
			cancel()
			d.Wait()
			t.Fatalf("%+v: started", tt.o)
		}
		cancel()
		if codeOf(err) != exitUsage || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want a usage error with %q", tt.o, err, tt.want)
		}
	}
}

func TestOriginPullConfigFromYAML(t *testing.T) {
	file := filepath.Join(t.TempDir(), "odi.yaml")
	yaml := "directory:\n  federation:\n    origins:\n      - {catalog: tool, url: 'https://downloads.example.org/tool/', key: tool.pub, interval: 2m, rate_limit: 2MiB}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := directoryConfigFrom(t, file)
	if err != nil {
		t.Fatal(err)
	}
	want := []originpull.Config{{Catalog: "tool", URL: "https://downloads.example.org/tool/", Key: "tool.pub", Interval: 2 * time.Minute, RateLimit: 2 << 20}}
	if got := cfg.Directory.Federation.Origins; len(got) != 1 || got[0] != want[0] {
		t.Errorf("origins %+v, want %+v", got, want)
	}
}

func TestOriginPullUpstreamDown(t *testing.T) {
	u := newUpstream(t)
	u.put("tool/1.0/tool.bin", randomBytes(t, 64<<10))
	u.recipe()
	addr := u.srv.Listener.Addr().String()
	u.srv.Close() // down before the first poll
	interval := 300 * time.Millisecond
	d, _ := startPullDirectory(t, t.TempDir(), u.origin(interval))
	waitFor(t, 10*interval, "an error saying the upstream is down", func() bool {
		return strings.Contains(d.pull.Status()[0].Error, "connection refused")
	})
	if n := len(d.cat.Artifacts("proj", "")); n != 0 {
		t.Fatalf("%d artifacts listed with the upstream down", n)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the upstream's port was taken meanwhile: %v", err)
	}
	back := &http.Server{Handler: u.srv.Config.Handler}
	go back.Serve(ln)
	t.Cleanup(func() { back.Close() })
	pulledBytes(t, d, 10*interval, "tool", "1.0", "")
	waitFor(t, 2*interval, "no error and the next poll an interval on", func() bool {
		st := d.pull.Status()[0]
		return st.Error == "" && st.NextPoll.Sub(st.LastPoll) == interval
	})
}
