package index

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/sign"
)

// signedDoc is one version of an index as a directory serves it.
type signedDoc struct {
	idx      *Index
	doc, sig []byte
}

// chain signs versions 1..n with k, each an hour after the last; edit may change any.
func chain(t *testing.T, k testKey, n int, edit func(version uint64, idx *Index)) []signedDoc {
	t.Helper()
	var out []signedDoc
	var prev *Index
	for range n {
		idx, doc, sig := signed(t, k, prev, func(idx *Index) {
			if edit != nil {
				edit(idx.Version, idx)
			}
		})
		out = append(out, signedDoc{idx, doc, sig})
		prev = idx
	}
	return out
}

func TestAcceptAttacks(t *testing.T) {
	k, mallory := newKey(t), newKey(t)
	v := chain(t, k, 3, func(version uint64, idx *Index) {
		switch version {
		case 2: // expunged...
			if err := idx.Expunge("debian", "iso", "12.1", "bad checksum"); err != nil {
				t.Fatal(err)
			}
		case 3: // ...and reinstated
			e, _ := idx.Find("debian", "iso", "12.1")
			e.State, e.Reason = StatePublished, ""
			idx.Put(e)
		}
	})
	// A second, different version 2 by the same key.
	_, fork2, fork2Sig := signed(t, k, v[0].idx, func(idx *Index) { idx.Remove("arch", "iso", "2026.12.01") })
	// Mallory's index, listing what she likes, passed off as k's.
	_, malDoc, malSig := signed(t, mallory, nil, nil)
	selfRevocation, selfRevocationSig, err := SignRevocation(k.priv, k.pub, t0)
	if err != nil {
		t.Fatal(err)
	}
	huge := bytes.Repeat([]byte("{"), MaxBytes+1)

	type step struct {
		doc, sig []byte
		now      time.Time
		want     error  // nil: accepted
		version  uint64 // recorded afterwards
	}
	at := func(d signedDoc) time.Time { return d.idx.Issued.Add(time.Minute) }
	tests := []struct {
		name   string
		revoke bool // k revoked before the steps
		steps  []step
	}{
		{"in order, expunged then reinstated", false, []step{{v[0].doc, v[0].sig, at(v[0]), nil, 1}, {v[1].doc, v[1].sig, at(v[1]), nil, 2}, {v[2].doc, v[2].sig, at(v[2]), nil, 3}}},
		{"skipping versions", false, []step{{v[0].doc, v[0].sig, at(v[0]), nil, 1}, {v[2].doc, v[2].sig, at(v[2]), nil, 3}}},
		{"unchanged poll", false, []step{{v[1].doc, v[1].sig, at(v[1]), nil, 2}, {v[1].doc, v[1].sig, at(v[2]), nil, 2}}},
		{"rollback", false, []step{{v[2].doc, v[2].sig, at(v[2]), nil, 3}, {v[0].doc, v[0].sig, at(v[2]), ErrRollback, 3}}},
		{"freeze", false, []step{{v[0].doc, v[0].sig, at(v[0]), nil, 1}, {v[0].doc, v[0].sig, v[0].idx.Expires, ErrExpired, 1}}},
		{"equivocation", false, []step{{v[1].doc, v[1].sig, at(v[1]), nil, 2}, {fork2, fork2Sig, at(v[1]), ErrEquivocation, 2}, {v[1].doc, v[1].sig, at(v[1]), nil, 2}}},
		{"wrong key", false, []step{{malDoc, malSig, t0, ErrWrongKey, 0}}},
		{"wrong key, document of another key re-signed", false, []step{{malDoc, signDoc(mallory.priv, malDoc, indexComment(sign.KeyID(k.pub.ID()), 1, t0.Add(DefaultTTL)), ""), t0, ErrWrongKey, 0}}},
		{"revoked key", true, []step{{v[0].doc, v[0].sig, at(v[0]), ErrRevoked, 0}}},
		{"oversized", false, []step{{huge, v[0].sig, at(v[0]), ErrTooLarge, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := LoadState(filepath.Join(t.TempDir(), "none.json"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.revoke {
				if _, err := st.Revoke(selfRevocation, selfRevocationSig); err != nil {
					t.Fatal(err)
				}
			}
			for i, s := range tt.steps {
				_, err := st.Accept(k.pub, s.doc, s.sig, s.now)
				if !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
					t.Fatalf("step %d: Accept = %v, want %v", i, err, s.want)
				}
				ks, _ := st.Key(k.pub)
				if ks.Version != s.version {
					t.Fatalf("step %d: recorded version %d, want %d", i, ks.Version, s.version)
				}
			}
		})
	}
}

// TestExpungedReinstated follows one artifact through an expunge and a reinstatement, as
// a relay checking what it serves would.
func TestExpungedReinstated(t *testing.T) {
	k := newKey(t)
	v := chain(t, k, 3, func(version uint64, idx *Index) {
		if version == 2 {
			_ = idx.Expunge("debian", "iso", "12.1", "bad checksum")
		}
		if version == 3 {
			e, _ := idx.Find("debian", "iso", "12.1")
			e.State, e.Reason = "", ""
			idx.Put(e)
		}
	})
	want := testIndex().Entries[2]
	st := &State{keys: map[string]KeyState{}}
	for i, wantErr := range []error{nil, ErrExpunged, nil} {
		idx, err := st.Accept(k.pub, v[i].doc, v[i].sig, v[i].idx.Issued)
		if err != nil {
			t.Fatalf("version %d: %v", i+1, err)
		}
		e, ok := idx.Find("debian", "iso", "12.1")
		if !ok {
			t.Fatalf("version %d does not list debian/iso/12.1", i+1)
		}
		if err := e.Check(want.InfoHash, want.Files); !errors.Is(err, wantErr) || (wantErr == nil) != (err == nil) {
			t.Errorf("version %d: Check = %v, want %v", i+1, err, wantErr)
		}
		// Mix-and-match: the listed name with another artifact's bytes.
		other := idx.Entries[0]
		if err := e.Check(other.InfoHash, other.Files); err == nil {
			t.Errorf("version %d: Check accepted another artifact's content", i+1)
		}
	}
}

func TestRotation(t *testing.T) {
	oldKey, newK, root, thief := newKey(t), newKey(t), newKey(t), newKey(t)
	announce := func(next minisign.PublicKey) func(uint64, *Index) {
		return func(_ uint64, idx *Index) { idx.NextKey = sign.PublicKeyText(next) }
	}
	oldV := chain(t, oldKey, 2, announce(newK.pub))
	newV := chain(t, newK, 1, nil)
	st := &State{keys: map[string]KeyState{}}
	followed := func() []string {
		var ids []string
		for _, k := range st.Followed(oldKey.pub) {
			ids = append(ids, sign.KeyID(k.ID()))
		}
		return ids
	}
	id := func(k testKey) string { return sign.KeyID(k.pub.ID()) }

	if got := followed(); !slices.Equal(got, []string{id(oldKey)}) {
		t.Fatalf("before any index, Followed = %v, want the configured key", got)
	}
	if _, err := st.Accept(oldKey.pub, oldV[0].doc, oldV[0].sig, t0); err != nil {
		t.Fatal(err)
	}
	if got := followed(); !slices.Equal(got, []string{id(oldKey), id(newK)}) {
		t.Fatalf("after the announcement, Followed = %v, want old and new", got)
	}
	if _, err := st.Accept(newK.pub, newV[0].doc, newV[0].sig, t0); err != nil {
		t.Fatalf("the successor's first index: %v", err)
	}
	if got := followed(); !slices.Equal(got, []string{id(newK)}) {
		t.Fatalf("after the successor signed, Followed = %v, want only the new key", got)
	}
	if _, err := st.Accept(oldKey.pub, oldV[1].doc, oldV[1].sig, oldV[1].idx.Issued); !errors.Is(err, ErrRetired) {
		t.Errorf("the old key's next index after retirement: %v, want ErrRetired", err)
	}

	rev, revSig, err := SignRevocation(root.priv, oldKey.pub, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Revoke(rev, revSig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Revoke by a root key not trusted = %v, want ErrBadSignature", err)
	}
	if _, err := st.Revoke(rev, revSig, root.pub); err != nil {
		t.Fatalf("Revoke by a root key: %v", err)
	}
	if _, err := st.Accept(oldKey.pub, oldV[1].doc, oldV[1].sig, oldV[1].idx.Issued); !errors.Is(err, ErrRevoked) {
		t.Errorf("the old key after revocation: %v, want ErrRevoked", err)
	}
	if got := followed(); !slices.Equal(got, []string{id(newK)}) {
		t.Errorf("after revoking the old key, Followed = %v, want the adopted successor", got)
	}

	// A thief announces a successor of their own; the owner revokes the key before the
	// thief's key signs anything the follower accepted: it is not followed.
	st2 := &State{keys: map[string]KeyState{}}
	stolen := chain(t, oldKey, 1, announce(thief.pub))
	if _, err := st2.Accept(oldKey.pub, stolen[0].doc, stolen[0].sig, t0); err != nil {
		t.Fatal(err)
	}
	self, selfSig, err := SignRevocation(oldKey.priv, oldKey.pub, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st2.Revoke(self, selfSig); err != nil {
		t.Fatalf("self revocation: %v", err)
	}
	if got := st2.Followed(oldKey.pub); len(got) != 0 {
		t.Errorf("after revoking a key, its unadopted successor is still followed: %d keys", len(got))
	}
}

func TestVerifyRevocation(t *testing.T) {
	k, root, other := newKey(t), newKey(t), newKey(t)
	doc, sig, err := SignRevocation(k.priv, k.pub, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"format":"odi-revocation-v1","key":"` + sign.PublicKeyText(k.pub) + `","revoked":"2026-12-03T12:00:00Z"}`
	if string(doc) != want {
		t.Errorf("revocation document %s, want %s", doc, want)
	}
	rootDoc, rootSig, _ := SignRevocation(root.priv, k.pub, t0)
	otherDoc, otherSig, _ := SignRevocation(other.priv, k.pub, t0)
	tests := []struct {
		name     string
		doc, sig []byte
		roots    []minisign.PublicKey
		want     error
	}{
		{"by itself", doc, sig, nil, nil},
		{"by a root", rootDoc, rootSig, []minisign.PublicKey{root.pub}, nil},
		{"by an unknown key", otherDoc, otherSig, []minisign.PublicKey{root.pub}, ErrBadSignature},
		{"tampered", bytes.Replace(doc, []byte("2026-12-03"), []byte("2027-12-03"), 1), sig, nil, ErrBadSignature},
		{"not canonical", append(doc, ' '), sig, nil, ErrNotCanonical},
		{"unknown field", []byte(strings.Replace(string(doc), `{"format"`, `{"x":1,"format"`, 1)), sig, nil, ErrInvalid},
		{"index signature", doc, signDoc(k.priv, doc, indexComment(sign.KeyID(k.pub.ID()), 1, t0), ""), nil, ErrBadSignature},
		{"oversized", bytes.Repeat([]byte{' '}, 5000), sig, nil, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := VerifyRevocation(tt.doc, tt.sig, tt.roots...)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("VerifyRevocation = %v, want %v", err, tt.want)
			}
			if err == nil && r.Key != sign.PublicKeyText(k.pub) {
				t.Errorf("revoked key %s, want %s", r.Key, sign.PublicKeyText(k.pub))
			}
		})
	}
}

// TestRestart: the state saved and loaded again keeps refusing rollback, equivocation,
// revoked keys, and keeps following a successor.
func TestRestart(t *testing.T) {
	k, next, gone := newKey(t), newKey(t), newKey(t)
	v := chain(t, k, 2, func(_ uint64, idx *Index) { idx.NextKey = sign.PublicKeyText(next.pub) })
	_, fork2, fork2Sig := signed(t, k, v[0].idx, func(idx *Index) { idx.Remove("arch", "iso", "2026.12.01") })
	path := filepath.Join(t.TempDir(), "trust", "state.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := LoadState(path)
	if err != nil {
		t.Fatalf("LoadState(missing) = %v, want an empty state", err)
	}
	if _, err := st.Accept(k.pub, v[1].doc, v[1].sig, v[1].idx.Issued); err != nil {
		t.Fatal(err)
	}
	rev, revSig, _ := SignRevocation(gone.priv, gone.pub, t0)
	if _, err := st.Revoke(rev, revSig); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}

	st, err = LoadState(path)
	if err != nil {
		t.Fatalf("LoadState: %v", err)
	}
	now := v[1].idx.Issued
	if _, err := st.Accept(k.pub, v[0].doc, v[0].sig, now); !errors.Is(err, ErrRollback) {
		t.Errorf("after restart, an older version: %v, want ErrRollback", err)
	}
	if _, err := st.Accept(k.pub, fork2, fork2Sig, now); !errors.Is(err, ErrEquivocation) {
		t.Errorf("after restart, another version 2: %v, want ErrEquivocation", err)
	}
	if _, err := st.Accept(k.pub, v[1].doc, v[1].sig, now); err != nil {
		t.Errorf("after restart, the accepted version again: %v", err)
	}
	goneV := chain(t, gone, 1, nil)
	if _, err := st.Accept(gone.pub, goneV[0].doc, goneV[0].sig, t0); !errors.Is(err, ErrRevoked) {
		t.Errorf("after restart, a revoked key: %v, want ErrRevoked", err)
	}
	if got := st.Followed(k.pub); len(got) != 2 || !got[1].Equal(next.pub) {
		t.Errorf("after restart, Followed = %d keys, want the configured key and its successor", len(got))
	}

	for name, content := range map[string]string{
		"not JSON":      "{",
		"other format":  `{"format":"x","keys":{}}`,
		"key mismatch":  `{"format":"odi-index-state-v1","keys":{"00":{"key":"` + sign.PublicKeyText(k.pub) + `"}}}`,
		"unknown field": `{"format":"odi-index-state-v1","keys":{},"x":1}`,
	} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadState(path); err == nil {
			t.Errorf("LoadState(%s) succeeded", name)
		}
	}
}

func TestZeroState(t *testing.T) {
	k := newKey(t)
	v := chain(t, k, 1, nil)
	var st State
	if _, err := st.Accept(k.pub, v[0].doc, v[0].sig, t0); err != nil {
		t.Fatalf("Accept on a zero State: %v", err)
	}
	var st2 State
	rev, revSig, _ := SignRevocation(k.priv, k.pub, t0)
	if _, err := st2.Revoke(rev, revSig); err != nil {
		t.Fatalf("Revoke on a zero State: %v", err)
	}
}

// TestSelfRevocation: a key's last index says it is revoked. The follower records it,
// refuses that version's entries and every later version, stops following the key, and
// does not follow a successor that version names (a thief could name one); a restart
// keeps all of that, and the revoking document round-trips through Parse.
func TestSelfRevocation(t *testing.T) {
	k, thief := newKey(t), newKey(t)
	v := chain(t, k, 3, func(version uint64, idx *Index) {
		idx.Put(testEntry("debian", "iso", "12.1", "iso/debian.iso"))
		if version == 2 {
			idx.Revoked, idx.NextKey = true, sign.PublicKeyText(thief.pub)
		}
	})
	if got, err := Parse(v[1].doc); err != nil || !got.Revoked {
		t.Fatalf("Parse of a revoking index = %+v, %v", got, err)
	}
	st := &State{keys: map[string]KeyState{}}
	if _, err := st.Accept(k.pub, v[0].doc, v[0].sig, t0); err != nil {
		t.Fatal(err)
	}
	if idx, err := st.Accept(k.pub, v[1].doc, v[1].sig, t0); !errors.Is(err, ErrRevoked) || idx != nil {
		t.Fatalf("Accept of the revoking version = %v, %v; want no index and ErrRevoked", idx, err)
	}
	if ks, _ := st.Key(k.pub); !ks.Revoked || ks.Version != 2 {
		t.Errorf("state after the revocation = %+v, want revoked at version 2", ks)
	}
	if got := st.Followed(k.pub); len(got) != 0 {
		t.Errorf("Followed after a self-revocation = %d keys, want none (not the named successor either)", len(got))
	}
	path := filepath.Join(t.TempDir(), "state.json")
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}
	again, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []signedDoc{v[0], v[2]} {
		if _, err := again.Accept(k.pub, d.doc, d.sig, t0); !errors.Is(err, ErrRevoked) {
			t.Errorf("after a restart, version %d of the revoked key: %v, want ErrRevoked", d.idx.Version, err)
		}
	}
}
