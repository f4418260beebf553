package catalog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"
	"github.com/labstack/echo/v4"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/fsutil"
	"github.com/opendist/odi/internal/logbuf"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/sign"
)

// testClock is a clock tests move by hand; a directory and its clients share one.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testDir is a catalog serving its API over HTTP on loopback, at its public URL.
type testDir struct {
	*Catalog
	url   string
	clock *testClock
	keys  string // folder of the key files
	admin *apiclient.Client
	logs  *logbuf.Buffer
}

// startTestDir runs a catalog and its API until the test ends, with an admin key and a
// static publisher per label of pubs ("NAME[:SCOPE]"), whose key is keys/NAME.key;
// tune adjusts the config.
func startTestDir(t *testing.T, pubs []string, tune func(*Config)) *testDir {
	t.Helper()
	keys := t.TempDir()
	ts := httptest.NewUnstartedServer(nil)
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.PublicURL = "http://" + ts.Listener.Addr().String()
	cfg.MinFreeSpace = 0
	cfg.AdminKeys = []string{makeKey(t, keys, "admin", 0) + ".pub"}
	for _, label := range pubs {
		name, _, _ := strings.Cut(label, ":")
		cfg.Publishers = append(cfg.Publishers, label+"="+makeKey(t, keys, name, 0)+".pub")
	}
	cfg.Relays.AllowPrivateURLs = true
	cfg.Relays.ProbeTimeout = 100 * time.Millisecond
	if tune != nil {
		tune(&cfg)
	}
	return serveTestDir(t, ts, cfg, keys)
}

func serveTestDir(t *testing.T, ts *httptest.Server, cfg Config, keys string) *testDir {
	t.Helper()
	logs := &logbuf.Buffer{}
	c, err := New(context.Background(), cfg, Deps{}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Now()}
	c.now = clock.Now
	e := echo.New()
	e.IPExtractor = echo.ExtractIPDirect()
	c.RegisterRoutes(e)
	ts.Config.Handler = e
	ts.Start()
	t.Cleanup(func() { c.Close() })
	t.Cleanup(ts.Close)
	d := &testDir{Catalog: c, url: ts.URL, clock: clock, keys: keys, logs: logs}
	d.admin = d.client(t, filepath.Join(keys, "admin.key"))
	return d
}

