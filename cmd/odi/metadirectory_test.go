package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/opendist/odi/catalog/originpull"
	"github.com/opendist/odi/catalog/references"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/geo/geotest"
)

// Users of the meta-directory test, placed by its GeoIP database; they reach it through a
// trusted proxy on loopback, which names them in X-Forwarded-For.
const (
	userDE = "81.2.69.10"   // DE, EU: A's region
	userUS = "2001:480::10" // US, NA: B's region
	userSE = "89.160.20.10" // SE, EU: nobody's country or continent: the default, B
	userJP = "1.128.0.10"   // JP, AS: the default, B
)

// TestMetaDirectory: M references catalog test at A (regions DE) and B (US, default),
// three real directories on three loopback hosts. A user of each region, following
// redirects as curl -L does, lands on their directory and gets the bytes; the API answers
// 307 there and lists the reference; A stopped, its users go to B within 10 s, and back
// to A within 10 s of A's restart on the same data and address.
func TestMetaDirectory(t *testing.T) {
	db := geotest.WriteDB(t, "GeoLite2-Country", map[string]mmdbtype.Map{
		"81.2.69.0/24":   geotest.Place("DE", "EU"),
		"89.160.20.0/24": geotest.Place("SE", "EU"),
		"2001:480::/32":  geotest.Place("US", "NA"),
		"1.128.0.0/16":   geotest.Place("JP", "AS"),
	})
	dataA, addrA := t.TempDir(), freePort(t) // on 127.0.0.1
	dirA := func(c *DirectoryConfig) { c.DataDir, c.Listen, c.Tracker.UDPListen = dataA, addrA, "off" }
	a := startTestDirectory(t, dirA)
	b := startTestDirectory(t, func(c *DirectoryConfig) { c.Listen, c.Tracker.UDPListen = "127.0.0.2:0", "off" })
	artA := publishSmall(t, a, "1", 5000)
	artB := publishSmall(t, b, "1", 5000)
	if artA.InfoHash != artB.InfoHash {
		t.Fatalf("A and B published different bytes: %s, %s", artA.InfoHash, artB.InfoHash)
	}
	_, want := get(t, a.base+"/dl/"+artA.InfoHash+"/f-1.bin")

	m := startTestDirectory(t, func(c *DirectoryConfig) {
		c.Listen, c.Tracker.UDPListen = "127.0.0.3:0", "off"
		c.GeoIP = db
		c.Tracker.TrustedProxies = []string{"127.0.0.0/8"}
		c.Relays.AllowPrivateURLs = true
		c.Federation.References = []references.Config{{Catalog: "test", Directories: []references.Directory{
			{URL: a.base, Regions: []string{"DE"}}, {URL: b.base, Regions: []string{"US", "default"}},
		}}}
	})
	if arts := listArtifacts(t, m.base); len(arts) != 0 {
		t.Fatalf("the meta-directory lists %d artifacts of its own", len(arts))
	}
	host := func(base string) string { u, _ := url.Parse(base); return u.Host }

	// redirect asks M once, as user, and returns the status and Location.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	redirect := func(user, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, m.base+path, nil)
		req.Header.Set("X-Forwarded-For", user)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	// fetch follows every redirect from M, as user, and returns where it landed and what.
	fetch := func(user, path string) (string, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, m.base+path, nil)
		req.Header.Set("X-Forwarded-For", user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s as %s: %d, %v", path, user, resp.StatusCode, err)
		}
		return resp.Request.URL.Host, body
	}
	waitFor(t, 10*time.Second, "M finds A and B healthy", func() bool {
		_, locDE := redirect(userDE, "/r/test/art/1")
		_, locUS := redirect(userUS, "/r/test/art/1")
		return strings.HasPrefix(locDE, a.base+"/") && strings.HasPrefix(locUS, b.base+"/")
	})

	for _, tc := range []struct{ user, dir string }{{userDE, a.base}, {userUS, b.base}, {userSE, b.base}, {userJP, b.base}} {
		landed, body := fetch(tc.user, "/r/test/art/1")
		if landed != host(tc.dir) || !bytes.Equal(body, want) {
			t.Errorf("/r/ as %s landed on %s with %d bytes; want %s and the artifact's %d", tc.user, landed, len(body), host(tc.dir), len(want))
		}
		if code, loc := redirect(tc.user, "/t/test/art/1.torrent"); code != http.StatusFound || loc != tc.dir+"/t/test/art/1.torrent" {
			t.Errorf("/t/ as %s: %d to %s", tc.user, code, loc)
		}
	}
	if code, loc := redirect(userDE, "/api/v1/artifacts/test/art/1"); code != http.StatusTemporaryRedirect || loc != a.base+"/api/v1/artifacts/test/art/1" {
		t.Errorf("the API as %s: %d to %s", userDE, code, loc)
	}
	if code, loc := redirect(userUS, "/api/v1/artifacts?catalog=test"); code != http.StatusTemporaryRedirect || loc != b.base+"/api/v1/artifacts?catalog=test" {
		t.Errorf("the API list of test as %s: %d to %s", userUS, code, loc)
	}
	if landed, body := fetch(userUS, "/api/v1/artifacts/test/art/1"); landed != host(b.base) || !strings.Contains(string(body), artB.InfoHash) {
		t.Errorf("the API as %s landed on %s: %s", userUS, landed, body)
	}
	_, body := get(t, m.base+"/api/v1/artifacts")
	var list catalogapi.ArtifactList
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Referenced) != 1 || list.Referenced[0].Catalog != "test" || len(list.Referenced[0].Directories) != 2 ||
		list.Referenced[0].Directories[0].URL != a.base || !list.Referenced[0].Directories[1].Healthy {
		t.Errorf("M's list: %s", body)
	}
	if resp, body := get(t, m.base+"/metrics"); !strings.Contains(string(body), `odi_directory_referenced_directories_healthy{catalog="test"} 2`) {
		t.Errorf("M's metrics (%s) lack the healthy gauge at 2: %.2000s", resp.Status, body)
	}

	a.stop()
	stopped := time.Now()
	waitFor(t, 10*time.Second, "M sends A's users to B once A is down", func() bool {
		_, loc := redirect(userDE, "/r/test/art/1")
		return strings.HasPrefix(loc, b.base+"/")
	})
	t.Logf("A's users went to B %s after A stopped", time.Since(stopped).Round(time.Millisecond))
	if landed, body := fetch(userDE, "/r/test/art/1"); landed != host(b.base) || !bytes.Equal(body, want) {
		t.Errorf("with A down, /r/ as %s landed on %s with %d bytes", userDE, landed, len(body))
	}

	startTestDirectory(t, dirA)
	restarted := time.Now()
	waitFor(t, 10*time.Second, "M sends A's users back to A once A is up", func() bool {
		_, loc := redirect(userDE, "/r/test/art/1")
		return strings.HasPrefix(loc, a.base+"/")
	})
	t.Logf("A's users came back %s after A restarted", time.Since(restarted).Round(time.Millisecond))
}

