package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/logbuf"
	"github.com/opendist/odi/internal/problem"
)

// errorCase is a request that must fail with a problem+json answer.
type errorCase struct {
	method, path string
	header       map[string]string
	body         string
	status       int // 0: any 4xx
}

// checkProblems sends each case to base and asserts an RFC 9457 answer with a detail.
func checkProblems(t *testing.T, client *http.Client, base string, cases []errorCase) {
	t.Helper()
	for _, c := range cases {
		req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		name := fmt.Sprintf("%s %.70s", c.method, c.path)
		if c.status != 0 && resp.StatusCode != c.status || c.status == 0 && (resp.StatusCode < 400 || resp.StatusCode >= 500) {
			t.Errorf("%s: %d, want %d (%q)", name, resp.StatusCode, c.status, body)
			continue
		}
		var p problem.Problem
		if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
			t.Errorf("%s: %d as %q, want %s (%q)", name, resp.StatusCode, ct, problem.ContentType, body)
			continue
		}
		if c.method == http.MethodHead {
			continue
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Status != resp.StatusCode || strings.TrimSpace(p.Detail) == "" ||
			strings.Contains(p.Detail, "not found: not found") {
			t.Errorf("%s: problem %q (%v): want its status and a clear detail", name, body, err)
		}
	}
}

