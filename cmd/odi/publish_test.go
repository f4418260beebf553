package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/bind"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/manifest"
)

// writeFiles writes seeded random files below dir, sized as given.
func writeFiles(t *testing.T, dir string, seed uint64, sizes map[string]int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0))
	for p, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func ident(version string) manifest.Manifest {
	return manifest.Manifest{Catalog: "test", Name: "art", Version: version}
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestPublishThenDownloadFromOriginWebSeed(t *testing.T) {
	tn := startTestDirectory(t)
	src := t.TempDir()
	writeFiles(t, src, 1, map[string]int{
		"image.iso":             3<<20 + 4321,
		"pkg/README":            1234,
		"pkg/bin/tool":          700 << 10,
		"pkg/share/empty":       0,
		"pkg/share/doc/a b.txt": 300<<10 + 1,
	})
	for _, tc := range []struct {
		name, path string
		files      int
	}{
		{"single file", filepath.Join(src, "image.iso"), 1},
		{"package", filepath.Join(src, "pkg"), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := client.Publish(context.Background(), tn.publisher, ident(tc.name[:6]), tc.path, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if a.FileCount != tc.files || a.State != catalogapi.Published {
				t.Fatalf("published %+v", a)
			}

			resp, body := get(t, a.TorrentURL)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-bittorrent" {
				t.Fatalf("GET torrent: %s %q", resp.Status, resp.Header.Get("Content-Type"))
			}
			mi, err := metainfo.Load(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if got := mi.HashInfoBytes().HexString(); got != a.InfoHash {
				t.Fatalf("torrent infohash %s, API says %s", got, a.InfoHash)
			}
			wantSeed := tn.base + "/ws/" + a.InfoHash + "/"
			if len(mi.UrlList) != 1 || mi.UrlList[0] != wantSeed || mi.Announce != tn.base+"/announce" {
				t.Fatalf("url-list %q announce %q, want [%s] and %s/announce", mi.UrlList, mi.Announce, wantSeed, tn.base)
			}
			if !strings.HasPrefix(mi.CreatedBy, "odi") || mi.CreationDate == 0 {
				t.Fatalf("created by %q, creation date %d", mi.CreatedBy, mi.CreationDate)
			}
			info, err := mi.UnmarshalInfo()
			if err != nil {
				t.Fatal(err)
			}
			// Piece hashes as anacrolix computes them from the publisher's files.
			want := metainfo.Info{PieceLength: info.PieceLength}
			if err := want.BuildFromFilePath(tc.path); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(info.Pieces, want.Pieces) || info.TotalLength() != want.TotalLength() || info.Name != want.Name {
				t.Fatalf("info dict differs from anacrolix's for the same files")
			}

			// SHA256SUMS matches the publisher's files.
			_, sums := get(t, a.SHA256SumsURL)
			for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
				sum, rel, _ := strings.Cut(line, "  ")
				b, err := os.ReadFile(filepath.Join(filepath.Dir(tc.path), filepath.FromSlash(rel)))
				if err != nil {
					t.Fatal(err)
				}
				if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sum {
					t.Fatalf("SHA256SUMS line %q does not match the file", line)
				}
			}

			dl := downloadWebSeedOnly(t, mi)
			for _, f := range a.Files {
				rel := strings.TrimSuffix(a.Root+"/"+f.Path, "/")
				want, _ := os.ReadFile(filepath.Join(filepath.Dir(tc.path), filepath.FromSlash(rel)))
				got, err := os.ReadFile(filepath.Join(dl, filepath.FromSlash(rel)))
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("downloaded %s differs from the published file (%v)", rel, err)
				}
			}
		})
	}
}

