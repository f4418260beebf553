package references

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"aead.dev/minisign"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/netcheck"
	"github.com/opendist/odi/internal/sign"
)

// fakeDirectory is the part of a directory the checks read: /readyz and one signed index,
// served by a real HTTP server on loopback that can stop and start again on its address.
type fakeDirectory struct {
	t    *testing.T
	addr string
	srv  *httptest.Server

	mu       sync.Mutex
	doc, sig []byte
	full     atomic.Int64 // index.json answers with a body
}

func newFakeDirectory(t *testing.T, ip string) *fakeDirectory {
	f := &fakeDirectory{t: t, addr: net.JoinHostPort(ip, "0")}
	f.start()
	f.addr = f.srv.Listener.Addr().String()
	t.Cleanup(f.stop)
	return f
}

func (f *fakeDirectory) url() string { return "http://" + f.addr }

func (f *fakeDirectory) start() {
	f.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly after a stop
		if ln, err = net.Listen("tcp", f.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Listener = ln
	f.srv.Start()
}

func (f *fakeDirectory) stop() { f.srv.Close() }

func (f *fakeDirectory) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	doc, sig := f.doc, f.sig
	f.mu.Unlock()
	sum := sha256.Sum256(doc)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	switch {
	case r.URL.Path == "/readyz":
		_, _ = w.Write([]byte("ready\n"))
	case strings.HasSuffix(r.URL.Path, "/index.json") && doc != nil:
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		f.full.Add(1)
		w.Header().Set("ETag", etag)
		_, _ = w.Write(doc)
	case strings.HasSuffix(r.URL.Path, "/index.json.minisig") && sig != nil:
		_, _ = w.Write(sig)
	default:
		http.NotFound(w, r)
	}
}

// publish signs an index of key listing one artifact of catalog, expiring after ttl.
func (f *fakeDirectory) publish(key minisign.PrivateKey, version uint64, catalog string, ttl time.Duration) {
	f.t.Helper()
	idx := index.Next(nil, time.Now(), ttl)
	idx.Version = version
	idx.Directory = f.url()
	idx.Put(index.Entry{Catalog: catalog, Name: "art", Version: "1", State: index.StatePublished,
		InfoHash: strings.Repeat("ab", 20), Files: []index.File{{Path: "a.bin", Size: 1, SHA256: strings.Repeat("cd", 32)}}})
	doc, sig, err := index.Sign(key, idx)
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.doc, f.sig = doc, sig
	f.mu.Unlock()
}

func newIndexKey(t *testing.T) (minisign.PrivateKey, string) {
	t.Helper()
	path := t.TempDir() + "/index.key"
	if _, err := sign.GenerateKeyFiles(path); err != nil {
		t.Fatal(err)
	}
	priv, err := sign.LoadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return priv, path + ".pub"
}

