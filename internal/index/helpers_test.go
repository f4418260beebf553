package index

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"aead.dev/minisign"
)

// t0 is the tests' clock: indexes are issued at t0 and expire a week later.
var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

type testKey struct {
	pub  minisign.PublicKey
	priv minisign.PrivateKey
}

func newKey(tb testing.TB) testKey {
	tb.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return testKey{pub, priv}
}

func hexOf(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}

func testEntry(catalog, name, version string, files ...string) Entry {
	e := Entry{Catalog: catalog, Name: name, Version: version, InfoHash: hexOf("ih"+catalog+name+version, 40), State: StatePublished}
	for i, p := range files {
		e.Files = append(e.Files, File{Path: p, SHA256: hexOf(p+version, 64), Size: int64(100 * (i + 1))})
	}
	return e
}

// testIndex is a small valid index, version 1, issued at t0, not yet signed.
func testIndex() *Index {
	idx := Next(nil, t0, 0)
	idx.Directory = "https://dir.example/"
	idx.Key = "0123456789ABCDEF"
	idx.Put(testEntry("debian", "iso", "12.1", "debian-12.1.iso"))
	idx.Put(testEntry("arch", "iso", "2026.12.01", "arch/arch.iso", "arch/arch.iso.sig"))
	idx.Put(testEntry("debian", "iso", "12.0", "debian-12.0.iso"))
	if err := idx.Expunge("debian", "iso", "12.0", "superseded: <bad> & broken"); err != nil {
		panic(err)
	}
	return idx
}

// signed signs the version after prev (nil for the first) with k, after edit.
func signed(tb testing.TB, k testKey, prev *Index, edit func(*Index)) (*Index, []byte, []byte) {
	tb.Helper()
	var idx *Index
	if prev == nil {
		idx = testIndex()
	} else {
		idx = Next(prev, prev.Issued.Add(time.Hour), 0)
	}
	if edit != nil {
		edit(idx)
	}
	doc, sig, err := Sign(k.priv, idx)
	if err != nil {
		tb.Fatal(err)
	}
	return idx, doc, sig
}

func mustMarshal(tb testing.TB, idx *Index) []byte {
	tb.Helper()
	b, err := Marshal(idx)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return fmt.Sprint(err)
}
