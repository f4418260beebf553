package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/sign"
)

// testCatalog opens a catalog in dir with one static publisher, "pub", scoped to catalog
// "test", whose key is in dir/../pub.key.
func testCatalog(t *testing.T, dir string) *Catalog {
	t.Helper()
	keyPath := filepath.Join(filepath.Dir(dir), "pub.key")
	if _, err := os.Stat(keyPath); err != nil {
		if _, err := sign.GenerateKeyFiles(keyPath); err != nil {
			t.Fatal(err)
		}
	}
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.PublicURL = "http://127.0.0.1:1"
	cfg.Publishers = []string{"pub:test=" + keyPath + ".pub"}
	cfg.MinFreeSpace = 0
	c, err := New(context.Background(), cfg, Deps{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testPrincipal is the static publisher, as verify returns it for a request it signed.
func (c *Catalog) testPrincipal() *principal {
	key, err := sign.LoadPrivateKey(filepath.Join(filepath.Dir(c.cfg.DataDir), "pub.key"))
	if err != nil {
		panic(err)
	}
	req := httptest.NewRequest("POST", c.cfg.PublicURL+"/api/v1/uploads/x/commit", nil)
	if err := sign.NewSigner(key, nil).SignBody(req, nil); err != nil {
		panic(err)
	}
	claims, err := sign.ParseRequest(req.Header)
	if err != nil {
		panic(err)
	}
	return &principal{publisher: &c.static[0], key: claims.PublicKey, fingerprint: sign.Fingerprint(claims.PublicKey),
		keyID: c.static[0].KeyID, claims: claims, uri: req.URL.RequestURI()}
}

// testArtifact returns a manifest and the bytes of its files.
func testArtifact(version string, contents ...string) (*manifest.Manifest, [][]byte) {
	m := &manifest.Manifest{Catalog: "test", Name: "thing", Version: version, Root: "thing.bin"}
	var data [][]byte
	if len(contents) == 1 {
		m.Files = []manifest.File{{Size: int64(len(contents[0]))}}
	} else {
		m.Root = "thing"
		for i, s := range contents {
			m.Files = append(m.Files, manifest.File{Path: string(rune('a'+i)) + ".txt", Size: int64(len(s))})
		}
	}
	for i, s := range contents {
		sum := sha256.Sum256([]byte(s))
		m.Files[i].SHA256 = hex.EncodeToString(sum[:])
		data = append(data, []byte(s))
	}
	return m, data
}

func mustPublish(t *testing.T, c *Catalog, m *manifest.Manifest, data [][]byte) *Artifact {
	t.Helper()
	a, err := tryPublish(c, m, data)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func tryPublish(c *Catalog, m *manifest.Manifest, data [][]byte) (*Artifact, error) {
	ctx := context.Background()
	up, err := c.declare(c.testPrincipal(), m.Declaration())
	if err != nil {
		return nil, err
	}
	if _, err := c.receive(ctx, up.ID, bytes.NewReader(bytes.Join(data, nil)), -1, nil); err != nil {
		return nil, err
	}
	signed, _ := json.Marshal(m)
	return c.commit(ctx, c.testPrincipal(), up.ID, signed)
}

func TestPublishReopen(t *testing.T) {
	dir := t.TempDir()
	c := testCatalog(t, dir)
	m, data := testArtifact("1.0", "alpha", "beta", "")
	a := mustPublish(t, c, m, data)
	if a.State != catalogapi.Published || a.Size != 9 || len(a.Files) != 3 {
		t.Fatalf("published %+v", a)
	}
	c.Close()

	c2 := testCatalog(t, dir)
	got, err := c2.Artifact("test", "thing", "1.0")
	if err != nil {
		t.Fatal(err)
	}
	if got.InfoHash != a.InfoHash || !got.Manifest.Equal(&a.Manifest) || !bytes.Equal(got.Info, a.Info) {
		t.Fatalf("after reopen: %+v, want %+v", got.Manifest, a.Manifest)
	}
	if !bytes.Equal(got.Signed.Manifest, a.Signed.Manifest) {
		t.Fatal("the signed manifest did not survive a reopen")
	}
	for i := range data {
		f, err := c2.OpenOrigin(got.InfoHash, got.LocalPath(i))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if !bytes.Equal(b, data[i]) {
			t.Fatalf("origin file %d = %q, want %q", i, b, data[i])
		}
	}
}

func TestNothingVisibleBeforeCommit(t *testing.T) {
	c := testCatalog(t, t.TempDir())
	m, data := testArtifact("1.0", "content")
	up, err := c.declare(c.testPrincipal(), m.Declaration())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.receive(context.Background(), up.ID, bytes.NewReader(data[0]), int64(len(data[0])), nil); err != nil {
		t.Fatal(err)
	}
	if arts := c.Artifacts("", ""); len(arts) != 0 {
		t.Fatalf("received but uncommitted artifact is listed: %v", arts)
	}
	if _, err := c.Artifact("test", "thing", "1.0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Artifact = %v, want ErrNotFound", err)
	}
	// A second declaration of the same artifact waits for the first to finish.
	if _, err := c.declare(c.testPrincipal(), m.Declaration()); !errors.Is(err, ErrExists) {
		t.Fatalf("concurrent declare = %v, want ErrExists", err)
	}
}

func TestCommitRefusesOtherBytes(t *testing.T) {
	dir := t.TempDir()
	c := testCatalog(t, dir)
	m, _ := testArtifact("1.0", "what was signed")
	_, err := tryPublish(c, m, [][]byte{[]byte("what was sent!!")})
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("publish = %v, want ErrDigestMismatch", err)
	}
	assertEmpty(t, filepath.Join(dir, "staging"))
	assertEmpty(t, filepath.Join(dir, "origin"))
	// The name is free again.
	m, data := testArtifact("1.0", "what was signed")
	mustPublish(t, c, m, data)
}

func TestReceiveTruncatedLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	c := testCatalog(t, dir)
	m, data := testArtifact("1.0", "0123456789")
	up, err := c.declare(c.testPrincipal(), m.Declaration())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.receive(context.Background(), up.ID, bytes.NewReader(data[0][:4]), -1, nil)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("receive = %v, want ErrInvalid", err)
	}
	assertEmpty(t, filepath.Join(dir, "staging"))
	if _, err := c.receive(context.Background(), up.ID, bytes.NewReader(data[0]), -1, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("receive after failure = %v, want ErrNotFound", err)
	}
}

