package main

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/sign"
)

// attackNet is a real directory behind a path that can lie about its indexes (the
// proxy answers chosen /indexes/ paths in its stead), an indexer key and its successor
// registered there, two small artifacts, a relay following the indexer through that
// path, and a user's follower state for odi fetch --trust.
type attackNet struct {
	*testNet
	indexer, next string // private key files; the public keys are beside them (.pub)
	pub           minisign.PublicKey
	id            string // the indexer's key id, as in /indexes/<id>/
	a1, a2        *catalogapi.Artifact
	relay         *testRelay
	state         string // odi fetch's follower state

	mu   sync.Mutex
	lies map[string]http.HandlerFunc // by path
	hits map[string]int              // requests under /indexes/, by path
}

// attackFollowInterval is the relay's poll of the indexes, its minimum; heartbeats
// come every 200 ms (relayDirectory).
const attackFollowInterval = time.Second

func newAttackNet(t *testing.T) *attackNet {
	t.Helper()
	keys := newKeys(t, "indexer", "next")
	an := &attackNet{indexer: keys[0], next: keys[1], lies: map[string]http.HandlerFunc{}, hits: map[string]int{}}
	tn, proxy := startProxiedDirectory(t, relayDirectory, func(c *DirectoryConfig) {
		c.Indexers = []string{"idx=" + an.indexer + ".pub", "next=" + an.next + ".pub"}
	})
	proxy.indexes = an.answer
	an.testNet = tn
	var err error
	if an.pub, err = sign.ParsePublicKey(an.indexer + ".pub"); err != nil {
		t.Fatal(err)
	}
	an.id = sign.KeyID(an.pub.ID())
	an.a1 = publishSmall(t, tn, "1", 40<<10)
	an.a2 = publishSmall(t, tn, "2", 30<<10)
	an.relay = startTestRelay(t, tn, func(c *RelayConfig) {
		c.Follow, c.FollowInterval = []string{an.indexer + ".pub"}, attackFollowInterval
	})
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	an.state = filepath.Join(state, "odi", "trust.json")
	return an
}

// answer is the proxy's hook: a lie for the path if there is one.
func (an *attackNet) answer(w http.ResponseWriter, r *http.Request) bool {
	an.mu.Lock()
	an.hits[r.URL.Path]++
	lie := an.lies[r.URL.Path]
	an.mu.Unlock()
	if lie == nil {
		return false
	}
	lie(w, r)
	return true
}

func indexURLPath(keyID string) string { return "/indexes/" + keyID + "/index.json" }

// lie has the path answer GET /indexes/<keyID>/index.json with doc and its .minisig
// with sig, whatever the directory holds.
func (an *attackNet) lie(keyID string, doc, sig []byte) {
	an.lieBody(keyID, func(w http.ResponseWriter, _ *http.Request) { w.Write(doc) })
	an.mu.Lock()
	an.lies[indexURLPath(keyID)+".minisig"] = func(w http.ResponseWriter, _ *http.Request) { w.Write(sig) }
	an.mu.Unlock()
}

// lieBody has the path answer the index document of keyID with serve.
func (an *attackNet) lieBody(keyID string, serve http.HandlerFunc) {
	an.mu.Lock()
	defer an.mu.Unlock()
	an.lies[indexURLPath(keyID)] = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		serve(w, r)
	}
}

// served is the index document of keyID and its signature, as the path serves them.
func (an *attackNet) served(t *testing.T, keyID string) (doc, sig []byte) {
	t.Helper()
	_, doc = get(t, an.base+indexURLPath(keyID))
	_, sig = get(t, an.base+indexURLPath(keyID)+".minisig")
	return doc, sig
}

