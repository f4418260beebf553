package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/sign"
)

// odi admin indexers against a directory with a configured indexer and a key of its own,
// and the indexes it serves.
func TestAdminIndexers(t *testing.T) {
	ctx := context.Background()
	keys := newKeys(t, "own", "config", "added")
	tn := startTestDirectory(t, func(c *DirectoryConfig) {
		c.IndexKey = keys[0]
		c.Indexers = []string{"reviewers=" + keys[1] + ".pub"}
	})
	admin := []string{"admin", "--directory", tn.base, "--key", tn.adminKey, "indexers"}
	out, err := runOdi(ctx, append(admin, "add", "late", keys[2]+".pub")...)
	added, _ := sign.ParsePublicKey(keys[2] + ".pub")
	addedID := sign.KeyID(added.ID())
	if err != nil || !strings.Contains(out, "indexer late added (key "+addedID+")") {
		t.Fatalf("indexers add: %q, %v", out, err)
	}
	if _, err := runOdi(ctx, append(admin, "add", "again", keys[2]+".pub")...); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("indexers add of a key already added: %v, want a 409", err)
	}
	out, err = runOdi(ctx, append(admin, "list")...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"reviewers", "active (config)", "directory", "own", "late", addedID} {
		if !strings.Contains(out, want) {
			t.Errorf("indexers list lacks %q:\n%s", want, out)
		}
	}
	if _, err := runOdi(ctx, append(admin, "revoke", "late")...); err != nil {
		t.Fatal(err)
	}
	if _, err := runOdi(ctx, append(admin, "revoke", "reviewers")...); err == nil || !strings.Contains(err.Error(), "config") {
		t.Fatalf("revoke of a configured indexer: %v, want refused", err)
	}
	out, err = runOdi(ctx, append(admin, "list", "--json")...)
	var list struct{ Indexers []catalogapi.Indexer }
	if err != nil || strictJSON(out, &list) != nil || len(list.Indexers) != 3 || !list.Indexers[2].Revoked || !list.Indexers[1].Own {
		t.Fatalf("indexers list --json: %v, %s", err, out)
	}

	// The directory's own index is signed at start and listed.
	var indexes catalogapi.IndexList
	waitFor(t, 10*time.Second, "the directory's own index listed", func() bool {
		resp, err := http.Get(tn.base + "/indexes/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&indexes) == nil && len(indexes.Indexes) == 1
	})
	if own := indexes.Indexes[0]; own.Name != "directory" || own.Version != 1 || own.URL != "/indexes/"+list.Indexers[1].Key+"/index.json" {
		t.Fatalf("indexes: %+v", indexes)
	}
	resp, err := http.Get(tn.base + "/indexes/" + addedID + "/index.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("an index nobody uploaded: %d %s, want a 404 problem", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