func TestDuplicates(t *testing.T) {
	c := testCatalog(t, t.TempDir())
	m, data := testArtifact("1.0", "same bytes")
	mustPublish(t, c, m, data)
	if _, err := tryPublish(c, m, data); !errors.Is(err, ErrExists) {
		t.Fatalf("same version again = %v, want ErrExists", err)
	}
	m2, data2 := testArtifact("2.0", "same bytes")
	if _, err := tryPublish(c, m2, data2); !errors.Is(err, ErrDuplicateContent) {
		t.Fatalf("same content, other version = %v, want ErrDuplicateContent", err)
	}
}

func TestExpunge(t *testing.T) {
	dir := t.TempDir()
	c := testCatalog(t, dir)
	m, data := testArtifact("1.0", "bad release")
	a := mustPublish(t, c, m, data)
	if _, err := c.Expunge(context.Background(), a.ID(), ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expunge without reason = %v, want ErrInvalid", err)
	}
	if _, err := c.Expunge(context.Background(), a.ID(), "CVE-2026-0001"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expunge(context.Background(), a.ID(), "again"); !errors.Is(err, ErrExpunged) {
		t.Fatalf("second expunge = %v, want ErrExpunged", err)
	}
	if _, err := c.OpenOrigin(a.InfoHash, a.Root); !errors.Is(err, ErrExpunged) {
		t.Fatalf("OpenOrigin = %v, want ErrExpunged", err)
	}
	assertEmpty(t, filepath.Join(dir, "origin"))
	c.Close()

	c2 := testCatalog(t, dir)
	got, err := c2.Artifact("test", "thing", "1.0")
	if err != nil || got.State != catalogapi.Expunged || got.Reason != "CVE-2026-0001" {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	if _, err := tryPublish(c2, m, data); !errors.Is(err, ErrExists) {
		t.Fatalf("republish of a tombstone = %v, want ErrExists", err)
	}
}

func TestOpenRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	c := testCatalog(t, dir)
	m, data := testArtifact("1.0", "kept")
	a := mustPublish(t, c, m, data)
	c.Close()
	// What crashes leave: a half upload, an origin copy whose row never landed, trash.
	for _, p := range []string{"staging/0123/thing.bin", "origin/" + "ab" + a.InfoHash.HexString()[2:] + "/x", "trash/dead/y"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c2 := testCatalog(t, dir)
	assertEmpty(t, filepath.Join(dir, "staging"))
	assertEmpty(t, filepath.Join(dir, "trash"))
	entries, _ := os.ReadDir(filepath.Join(dir, "origin"))
	if len(entries) != 1 || entries[0].Name() != a.InfoHash.HexString() {
		t.Fatalf("origin holds %v, want only the published artifact", entries)
	}
	if _, err := c2.OpenOrigin(a.InfoHash, a.Root); err != nil {
		t.Fatal(err)
	}
}

func TestDeclareLimits(t *testing.T) {
	c := testCatalog(t, t.TempDir())
	m, _ := testArtifact("1.0", "x")
	m.Files[0].Size = int64(c.cfg.MaxArtifactSize) + 1
	if _, err := c.declare(c.testPrincipal(), m.Declaration()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized declare = %v, want ErrTooLarge", err)
	}
	m.Files[0].Size = 1
	scoped := c.testPrincipal()
	scoped.publisher = &catalogapi.Publisher{Name: "other", Catalogs: []string{"elsewhere"}}
	if _, err := c.declare(scoped, m.Declaration()); !errors.Is(err, ErrForbidden) {
		t.Fatalf("declare outside scope = %v, want ErrForbidden", err)
	}
	if _, err := c.declare(&principal{admin: true}, m.Declaration()); !errors.Is(err, ErrForbidden) {
		t.Fatalf("declare by an admin key = %v, want ErrForbidden", err)
	}
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("%s holds %d entries, want none", dir, len(entries))
	}
}