// makeKey writes the key pair dir/name.key and dir/name.key.pub and returns the private
// key's path. A non-zero id replaces the key's id, as whoever makes a key may choose it.
func makeKey(t *testing.T, dir, name string, id uint64) string {
	t.Helper()
	_, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if id != 0 {
		text, _ := priv.MarshalText()
		_, b64, _ := bytes.Cut(text, []byte("\n"))
		raw, err := base64.StdEncoding.DecodeString(string(b64))
		if err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint64(raw[54:], id) // minisign's key id field
		if err := priv.UnmarshalText([]byte(base64.StdEncoding.EncodeToString(raw))); err != nil {
			t.Fatal(err)
		}
	}
	privText, _ := priv.MarshalText()
	pubText, _ := priv.Public().(minisign.PublicKey).MarshalText()
	path := filepath.Join(dir, name+".key")
	if err := fsutil.WriteFile(path, privText, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteFile(path+".pub", pubText, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// signer loads the key at path and signs on d's clock.
func (d *testDir) signer(t *testing.T, path string) *sign.Signer {
	t.Helper()
	key, err := sign.LoadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return sign.NewSigner(key, d.clock.Now)
}

// client returns an API client of d that signs with the key at path. It never waits out
// a 503 or 429: the tests look at the refusals.
func (d *testDir) client(t *testing.T, path string) *apiclient.Client {
	t.Helper()
	c, err := apiclient.New(d.url, d.signer(t, path))
	if err != nil {
		t.Fatal(err)
	}
	c.RetryFor = 0
	return c
}

// declaration is a declaration of one file of size bytes.
func declaration(catalog, version string, size int64) *manifest.Manifest {
	return &manifest.Manifest{Catalog: catalog, Name: "thing", Version: version, Root: "thing.bin", Files: []manifest.File{{Size: size}}}
}

// publishOver publishes content as catalog/thing/version through the API.
func publishOver(t *testing.T, c *apiclient.Client, catalog, version string, content []byte) (catalogapi.Artifact, error) {
	t.Helper()
	return publishDeclared(t, c, declaration(catalog, version, int64(len(content))), content)
}

// publishDeclared publishes the declaration m (no digests) with its files' bytes,
// content, through the API.
func publishDeclared(t *testing.T, c *apiclient.Client, m *manifest.Manifest, content []byte) (catalogapi.Artifact, error) {
	t.Helper()
	ctx := context.Background()
	var up catalogapi.Upload
	if err := c.CallJSON(ctx, http.MethodPost, "/api/v1/uploads", m, &up); err != nil {
		return catalogapi.Artifact{}, err
	}
	req, _ := http.NewRequest(http.MethodPut, c.Base+"/api/v1/uploads/"+up.ID, bytes.NewReader(content))
	var received catalogapi.Upload
	if err := c.Do(req, &received); err != nil {
		return catalogapi.Artifact{}, err
	}
	m.Files = received.Files
	var a catalogapi.Artifact
	err := c.CallJSON(ctx, http.MethodPost, "/api/v1/uploads/"+up.ID+"/commit", m, &a)
	return a, err
}

// stalled is a request body that gives head, then nothing until the test ends: a server
// that reads past head before it answers does not answer within the test.
type stalled struct {
	head []byte
	done chan struct{}
	once sync.Once
}

func newStalled(t *testing.T, head []byte) *stalled {
	s := &stalled{head: head, done: make(chan struct{})}
	t.Cleanup(s.stop)
	return s
}

// stop ends the body, short of its Content-Length.
func (s *stalled) stop() { s.once.Do(func() { close(s.done) }) }

func (s *stalled) Read(p []byte) (int, error) {
	if len(s.head) > 0 {
		n := copy(p, s.head)
		s.head = s.head[n:]
		return n, nil
	}
	<-s.done
	return 0, io.EOF
}

// signed returns a POST to url signed by s for content, without a body.
func signed(t *testing.T, s *sign.Signer, url string, content []byte) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SignBody(r, content); err != nil {
		t.Fatal(err)
	}
	return r
}

// send sends req on a client of its own and returns the status and the answer's text.
// A server that waits for a stalled body gets no answer out: the bound fails the test.
func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	cl := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(cl.CloseIdleConnections)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRefusedBeforeTheBody sends signed requests that declare a 32 MiB body and send
// none of it: each must be answered from its headers alone. Reading the body first let
// 16 such requests with an unknown key take a directory from 74 MiB to 956 MiB.
func TestRefusedBeforeTheBody(t *testing.T) {
	d := startTestDir(t, []string{"pub:test"}, nil)
	other := startTestDir(t, nil, nil)
	pubKey := filepath.Join(d.keys, "pub.key")
	stranger := makeKey(t, d.keys, "stranger", 0)
	const size = manifest.MaxBytes
	digest := make([]byte, size)

	expunge, _ := json.Marshal(catalogapi.ExpungeRequest{Artifact: "test/thing/0", Reason: "replayed"})
	replayed, _ := http.NewRequest(http.MethodPost, d.url+"/api/v1/admin/expunge", nil)
	if err := d.signer(t, filepath.Join(d.keys, "admin.key")).SignBody(replayed, expunge); err != nil {
		t.Fatal(err)
	}
	first := replayed.Clone(context.Background())
	first.Body, first.ContentLength = io.NopCloser(bytes.NewReader(expunge)), int64(len(expunge))
	if status, detail := send(t, first); status != http.StatusNotFound {
		t.Fatalf("first use of the request to replay: %d (%s), want 404", status, detail)
	}
	tests := []struct {
		name   string
		req    func() *http.Request
		status int
	}{
		{"unknown key", func() *http.Request {
			return signed(t, d.signer(t, stranger), d.url+"/api/v1/uploads", digest)
		}, http.StatusUnauthorized},
		{"stale date", func() *http.Request {
			key, _ := sign.LoadPrivateKey(pubKey)
			past := sign.NewSigner(key, func() time.Time { return d.clock.Now().Add(-time.Hour) })
			return signed(t, past, d.url+"/api/v1/uploads", digest)
		}, http.StatusUnauthorized},
		{"malformed nonce", func() *http.Request {
			r := signed(t, d.signer(t, pubKey), d.url+"/api/v1/uploads", digest)
			r.Header.Set(sign.HeaderNonce, "short")
			return r
		}, http.StatusUnauthorized},
		{"signed for another directory", func() *http.Request {
			r := signed(t, d.signer(t, pubKey), other.url+"/api/v1/uploads", digest)
			r.URL.Host = strings.TrimPrefix(d.url, "http://")
			return r
		}, http.StatusUnauthorized},
		{"replayed nonce", func() *http.Request { return replayed.Clone(context.Background()) }, http.StatusUnauthorized},
		{"signed for another path", func() *http.Request {
			r := replayed.Clone(context.Background())
			r.URL.Path = "/api/v1/uploads"
			return r
		}, http.StatusUnauthorized},
		{"declared body over the cap", func() *http.Request {
			r := signed(t, d.signer(t, pubKey), d.url+"/api/v1/uploads", digest)
			r.ContentLength = size + 1
			return r
		}, http.StatusRequestEntityTooLarge},
		{"admin request over its cap", func() *http.Request {
			return signed(t, d.signer(t, filepath.Join(d.keys, "admin.key")), d.url+"/api/v1/admin/expunge", digest)
		}, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req()
			if req.ContentLength == 0 {
				req.ContentLength = size
			}
			req.Body = io.NopCloser(newStalled(t, nil))
			if status, detail := send(t, req); status != tt.status {
				t.Fatalf("status %d (%s), want %d", status, detail, tt.status)
			}
		})
	}
}

func TestBodyCaps(t *testing.T) {
	d := startTestDir(t, nil, func(c *Config) { c.Relays.MaxHoldings = 3 })
	relay := makeKey(t, d.keys, "relay", 0)
	rc := d.client(t, relay)
	ctx := context.Background()
	if err := rc.CallJSON(ctx, http.MethodPost, "/api/v1/relays/register", relayapi.Register{PublicURL: "http://127.0.0.1:9"}, nil); err != nil {
		t.Fatal(err)
	}
	big := relayapi.Register{PublicURL: "http://127.0.0.1:9", Version: strings.Repeat("v", smallBodyMax)}
	if err := rc.CallJSON(ctx, http.MethodPost, "/api/v1/relays/register", big, nil); apiclient.StatusOf(err) != http.StatusRequestEntityTooLarge {
		t.Fatalf("registration over 64 KiB: %v, want 413", err)
	}
	// A heartbeat sized for more holdings than the directory takes, sent without a length.
	body := []byte(`{"holdings":[],"free_bytes":0,"bytes_served":0,"degraded":"` + strings.Repeat("x", int(d.cfg.Relays.heartbeatBodyMax())) + `"}`)
	req, _ := http.NewRequest(http.MethodPost, d.url+"/api/v1/relays/heartbeat", nil)
	if err := d.signer(t, relay).SignBody(req, body); err != nil {
		t.Fatal(err)
	}
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), -1
	if status, detail := send(t, req); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked heartbeat over its cap: %d (%s), want 413", status, detail)
	}
}