// TestMetaDirectoryAllDown: with every referenced directory down, M answers a 503
// problem with Retry-After, and its status says why.
func TestMetaDirectoryAllDown(t *testing.T) {
	dead := "http://" + freePort(t) // nothing listens there
	m := startTestDirectory(t, func(c *DirectoryConfig) {
		c.Relays.AllowPrivateURLs = true
		c.Federation.References = []references.Config{{Catalog: "test", Directories: []references.Directory{{URL: dead, Regions: []string{"default"}}}}}
	})
	resp, body := get(t, m.base+"/r/test/art/1")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "3" ||
		resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), "catalog test") {
		t.Errorf("all down: %s, Retry-After %q, %s", resp.Status, resp.Header.Get("Retry-After"), body)
	}
	// Other catalogs and paths are the directory's own.
	if resp, _ := get(t, m.base+"/r/other/art/1"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/r/ of an unreferenced catalog: %s", resp.Status)
	}
}

// TestMetaDirectoryRefusals: a directory does not start referencing a catalog it
// publishes, or a directory on loopback without allow_private_urls.
func TestMetaDirectoryRefusals(t *testing.T) {
	data := t.TempDir()
	tn := startTestDirectory(t, func(c *DirectoryConfig) { c.DataDir = data })
	publishSmall(t, tn, "1", 100)
	tn.stop()
	ref := []references.Config{{Catalog: "test", Directories: []references.Directory{{URL: "http://127.0.0.2:1"}}}}
	for _, tc := range []struct {
		name string
		edit func(*DirectoryConfig)
		want string
	}{
		{"a catalog it publishes", func(c *DirectoryConfig) { c.DataDir, c.Relays.AllowPrivateURLs = data, true }, "federation.references[0].catalog: this directory publishes test/art/1"},
		{"a loopback directory", func(c *DirectoryConfig) { c.DataDir = t.TempDir() }, "federation.references[0].directories[0].url"},
		{"a catalog it pulls", func(c *DirectoryConfig) {
			c.DataDir, c.Relays.AllowPrivateURLs = t.TempDir(), true
			c.Federation.Origins = []originpull.Config{{Catalog: "test", URL: "http://127.0.0.2:1/", Key: tn.publisherKey + ".pub"}}
		}, "federation.references[0].catalog: test is pulled here too (federation.origins[0])"},
	} {
		cfg := defaultConfig().Directory
		cfg.Listen, cfg.MinFreeSpace, cfg.Federation.References = "127.0.0.1:0", 0, ref
		tc.edit(&cfg)
		ctx, cancel := context.WithCancel(context.Background())
		d, err := startDirectory(ctx, cfg, testLogger(t, "directory"))
		if err == nil {
			cancel()
			_ = d.Wait()
			t.Fatalf("%s: the directory started", tc.name)
		}
		cancel()
		var ee *exitErr
		if !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a usage error saying %q", tc.name, err, tc.want)
		}
	}
}
