package index

import (
	"fmt"
	"testing"
	"time"
)

// largeEntries are n artifacts of 1 to 3 files, with names and paths of realistic
// length, in order.
func largeEntries(n int) []Entry {
	entries := make([]Entry, 0, n)
	perCatalog := n / 10
	for i := range n {
		c, j := i/perCatalog, i%perCatalog
		e := Entry{
			Catalog: fmt.Sprintf("catalog-%02d", c), Name: fmt.Sprintf("artifact-name-%07d", j), Version: "1.2.3",
			InfoHash: hexOf(fmt.Sprint("ih", i), 40),
		}
		root := fmt.Sprintf("artifact-name-%07d-1.2.3", j)
		switch files := 1 + i%3; files {
		case 1:
			e.Files = []File{{Path: root + ".tar.gz", SHA256: hexOf(fmt.Sprint("f", i), 64), Size: int64(i) * 1000}}
		default:
			for f := range files {
				e.Files = append(e.Files, File{Path: fmt.Sprintf("%s/file-%d.bin", root, f), SHA256: hexOf(fmt.Sprint("f", i, f), 64), Size: int64(i) * 100})
			}
		}
		entries = append(entries, e)
	}
	return entries
}

// buildLarge is what odi index sign does with the artifacts it read: Next, then Put each.
func buildLarge(entries []Entry) *Index {
	idx := Next(nil, t0, 0)
	idx.Directory = "https://directory.example.org/"
	for _, e := range entries {
		idx.Put(e)
	}
	return idx
}

// BenchmarkSign100k builds, marshals and signs an index of 100,000 artifacts. Making up
// the artifacts (the part a real signer reads from its catalog) is not timed.
func BenchmarkSign100k(b *testing.B) {
	k := newKey(b)
	entries := largeEntries(100_000)
	var size int
	for b.Loop() {
		doc, _, err := Sign(k.priv, buildLarge(entries))
		if err != nil {
			b.Fatal(err)
		}
		size = len(doc)
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB/index")
}

func BenchmarkVerify100k(b *testing.B) {
	k := newKey(b)
	doc, sig, err := Sign(k.priv, buildLarge(largeEntries(100_000)))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		idx, err := Verify(k.pub, doc, sig, t0.Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		if len(idx.Entries) != 100_000 {
			b.Fatalf("%d entries", len(idx.Entries))
		}
	}
}
