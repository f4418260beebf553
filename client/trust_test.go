package client

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/sign"
)

// trustNet is a directory with a/x/1 to a/x/3 published and an indexer whose index
// (version 2) vouches for a/x/1 and a/x/2 only.
type trustNet struct {
	d     *indexDirectory
	key   minisign.PrivateKey
	pub   minisign.PublicKey
	arts  map[string]*catalogapi.Artifact
	v1    [2][]byte // the index's version 1: document, signature
	state string    // the follower's state file
}

func newTrustNet(t *testing.T) *trustNet {
	t.Helper()
	tn := &trustNet{d: newIndexDirectory(t), arts: map[string]*catalogapi.Artifact{}}
	for _, v := range []string{"1", "2", "3"} {
		tn.arts[v] = tn.d.publishFile("a", "x", v, 40<<10)
	}
	key, pub, api := newIndexerKey(t, tn.d)
	tn.key, tn.pub = key, pub
	tn.d.addIndexer(tn.pub)
	for _, add := range []string{"a/x/1", "a/x/2"} {
		if _, err := SignIndex(t.Context(), api, tn.key, IndexChanges{Add: refs(t, add)}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if tn.v1[0] == nil {
			tn.v1[0], tn.v1[1] = tn.d.served(tn.pub)
		}
	}
	tn.state = filepath.Join(t.TempDir(), "state", "odi", "trust.json")
	return tn
}

// fetch fetches ref over HTTP trusting the indexer's key, at now.
func (tn *trustNet) fetch(t *testing.T, ref string, now time.Time) (*FetchResult, error) {
	t.Helper()
	tr, err := OpenTrust([]minisign.PublicKey{tn.pub}, tn.state, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	return Fetch(t.Context(), anonymous(t, tn.d), r, FetchOptions{Out: t.TempDir(), HTTPOnly: true, StallTimeout: 5 * time.Second, Trust: tr})
}

// TestFetchTrustAccepts: a listed artifact is fetched and verified, the follower state
// records the index, and "latest" is the highest version the index lists, not the
// directory's.
func TestFetchTrustAccepts(t *testing.T) {
	tn := newTrustNet(t)
	for ref, want := range map[string]string{"a/x/1": "a/x/1", "a/x": "a/x/2", "a/x@latest": "a/x/2"} {
		res, err := tn.fetch(t, ref, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if res.Artifact != want || res.Files[0].SHA256 != tn.arts[want[len(want)-1:]].Files[0].SHA256 || res.IndexKey != sign.KeyID(tn.pub.ID()) {
			t.Errorf("%s fetched %s (%+v), want %s", ref, res.Artifact, res.Files, want)
		}
	}
	st, err := index.LoadState(tn.state)
	if err != nil {
		t.Fatal(err)
	}
	if ks, _ := st.Key(tn.pub); ks.Version != 2 {
		t.Errorf("state holds %+v, want version 2", ks)
	}
	if fi, err := os.Stat(filepath.Dir(tn.state)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state folder: %v, %v; want mode 0700", fi.Mode(), err)
	}
}

// TestFetchTrustRefuses is the attack table: each case leaves the directory serving
// something the trusted index does not vouch for, and the fetch fails with ErrUntrusted
// before downloading.
func TestFetchTrustRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ref    string
		attack func(t *testing.T, tn *trustNet) time.Time // returns the fetch's time
		want   []string
		is     error
	}{
		{name: "unlisted", ref: "a/x/3", want: []string{"a/x/3 is not in any index you trust (keys: "}},
		{name: "no index of the key", ref: "a/x/1", attack: func(t *testing.T, tn *trustNet) time.Time {
			tn.d.mu.Lock()
			delete(tn.d.docs, sign.KeyID(tn.pub.ID()))
			tn.d.mu.Unlock()
			return time.Now()
		}, want: []string{"not in any index you trust", "the directory has no index of key"}},
		{name: "expired", ref: "a/x/1", attack: func(t *testing.T, tn *trustNet) time.Time {
			return time.Now().Add(index.DefaultTTL + time.Hour)
		}, want: []string{"a/x/1 is not in any index you trust", "index of key ", " expired at "}},
		{name: "rollback", ref: "a/x/1", attack: func(t *testing.T, tn *trustNet) time.Time {
			tn.acceptCurrent(t)
			tn.d.serveIndex(tn.pub, tn.v1[0], tn.v1[1])
			return time.Now()
		}, is: index.ErrRollback, want: []string{"version 1 is older than version 2"}},
		{name: "equivocation", ref: "a/x/1", attack: func(t *testing.T, tn *trustNet) time.Time {
			tn.acceptCurrent(t)
			doc, _ := tn.d.served(tn.pub)
			idx, err := index.Parse(doc)
			if err != nil {
				t.Fatal(err)
			}
			idx.Issued = idx.Issued.Add(-time.Second) // another version 2, validly signed
			doc, sig, err := index.Sign(tn.key, idx)
			if err != nil {
				t.Fatal(err)
			}
			tn.d.serveIndex(tn.pub, doc, sig)
			t.Cleanup(func() {
				tn.d.mu.Lock()
				defer tn.d.mu.Unlock()
				sum := sha256.Sum256(doc)
				if len(tn.d.reports) != 1 || len(tn.d.reports[0].Equivocations) != 1 ||
					tn.d.reports[0].Equivocations[0].Version != 2 || tn.d.reports[0].Equivocations[0].Served != hex.EncodeToString(sum[:]) {
					t.Errorf("reports to the directory: %+v, want the equivocation of version 2 (served %x)", tn.d.reports, sum)
				}
			})
			return time.Now()
		}, is: index.ErrEquivocation},
		{name: "mix-and-match", ref: "a/x/1", attack: func(t *testing.T, tn *trustNet) time.Time {
			// a/x/1's name with a/x/3's torrent and bytes, consistent as far as the
			// directory goes.
			tn.d.mu.Lock()
			defer tn.d.mu.Unlock()
			a3 := *tn.d.arts["a/x/3"]
			a3.ID, a3.Version, a3.Root = "a/x/1", "1", tn.arts["1"].Root
			tn.d.arts["a/x/1"] = &a3
			tn.d.torrents["a/x/1"] = tn.d.torrents["a/x/3"]
			tn.d.bytes["a/x/1/"] = tn.d.bytes["a/x/3/"]
			return time.Now()
		}, is: index.ErrMismatch, want: []string{"a/x/1: artifact does not match its index entry: infohash "}},
		{name: "expunged by the index", ref: "a/x/2", attack: func(t *testing.T, tn *trustNet) time.Time {
			api := tn.signer(t)
			if _, err := SignIndex(t.Context(), api, tn.key, IndexChanges{Expunge: refs(t, "a/x/2"), Reason: "bad build"}, time.Now()); err != nil {
				t.Fatal(err)
			}
			return time.Now()
		}, is: index.ErrExpunged, want: []string{"bad build"}},
		{name: "revoked", ref: "a/x/1", attack: func(t *testing.T, tn *trustNet) time.Time {
			st, err := index.LoadState(tn.state)
			if err != nil {
				t.Fatal(err)
			}
			doc, sig, err := index.SignRevocation(tn.key, tn.pub, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Revoke(doc, sig); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(tn.state), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := st.Save(tn.state); err != nil {
				t.Fatal(err)
			}
			return time.Now()
		}, want: []string{"not in any index you trust", "is revoked"}},
		{name: "revoked by its own index", ref: "a/x/1", attack: func(t *testing.T, tn *trustNet) time.Time {
			if _, err := SignIndex(t.Context(), tn.signer(t), tn.key, IndexChanges{Revoke: true}, time.Now()); err != nil {
				t.Fatal(err)
			}
			return time.Now()
		}, want: []string{"not in any index you trust", "revoked itself in version 3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTrustNet(t)
			now := time.Now()
			if tc.attack != nil {
				now = tc.attack(t, tn)
			}
			out := t.TempDir()
			tr, err := OpenTrust([]minisign.PublicKey{tn.pub}, tn.state, func() time.Time { return now })
			if err != nil {
				t.Fatal(err)
			}
			_, err = Fetch(t.Context(), anonymous(t, tn.d), ref(t, tc.ref), FetchOptions{Out: out, HTTPOnly: true, StallTimeout: 5 * time.Second, Trust: tr})
			if !errors.Is(err, ErrUntrusted) || tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("fetch %s: %v, want ErrUntrusted (and %v)", tc.ref, err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("fetch %s: %v, want it to say %q", tc.ref, err, w)
				}
			}
			if left, _ := os.ReadDir(out); len(left) != 0 {
				t.Errorf("fetch %s left %d entries in the output folder", tc.ref, len(left))
			}
		})
	}
}

// acceptCurrent makes the follower accept the index the directory serves now.
func (tn *trustNet) acceptCurrent(t *testing.T) {
	t.Helper()
	if _, err := tn.fetch(t, "a/x/1", time.Now()); err != nil {
		t.Fatal(err)
	}
}

func (tn *trustNet) signer(t *testing.T) *apiclient.Client {
	t.Helper()
	api := anonymous(t, tn.d)
	api.Signer = sign.NewSigner(tn.key, nil)
	return api
}