// newLoopbackClient starts a real anacrolix client listening on 127.0.0.1 only, with no
// DHT, PEX or port forwarding, its data in dataDir (a new temporary folder when ""), after
// adjust (if not nil) has changed its config. The test closes it.
func newLoopbackClient(t *testing.T, dataDir string, adjust func(*torrent.ClientConfig)) *torrent.Client {
	t.Helper()
	cfg := torrent.NewDefaultClientConfig()
	cfg.DataDir = cmp.Or(dataDir, t.TempDir())
	cfg.NoDHT, cfg.DisablePEX, cfg.NoDefaultPortForwarding = true, true, true
	cfg.DisableIPv6 = true // required by a ListenHost of 127.0.0.1
	cfg.ListenHost = func(string) string { return "127.0.0.1" }
	cfg.ListenPort = 0
	cfg.Slogger = slog.New(slog.DiscardHandler)
	if adjust != nil {
		adjust(cfg)
	}
	cl, err := torrent.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// bindTo returns the bind.Host of ip.
func bindTo(t *testing.T, ip string) bind.Host {
	t.Helper()
	h, err := bind.Parse(ip)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// downloadWebSeedOnly downloads mi with a real anacrolix client that may only use the
// torrent's web seeds (no trackers, DHT or peers) and returns its data folder.
func downloadWebSeedOnly(t *testing.T, mi *metainfo.MetaInfo) string {
	t.Helper()
	dir := t.TempDir()
	cl := newLoopbackClient(t, dir, func(cfg *torrent.ClientConfig) {
		cfg.DisableTrackers, cfg.NoUpload, cfg.Seed = true, true, false
	})
	spec, err := torrent.TorrentSpecFromMetaInfoErr(mi)
	if err != nil {
		t.Fatal(err)
	}
	spec.Trackers = nil
	tor, _, err := cl.AddTorrentSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	<-tor.GotInfo()
	tor.DownloadAll()
	select {
	case <-tor.Complete().On():
	case <-time.After(60 * time.Second):
		t.Fatalf("web-seed download incomplete after 60s: %d of %d bytes", tor.BytesCompleted(), tor.Length())
	}
	return dir
}

// rawDeclare sends a declaration body as c signs it (unsigned when c is nil) and returns
// the status.
func rawDeclare(t *testing.T, tn *testNet, c *apiclient.Client, body []byte) int {
	t.Helper()
	if c == nil {
		c = &apiclient.Client{Base: tn.base, HTTP: http.DefaultClient}
	}
	err := c.Call(context.Background(), http.MethodPost, "/api/v1/uploads", body, nil)
	if err == nil {
		return http.StatusCreated
	}
	if s := apiclient.StatusOf(err); s != 0 {
		return s
	}
	t.Fatal(err)
	return 0
}

func TestPublishRefusals(t *testing.T) {
	tn := startTestDirectory(t)
	stranger, err := newClient(ClientConfig{Directory: tn.base, Key: newKeys(t, "stranger")[0]})
	if err != nil {
		t.Fatal(err)
	}
	decl := func(mutate func(m *manifest.Manifest)) []byte {
		m := ident("1")
		m.Root = "f.bin"
		m.Files = []manifest.File{{Size: 10}}
		if mutate != nil {
			mutate(&m)
		}
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name   string
		c      *apiclient.Client
		body   []byte
		status int
	}{
		{"unsigned", nil, decl(nil), 401},
		{"unknown key", stranger, decl(nil), 401},
		{"admin key", tn.admin, decl(nil), 403},
		{"traversal in root", tn.publisher, decl(func(m *manifest.Manifest) { m.Root = ".." }), 400},
		{"traversal in path", tn.publisher, decl(func(m *manifest.Manifest) {
			m.Files = []manifest.File{{Path: "../../etc/cron.d/x", Size: 1}}
		}), 400},
		{"absolute path", tn.publisher, decl(func(m *manifest.Manifest) { m.Files = []manifest.File{{Path: "/etc/passwd", Size: 1}} }), 400},
		{"bad catalog", tn.publisher, decl(func(m *manifest.Manifest) { m.Catalog = "a/b" }), 400},
		{"control character", tn.publisher, decl(func(m *manifest.Manifest) { m.Root = "a\nb" }), 400},
		{"empty file", tn.publisher, decl(func(m *manifest.Manifest) { m.Files[0].Size = 0 }), 400},
		{"digests in a declaration", tn.publisher, decl(func(m *manifest.Manifest) { m.Files[0].SHA256 = strings.Repeat("a", 64) }), 400},
		{"not json", tn.publisher, []byte("{"), 400},
		{"too large", tn.publisher, decl(func(m *manifest.Manifest) { m.Files[0].Size = 1 << 49 }), 413},
	}
	for _, tt := range tests {
		if got := rawDeclare(t, tn, tt.c, tt.body); got != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.status)
		}
	}

	t.Run("replayed request", func(t *testing.T) {
		body := decl(func(m *manifest.Manifest) { m.Version = "replay" })
		req, _ := http.NewRequest(http.MethodPost, tn.base+"/api/v1/uploads", bytes.NewReader(body))
		if err := tn.publisher.Signer.SignBody(req, body); err != nil {
			t.Fatal(err)
		}
		var statuses []int
		for range 2 {
			again := req.Clone(context.Background())
			again.Body = io.NopCloser(bytes.NewReader(body))
			resp, err := http.DefaultClient.Do(again)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			statuses = append(statuses, resp.StatusCode)
		}
		if statuses[0] != 201 || statuses[1] != 401 {
			t.Fatalf("statuses %v, want [201 401]", statuses)
		}
	})

	t.Run("tampered body", func(t *testing.T) {
		body := decl(func(m *manifest.Manifest) { m.Version = "tamper" })
		req, _ := http.NewRequest(http.MethodPost, tn.base+"/api/v1/uploads", bytes.NewReader(body))
		if err := tn.publisher.Signer.SignBody(req, body); err != nil {
			t.Fatal(err)
		}
		req.Body = io.NopCloser(bytes.NewReader(decl(func(m *manifest.Manifest) { m.Version = "tampeR" })))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	})

	src := filepath.Join(t.TempDir(), "f.bin")
	writeFiles(t, filepath.Dir(src), 2, map[string]int{"f.bin": 1000})
	t.Run("duplicate version", func(t *testing.T) {
		if _, err := client.Publish(context.Background(), tn.publisher, ident("dup"), src, io.Discard); err != nil {
			t.Fatal(err)
		}
		_, err := client.Publish(context.Background(), tn.publisher, ident("dup"), src, io.Discard)
		if status := apiclient.StatusOf(err); status != 409 {
			t.Fatalf("second publish: %v, want 409", err)
		}
		_, err = client.Publish(context.Background(), tn.publisher, ident("dup2"), src, io.Discard)
		if status := apiclient.StatusOf(err); status != 409 {
			t.Fatalf("same bytes as another version: %v, want 409", err)
		}
	})

	t.Run("revoked publisher", func(t *testing.T) {
		keys := newKeys(t, "late")
		ctx := context.Background()
		if err := run(ctx, []string{"admin", "--directory", tn.base, "--key", tn.adminKey, "publishers", "add", "late", keys[0] + ".pub"}); err != nil {
			t.Fatal(err)
		}
		late, _ := newClient(ClientConfig{Directory: tn.base, Key: keys[0]})
		writeFiles(t, filepath.Dir(src), 3, map[string]int{"f.bin": 1000})
		if _, err := client.Publish(ctx, late, ident("late1"), src, io.Discard); err != nil {
			t.Fatalf("publish by an added publisher: %v", err)
		}
		if err := run(ctx, []string{"admin", "--directory", tn.base, "--key", tn.adminKey, "publishers", "revoke", "late"}); err != nil {
			t.Fatal(err)
		}
		writeFiles(t, filepath.Dir(src), 6, map[string]int{"f.bin": 1000})
		if _, err := client.Publish(ctx, late, ident("late2"), src, io.Discard); apiclient.StatusOf(err) != 403 {
			t.Fatalf("publish by a revoked publisher: %v, want 403", err)
		}
		err := run(ctx, []string{"admin", "--directory", tn.base, "--key", keys[0], "publishers", "add", "x", keys[0] + ".pub"})
		if apiclient.StatusOf(err) != 403 && apiclient.StatusOf(err) != 401 {
			t.Fatalf("admin request signed by a publisher key: %v, want 401/403", err)
		}
	})

	t.Run("bytes differ from the signed manifest", func(t *testing.T) {
		m := ident("mismatch")
		m.Root = "f.bin"
		m.Files = []manifest.File{{Size: 4}}
		var up catalogapi.Upload
		if err := tn.publisher.CallJSON(context.Background(), http.MethodPost, "/api/v1/uploads", m, &up); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPut, tn.base+"/api/v1/uploads/"+up.ID, strings.NewReader("sent"))
		if err := tn.publisher.Do(req, nil); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte("sign"))
		m.Files[0].SHA256 = hex.EncodeToString(sum[:])
		err := tn.publisher.CallJSON(context.Background(), http.MethodPost, "/api/v1/uploads/"+up.ID+"/commit", m, nil)
		if apiclient.StatusOf(err) != 422 {
			t.Fatalf("commit: %v, want 422", err)
		}
		if resp, _ := get(t, tn.base+"/api/v1/artifacts/test/art/mismatch"); resp.StatusCode != 404 {
			t.Fatalf("refused artifact is visible: %s", resp.Status)
		}
	})
}