// TestErrorsAreProblems walks every route of a directory and of a relay with bad input:
// each error is application/problem+json with a detail. The tracker's answers are not
// (BitTorrent clients read bencoded failures).
func TestErrorsAreProblems(t *testing.T) {
	tn := startTestDirectory(t, relayDirectory)
	src := t.TempDir()
	writeFiles(t, src, 7, map[string]int{"a.bin": 1000})
	a, err := client.Publish(context.Background(), tn.publisher, ident("1"), filepath.Join(src, "a.bin"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	zeros, unknownUpload := strings.Repeat("0", 40), strings.Repeat("0", 32)
	ws := "/ws/" + a.InfoHash + "/a.bin"
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	checkProblems(t, noFollow, tn.base, []errorCase{
		{method: "GET", path: "/nothing/here", status: 404},
		{method: "GET", path: "/api/v1/nothing", status: 404},
		{method: "DELETE", path: "/healthz", status: 405},
		{method: "POST", path: "/metrics", status: 405},
		{method: "GET", path: "/api/v1/artifacts/test/art/9", status: 404},
		{method: "GET", path: "/api/v1/artifacts/test/%2e%2e/1"},
		{method: "POST", path: "/api/v1/uploads", body: "{}", status: 401},
		{method: "POST", path: "/api/v1/uploads", body: strings.Repeat("x", 8<<20)},
		{method: "PUT", path: "/api/v1/uploads/NOT-AN-ID", body: "x", status: 404},
		{method: "PUT", path: "/api/v1/uploads/" + unknownUpload, body: "x", status: 404},
		{method: "DELETE", path: "/api/v1/uploads/" + unknownUpload, status: 404},
		{method: "POST", path: "/api/v1/uploads/" + unknownUpload + "/commit", body: "{}"},
		{method: "GET", path: "/api/v1/uploads/" + unknownUpload, status: 405},
		{method: "POST", path: "/api/v1/relays/register", body: "{", status: 401},
		{method: "POST", path: "/api/v1/relays/heartbeat", body: "{", status: 401},
		{method: "GET", path: "/t/test/art/9.torrent", status: 404},
		{method: "GET", path: "/t/test/art/1", status: 404},
		{method: "GET", path: "/t/test/art/1.torrent", header: map[string]string{"Range": "bytes=-0"}, status: 416},
		{method: "GET", path: "/t/test/art/1.torrent", header: map[string]string{"Range": "bytes=x"}, status: 416},
		{method: "GET", path: "/r/", status: 404},
		{method: "GET", path: "/r/test/art", status: 404},
		{method: "GET", path: "/r/test/art/9", status: 404},
		{method: "GET", path: "/r/test/art/1/extra", status: 404},
		{method: "GET", path: "/r/%2e%2e/art/1", status: 400},
		{method: "POST", path: "/r/test/art/1", status: 405},
		{method: "GET", path: "/m/test/art/1", status: 404},
		{method: "GET", path: "/m/test/art/9.meta4", status: 404},
		{method: "PUT", path: "/m/test/art/1.meta4", status: 405},
		{method: "GET", path: "/ws/", status: 404},
		{method: "GET", path: "/ws/zz/a.bin", status: 404},
		{method: "GET", path: "/ws/" + zeros + "/a.bin", status: 404},
		{method: "GET", path: "/ws/" + a.InfoHash + "/nope", status: 404},
		{method: "POST", path: ws, status: 405},
		{method: "HEAD", path: "/ws/" + zeros + "/a.bin", status: 404},
		{method: "GET", path: ws, header: map[string]string{"Range": "bytes=-0"}, status: 416},
		{method: "GET", path: ws, header: map[string]string{"Range": "bytes=5-4"}, status: 416},
		{method: "GET", path: "/dl/" + zeros + "/a.bin", status: 404},
		{method: "GET", path: "/dl/" + a.InfoHash + "/a.bin", header: map[string]string{"Range": "bytes=1000-"}, status: 416},
		{method: "DELETE", path: "/dl/" + a.InfoHash + "/a.bin", status: 405},
	})
	// The tracker keeps BitTorrent's form: a bencoded failure reason.
	resp, body := get(t, tn.base+"/announce?info_hash=short")
	if resp.Header.Get("Content-Type") == problem.ContentType || !bytes.Contains(body, []byte("failure reason")) {
		t.Errorf("announce failure: %s %q, want a bencoded failure reason", resp.Header.Get("Content-Type"), body)
	}

	r := startTestRelay(t, tn)
	checkProblems(t, http.DefaultClient, r.url, []errorCase{
		{method: "GET", path: "/nothing", status: 404},
		{method: "POST", path: "/healthz", status: 405},
		{method: "DELETE", path: "/metrics", status: 405},
		{method: "GET", path: "/ws/zz/a.bin", status: 404},
		{method: "GET", path: "/ws/" + zeros + "/a.bin", status: 404},
		{method: "PUT", path: "/ws/" + zeros + "/a.bin", status: 405},
	})
}

// TestMetricsLabelsBounded scans random paths with random Host headers: the API's
// request metrics must not grow a series per path or host.
func TestMetricsLabelsBounded(t *testing.T) {
	tn := startTestDirectory(t)
	series := func() int {
		_, body := get(t, tn.base+"/metrics")
		n := 0
		for line := range strings.Lines(string(body)) {
			if strings.HasPrefix(line, "odi_directory_request") {
				n++
			}
		}
		return n
	}
	get(t, tn.base+"/healthz")
	before := series()
	for i := range 50 {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/scan-%d/%x", tn.base, i, i*7919), nil)
		req.Host = fmt.Sprintf("host-%d.example", i)
		if i%2 == 1 {
			req.Method = fmt.Sprintf("SCAN%d", i)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// One new label set (404, unmatched) for GET and one for the other methods: each is
	// about 40 lines across the four families (counter, and three histograms' buckets).
	after := series()
	t.Logf("50 scanned paths added %d metric lines", after-before)
	if after-before > 100 {
		t.Errorf("50 scanned paths added %d metric lines (from %d to %d): labels follow the paths", after-before, before, after)
	}
}

// recordUploads notes the upload URLs a client sends requests to.
type recordUploads struct {
	mu   sync.Mutex
	urls []string
}

func (r *recordUploads) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.Contains(req.URL.Path, "/api/v1/uploads/") {
		r.mu.Lock()
		r.urls = append(r.urls, req.URL.Path)
		r.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestLogsKeepUploadIDsSecret publishes and misuses an upload id with the directory
// logging everything: its id (the capability to send the bytes) appears in no log line,
// and in no error the directory answers.
func TestLogsKeepUploadIDsSecret(t *testing.T) {
	logs := &logbuf.Buffer{}
	keys := newKeys(t, "admin", "publisher")
	cfg := defaultConfig().Directory
	cfg.DataDir, cfg.Listen, cfg.MinFreeSpace = t.TempDir(), "127.0.0.1:0", 0
	cfg.Publishers = []string{"tester:test=" + keys[1] + ".pub"}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := startDirectory(ctx, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := d.Wait(); err != nil {
			t.Errorf("directory stopped with %v", err)
		}
	})
	c, err := newClient(ClientConfig{Directory: d.cfg.PublicURL, Key: keys[1]})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordUploads{}
	c.HTTP = &http.Client{Transport: rec}
	src := t.TempDir()
	writeFiles(t, src, 9, map[string]int{"a.bin": 5000})
	if _, err := client.Publish(context.Background(), c, ident("1"), filepath.Join(src, "a.bin"), io.Discard); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	if len(rec.urls) == 0 {
		t.Fatal("the publish sent no request to an upload URL")
	}
	id := strings.Split(strings.TrimPrefix(rec.urls[0], "/api/v1/uploads/"), "/")[0]
	rec.mu.Unlock()
	// The id again, once the upload is done: errors, at every level of the log.
	var answers []string
	for _, r := range []struct{ method, path string }{
		{"PUT", "/api/v1/uploads/" + id}, {"DELETE", "/api/v1/uploads/" + id},
		{"POST", "/api/v1/uploads/" + id + "/commit"}, {"GET", "/api/v1/uploads/" + id + "/nothing?x=1"},
	} {
		req, _ := http.NewRequest(r.method, d.cfg.PublicURL+r.path, strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answers = append(answers, string(body))
	}
	out := logs.String()
	if !strings.Contains(out, "publish declared") || !strings.Contains(out, "ref-") {
		t.Fatalf("the log shows no publish by its reference:\n%s", out)
	}
	if strings.Contains(out, id) {
		t.Errorf("the log carries upload id %s:\n%s", id, out)
	}
	for _, a := range answers {
		if strings.Contains(a, id) {
			t.Errorf("an answer carries upload id %s: %s", id, a)
		}
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 with serial to certFile and
// its key to keyFile.
func writeCert(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "odi test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// servedSerial connects afresh to base and returns the serial of the certificate served.
func servedSerial(t *testing.T, base string) int64 {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("GET /healthz over TLS: %s, TLS %v", resp.Status, resp.TLS != nil)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
}

// TestTLSServesAndReloadsOnSIGHUP serves a directory and a relay over HTTPS, then
// replaces the directory's pair and sends SIGHUP: new connections get the new
// certificate. A client that trusts the first certificate verifies it.
func TestTLSServesAndReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, 1)
	tn := startTestDirectory(t, relayDirectory, func(c *DirectoryConfig) { c.TLS = TLSConfig{Cert: certFile, Key: keyFile} })
	if !strings.HasPrefix(tn.base, "https://") {
		t.Fatalf("public URL %s, want https", tn.base)
	}
	pem1, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem1)
	verified := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := verified.Get(tn.base + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != problem.ContentType || resp.ProtoMajor != 1 {
		t.Errorf("GET /nothing over verified TLS: %s %s %s", resp.Status, resp.Proto, resp.Header.Get("Content-Type"))
	}
	if got := servedSerial(t, tn.base); got != 1 {
		t.Fatalf("serial %d served, want 1", got)
	}

	writeCert(t, certFile, keyFile, 2)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the directory serves the new certificate after SIGHUP", func() bool {
		return servedSerial(t, tn.base) == 2
	})

	rdir := t.TempDir()
	rcert, rkey := filepath.Join(rdir, "cert.pem"), filepath.Join(rdir, "key.pem")
	writeCert(t, rcert, rkey, 3)
	r := startTestRelay(t, tn, func(c *RelayConfig) { c.TLS = TLSConfig{Cert: rcert, Key: rkey} })
	if got := servedSerial(t, r.url); got != 3 || !strings.HasPrefix(r.url, "https://") {
		t.Errorf("relay at %s serves serial %d, want https and 3", r.url, got)
	}
}

// TestCertReloaderKeepsThePairOnFailure: a pair that does not load (half written, the
// wrong key) leaves the previous certificate in service.
func TestCertReloaderKeepsThePairOnFailure(t *testing.T) {
	dir := t.TempDir()
	cfg := TLSConfig{Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	writeCert(t, cfg.Cert, cfg.Key, 1)
	r, err := newCertReloader(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	serial := func() int64 {
		c, _ := r.getCertificate(nil)
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.SerialNumber.Int64()
	}
	other := filepath.Join(dir, "other-key.pem")
	writeCert(t, filepath.Join(dir, "other-cert.pem"), other, 9)
	otherKey, _ := os.ReadFile(other)
	for name, damage := range map[string]func(){
		"truncated cert": func() { os.WriteFile(cfg.Cert, []byte("-----BEGIN CERTIFICATE-----\nMII"), 0o644) },
		"wrong key":      func() { writeCert(t, cfg.Cert, cfg.Key, 5); os.WriteFile(cfg.Key, otherKey, 0o600) },
		"missing key":    func() { os.Remove(cfg.Key) },
	} {
		damage()
		if err := r.reload(); err == nil || !strings.Contains(err.Error(), cfg.Cert) {
			t.Errorf("%s: reload = %v, want an error naming %s", name, err, cfg.Cert)
		}
		if got := serial(); got != 1 {
			t.Errorf("%s: serving serial %d, want the previous one (1)", name, got)
		}
	}
	if _, err := newCertReloader(TLSConfig{Cert: cfg.Cert}, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a certificate without a key was accepted")
	}
}

// TestKeygenWritesOwnerOnlyKeys: `odi keygen` makes a private key only its owner may
// read, whatever the umask, and a key others may read is refused where keys load.
func TestKeygenWritesOwnerOnlyKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.key")
	if err := run(context.Background(), []string{"keygen", "--out", path}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("odi keygen wrote mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = newClient(ClientConfig{Directory: "http://127.0.0.1:1", Key: path})
	if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Fatalf("a world-readable key: %v, want a refusal telling chmod 600 %s", err, path)
	}
}