// settle waits (bounded) until the relay polled the index of keyID twice more, so that
// what it made of the answer had a poll and a heartbeat to show.
func (an *attackNet) settle(t *testing.T, keyID string) {
	t.Helper()
	path := indexURLPath(keyID)
	an.mu.Lock()
	from := an.hits[path]
	an.mu.Unlock()
	waitFor(t, 10*attackFollowInterval, "the relay polls "+path+" twice", func() bool {
		an.mu.Lock()
		defer an.mu.Unlock()
		return an.hits[path] >= from+2
	})
	time.Sleep(500 * time.Millisecond)
}

// holds reports whether the relay holds a: the directory lists it as holding it,
// verified, and its bytes are in the relay's data folder.
func (an *attackNet) holds(t *testing.T, a *catalogapi.Artifact) bool {
	return an.listed(t, a) && an.onDisk(a)
}

// lacks reports whether the relay holds nothing of a: the directory does not list it,
// and no bytes of it are in the relay's data folder.
func (an *attackNet) lacks(t *testing.T, a *catalogapi.Artifact) bool {
	return !an.listed(t, a) && !an.onDisk(a)
}

func (an *attackNet) listed(t *testing.T, a *catalogapi.Artifact) bool {
	for _, h := range relayView(t, an.testNet, an.relay.id).Holdings {
		if h.InfoHash == a.InfoHash && h.Verified {
			return true
		}
	}
	return false
}

func (an *attackNet) onDisk(a *catalogapi.Artifact) bool {
	_, err := os.Stat(filepath.Join(an.relay.data, "torrents", a.InfoHash))
	return err == nil
}

// waitHolds waits (bounded) until the relay holds every artifact of arts.
func (an *attackNet) waitHolds(t *testing.T, within time.Duration, arts ...*catalogapi.Artifact) {
	t.Helper()
	for _, a := range arts {
		waitFor(t, within, "the relay holds "+a.ID, func() bool { return an.holds(t, a) })
	}
}

// waitDrops waits (bounded) until the relay holds nothing of a.
func (an *attackNet) waitDrops(t *testing.T, a *catalogapi.Artifact) {
	t.Helper()
	waitFor(t, 10*time.Second, "the relay drops "+a.ID, func() bool { return an.lacks(t, a) })
}

// checkHolds checks, now, that the relay holds held and nothing of notHeld.
func (an *attackNet) checkHolds(t *testing.T, held []*catalogapi.Artifact, notHeld ...*catalogapi.Artifact) {
	t.Helper()
	for _, a := range held {
		if !an.holds(t, a) {
			t.Errorf("the relay no longer holds %s (listed %v, on disk %v)", a.ID, an.listed(t, a), an.onDisk(a))
		}
	}
	for _, a := range notHeld {
		if !an.lacks(t, a) {
			t.Errorf("the relay holds %s (listed %v, on disk %v)", a.ID, an.listed(t, a), an.onDisk(a))
		}
	}
}

// restartRelay stops the relay and starts it again on the same data folder and key;
// between the two, between(data folder) runs.
func (an *attackNet) restartRelay(t *testing.T, between func(data string)) {
	t.Helper()
	cfg := an.relay.cfg
	cfg.Listen = an.relay.ln.Addr().String() // back at its public URL
	an.relay.stop()
	between(an.relay.data)
	an.relay = runTestRelay(t, cfg)
}

// fetchOK runs odi fetch --trust <indexer> of a and checks that its bytes landed.
func (an *attackNet) fetchOK(t *testing.T, a *catalogapi.Artifact) {
	t.Helper()
	out := t.TempDir()
	res, _, err := runFetch(t.Context(), an.testNet, a.ID, "--trust", an.indexer+".pub", "--http-only", "-o", out)
	if err != nil {
		t.Fatalf("odi fetch --trust %s: %v", a.ID, err)
	}
	checkFetched(t, a, out, res)
}