func TestExpunge(t *testing.T) {
	tn := startTestDirectory(t)
	src := filepath.Join(t.TempDir(), "bad.iso")
	writeFiles(t, filepath.Dir(src), 4, map[string]int{"bad.iso": 100 << 10})
	ctx := context.Background()
	a, err := client.Publish(ctx, tn.publisher, ident("1"), src, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, a.WebSeeds[0]+a.Root); resp.StatusCode != 200 {
		t.Fatalf("web seed before expunge: %s", resp.Status)
	}
	if err := run(ctx, []string{"admin", "--directory", tn.base, "--key", tn.adminKey, "expunge", "test/art/1", "--reason", "CVE-2026-0042"}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{a.WebSeeds[0] + a.Root, a.TorrentURL, a.SHA256SumsURL} {
		if resp, _ := get(t, u); resp.StatusCode != http.StatusGone {
			t.Errorf("GET %s after expunge: %s, want 410", u, resp.Status)
		}
	}
	_, body := get(t, tn.base+"/api/v1/artifacts/test/art/1")
	var j catalogapi.Artifact
	if err := json.Unmarshal(body, &j); err != nil {
		t.Fatal(err)
	}
	if j.State != catalogapi.Expunged || j.ExpungeReason != "CVE-2026-0042" || j.TorrentURL != "" {
		t.Fatalf("JSON after expunge: %s", body)
	}
	if _, err := client.Publish(ctx, tn.publisher, ident("1"), src, io.Discard); apiclient.StatusOf(err) != 409 {
		t.Fatalf("republish: %v, want 409", err)
	}
	entries, _ := os.ReadDir(filepath.Join(tn.data, "origin"))
	if len(entries) != 0 {
		t.Fatalf("origin still holds %d entries after expunge", len(entries))
	}
}

func TestAPIListAndErrors(t *testing.T) {
	tn := startTestDirectory(t)
	src := t.TempDir()
	writeFiles(t, src, 5, map[string]int{"a.bin": 10, "b.bin": 20})
	ctx := context.Background()
	for _, v := range []string{"1", "2"} {
		m := ident(v)
		if v == "2" {
			m.Name = "other"
		}
		if _, err := client.Publish(ctx, tn.publisher, m, filepath.Join(src, map[string]string{"1": "a.bin", "2": "b.bin"}[v]), io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		query string
		want  int
	}{{"", 2}, {"?catalog=test", 2}, {"?catalog=test&name=other", 1}, {"?catalog=none", 0}} {
		_, body := get(t, tn.base+"/api/v1/artifacts"+tc.query)
		var out struct{ Artifacts []catalogapi.Artifact }
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Artifacts) != tc.want {
			t.Errorf("list%s: %d artifacts, want %d", tc.query, len(out.Artifacts), tc.want)
		}
	}
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/api/v1/artifacts/test/art/9", 404},
		{"/t/test/art/9.torrent", 404},
		{"/t/test/art/1", 404},
		{"/ws/" + strings.Repeat("0", 40) + "/a.bin", 404},
		{"/api/v1/uploads/" + strings.Repeat("0", 32), 405},
		{"/healthz", 200},
		{"/readyz", 200},
		{"/metrics", 200},
	} {
		resp, body := get(t, tn.base+tc.path)
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.status)
		}
		if resp.StatusCode == 404 && strings.HasPrefix(tc.path, "/api") && resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s: error as %q, want application/problem+json (%s)", tc.path, resp.Header.Get("Content-Type"), body)
		}
	}
	// A torrent answers HEAD and conditional requests by content.
	resp, _ := get(t, tn.base+"/t/test/art/1.torrent")
	req, _ := http.NewRequest(http.MethodGet, tn.base+"/t/test/art/1.torrent", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET of the torrent: %s, want 304", resp2.Status)
	}
}

