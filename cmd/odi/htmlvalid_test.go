package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opendist/odi/internal/webui"
)

// TestHTMLValid checks every kind of page with the Nu Html Checker (vnu), the W3C's:
// the list (searched, filtered, its second page), each artifact state, the relays, the
// network's charts, a relay's page and the error pages. The jar is $ODI_VNU_JAR, else
// .tools/vnu.jar, which `make unit` installs; java comes from the system.
func TestHTMLValid(t *testing.T) {
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skip("java is not installed (.ci/run installs default-jre-headless)")
	}
	jar := os.Getenv("ODI_VNU_JAR")
	if jar == "" {
		jar = filepath.Join("..", "..", ".tools", "vnu.jar")
	}
	if _, err := os.Stat(jar); err != nil {
		t.Skipf("no Nu Html Checker (vnu.jar): %v (make unit installs it in .tools)", err)
	}
	pn := startPageNet(t)
	tn := pn.tn
	// Enough artifacts for a second page of the list.
	for v := 4; v <= webui.DefaultPageSize+2; v++ {
		publishSmall(t, tn, fmt.Sprint(v), 100)
	}

	dir := t.TempDir()
	var files []string
	for _, p := range []struct {
		name, url string
		status    int
	}{
		{"list", tn.base + "/", http.StatusOK},
		{"list-page-2", tn.base + "/?page=2", http.StatusOK},
		{"search", tn.base + "/?q=art%2F1", http.StatusOK},
		{"search-none", tn.base + "/?q=%3Cnone%3E&catalog=test", http.StatusOK},
		{"artifact-file", tn.base + "/a/" + pn.single.ID, http.StatusOK},
		{"artifact-package", tn.base + "/a/" + pn.pkg.ID, http.StatusOK},
		{"tombstone", tn.base + "/a/test/art/3", http.StatusGone},
		{"relays", tn.base + "/relays", http.StatusOK},
		{"relays-after", tn.base + "/relays?after=zzz", http.StatusOK},
		{"network", tn.base + "/network", http.StatusOK},
		{"relay", pn.relay.url + "/", http.StatusOK},
		{"not-found", tn.base + "/a/test/art/999", http.StatusNotFound},
		{"bad-request", tn.base + "/?page=0", http.StatusBadRequest},
	} {
		page := fetchPage(t, p.url)
		if page.status != p.status {
			t.Errorf("GET %s: %d, want %d", p.url, page.status, p.status)
		}
		f := filepath.Join(dir, p.name+".html")
		if err := os.WriteFile(f, []byte(page.body), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}

	// One JVM for all pages: it takes seconds to start.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, java, append([]string{"-jar", jar, "--errors-only", "--format", "gnu"}, files...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("vnu: %v; the pages (in %s) have errors:\n%s", err, dir, strings.ReplaceAll(string(out), "file:"+dir+"/", ""))
	}
}