// fetchRefused runs odi fetch --trust <indexer> of ref and checks that it exits with
// exitVerify, saying each of want, and that nothing landed.
func (an *attackNet) fetchRefused(t *testing.T, ref string, want ...string) {
	t.Helper()
	out := t.TempDir()
	_, _, err := runFetch(t.Context(), an.testNet, ref, "--trust", an.indexer+".pub", "--http-only", "-o", out)
	if code := codeOf(err); code != exitVerify {
		t.Fatalf("odi fetch --trust %s: exit %d, %v; want %d", ref, code, err, exitVerify)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("odi fetch --trust %s: %v; want it to say %q", ref, err, w)
		}
	}
	if left, _ := os.ReadDir(out); len(left) != 0 {
		t.Errorf("odi fetch --trust %s left %d entries in the output folder", ref, len(left))
	}
}

// endless writes filler until the reader hangs up; with limit > 0, it declares and
// writes that many bytes instead.
func endless(limit int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if limit > 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(limit, 10))
		}
		buf := []byte(strings.Repeat(" ", 64<<10))
		for sent := int64(0); limit == 0 || sent < limit; sent += int64(len(buf)) {
			if limit > 0 {
				buf = buf[:min(int64(len(buf)), limit-sent)]
			}
			if _, err := w.Write(buf); err != nil || r.Context().Err() != nil {
				return
			}
		}
	}
}

