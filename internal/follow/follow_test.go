package follow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/follow/followtest"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/logbuf"
	"github.com/opendist/odi/internal/sign"
)

func mustFollower(t *testing.T, dir, path string, c *followtest.Clock, log *slog.Logger, keys ...followtest.Key) *Follower {
	t.Helper()
	var pubs []minisign.PublicKey
	for _, k := range keys {
		pubs = append(pubs, k.Pub)
	}
	f, err := New(Config{Directory: dir, Keys: pubs, Path: path, Role: "relay", Now: c.Now}, log)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func currentVersion(f *Follower, k followtest.Key) uint64 {
	if idx := f.Current(k.Pub); idx != nil {
		return idx.Version
	}
	return 0
}

func TestFollowPoll(t *testing.T) {
	var logs logbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := followtest.NewServer(t)
	k, other := followtest.NewKey(t), followtest.NewKey(t)
	c := followtest.NewClock(followtest.T0.Add(30 * time.Hour))
	path := filepath.Join(t.TempDir(), "follow")
	f := mustFollower(t, srv.URL+"/", path, c, log, k)
	ctx := context.Background()

	f.Poll(ctx)
	if v := currentVersion(f, k); v != 0 || !strings.Contains(logs.String(), "has no index of a followed key") {
		t.Fatalf("no index yet: version %d, logs:\n%s", v, logs.String())
	}

	doc1, sig1 := followtest.Sign(t, k, 1, nil, followtest.Entry("c/a/1", strings.Repeat("a", 40)))
	srv.Put(k, doc1, sig1)
	f.Poll(ctx)
	if v := currentVersion(f, k); v != 1 {
		t.Fatalf("after v1: version %d, want 1; logs:\n%s", v, logs.String())
	}
	f.Poll(ctx)
	if n := srv.NotModified.Load(); n != 1 {
		t.Errorf("unchanged index: %d 304s, want 1", n)
	}

	doc2, sig2 := followtest.Sign(t, k, 2, nil, followtest.Entry("c/a/1", strings.Repeat("a", 40)), followtest.Entry("c/b/1", strings.Repeat("b", 40)))
	srv.Put(k, doc2, sig2)
	f.Poll(ctx)
	if v := currentVersion(f, k); v != 2 {
		t.Fatalf("after v2: version %d, want 2", v)
	}

	refused := func(name, want string, doc, sig []byte) {
		t.Helper()
		before := strings.Count(logs.String(), want)
		srv.Put(k, doc, sig)
		f.Poll(ctx)
		f.Poll(ctx) // the same refusal again: not logged again
		if v := currentVersion(f, k); v != 2 {
			t.Errorf("%s: version %d, want 2 kept", name, v)
		}
		if n := strings.Count(logs.String(), want) - before; n != 1 {
			t.Errorf("%s: %q logged %d times, want once; logs:\n%s", name, want, n, logs.String())
		}
	}
	refused("rollback", "rollback", doc1, sig1)
	eq, eqSig := followtest.Sign(t, k, 2, nil, followtest.Entry("c/evil/1", strings.Repeat("e", 40)))
	refused("equivocation", "EQUIVOCATION", eq, eqSig)
	reports := srv.Reports()
	eqSum := sha256.Sum256(eq)
	if len(reports) != 1 || len(reports[0].Equivocations) != 1 || reports[0].Equivocations[0].Key != k.ID() ||
		reports[0].Equivocations[0].Version != 2 || reports[0].Equivocations[0].Served != hex.EncodeToString(eqSum[:]) {
		t.Errorf("reports to the directory after the equivocation: %+v, want one naming key %s version 2 served %x", reports, k.ID(), eqSum)
	}
	wrong, wrongSig := followtest.Sign(t, other, 3, nil)
	refused("wrong key", "wrong key", wrong, wrongSig)
	srv.Endless(k, true)
	start := time.Now()
	refused("endless data", "too large", nil, nil)
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("endless data took %v to refuse", d)
	}
	srv.Endless(k, false)

	// A restart: the state and the accepted document come back from the data dir, and
	// the older version is refused still.
	f2 := mustFollower(t, srv.URL, path, c, log, k)
	if v := currentVersion(f2, k); v != 2 {
		t.Fatalf("after a restart: version %d, want 2 from the data dir", v)
	}
	if sd, ok := f2.Signed(k.ID()); !ok || sd.Index.Version != 2 || !minisign.Verify(k.Pub, doc2, sd.Sig) {
		t.Fatalf("after a restart: Signed = %+v, %v; want version 2 with its signature", sd, ok)
	}
	srv.Put(k, doc1, sig1)
	f2.Poll(ctx)
	if v := currentVersion(f2, k); v != 2 || !strings.Contains(logs.String(), "version 1 is older than version 2") {
		t.Fatalf("after a restart, v1 served: version %d, want 2; logs:\n%s", v, logs.String())
	}

	// Expired: the accepted index stays known (the filter needs it to say so) and is told.
	srv.Put(k, doc2, sig2)
	c.Add(index.DefaultTTL)
	f2.Poll(ctx)
	f2.Poll(ctx)
	want := fmt.Sprintf("index of key %s expired at %s", k.ID(), followtest.T0.Add(2*time.Hour+index.DefaultTTL).Format(time.RFC3339))
	if n := strings.Count(logs.String(), want); n != 1 {
		t.Errorf("%q logged %d times, want once; logs:\n%s", want, n, logs.String())
	}
}

// A document and a signature of two versions (the directory replaced the index between
// the two requests) are refused, and the document is fetched again at the next poll.
func TestFollowSignatureOfAnotherVersion(t *testing.T) {
	srv := followtest.NewServer(t)
	k := followtest.NewKey(t)
	f := mustFollower(t, srv.URL, t.TempDir(), followtest.NewClock(followtest.T0.Add(30*time.Hour)), slog.New(slog.DiscardHandler), k)
	_, sig1 := followtest.Sign(t, k, 1, nil)
	doc2, sig2 := followtest.Sign(t, k, 2, nil)
	srv.Put(k, doc2, sig1)
	f.Poll(context.Background())
	if v := currentVersion(f, k); v != 0 {
		t.Fatalf("version %d accepted with another version's signature", v)
	}
	srv.Put(k, doc2, sig2)
	f.Poll(context.Background())
	if v := currentVersion(f, k); v != 2 {
		t.Fatalf("version %d, want 2 once its signature is served", v)
	}
}

// A new key announced in next_key is followed, and once it signs, the old one no longer
// counts.
func TestFollowRotation(t *testing.T) {
	srv := followtest.NewServer(t)
	k, next := followtest.NewKey(t), followtest.NewKey(t)
	c := followtest.NewClock(followtest.T0.Add(30 * time.Hour))
	f := mustFollower(t, srv.URL, t.TempDir(), c, slog.New(slog.DiscardHandler), k)
	doc, sig := followtest.Sign(t, k, 1, func(idx *index.Index) { idx.NextKey = sign.PublicKeyText(next.Pub) }, followtest.Entry("c/a/1", strings.Repeat("a", 40)))
	srv.Put(k, doc, sig)
	f.Poll(context.Background())
	doc, sig = followtest.Sign(t, next, 1, nil, followtest.Entry("c/b/1", strings.Repeat("b", 40)))
	srv.Put(next, doc, sig)
	f.Poll(context.Background())
	idxs := f.Indexes()
	if len(idxs) != 1 || idxs[0].Key != next.ID() {
		t.Fatalf("indexes after rotation: %v, want the new key's only", idxs)
	}
}