// TestBodyMemory fills the memory for bodies with one stalled upload declaration: the
// next waits a moment, gets 503 with Retry-After, and gets through once memory is back.
func TestBodyMemory(t *testing.T) {
	d := startTestDir(t, []string{"pub:test"}, func(c *Config) { c.MaxBodyMemory = manifest.MaxBytes })
	d.bodies.wait = 10 * time.Millisecond
	pub := d.client(t, filepath.Join(d.keys, "pub.key"))
	const size = manifest.MaxBytes - 10 // less room than the next body needs
	req, _ := http.NewRequest(http.MethodPost, d.url+"/api/v1/uploads", nil)
	if err := pub.Signer.SignBody(req, make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	stall := newStalled(t, []byte("{"))
	req.Body, req.ContentLength = io.NopCloser(stall), size
	first := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	waitFor(t, "the stalled body holds its memory", func() bool {
		if d.bodies.sem.TryAcquire(11) {
			d.bodies.sem.Release(11)
			return false
		}
		return true
	})

	body, _ := json.Marshal(declaration("test", "1", 10))
	second, _ := http.NewRequest(http.MethodPost, d.url+"/api/v1/uploads", bytes.NewReader(body))
	pub.Signer.SignBody(second, body)
	cl := &http.Client{Transport: &http.Transport{}}
	resp, err := cl.Do(second)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a body with no memory left: %s, Retry-After %q; want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
	stall.stop() // the body ends short: its request fails and gives its memory back
	<-first
	// The client may hear of the failure before the handler has returned the memory.
	waitFor(t, "the failed body's memory is given back", func() bool {
		if d.bodies.sem.TryAcquire(manifest.MaxBytes) {
			d.bodies.sem.Release(manifest.MaxBytes)
			return true
		}
		return false
	})
	if err := pub.CallJSON(context.Background(), http.MethodPost, "/api/v1/uploads", declaration("test", "1", 10), nil); err != nil {
		t.Fatalf("declare once the memory is back: %v", err)
	}
}

// TestSignaturesBindTheDirectory replays requests signed for one directory at another
// that trusts the same keys: an admin's expunge for A must not run at B.
func TestSignaturesBindTheDirectory(t *testing.T) {
	a := startTestDir(t, []string{"pub:test"}, nil)
	ts := httptest.NewUnstartedServer(nil)
	cfg := a.cfg
	cfg.DataDir = t.TempDir()
	cfg.PublicURL = "http://" + ts.Listener.Addr().String()
	b := serveTestDir(t, ts, cfg, a.keys)
	pubKey := filepath.Join(a.keys, "pub.key")
	if _, err := publishOver(t, b.client(t, pubKey), "test", "1", []byte("content")); err != nil {
		t.Fatal(err)
	}

	body, _ := json.Marshal(catalogapi.ExpungeRequest{Artifact: "test/thing/1", Reason: "signed for A"})
	req := signed(t, a.signer(t, filepath.Join(a.keys, "admin.key")), a.url+"/api/v1/admin/expunge", body)
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	atB := req.Clone(context.Background())
	atB.URL.Host = strings.TrimPrefix(b.url, "http://")
	atB.Body = io.NopCloser(bytes.NewReader(body))
	status, detail := send(t, atB)
	if status != http.StatusUnauthorized || !strings.Contains(detail, a.url) {
		t.Fatalf("expunge signed for A, sent to B: %d (%s), want 401 naming %s", status, detail, a.url)
	}
	if art, err := b.Artifact("test", "thing", "1"); err != nil || art.State != catalogapi.Published {
		t.Fatalf("B's artifact after a refused expunge: %+v, %v", art, err)
	}
	// The same request at A, which it was signed for, runs (404: A has no such artifact).
	if status, detail := send(t, req); status != http.StatusNotFound {
		t.Fatalf("expunge signed for A, sent to A: %d (%s), want 404", status, detail)
	}
	// A directory knows itself by its configured public URL, not by the Host header,
	// which the sender chooses.
	req = signed(t, a.signer(t, filepath.Join(a.keys, "admin.key")), a.url+"/api/v1/admin/expunge", body)
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	req.URL.Host, req.Host = strings.TrimPrefix(b.url, "http://"), strings.TrimPrefix(a.url, "http://")
	if status, _ := send(t, req); status != http.StatusUnauthorized {
		t.Fatalf("expunge signed for A, sent to B with A's Host header: %d, want 401", status)
	}
}

func TestParsePublisherRef(t *testing.T) {
	const line = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"
	tests := []struct {
		ref      string
		name     string
		catalogs []string // nil: any
		key      string
		wantErr  bool
	}{
		{ref: "debian=/keys/d.pub", name: "debian", catalogs: []string{"debian"}, key: "/keys/d.pub"},
		{ref: "/keys/debian.pub", name: "debian", catalogs: []string{"debian"}, key: "/keys/debian.pub"},
		{ref: "canonical:ubuntu,kubuntu=/k.pub", name: "canonical", catalogs: []string{"ubuntu", "kubuntu"}, key: "/k.pub"},
		{ref: "ops:*=" + line, name: "ops", key: line},
		{ref: "debian=" + line, name: "debian", catalogs: []string{"debian"}, key: line},
		{ref: line, wantErr: true}, // a key line names nothing to scope it by
		{ref: "=/k.pub", wantErr: true},
		{ref: "a=", wantErr: true},
		{ref: "a:=/k.pub", wantErr: true},
		{ref: "a:b,,c=/k.pub", wantErr: true},
		{ref: "a:../x=/k.pub", wantErr: true},
		{ref: "a b=/k.pub", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parsePublisherRef(tt.ref)
		if tt.wantErr {
			if err == nil {
				t.Errorf("parsePublisherRef(%q) = %+v, want an error", tt.ref, got)
			}
			continue
		}
		if err != nil || got.name != tt.name || got.key != tt.key || !slices.Equal(got.catalogs, tt.catalogs) {
			t.Errorf("parsePublisherRef(%q) = %+v, %v; want name %q, catalogs %q, key %q", tt.ref, got, err, tt.name, tt.catalogs, tt.key)
		}
	}
}

// TestConfigPublishersAreScoped: "debian=KEY" published into ubuntu, and was listed as
// allowed everywhere.
func TestConfigPublishersAreScoped(t *testing.T) {
	d := startTestDir(t, []string{"debian", "ops:*"}, nil)
	debian := d.client(t, filepath.Join(d.keys, "debian.key"))
	ops := d.client(t, filepath.Join(d.keys, "ops.key"))
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		c       *apiclient.Client
		catalog string
		status  int
	}{
		{"named key in its catalog", debian, "debian", 0},
		{"named key elsewhere", debian, "ubuntu", http.StatusForbidden},
		{"key scoped to any", ops, "ubuntu", 0},
	} {
		err := tt.c.CallJSON(ctx, http.MethodPost, "/api/v1/uploads", declaration(tt.catalog, "1", 10), nil)
		if apiclient.StatusOf(err) != tt.status || (tt.status == 0) != (err == nil) {
			t.Errorf("%s: declare = %v, want status %d", tt.name, err, tt.status)
		}
	}
	var out struct{ Publishers []catalogapi.Publisher }
	if err := d.admin.Call(ctx, http.MethodGet, "/api/v1/admin/publishers", nil, &out); err != nil {
		t.Fatal(err)
	}
	scopes := map[string]string{}
	for _, p := range out.Publishers {
		scopes[p.Name] = strings.Join(p.Catalogs, ",")
	}
	if scopes["debian"] != "debian" || scopes["ops"] != "" {
		t.Fatalf("listed scopes %q, want debian: debian, ops: any", scopes)
	}
}

// TestPublisherKeyIDCollision admits a publisher whose key was made with another's key
// id: both are admitted, and each key publishes as itself.
func TestPublisherKeyIDCollision(t *testing.T) {
	d := startTestDir(t, []string{"debian"}, nil)
	real := filepath.Join(d.keys, "debian.key")
	realKey, _ := sign.ParsePublicKey(real + ".pub")
	squat := makeKey(t, d.keys, "squat", realKey.ID())
	squatKey, _ := sign.ParsePublicKey(squat + ".pub")
	ctx := context.Background()
	add := func(name string, key minisign.PublicKey, catalogs ...string) error {
		return d.admin.CallJSON(ctx, http.MethodPost, "/api/v1/admin/publishers",
			catalogapi.AddPublisherRequest{Name: name, PublicKey: key.String(), Catalogs: catalogs}, nil)
	}
	if err := add("squat", squatKey, "squat"); err != nil {
		t.Fatalf("admit a key sharing the config key's id: %v", err)
	}
	other := filepath.Join(d.keys, "other.key")
	otherKey, _ := sign.ParsePublicKey(makeKey(t, d.keys, "other", squatKey.ID()) + ".pub")
	if err := add("other", otherKey, "other"); err != nil {
		t.Fatalf("admit a second stored key with the same id: %v", err)
	}
	if err := add("again", realKey); apiclient.StatusOf(err) != http.StatusConflict {
		t.Fatalf("admit the config key again: %v, want 409", err)
	}
	for _, tt := range []struct {
		key, catalog string
		status       int
	}{
		{real, "debian", 0}, {real, "squat", http.StatusForbidden},
		{squat, "squat", 0}, {squat, "debian", http.StatusForbidden},
		{other, "other", 0}, {other, "squat", http.StatusForbidden},
	} {
		err := d.client(t, tt.key).CallJSON(ctx, http.MethodPost, "/api/v1/uploads", declaration(tt.catalog, "1", 10), nil)
		if apiclient.StatusOf(err) != tt.status || (tt.status == 0) != (err == nil) {
			t.Errorf("%s into %s: %v, want status %d", filepath.Base(tt.key), tt.catalog, err, tt.status)
		}
	}
}

// register registers the relay whose key is at path and returns the directory's answer.
func (d *testDir) register(t *testing.T, path string) (relayapi.Registered, error) {
	t.Helper()
	var out relayapi.Registered
	err := d.client(t, path).CallJSON(context.Background(), http.MethodPost, "/api/v1/relays/register",
		relayapi.Register{PublicURL: "http://127.0.0.1:9", QuotaBytes: 1 << 30}, &out)
	return out, err
}

// beat sends a heartbeat with holdings of the relay whose key is at path.
func (d *testDir) beat(t *testing.T, path string, holdings ...relayapi.Holding) (relayapi.Plan, error) {
	t.Helper()
	var plan relayapi.Plan
	err := d.client(t, path).CallJSON(context.Background(), http.MethodPost, "/api/v1/relays/heartbeat",
		relayapi.Heartbeat{Holdings: append([]relayapi.Holding{}, holdings...)}, &plan)
	return plan, err
}

func holdings(n int) []relayapi.Holding {
	out := make([]relayapi.Holding, n)
	for i := range out {
		var ih [20]byte
		binary.BigEndian.PutUint64(ih[:], uint64(i))
		out[i] = relayapi.Holding{InfoHash: hex.EncodeToString(ih[:]), BytesComplete: 1}
	}
	return out
}

// TestRelayIDCannotBeSquatted registers a key made with the real relay's key id first:
// the real relay must still register, be approved and work.
func TestRelayIDCannotBeSquatted(t *testing.T) {
	d := startTestDir(t, nil, nil)
	real := makeKey(t, d.keys, "relay", 0)
	realKey, _ := sign.ParsePublicKey(real + ".pub")
	squat := makeKey(t, d.keys, "squat", realKey.ID())

	sq, err := d.register(t, squat)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := d.register(t, real)
	if err != nil {
		t.Fatalf("the real relay registering after a squatter of its key id: %v", err)
	}
	if reg.RelayID == sq.RelayID || reg.RelayID != sign.Fingerprint(realKey) {
		t.Fatalf("relay ids: real %s, squatter %s; want the real key's fingerprint %s, apart", reg.RelayID, sq.RelayID, sign.Fingerprint(realKey))
	}
	if err := d.admin.Call(context.Background(), http.MethodPost, "/api/v1/admin/relays/"+reg.RelayID+"/approve", nil, nil); err != nil {
		t.Fatal(err)
	}
	// The squatter's heartbeats and registrations do not touch the real relay.
	if _, err := d.register(t, squat); err != nil {
		t.Fatal(err)
	}
	if plan, err := d.beat(t, squat, holdings(2)...); err != nil || plan.State != relayapi.StatePending {
		t.Fatalf("squatter's heartbeat: %+v, %v; want pending", plan, err)
	}
	plan, err := d.beat(t, real, holdings(1)...)
	if err != nil || plan.State != relayapi.StateActive {
		t.Fatalf("real relay's heartbeat: %+v, %v; want active", plan, err)
	}
	page := d.Relays("", MaxRelayPage)
	for _, r := range page.Relays {
		want := map[string]int{reg.RelayID: 1, sq.RelayID: 0}[r.ID]
		if len(r.Holdings) != want || r.KeyID != sign.KeyID(realKey.ID()) {
			t.Errorf("relay %s (key id %s) lists %d holdings, want %d", r.ID, r.KeyID, len(r.Holdings), want)
		}
	}
}

func TestPendingRelaysAreCapped(t *testing.T) {
	d := startTestDir(t, nil, func(c *Config) { c.Relays.MaxPending = 2 })
	var keys []string
	for _, n := range []string{"a", "b", "c"} {
		keys = append(keys, makeKey(t, d.keys, n, 0))
	}
	a, err := d.register(t, keys[0])
	if err != nil {
		t.Fatal(err)
	}
	d.clock.Add(time.Hour)
	if _, err := d.register(t, keys[1]); err != nil {
		t.Fatal(err)
	}
	_, err = d.register(t, keys[2])
	var re *apiclient.Error
	if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable || !strings.Contains(re.Detail, "relays.max_pending") {
		t.Fatalf("a third pending relay: %v, want 503 naming relays.max_pending", err)
	}
	// A relay already waiting may register again.
	if _, err := d.register(t, keys[0]); err != nil {
		t.Fatalf("a pending relay registering again: %v", err)
	}
	if err := d.admin.Call(context.Background(), http.MethodPost, "/api/v1/admin/relays/"+a.RelayID+"/approve", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := d.register(t, keys[2]); err != nil {
		t.Fatalf("registering once an approval made room: %v", err)
	}
}

func TestRetryAfterFull(t *testing.T) {
	d := startTestDir(t, nil, func(c *Config) { c.Relays.MaxPending = 1 })
	if _, err := d.register(t, makeKey(t, d.keys, "a", 0)); err != nil {
		t.Fatal(err)
	}
	d.clock.Add(23 * time.Hour)
	body, _ := json.Marshal(relayapi.Register{PublicURL: "http://127.0.0.1:9"})
	req, _ := http.NewRequest(http.MethodPost, d.url+"/api/v1/relays/register", bytes.NewReader(body))
	d.signer(t, makeKey(t, d.keys, "b", 0)).SignBody(req, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The oldest pending relay expires in an hour: that is when to try again.
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "3600" {
		t.Fatalf("registration with the pending list full: %s, Retry-After %q; want 503, 3600", resp.Status, resp.Header.Get("Retry-After"))
	}
}

func TestPendingRelaysExpire(t *testing.T) {
	d := startTestDir(t, nil, nil)
	key := makeKey(t, d.keys, "relay", 0)
	reg, err := d.register(t, key)
	if err != nil {
		t.Fatal(err)
	}
	d.clock.Add(d.cfg.Relays.PendingTTL - time.Second)
	if err := d.expirePending(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(d.Relays("", MaxRelayPage).Relays) != 1 {
		t.Fatal("a pending relay expired before relays.pending_ttl")
	}
	// Past its wait, a registration starts a new one, which expiry leaves alone.
	d.clock.Add(time.Second)
	if _, err := d.register(t, key); err != nil {
		t.Fatal(err)
	}
	if err := d.expirePending(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(d.Relays("", MaxRelayPage).Relays) != 1 {
		t.Fatal("a relay that registered again after pending_ttl was forgotten")
	}
	d.clock.Add(d.cfg.Relays.PendingTTL)
	if err := d.expirePending(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(d.Relays("", MaxRelayPage).Relays); n != 0 {
		t.Fatalf("%d relays listed after pending_ttl, want none", n)
	}
	var rows int
	if err := d.db.r.QueryRow(`SELECT count(*) FROM relays`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("relay rows after expiry: %d, %v", rows, err)
	}
	// Its heartbeat is told to register again, and it waits anew.
	if _, err := d.beat(t, key); apiclient.StatusOf(err) != http.StatusNotFound {
		t.Fatalf("heartbeat of an expired pending relay: %v, want 404", err)
	}
	if again, err := d.register(t, key); err != nil || again.RelayID != reg.RelayID || again.State != relayapi.StatePending {
		t.Fatalf("registering again: %+v, %v", again, err)
	}
}

// TestPendingHeartbeatsWriteNothing: a pending relay's 200,000 holdings took 2.3 s of
// the one writer per heartbeat and made /api/v1/relays 23 MB.
func TestPendingHeartbeatsWriteNothing(t *testing.T) {
	d := startTestDir(t, nil, func(c *Config) { c.Relays.MaxHoldings = 100 })
	key := makeKey(t, d.keys, "relay", 0)
	if _, err := d.register(t, key); err != nil {
		t.Fatal(err)
	}
	plan, err := d.beat(t, key, holdings(100)...)
	if err != nil || plan.State != relayapi.StatePending || len(plan.Fetch)+len(plan.Keep) != 0 {
		t.Fatalf("pending relay's heartbeat: %+v, %v; want pending with nothing to do", plan, err)
	}
	var rows int
	if err := d.db.r.QueryRow(`SELECT count(*) FROM relay_holdings`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("holdings written for a pending relay: %d, %v", rows, err)
	}
	if r := d.Relays("", MaxRelayPage).Relays[0]; len(r.Holdings) != 0 || r.Status != StatusPending {
		t.Fatalf("pending relay listed with %d holdings, status %s", len(r.Holdings), r.Status)
	}
	_, err = d.beat(t, key, holdings(101)...)
	var re *apiclient.Error
	if !errors.As(err, &re) || re.Status != http.StatusRequestEntityTooLarge || !strings.Contains(re.Detail, "relays.max_holdings") {
		t.Fatalf("heartbeat over max_holdings: %v, want 413 naming relays.max_holdings", err)
	}
}

func TestRelaysListInPages(t *testing.T) {
	d := startTestDir(t, nil, func(c *Config) { c.Relays.Policy = PolicyOpen; c.Relays.MaxHoldings = maxPageHoldings })
	var ids []string
	heavy := map[string]bool{}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		key := makeKey(t, d.keys, n, 0)
		reg, err := d.register(t, key)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, reg.RelayID)
		if n == "a" || n == "b" {
			heavy[reg.RelayID] = true
			if _, err := d.beat(t, key, holdings(maxPageHoldings/2+1)...); err != nil {
				t.Fatal(err)
			}
		}
	}
	slices.Sort(ids)
	// Holdings end a page after the second heavy relay, whatever the limit.
	firstPage := 0
	for seen := 0; seen < 2; firstPage++ {
		if heavy[ids[firstPage]] {
			seen++
		}
	}
	byHoldings := []int{firstPage}
	if firstPage < len(ids) {
		byHoldings = append(byHoldings, len(ids)-firstPage)
	}
	for _, tt := range []struct {
		limit int
		pages []int // relays per page
	}{
		{MaxRelayPage, byHoldings},
		{1, []int{1, 1, 1, 1, 1}},
	} {
		var got []string
		var pages []int
		after := ""
		for {
			var page catalogapi.RelayPage
			resp, err := http.Get(d.url + "/api/v1/relays?limit=" + strconv.Itoa(tt.limit) + "&after=" + after)
			if err != nil {
				t.Fatal(err)
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, len(page.Relays))
			for _, r := range page.Relays {
				got = append(got, r.ID)
			}
			if page.Next == "" {
				break
			}
			after = page.Next
		}
		if !slices.Equal(got, ids) || !slices.Equal(pages, tt.pages) {
			t.Errorf("limit %d: pages of %v relays listing %v; want pages of %v listing %v", tt.limit, pages, got, tt.pages, ids)
		}
	}
	resp, err := http.Get(d.url + "/api/v1/relays?limit=0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("limit=0: %s, want 400", resp.Status)
	}
}

// TestRelaysRekeyedByFingerprint opens a database whose relay migration 00005 left under
// its key id, as it was registered before.
func TestRelaysRekeyedByFingerprint(t *testing.T) {
	dir := t.TempDir()
	c := testCatalog(t, dir)
	key, _ := sign.ParsePublicKey(makeKey(t, t.TempDir(), "relay", 0) + ".pub")
	old := sign.KeyID(key.ID())
	for _, q := range []string{
		`INSERT INTO relays (id, public_key, public_url, quota, free, upload_limit, download_limit, state, registered_at, last_seen)
		 VALUES ('` + old + `', '` + key.String() + `', 'http://127.0.0.1:9', 1, 1, 0, 0, 'active', 1, 1)`,
		`INSERT INTO relay_holdings (relay_id, infohash, bytes_complete, verified) VALUES ('` + old + `', '` + strings.Repeat("ab", 20) + `', 1, 1)`,
	} {
		if _, err := c.db.w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	c = testCatalog(t, dir)
	page := c.Relays("", MaxRelayPage)
	if len(page.Relays) != 1 || page.Relays[0].ID != sign.Fingerprint(key) || page.Relays[0].KeyID != old || page.Relays[0].State != relayapi.StateActive {
		t.Fatalf("after reopening: %+v, want the active relay under %s", page.Relays, sign.Fingerprint(key))
	}
}

func TestUploadSlots(t *testing.T) {
	d := startTestDir(t, []string{"a", "b", "c"}, func(c *Config) { c.MaxUploads, c.MaxUploadsPerPublisher = 3, 2 })
	ctx := context.Background()
	declare := func(who, version string) error {
		return d.client(t, filepath.Join(d.keys, who+".key")).CallJSON(ctx, http.MethodPost, "/api/v1/uploads", declaration(who, version, 10), nil)
	}
	for _, tt := range []struct {
		who, version string
		status       int
	}{
		{"a", "1", 0}, {"a", "2", 0},
		{"a", "3", http.StatusServiceUnavailable}, // a's two slots are taken
		{"b", "1", 0},
		{"c", "1", http.StatusServiceUnavailable}, // every slot is taken
	} {
		err := declare(tt.who, tt.version)
		if apiclient.StatusOf(err) != tt.status || (tt.status == 0) != (err == nil) {
			t.Errorf("declare %s/%s: %v, want status %d", tt.who, tt.version, err, tt.status)
		}
	}
}

// TestIdleUploadsExpire: four 5-byte declarations held every upload slot for an hour.
func TestIdleUploadsExpire(t *testing.T) {
	d := startTestDir(t, []string{"pub:test"}, func(c *Config) { c.MaxUploads, c.MaxUploadsPerPublisher = 1, 1 })
	pub := d.client(t, filepath.Join(d.keys, "pub.key"))
	ctx := context.Background()
	var up catalogapi.Upload
	if err := pub.CallJSON(ctx, http.MethodPost, "/api/v1/uploads", declaration("test", "1", 5), &up); err != nil {
		t.Fatal(err)
	}
	d.clock.Add(d.cfg.UploadTTL)
	d.expireUploads()
	if err := pub.CallJSON(ctx, http.MethodPost, "/api/v1/uploads", declaration("test", "2", 5), nil); apiclient.StatusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("declare while an upload waits upload_ttl: %v, want 503", err)
	}
	d.clock.Add(time.Second)
	d.expireUploads()
	assertEmpty(t, filepath.Join(d.cfg.DataDir, "staging"))
	req, _ := http.NewRequest(http.MethodPut, d.url+"/api/v1/uploads/"+up.ID, strings.NewReader("12345"))
	if err := pub.Do(req, nil); apiclient.StatusOf(err) != http.StatusNotFound {
		t.Fatalf("bytes for an expired upload: %v, want 404", err)
	}
	if _, err := publishOver(t, pub, "test", "2", []byte("12345")); err != nil {
		t.Fatalf("publish once the idle upload expired: %v", err)
	}
}

// TestRevokeAbortsUploads: a revoked publisher kept its upload slots.
func TestRevokeAbortsUploads(t *testing.T) {
	d := startTestDir(t, nil, nil)
	ctx := context.Background()
	keyPath := makeKey(t, d.keys, "late", 0)
	key, _ := sign.ParsePublicKey(keyPath + ".pub")
	if err := d.admin.CallJSON(ctx, http.MethodPost, "/api/v1/admin/publishers", catalogapi.AddPublisherRequest{Name: "late", PublicKey: key.String()}, nil); err != nil {
		t.Fatal(err)
	}
	late := d.client(t, keyPath)
	var waiting, streaming catalogapi.Upload
	for _, u := range []struct {
		version string
		up      *catalogapi.Upload
	}{{"1", &waiting}, {"2", &streaming}} {
		if err := late.CallJSON(ctx, http.MethodPost, "/api/v1/uploads", declaration("test", u.version, 1<<20), u.up); err != nil {
			t.Fatal(err)
		}
	}
	// One upload streams a few bytes and stalls.
	stall := newStalled(t, []byte("first bytes"))
	req, _ := http.NewRequest(http.MethodPut, d.url+"/api/v1/uploads/"+streaming.ID, io.NopCloser(stall))
	req.ContentLength = 1 << 20
	put := make(chan int, 1)
	go func() {
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err != nil {
			put <- 0
			return
		}
		resp.Body.Close()
		put <- resp.StatusCode
	}()
	waitFor(t, "the upload streams", func() bool {
		up := d.uploadByID(streaming.ID)
		if up == nil {
			return false
		}
		up.mu.Lock()
		defer up.mu.Unlock()
		return up.state == receiving
	})

	if err := d.admin.Call(ctx, http.MethodPost, "/api/v1/admin/publishers/late/revoke", nil, nil); err != nil {
		t.Fatal(err)
	}
	if status := <-put; status != http.StatusForbidden {
		t.Fatalf("the streaming upload of a revoked publisher: %d, want 403", status)
	}
	waitFor(t, "the revoked publisher's uploads are gone", func() bool {
		d.uploads.mu.Lock()
		defer d.uploads.mu.Unlock()
		return len(d.uploads.byID) == 0
	})
	assertEmpty(t, filepath.Join(d.cfg.DataDir, "staging"))
}

func (c *Catalog) uploadByID(id string) *upload {
	c.uploads.mu.Lock()
	defer c.uploads.mu.Unlock()
	return c.uploads.byID[id]
}

// TestSameBytesTwoCatalogs: a publisher of catalog evil that published debian's bytes
// first made debian's publish 409, even after the squat was expunged.
func TestSameBytesTwoCatalogs(t *testing.T) {
	d := startTestDir(t, []string{"evil", "debian"}, nil)
	evil := d.client(t, filepath.Join(d.keys, "evil.key"))
	debian := d.client(t, filepath.Join(d.keys, "debian.key"))
	ctx := context.Background()
	iso := []byte("the release's bytes")
	squat, err := publishOver(t, evil, "evil", "1", iso)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.admin.CallJSON(ctx, http.MethodPost, "/api/v1/admin/expunge", catalogapi.ExpungeRequest{Artifact: squat.ID, Reason: "squat"}, nil); err != nil {
		t.Fatal(err)
	}
	a, err := publishOver(t, debian, "debian", "1", iso)
	if err != nil {
		t.Fatalf("publish bytes another catalog published and expunged: %v", err)
	}
	if a.InfoHash == squat.InfoHash {
		t.Fatal("two catalogs share an infohash: an expunge in one would take the other's copies")
	}
	// Within a catalog the content is the identity: a second version of it is refused,
	// and so is the squatter's own content again after its expunge.
	if _, err := publishOver(t, debian, "debian", "2", iso); apiclient.StatusOf(err) != http.StatusConflict {
		t.Fatalf("same bytes, same catalog, other version: %v, want 409", err)
	}
	if _, err := publishOver(t, evil, "evil", "2", iso); apiclient.StatusOf(err) != http.StatusConflict {
		t.Fatalf("expunged bytes again in their catalog: %v, want 409", err)
	}
}

// waitFor polls cond, bounded, until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
	}
}