// TestTrustAttacks is issue 15's attack table, after the classes go-tuf's updater tests
// cover: per row, a real directory and a relay following an indexer key through a path
// that lies about indexes, and odi fetch --trust in this process. Each row checks what
// the relay holds afterwards and what odi fetch does.
func TestTrustAttacks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		attack func(t *testing.T, an *attackNet)
	}{
		{"rollback", func(t *testing.T, an *attackNet) {
			v1 := putIndex(t, an.testNet, an.indexer, nil, indexEntry(an.a1))
			doc1, sig1 := an.served(t, an.id)
			putIndex(t, an.testNet, an.indexer, v1, indexEntry(an.a1), indexEntry(an.a2))
			an.waitHolds(t, 30*time.Second, an.a1, an.a2)
			an.fetchOK(t, an.a2)
			// The path serves version 1 again: version 2 (with a2) stays with both.
			an.lie(an.id, doc1, sig1)
			an.settle(t, an.id)
			an.checkHolds(t, []*catalogapi.Artifact{an.a1, an.a2})
			an.fetchRefused(t, an.a1.ID, "rollback", "version 1 is older than version 2")
		}},
		{"freeze", func(t *testing.T, an *attackNet) {
			// The relay is already polling: the short-lived version 1 reaches it at once.
			v1 := index.Next(nil, time.Now(), 6*time.Second)
			v1.Directory = an.base
			v1.Put(indexEntry(an.a1))
			uploadIndex(t, an.testNet, an.indexer, v1)
			an.waitHolds(t, time.Until(v1.Expires), an.a1)
			an.fetchOK(t, an.a1)
			// The path keeps serving version 1 and hides version 2, which lists a2 too.
			doc1, sig1 := an.served(t, an.id)
			an.lie(an.id, doc1, sig1)
			putIndex(t, an.testNet, an.indexer, v1, indexEntry(an.a1), indexEntry(an.a2))
			time.Sleep(time.Until(v1.Expires))
			an.waitDrops(t, an.a1)
			an.checkHolds(t, nil, an.a2)
			an.fetchRefused(t, an.a1.ID, "is not in any index you trust", "index of key "+an.id+" expired at "+v1.Expires.Format(time.RFC3339))
		}},
		{"equivocation", func(t *testing.T, an *attackNet) {
			v1 := putIndex(t, an.testNet, an.indexer, nil, indexEntry(an.a1))
			an.waitHolds(t, 30*time.Second, an.a1)
			an.fetchOK(t, an.a1)
			// Another version 1, validly signed, listing a2 too.
			other := *v1
			other.Issued, other.Entries = v1.Issued.Add(-time.Second), slices.Clone(v1.Entries)
			other.Put(indexEntry(an.a2))
			doc, sig := signIndex(t, an.indexer, &other)
			an.lie(an.id, doc, sig)
			an.settle(t, an.id)
			an.checkHolds(t, []*catalogapi.Artifact{an.a1}, an.a2)
			an.fetchRefused(t, an.a2.ID, "equivocation", "signed two different documents as version 1")
		}},
		{"wrong key", func(t *testing.T, an *attackNet) {
			v1 := putIndex(t, an.testNet, an.indexer, nil, indexEntry(an.a1))
			an.waitHolds(t, 30*time.Second, an.a1)
			an.fetchOK(t, an.a1)
			// Version 2, listing a2 too, signed by another key, at the followed key's URL.
			v2 := index.Next(v1, time.Now(), 0)
			v2.Put(indexEntry(an.a2))
			mallory := newKeys(t, "mallory")[0]
			malloryPub, err := sign.ParsePublicKey(mallory + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			doc, sig := signIndex(t, mallory, v2)
			an.lie(an.id, doc, sig)
			an.settle(t, an.id)
			an.checkHolds(t, []*catalogapi.Artifact{an.a1}, an.a2)
			an.fetchRefused(t, an.a2.ID, "index of key "+an.id, "wrong key: signed by key "+sign.KeyID(malloryPub.ID())+", not "+an.id)
		}},
		{"revoked key", func(t *testing.T, an *attackNet) {
			v1 := putIndex(t, an.testNet, an.indexer, nil, indexEntry(an.a1))
			an.waitHolds(t, 30*time.Second, an.a1)
			an.fetchOK(t, an.a1)
			// The key's last word reaches followers as every index does, through the
			// directory (odi index sign --revoke): they refuse the key, its entries too.
			last := index.Next(v1, time.Now(), 0)
			last.Revoked = true
			uploadIndex(t, an.testNet, an.indexer, last)
			an.waitDrops(t, an.a1)
			an.fetchRefused(t, an.a1.ID, "is not in any index you trust", "revoked itself in version 2")
			// A directory serving the version before it changes nothing (the relay no
			// longer asks for the key's index at all).
			doc, sig := signIndex(t, an.indexer, v1)
			an.lie(an.id, doc, sig)
			an.checkHolds(t, nil, an.a1)
			an.fetchRefused(t, an.a1.ID, "is not in any index you trust", "is revoked")
			// Nor does a restart: the revocation was kept. With no poll to wait for (the
			// key is not asked for), the relay gets three follow intervals to go wrong.
			an.restartRelay(t, func(string) {})
			time.Sleep(3 * time.Second)
			an.checkHolds(t, nil, an.a1)
		}},
		{"endless index", func(t *testing.T, an *attackNet) {
			putIndex(t, an.testNet, an.indexer, nil, indexEntry(an.a1))
			an.waitHolds(t, 30*time.Second, an.a1)
			an.fetchOK(t, an.a1)
			an.lieBody(an.id, endless(0))
			an.settle(t, an.id)
			an.checkHolds(t, []*catalogapi.Artifact{an.a1})
			an.fetchRefused(t, an.a1.ID, "too large")
		}},
		{"oversized index", func(t *testing.T, an *attackNet) {
			putIndex(t, an.testNet, an.indexer, nil, indexEntry(an.a1))
			an.waitHolds(t, 30*time.Second, an.a1)
			an.fetchOK(t, an.a1)
			an.lieBody(an.id, endless(index.MaxBytes+1))
			an.settle(t, an.id)
			an.checkHolds(t, []*catalogapi.Artifact{an.a1})
			an.fetchRefused(t, an.a1.ID, "too large")
		}},
		{"mix-and-match", func(t *testing.T, an *attackNet) {
			v1 := putIndex(t, an.testNet, an.indexer, nil, indexEntry(an.a1))
			an.waitHolds(t, 30*time.Second, an.a1)
			an.fetchOK(t, an.a1)
			// Version 2 by the indexer: a1 with a2's infohash, a2 with another sha256.
			// The directory refuses such an upload (422); the path serves it.
			v2 := index.Next(v1, time.Now(), 0)
			e1, e2 := indexEntry(an.a1), indexEntry(an.a2)
			e1.InfoHash = an.a2.InfoHash
			e2.Files[0].SHA256 = strings.Repeat("0", 64)
			v2.Put(e1)
			v2.Put(e2)
			doc, sig := signIndex(t, an.indexer, v2)
			an.lie(an.id, doc, sig)
			an.waitDrops(t, an.a1)
			an.settle(t, an.id)
			an.checkHolds(t, nil, an.a2)
			an.fetchRefused(t, an.a1.ID, "artifact does not match its index entry: infohash "+strings.ToLower(an.a1.InfoHash))
			an.fetchRefused(t, an.a2.ID, "artifact does not match its index entry", "has sha256 "+an.a2.Files[0].SHA256)
		}},
		{"expunged then reinstated", func(t *testing.T, an *attackNet) {
			v1 := putIndex(t, an.testNet, an.indexer, nil, indexEntry(an.a1))
			an.waitHolds(t, 30*time.Second, an.a1)
			an.fetchOK(t, an.a1)
			v2 := index.Next(v1, time.Now(), 0)
			if err := v2.Expunge(an.a1.Catalog, an.a1.Name, an.a1.Version, "bad build"); err != nil {
				t.Fatal(err)
			}
			uploadIndex(t, an.testNet, an.indexer, v2)
			an.waitDrops(t, an.a1)
			an.fetchRefused(t, an.a1.ID, "artifact expunged", "bad build")
			v3 := index.Next(v2, time.Now(), 0)
			v3.Put(indexEntry(an.a1))
			uploadIndex(t, an.testNet, an.indexer, v3)
			an.waitHolds(t, 30*time.Second, an.a1)
			an.fetchOK(t, an.a1)
		}},
		{"rotation", func(t *testing.T, an *attackNet) {
			nextPub, err := sign.ParsePublicKey(an.next + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			nextID := sign.KeyID(nextPub.ID())
			v1 := index.Next(nil, time.Now(), 0)
			v1.Directory, v1.NextKey = an.base, sign.PublicKeyText(nextPub)
			v1.Put(indexEntry(an.a1))
			uploadIndex(t, an.testNet, an.indexer, v1)
			an.waitHolds(t, 30*time.Second, an.a1)
			an.fetchOK(t, an.a1)
			// The successor's first index, at its own URL: followed without being configured.
			putIndex(t, an.testNet, an.next, nil, indexEntry(an.a1), indexEntry(an.a2))
			an.waitHolds(t, 30*time.Second, an.a2)
			an.fetchOK(t, an.a2)
			// The old key signs on, listing a3: it is retired, its index no longer counts.
			a3 := publishSmall(t, an.testNet, "3", 20<<10)
			putIndex(t, an.testNet, an.indexer, v1, indexEntry(a3))
			an.settle(t, nextID)
			an.checkHolds(t, []*catalogapi.Artifact{an.a1, an.a2}, a3)
			an.fetchRefused(t, a3.ID, "is not in any index you trust", "key "+an.id+" is retired")
		}},
		{"restart", func(t *testing.T, an *attackNet) {
			v1 := putIndex(t, an.testNet, an.indexer, nil, indexEntry(an.a1))
			doc1, sig1 := an.served(t, an.id)
			putIndex(t, an.testNet, an.indexer, v1, indexEntry(an.a1), indexEntry(an.a2))
			an.waitHolds(t, 30*time.Second, an.a1, an.a2)
			an.fetchOK(t, an.a2)
			// The relay restarts on its data folder to a path serving version 1.
			an.restartRelay(t, func(string) { an.lie(an.id, doc1, sig1) })
			an.settle(t, an.id)
			an.waitHolds(t, 30*time.Second, an.a1, an.a2)
			an.fetchRefused(t, an.a2.ID, "rollback", "version 1 is older than version 2")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.attack(t, newAttackNet(t)) })
	}
}
