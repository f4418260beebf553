package index

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/fsutil"
	"github.com/opendist/odi/internal/sign"
)

var (
	// ErrRollback is returned when an index is older than one accepted before from its key.
	ErrRollback = errors.New("rollback")
	// ErrEquivocation is returned when an index has the version of one accepted before
	// from its key but other bytes: the key signed two histories, or was stolen.
	ErrEquivocation = errors.New("equivocation")
	// ErrRevoked is returned for an index signed by a revoked key.
	ErrRevoked = errors.New("key revoked")
	// ErrRetired is returned for an index signed by a key whose successor has since
	// signed an accepted index.
	ErrRetired = errors.New("key retired")
)

// stateFormat names the state file's format.
const stateFormat = "odi-index-state-v1"

// KeyState is what a follower remembers of one key.
type KeyState struct {
	Expires time.Time `json:"expires,omitzero"`   // of the accepted version
	Key     string    `json:"key"`                // one-line public key
	NextKey string    `json:"next_key,omitempty"` // successor the accepted version announces
	Retired bool      `json:"retired,omitempty"`
	Revoked bool      `json:"revoked,omitempty"`
	SHA256  string    `json:"sha256,omitempty"`  // of the accepted version's document
	Version uint64    `json:"version,omitempty"` // highest accepted; 0 for none
}

// State is a follower's memory of the indexes it accepted, per key (by sign.Fingerprint,
// not key id, which whoever makes a key may choose). The zero State is empty and ready
// to use; it is safe for concurrent use; Save persists it.
type State struct {
	mu   sync.Mutex
	keys map[string]KeyState
}

type stateFile struct {
	Format string              `json:"format"`
	Keys   map[string]KeyState `json:"keys"`
}

// LoadState reads a state file; a missing one is an empty state (a new follower).
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{keys: map[string]KeyState{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load index state: %w", err)
	}
	var f stateFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("load index state %s: %w", path, err)
	}
	if f.Format != stateFormat {
		return nil, fmt.Errorf("load index state %s: format %q, want %q", path, f.Format, stateFormat)
	}
	for fp, ks := range f.Keys {
		k, err := parseKey(ks.Key)
		if err != nil || sign.Fingerprint(k) != fp {
			return nil, fmt.Errorf("load index state %s: key %s does not match its public key", path, fp)
		}
		if ks.NextKey != "" {
			if _, err := parseKey(ks.NextKey); err != nil {
				return nil, fmt.Errorf("load index state %s: key %s: next key: %w", path, fp, err)
			}
		}
	}
	if f.Keys == nil {
		f.Keys = map[string]KeyState{}
	}
	return &State{keys: f.Keys}, nil
}

// Save writes the state to path atomically (fsutil.WriteFile): after a crash the file
// holds the old state or the new, so rollback protection survives restarts.
func (s *State) Save(path string) error {
	s.mu.Lock()
	b, err := json.MarshalIndent(stateFile{Format: stateFormat, Keys: s.keys}, "", "\t")
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("save index state: %w", err)
	}
	if err := fsutil.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save index state: %w", err)
	}
	return nil
}

// Key is what the state holds about pub.
func (s *State) Key(pub minisign.PublicKey) (KeyState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks, ok := s.keys[sign.Fingerprint(pub)]
	return ks, ok
}

// Followed is the keys whose indexes to fetch and Accept, given the configured ones:
// each configured key that is not retired or revoked, and the successors announced by
// followed keys (transitively). A successor announced by a revoked key is followed only
// if it had already signed an accepted index.
func (s *State) Followed(configured ...minisign.PublicKey) []minisign.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []minisign.PublicKey
	seen := map[string]bool{}
	queue := append([]minisign.PublicKey(nil), configured...)
	for len(queue) > 0 {
		k := queue[0]
		queue = queue[1:]
		fp := sign.Fingerprint(k)
		if seen[fp] {
			continue
		}
		seen[fp] = true
		ks := s.keys[fp]
		if !ks.Retired && !ks.Revoked {
			out = append(out, k)
		}
		if ks.NextKey == "" {
			continue
		}
		next, err := parseKey(ks.NextKey)
		if err != nil {
			continue // LoadState and Accept check it; unreachable
		}
		if ks.Revoked && s.keys[sign.Fingerprint(next)].Version == 0 {
			continue
		}
		queue = append(queue, next)
	}
	return out
}

