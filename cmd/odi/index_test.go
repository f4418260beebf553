package main

import (
	"strings"
	"testing"
)

// TestIndexTrustWithDirectory runs odi index sign and show against a directory that
// hosts indexes, then odi fetch --trust: the version the index lists is fetched (and
// "latest" is the index's highest, not the directory's), and one it does not list is
// refused with exit code 3.
func TestIndexTrustWithDirectory(t *testing.T) {
	indexer := newKeys(t, "indexer")[0]
	tn := startTestDirectory(t, func(c *DirectoryConfig) { c.Indexers = []string{"idx=" + indexer + ".pub"} })
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	a1 := publishPackage(t, tn, "1.0")
	a2 := publishSmall(t, tn, "2.0", 1000)
	odiOutput(t, "index", "sign", "--directory", tn.base, "--key", indexer, "--add", a1.ID, "--verify-bytes")
	show := odiOutput(t, "index", "show", "--directory", tn.base, "--key", indexer+".pub")
	for _, want := range []string{"  version  1\n", "new in the catalog since: 1\n  " + a2.ID + "\n"} {
		if !strings.Contains(show, want) {
			t.Errorf("odi index show printed\n%s\nwithout %q", show, want)
		}
	}

	out := t.TempDir()
	res, _, err := runFetch(t.Context(), tn, a1.Catalog+"/"+a1.Name, "--trust", indexer+".pub", "--http-only", "-o", out)
	if err != nil {
		t.Fatal(err)
	}
	checkFetched(t, a1, out, res)
	_, _, err = runFetch(t.Context(), tn, a2.ID, "--trust", indexer+".pub", "--http-only", "-o", t.TempDir())
	if code := codeOf(err); code != exitVerify || !strings.Contains(err.Error(), a2.ID+" is not in any index you trust") {
		t.Fatalf("odi fetch --trust of an unlisted artifact: exit %d, %v; want %d", code, err, exitVerify)
	}
}