// startReferences runs References over cfgs until the test ends.
func startReferences(t *testing.T, cfgs []Config, deps Deps) (*References, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	deps.Metrics, deps.AllowPrivateURLs = reg, true
	rs, err := New(context.Background(), cfgs, deps, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rs.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return rs, reg
}

// healthyWithin waits up to limit for each directory's health to be want, and returns
// how long it took.
func healthyWithin(t *testing.T, rs *References, limit time.Duration, want ...bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := make([]bool, 0, len(want))
		for _, d := range rs.Status()[0].Directories {
			got = append(got, d.Healthy)
		}
		if slicesEqual(got, want) {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("health %v after %s, want %v; status %+v", got, limit, want, rs.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func slicesEqual(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDeadDirectoryLeavesAndReturns: a directory whose server stops is out of rotation
// within an interval and a timeout, and back within two intervals of starting again on
// its address; the other stays in throughout, and the gauge follows.
func TestDeadDirectoryLeavesAndReturns(t *testing.T) {
	a, b := newFakeDirectory(t, "127.0.0.1"), newFakeDirectory(t, "127.0.0.2")
	const interval, timeout = 200 * time.Millisecond, 150 * time.Millisecond
	rs, reg := startReferences(t, []Config{{Catalog: "c", CheckInterval: interval, CheckTimeout: timeout, Directories: []Directory{
		{URL: a.url(), Regions: []string{"DE"}}, {URL: b.url() + "/", Regions: []string{"us", "default"}},
	}}}, Deps{})
	healthyWithin(t, rs, 5*interval, true, true)
	gauge := func() float64 {
		t.Helper()
		mfs, err := reg.Gather() // the gauge as /metrics shows it
		if err != nil || len(mfs) != 1 || mfs[0].GetName() != "odi_directory_referenced_directories_healthy" || len(mfs[0].Metric) != 1 {
			t.Fatalf("gathered %v, %v; want one gauge of one catalog", mfs, err)
		}
		return mfs[0].Metric[0].GetGauge().GetValue()
	}
	// The gauge follows the status by the time rebuild takes.
	gaugeIs := func(want float64) {
		t.Helper()
		for deadline := time.Now().Add(time.Second); gauge() != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("gauge = %v, want %v", gauge(), want)
			}
		}
	}
	gaugeIs(2)
	for round := range 2 {
		a.stop()
		took := healthyWithin(t, rs, interval+timeout+3*interval/2, false, true)
		t.Logf("round %d: out %s after the stop", round, took)
		gaugeIs(1)
		a.start()
		took = healthyWithin(t, rs, 2*interval+3*interval/2, true, true)
		t.Logf("round %d: back %s after the start", round, took)
	}
	st := rs.Status()[0]
	if st.Catalog != "c" || st.Directories[1].URL != b.url() || strings.Join(st.Directories[1].Regions, ",") != "US,default" ||
		st.Directories[0].LastCheck.IsZero() {
		t.Errorf("status %+v", st)
	}
}

// TestIndexCheck: with an index key, a directory is healthy only while it serves an
// index that verifies with that key, is unexpired and lists the catalog; an unchanged
// index, accepted or refused, is not fetched again (If-None-Match).
func TestIndexCheck(t *testing.T) {
	d := newFakeDirectory(t, "127.0.0.1")
	key, pub := newIndexKey(t)
	other, _ := newIndexKey(t)
	d.publish(key, 1, "c", time.Hour)
	const interval = 100 * time.Millisecond
	rs, _ := startReferences(t, []Config{{Catalog: "c", CheckInterval: interval, CheckTimeout: interval,
		Directories: []Directory{{URL: d.url(), IndexKey: pub}}}}, Deps{})
	healthyWithin(t, rs, 10*interval, true)
	time.Sleep(5 * interval)
	if n := d.full.Load(); n != 1 {
		t.Errorf("the unchanged index was fetched %d times, want once", n)
	}
	for _, tc := range []struct {
		name    string
		publish func()
		want    string
	}{
		{"another catalog", func() { d.publish(key, 2, "other", time.Hour) }, "lists no published artifact of catalog c"},
		{"another key", func() { d.publish(other, 3, "c", time.Hour) }, "wrong key"},
		{"expired", func() { d.publish(key, 4, "c", time.Second) }, "expired"},
	} {
		before := d.full.Load()
		tc.publish()
		if tc.name == "expired" {
			time.Sleep(1100 * time.Millisecond)
		}
		healthyWithin(t, rs, 10*interval, false)
		if e := rs.Status()[0].Directories[0].Error; !strings.Contains(e, tc.want) {
			t.Errorf("%s: error %q, want it to say %q", tc.name, e, tc.want)
		}
		time.Sleep(3 * interval)
		if n := d.full.Load() - before; n != 1 {
			t.Errorf("%s: the refused index was fetched %d times, want once", tc.name, n)
		}
		d.publish(key, 5, "c", time.Hour)
		healthyWithin(t, rs, 10*interval, true)
	}
}

// TestRedirects: requests about a referenced catalog go to the directory of the user's
// region with their path and query, 302 for downloads and 307 for the API, naming the
// other healthy directories; other requests are not the package's; with every directory
// down the answer is a 503 problem with Retry-After.
func TestRedirects(t *testing.T) {
	a, b := newFakeDirectory(t, "127.0.0.1"), newFakeDirectory(t, "127.0.0.2")
	loc := mapLocator{"192.0.2.1": {"DE", "EU"}, "192.0.2.2": {"US", "NA"}, "192.0.2.3": {"FR", "EU"}, "192.0.2.4": {"JP", "AS"}}
	const interval = 100 * time.Millisecond
	rs, _ := startReferences(t, []Config{{Catalog: "c", CheckInterval: interval, CheckTimeout: interval, Directories: []Directory{
		{URL: a.url(), Regions: []string{"DE"}}, {URL: b.url(), Regions: []string{"US", "default"}},
	}}}, Deps{Locator: loc})
	healthyWithin(t, rs, 10*interval, true, true)
	h := rs.Handler(func(r *http.Request) netip.Addr { return netip.MustParseAddr(r.Header.Get("X-Test-Client")) })
	ask := func(client, target string) *http.Response {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("X-Test-Client", client)
		if !rs.Owns(req) {
			t.Fatalf("%s is not owned", target)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Result()
	}
	for _, tc := range []struct{ client, target, want string }{
		{"192.0.2.1", "/r/c/art/latest/a.bin?x=1", a.url() + "/r/c/art/latest/a.bin?x=1"},
		{"192.0.2.2", "/t/c/art/a.torrent", b.url() + "/t/c/art/a.torrent"},
		{"192.0.2.3", "/m/c/art/1", b.url() + "/m/c/art/1"}, // no EU directory: the default
		{"192.0.2.4", "/r/c/art/1/x%20y", b.url() + "/r/c/art/1/x%20y"},
		{"192.0.2.1", "/api/v1/artifacts/c/art/1", a.url() + "/api/v1/artifacts/c/art/1"},
		{"192.0.2.2", "/api/v1/artifacts?catalog=c", b.url() + "/api/v1/artifacts?catalog=c"},
	} {
		resp := ask(tc.client, tc.target)
		want := http.StatusFound
		if strings.HasPrefix(tc.target, "/api/") {
			want = http.StatusTemporaryRedirect
		}
		if resp.StatusCode != want || resp.Header.Get("Location") != tc.want {
			t.Errorf("%s from %s: %d to %s, want %d to %s", tc.target, tc.client, resp.StatusCode, resp.Header.Get("Location"), want, tc.want)
		}
		if l := resp.Header.Get("Link"); !strings.HasSuffix(l, "; rel=duplicate") || strings.Contains(l, resp.Header.Get("Location")) {
			t.Errorf("%s: Link %q, want the other directory", tc.target, l)
		}
	}
	for _, target := range []string{"/r/d/art/1/x", "/api/v1/artifacts", "/api/v1/artifacts?catalog=d", "/ws/abc/x", "/rr/c/x", "/api/v1/artifactsc/x", "/r/"} {
		if rs.Owns(httptest.NewRequest(http.MethodGet, target, nil)) {
			t.Errorf("%s is owned", target)
		}
	}

	a.stop()
	b.stop()
	healthyWithin(t, rs, 10*interval, false, false)
	resp := ask("192.0.2.1", "/r/c/art/1/a.bin")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("all down: %d, Retry-After %q, %s", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"))
	}
}

type mapLocator map[string][2]string

func (l mapLocator) Locate(a netip.Addr) (string, string) { p := l[a.String()]; return p[0], p[1] }

func TestConfigRefusals(t *testing.T) {
	ok := Directory{URL: "http://127.0.0.1:1", Regions: []string{"DE"}}
	for _, tc := range []struct {
		cfgs []Config
		want string
	}{
		{[]Config{{Catalog: "../x", Directories: []Directory{ok}}}, "references[0]: invalid reference: catalog"},
		{[]Config{{Catalog: "c"}}, "at least one"},
		{[]Config{{Catalog: "c", Directories: []Directory{{URL: "ftp://x"}}}}, "directories[0].url"},
		{[]Config{{Catalog: "c", Directories: []Directory{{URL: "http://x/?a=b"}}}}, "not an http(s) base URL"},
		{[]Config{{Catalog: "c", Directories: []Directory{ok, {URL: ok.URL + "/"}}}}, "listed twice"},
		{[]Config{{Catalog: "c", Directories: []Directory{{URL: ok.URL, Regions: []string{"Europe"}}}}}, "directories[0].regions"},
		{[]Config{{Catalog: "c", CheckInterval: time.Second, CheckTimeout: 2 * time.Second, Directories: []Directory{ok}}}, "longer than check_interval"},
		{[]Config{{Catalog: "c", Directories: []Directory{ok}}, {Catalog: "c", Directories: []Directory{ok}}}, "references[1].catalog"},
		{[]Config{{Catalog: "c", Directories: []Directory{{URL: ok.URL, IndexKey: "/nonexistent.pub"}}}}, "references[0].directories[0].index_key"},
	} {
		_, err := New(context.Background(), tc.cfgs, Deps{AllowPrivateURLs: true}, slog.New(slog.DiscardHandler))
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig saying %q", tc.cfgs, err, tc.want)
		}
	}
	// Loopback directories need allow_private_urls, as relays do.
	_, err := New(context.Background(), []Config{{Catalog: "c", Directories: []Directory{ok}}}, Deps{}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, netcheck.ErrNotPublic) || !strings.Contains(err.Error(), "references[0].directories[0].url") {
		t.Errorf("a loopback directory without allow_private_urls: %v", err)
	}
}