// Accept verifies an index signed by pub (one of Followed) as Verify does, and refuses,
// beyond that: a revoked key (ErrRevoked) or retired one (ErrRetired), a version lower
// than the one accepted before (ErrRollback), and the accepted version with other bytes
// (ErrEquivocation; the state keeps the first). The accepted version again with the
// same bytes is an unchanged poll, returned without error. A higher version is recorded,
// and retires the keys that announced pub as their successor; one that revokes its key
// (Index.Revoked) is recorded too, and refused with ErrRevoked, as all after it.
func (s *State) Accept(pub minisign.PublicKey, doc, sig []byte, now time.Time) (*Index, error) {
	fp := sign.Fingerprint(pub)
	// Cheap refusals first: a known-bad key's index is not worth a parse.
	if err := s.usable(fp); err != nil {
		return nil, err
	}
	idx, err := Verify(pub, doc, sig, now)
	if err != nil {
		return nil, fmt.Errorf("accept index: %w", err)
	}
	sum := sha256.Sum256(doc)
	digest := hex.EncodeToString(sum[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]KeyState{}
	}
	ks := s.keys[fp]
	// Again under the lock: a revocation may have come while we verified.
	switch {
	case ks.Revoked:
		return nil, fmt.Errorf("accept index: %w: %s", ErrRevoked, idx.Key)
	case ks.Retired:
		return nil, fmt.Errorf("accept index: %w: %s", ErrRetired, idx.Key)
	case idx.Version < ks.Version:
		return nil, fmt.Errorf("accept index: %w: key %s version %d is older than version %d, accepted before", ErrRollback, idx.Key, idx.Version, ks.Version)
	case idx.Version == ks.Version && digest != ks.SHA256:
		return nil, fmt.Errorf("accept index: %w: key %s signed two different documents as version %d (sha256 %s, accepted before: %s)", ErrEquivocation, idx.Key, idx.Version, digest, ks.SHA256)
	case idx.Version == ks.Version:
		return idx, nil
	}
	s.keys[fp] = KeyState{
		Expires: idx.Expires, Key: sign.PublicKeyText(pub), NextKey: idx.NextKey,
		Revoked: idx.Revoked, SHA256: digest, Version: idx.Version,
	}
	if idx.Revoked {
		return nil, fmt.Errorf("accept index: %w: key %s revoked itself in version %d", ErrRevoked, idx.Key, idx.Version)
	}
	self := sign.PublicKeyText(pub)
	for ofp, o := range s.keys {
		if o.NextKey == self && !o.Retired {
			o.Retired = true
			s.keys[ofp] = o
		}
	}
	return idx, nil
}

func (s *State) usable(fp string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keys[fp]
	switch {
	case ks.Revoked:
		return fmt.Errorf("accept index: %w: %s", ErrRevoked, fp)
	case ks.Retired:
		return fmt.Errorf("accept index: %w: %s", ErrRetired, fp)
	}
	return nil
}

// Revoke verifies a revocation (VerifyRevocation, with the follower's root keys) and
// records it: from then on the key's indexes are refused.
func (s *State) Revoke(doc, sig []byte, roots ...minisign.PublicKey) (*Revocation, error) {
	r, err := VerifyRevocation(doc, sig, roots...)
	if err != nil {
		return nil, err
	}
	k, _ := r.PublicKey() // VerifyRevocation checked it
	fp := sign.Fingerprint(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]KeyState{}
	}
	ks := s.keys[fp]
	ks.Key, ks.Revoked = sign.PublicKeyText(k), true
	s.keys[fp] = ks
	return r, nil
}

func parseKey(text string) (minisign.PublicKey, error) {
	var k minisign.PublicKey
	if err := k.UnmarshalText([]byte(text)); err != nil {
		return minisign.PublicKey{}, err
	}
	if k.String() != text {
		return minisign.PublicKey{}, fmt.Errorf("%q is not a one-line minisign public key", text)
	}
	return k, nil
}
