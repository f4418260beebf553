package catalog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/opendist/odi/internal/manifest"
)

// writeLocal writes data as local files and returns their paths.
func writeLocal(t *testing.T, data [][]byte) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, d := range data {
		p := filepath.Join(dir, string(rune('a'+i)))
		if err := os.WriteFile(p, d, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestPublishLocal(t *testing.T) {
	dir := t.TempDir()
	c := testCatalog(t, dir)
	ctx := context.Background()
	evidence := SignedManifest{Manifest: []byte("listing"), KeyID: "0123456789ABCDEF", Signature: []byte("sig")}

	// Bytes other than the signed ones: nothing is published, nothing is left.
	m, _ := testArtifact("1.0", "what was signed")
	if _, err := c.PublishLocal(ctx, m, writeLocal(t, [][]byte{[]byte("what was sent!!")}), "origin:test", evidence); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("PublishLocal = %v, want ErrDigestMismatch", err)
	}
	assertEmpty(t, filepath.Join(dir, "staging"))
	assertEmpty(t, filepath.Join(dir, "origin"))

	// The right bytes: published as an upload is, with the evidence kept, the files left.
	m, data := testArtifact("1.0", "one", "two")
	paths := writeLocal(t, data)
	a, err := c.PublishLocal(ctx, m, paths, "origin:test", evidence)
	if err != nil {
		t.Fatal(err)
	}
	if a.Publisher != "origin:test" || string(a.Signed.Manifest) != "listing" || a.InfoHash != mustPublishedHash(t, m, data) {
		t.Errorf("artifact %+v", a)
	}
	f, err := c.OpenOrigin(a.InfoHash, "thing/b.txt")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the local file %s was moved: %v", p, err)
		}
	}

	// Never twice, and never after an expunge.
	if _, err := c.PublishLocal(ctx, m, paths, "origin:test", evidence); !errors.Is(err, ErrExists) {
		t.Errorf("PublishLocal again = %v, want ErrExists", err)
	}
	if _, err := c.Expunge(ctx, m.ID(), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PublishLocal(ctx, m, paths, "origin:test", evidence); !errors.Is(err, ErrExists) {
		t.Errorf("PublishLocal after an expunge = %v, want ErrExists", err)
	}
	// A size that is not the file's.
	m2, data2 := testArtifact("2.0", "three")
	m2.Files[0].Size++
	if _, err := c.PublishLocal(ctx, m2, writeLocal(t, data2), "origin:test", evidence); !errors.Is(err, ErrInvalid) {
		t.Errorf("PublishLocal with a wrong size = %v, want ErrInvalid", err)
	}
}

// mustPublishedHash is the infohash an upload of m's files gets, from a second catalog.
func mustPublishedHash(t *testing.T, m *manifest.Manifest, data [][]byte) [20]byte {
	t.Helper()
	return mustPublish(t, testCatalog(t, filepath.Join(t.TempDir(), "d")), m, data).InfoHash
}