// A publisher at its upload slots is told to come back (503 + Retry-After); `odi
// publish` waits as told, says so, and goes on once a slot is free.
func TestPublishWaitsForASlot(t *testing.T) {
	tn := startTestDirectory(t, func(c *DirectoryConfig) { c.MaxUploadsPerPublisher = 1 })
	held := ident("held")
	held.Root = "held.bin"
	held.Files = []manifest.File{{Size: 10}}
	var slot catalogapi.Upload
	if err := tn.publisher.CallJSON(context.Background(), http.MethodPost, "/api/v1/uploads", held, &slot); err != nil {
		t.Fatal(err)
	}

	waiting := make(chan *apiclient.Error, 8)
	c, err := newClient(ClientConfig{Directory: tn.base, Key: tn.publisherKey})
	if err != nil {
		t.Fatal(err)
	}
	c.Waiting = func(e *apiclient.Error) { waiting <- e }
	dir := t.TempDir()
	writeFiles(t, dir, 7, map[string]int{"f.bin": 1000})
	type result struct {
		a   *catalogapi.Artifact
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := client.Publish(context.Background(), c, ident("waits"), filepath.Join(dir, "f.bin"), io.Discard)
		done <- result{a, err}
	}()
	select {
	case e := <-waiting:
		if e.Status != http.StatusServiceUnavailable || e.RetryAfter <= 0 || !strings.Contains(e.Detail, "max_uploads_per_publisher") {
			t.Fatalf("refusal waited out: %+v", e)
		}
	case r := <-done:
		t.Fatalf("publish ended while the only slot was held: %+v %v", r.a, r.err)
	}
	if err := tn.publisher.Call(context.Background(), http.MethodDelete, "/api/v1/uploads/"+slot.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.a.State != catalogapi.Published {
			t.Fatalf("publish after the slot freed: %+v %v", r.a, r.err)
		}
	case <-time.After(time.Minute):
		t.Fatal("publish still waiting a minute after the slot freed")
	}
}
