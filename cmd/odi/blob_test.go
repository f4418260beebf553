package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/problem"
)

// blobURL is where base serves (or redirects) the file whose sha256 is sum.
func blobURL(base, sum string) string { return base + "/blob/sha256/" + sum }

// noFollow answers with the first response, redirects included.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// blobAnswer sends method to u without following a redirect and returns the answer,
// its body read.
func blobAnswer(t *testing.T, method, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := noFollow.Do(req)
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

// checkBlobRedirect checks the directory's answer to method on sum's blob URL: a 302 to
// want with the file's digests and name.
func checkBlobRedirect(t *testing.T, tn *testNet, method, sum, want, name string) {
	t.Helper()
	resp, body := blobAnswer(t, method, blobURL(tn.base, sum))
	raw, _ := hex.DecodeString(sum)
	b64 := base64.StdEncoding.EncodeToString(raw)
	h := resp.Header
	if resp.StatusCode != http.StatusFound || h.Get("Location") != want {
		t.Fatalf("%s blob %s: %s to %q (%s), want 302 to %s", method, sum, resp.Status, h.Get("Location"), body, want)
	}
	if h.Get("Digest") != "sha-256="+b64 || h.Get("Repr-Digest") != "sha-256=:"+b64+":" ||
		h.Get("Content-Disposition") != `attachment; filename="`+name+`"` || h.Get("Cache-Control") != "no-store" {
		t.Errorf("%s blob %s: headers %v, want its digests, attachment %q and no-store", method, sum, h, name)
	}
}

// followBlob GETs sum's blob URL at base, following redirects, and checks the bytes
// against sum; it returns them and the URL they came from.
func followBlob(t *testing.T, base, sum string) ([]byte, string) {
	t.Helper()
	resp, err := http.Get(blobURL(base, sum))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.Sum256(b)
	if resp.StatusCode != http.StatusOK || hex.EncodeToString(got[:]) != sum {
		t.Fatalf("GET blob %s (from %s): %s, %d bytes of sha256 %x", sum, resp.Request.URL, resp.Status, len(b), got)
	}
	return b, resp.Request.URL.String()
}

// fileSum is the sha256 the catalog has for the file of a at path.
func fileSum(t *testing.T, a *catalogapi.Artifact, path string) string {
	t.Helper()
	for _, f := range a.Files {
		if f.Path == path {
			return f.SHA256
		}
	}
	t.Fatalf("%s has no file %q", a.ID, path)
	return ""
}

// Files by content: the directory redirects /blob/sha256/<hex> to its origin copy, then
// to a relay that holds the file, whose own /blob/ serves it with ranges; odi fetch
// sha256:<hex> saves it, verified; bad requests and unknown hashes get problems, and
// expunged content 410.
func TestBlobs(t *testing.T) {
	tn := startTestDirectory(t, relayDirectory)
	a := publishSmall(t, tn, "1", 1<<20+3)
	src := filepath.Join(t.TempDir(), "pkg")
	writeFiles(t, src, 5, map[string]int{"README": 1234, "share/a b.txt": 300<<10 + 1, "share/empty": 0})
	publishPath := func(version, path string) *catalogapi.Artifact {
		t.Helper()
		a, err := client.Publish(context.Background(), tn.publisher, ident(version), path, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	pkg := publishPath("p1", src)
	sum := a.Files[0].SHA256
	inPkg := fileSum(t, pkg, "share/a b.txt")
	escapedPath := func(ih, p string) string { return "/dl/" + ih + "/" + strings.ReplaceAll(p, " ", "%20") }

	// No relay holds them yet: the origin's plain download.
	checkBlobRedirect(t, tn, http.MethodGet, sum, tn.base+"/dl/"+a.InfoHash+"/"+a.Root, a.Root)
	checkBlobRedirect(t, tn, http.MethodHead, sum, tn.base+"/dl/"+a.InfoHash+"/"+a.Root, a.Root)
	checkBlobRedirect(t, tn, http.MethodGet, inPkg, tn.base+escapedPath(pkg.InfoHash, pkg.Root+"/share/a b.txt"), "a b.txt")
	want, from := followBlob(t, tn.base, sum)
	if int64(len(want)) != a.Size || !strings.HasPrefix(from, tn.base+"/dl/") {
		t.Fatalf("followed to %s: %d bytes, want %d from the origin", from, len(want), a.Size)
	}
	followBlob(t, tn.base, inPkg)
	followBlob(t, tn.base, fileSum(t, pkg, "share/empty")) // the empty file has a sha256 too

	unknown := strings.Repeat("0", 64)
	checkProblems(t, http.DefaultClient, tn.base, []errorCase{
		{method: http.MethodGet, path: "/blob/sha256/" + unknown, status: http.StatusNotFound},
		{method: http.MethodHead, path: "/blob/sha256/" + unknown, status: http.StatusNotFound},
		{method: http.MethodGet, path: "/blob/sha256/" + strings.ToUpper(sum), status: http.StatusBadRequest},
		{method: http.MethodGet, path: "/blob/sha256/" + sum[:63], status: http.StatusBadRequest},
		{method: http.MethodGet, path: "/blob/sha256/" + sum[:63] + "z", status: http.StatusBadRequest},
		{method: http.MethodGet, path: "/blob/sha256/" + sum + "/" + a.Root, status: http.StatusNotFound},
		{method: http.MethodGet, path: "/blob/sha512/" + sum, status: http.StatusNotFound},
		{method: http.MethodGet, path: "/blob/", status: http.StatusNotFound},
		{method: http.MethodPost, path: "/blob/sha256/" + sum, status: http.StatusMethodNotAllowed},
	})
	if resp, body := blobAnswer(t, http.MethodGet, blobURL(tn.base, strings.ToUpper(sum))); !strings.Contains(string(body), sum) {
		t.Errorf("upper-case digest: %s %s, want a hint with the lower-case form", resp.Status, body)
	}

	// odi fetch sha256:<hex>: into a folder under the directory's name, or to a file.
	out := t.TempDir()
	ctx := context.Background()
	res, stderr, err := runFetch(ctx, tn, "-o", out, "sha256:"+sum)
	if err != nil {
		t.Fatalf("odi fetch sha256:%s: %v (%s)", sum, err, stderr)
	}
	if got := readFile(t, filepath.Join(out, a.Root)); got != string(want) || res.Path != filepath.Join(out, a.Root) ||
		res.Bytes != a.Size || res.Fetched.HTTP != a.Size || len(res.Files) != 1 || res.Files[0].SHA256 != sum {
		t.Errorf("odi fetch sha256: result %+v; the file has %d bytes", res, len(got))
	}
	if _, _, err := runFetch(ctx, tn, "-o", out, "sha256:"+strings.ToUpper(sum)); err == nil || codeOf(err) != exitError || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a second fetch into the same folder: %v (exit %d), want a refusal to replace the file", err, codeOf(err))
	}
	named := filepath.Join(out, "sub", "blob.txt")
	if _, stderr, err := runFetch(ctx, tn, "-o", filepath.Join(out, "sub")+"/", "sha256:"+inPkg); err != nil {
		t.Fatalf("odi fetch sha256:%s into a new folder: %v (%s)", inPkg, err, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "sub", "a b.txt")); err != nil {
		t.Errorf("odi fetch -o DIR/ did not save the file under the directory's name: %v", err)
	}
	if res, stderr, err := runFetch(ctx, tn, "-o", named, "sha256:"+inPkg); err != nil || res.Path != named {
		t.Fatalf("odi fetch sha256:%s -o %s: %v, %+v (%s)", inPkg, named, err, res, stderr)
	}
	for _, tc := range []struct{ arg, why string }{
		{"sha256:" + sum[:10], "a short digest"},
		{"sha256:" + sum + "00", "a long digest"},
		{"sha256:" + sum[:63] + "x", "not hex"},
	} {
		if _, _, err := runFetch(ctx, tn, "-o", out, tc.arg); codeOf(err) != exitUsage {
			t.Errorf("odi fetch %s (%s): %v (exit %d), want a usage error", tc.arg, tc.why, err, codeOf(err))
		}
	}
	if _, _, err := runFetch(ctx, tn, "--torrent-only", "sha256:"+sum); codeOf(err) != exitUsage {
		t.Errorf("odi fetch --torrent-only sha256:…: %v (exit %d), want a usage error", err, codeOf(err))
	}
	if _, _, err := runFetch(ctx, tn, "-o", out, "sha256:"+unknown); err == nil || codeOf(err) != exitError || !strings.Contains(err.Error(), "404") {
		t.Errorf("odi fetch of an unknown hash: %v (exit %d), want the directory's 404", err, codeOf(err))
	}

	// A relay holds them: redirects go there, to its own /blob/.
	r := startTestRelay(t, tn)
	waitServes(t, tn, 60*time.Second, r.id, a.InfoHash, pkg.InfoHash)
	// Redirects reuse an artifact's relay list for up to a second (mirrorsTTL).
	waitFor(t, 10*time.Second, "blob redirects go to the relay", func() bool {
		resp, _ := blobAnswer(t, http.MethodHead, blobURL(tn.base, inPkg))
		return resp.Header.Get("Location") == blobURL(r.url, inPkg)
	})
	checkBlobRedirect(t, tn, http.MethodGet, sum, blobURL(r.url, sum), a.Root)
	checkBlobRedirect(t, tn, http.MethodHead, inPkg, blobURL(r.url, inPkg), "a b.txt")
	if got, from := followBlob(t, tn.base, sum); string(got) != string(want) || from != blobURL(r.url, sum) {
		t.Errorf("followed to %s: %s", from, firstDifference(got, want))
	}

	// The relay's /blob/ serves as its web seed does: ranges, ETag, HEAD, the name, and
	// the digests.
	if got := getRange(t, blobURL(r.url, sum), 1000, 1999); string(got) != string(want[1000:2000]) {
		t.Errorf("relay blob range: %s", firstDifference(got, want[1000:2000]))
	}
	resp, body := blobAnswer(t, http.MethodHead, blobURL(r.url, sum))
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.ContentLength != a.Size || resp.Header.Get("ETag") != `"`+sum+`"` ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="`+a.Root+`"` || !strings.HasPrefix(resp.Header.Get("Repr-Digest"), "sha-256=:") {
		t.Errorf("HEAD relay blob: %s, %d bytes, headers %v", resp.Status, resp.ContentLength, resp.Header)
	}
	if resp, _ := blobAnswer(t, http.MethodGet, blobURL(r.url, sum), "Range", "bytes=10-19", "If-Range", `"`+unknown+`"`); resp.StatusCode != http.StatusOK {
		t.Errorf("relay blob with an If-Range of other bytes: %s, want the whole file (200)", resp.Status)
	}
	checkProblems(t, http.DefaultClient, r.url, []errorCase{
		{method: http.MethodGet, path: "/blob/sha256/" + unknown, status: http.StatusNotFound},
		{method: http.MethodGet, path: "/blob/sha256/" + strings.ToUpper(sum), status: http.StatusBadRequest},
		{method: http.MethodDelete, path: "/blob/sha256/" + sum, status: http.StatusMethodNotAllowed},
	})
	res, stderr, err = runFetch(ctx, tn, "-o", filepath.Join(t.TempDir(), "via-relay.bin"), "sha256:"+sum)
	if err != nil || res.Bytes != a.Size {
		t.Fatalf("odi fetch sha256:%s through the relay: %v, %+v (%s)", sum, err, res, stderr)
	}

	// The same file in two artifacts: expunging one leaves the other's; expunging both
	// makes it gone, with the reasons. The relay goes first: its announces of several
	// torrents expunged at once get tracker errors at once, and anacrolix v1.61.0's UDP
	// tracker client then writes its connection time unguarded from each (a race the
	// race detector fails this test for; tracker/udp/client.go:235).
	r.stop()
	pkg2 := publishPath("p2", filepath.Join(src, "share", "a b.txt")) // the same file, alone
	expunge := func(a *catalogapi.Artifact, reason string) {
		t.Helper()
		if err := run(ctx, []string{"admin", "--directory", tn.base, "--key", tn.adminKey, "expunge", a.ID, "--reason", reason}); err != nil {
			t.Fatal(err)
		}
	}
	expunge(pkg, "first copy withdrawn")
	checkBlobRedirect(t, tn, http.MethodGet, inPkg, tn.base+escapedPath(pkg2.InfoHash, "a b.txt"), "a b.txt")
	expunge(pkg2, "second copy withdrawn")
	expunge(a, "CVE-2026-0042")
	for sum, reasons := range map[string][]string{sum: {a.ID, "CVE-2026-0042"}, inPkg: {"first copy withdrawn", "second copy withdrawn"}} {
		resp, body := blobAnswer(t, http.MethodGet, blobURL(tn.base, sum))
		var p problem.Problem
		if err := json.Unmarshal(body, &p); resp.StatusCode != http.StatusGone || err != nil {
			t.Errorf("blob %s after expunge: %s %s, want 410", sum, resp.Status, body)
		}
		for _, reason := range reasons {
			if !strings.Contains(p.Detail, reason) {
				t.Errorf("blob %s after expunge: %q does not say %q", sum, p.Detail, reason)
			}
		}
	}
	if _, _, err := runFetch(ctx, tn, "-o", t.TempDir(), "sha256:"+sum); err == nil || !strings.Contains(err.Error(), "410") {
		t.Errorf("odi fetch of an expunged hash: %v, want the directory's 410", err)
	}
}

// odi fetch sha256:<hex> checks the bytes, wherever the directory sent it: a relay whose
// disk rotted (and which still serves as verified) gets it refused with exit 3, and no
// file under the final name, nor a temporary one, stays.
func TestFetchBlobRefusesBadBytes(t *testing.T) {
	tn := startTestDirectory(t, liarDirectory)
	a := publishSmall(t, tn, "1", 1<<20)
	sum := a.Files[0].SHA256
	liar := lyingRelay(t, tn, a)
	checkBlobRedirect(t, tn, http.MethodGet, sum, blobURL(liar.url, sum), a.Root)
	for _, o := range []string{"", "named.bin"} {
		out := t.TempDir()
		_, stderr, err := runFetch(context.Background(), tn, "-o", filepath.Join(out, o), "sha256:"+sum)
		if codeOf(err) != exitVerify || !strings.Contains(err.Error(), "verification failed") {
			t.Errorf("odi fetch -o %q of bad bytes: %v (exit %d, %s), want verification failed (exit %d)", o, err, codeOf(err), stderr, exitVerify)
		}
		if left, _ := os.ReadDir(out); len(left) != 0 {
			t.Errorf("odi fetch -o %q of bad bytes left %v", o, left)
		}
	}
}
