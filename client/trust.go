package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/sign"
	"github.com/opendist/odi/internal/version"
)

// ErrUntrusted is returned by a Fetch with FetchOptions.Trust when no index signed by a
// trusted key vouches for the artifact as the directory serves it: it is not listed as
// published, an index expunges it, its infohash or files differ from the entry
// (mix-and-match), or a trusted key's index was refused as an attack (rollback,
// equivocation, a bad signature). Nothing is downloaded.
var ErrUntrusted = errors.New("not trusted")

// Trust is what a fetch holds the directory to: the index keys a user follows (their
// successors too, index.State.Followed) and what it accepted from them before, kept in
// a state file so that a directory cannot roll the user back across runs.
type Trust struct {
	keys      []minisign.PublicKey
	statePath string
	state     *index.State
	now       func() time.Time
}

// OpenTrust loads the follower state at statePath (none: a new follower), creating its
// folder (0700) so that each accepted index can be saved. now is the clock (nil:
// time.Now).
func OpenTrust(keys []minisign.PublicKey, statePath string, now func() time.Time) (*Trust, error) {
	if len(keys) == 0 {
		return nil, errors.New("trust: no keys")
	}
	if err := os.MkdirAll(filepath.Dir(statePath), 0o700); err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	st, err := index.LoadState(statePath)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Trust{keys: keys, statePath: statePath, state: st, now: now}, nil
}

// trusted is what the followed keys' indexes say at one moment.
type trusted struct {
	keys    []string       // ids of the configured keys, for messages
	indexes []*index.Index // accepted, current
	// absent says, per followed key without an accepted index, why: none at the
	// directory, expired, revoked or retired.
	absent []string
}

// refresh gets the current index of every followed key from the directory and accepts
// it into the state (saved after each), following announced successors as they appear.
// A key without a usable index (none, expired) adds nothing; an index refused as an
// attack (rollback, equivocation, bad signature, wrong key, too large) fails the whole
// fetch with ErrUntrusted: the directory is not serving what the indexer signed.
func (t *Trust) refresh(ctx context.Context, api *apiclient.Client) (*trusted, error) {
	tr := &trusted{}
	for _, k := range t.keys {
		tr.keys = append(tr.keys, sign.KeyID(k.ID()))
		switch ks, _ := t.state.Key(k); {
		case ks.Revoked:
			tr.absent = append(tr.absent, fmt.Sprintf("key %s is revoked", sign.KeyID(k.ID())))
		case ks.Retired:
			tr.absent = append(tr.absent, fmt.Sprintf("key %s is retired (its successor signs)", sign.KeyID(k.ID())))
		}
	}
	seen := map[string]bool{}
	for {
		var todo []minisign.PublicKey
		for _, k := range t.state.Followed(t.keys...) {
			if fp := sign.Fingerprint(k); !seen[fp] {
				seen[fp] = true
				todo = append(todo, k)
			}
		}
		if len(todo) == 0 {
			// A key retired by its successor's index, accepted in this pass, no
			// longer vouches for anything.
			current := map[string]bool{}
			for _, k := range t.state.Followed(t.keys...) {
				current[sign.KeyID(k.ID())] = true
			}
			tr.indexes = slices.DeleteFunc(tr.indexes, func(idx *index.Index) bool { return !current[idx.Key] })
			return tr, nil
		}
		for _, k := range todo {
			id := sign.KeyID(k.ID())
			doc, sig, err := getIndex(ctx, api, k)
			if errors.Is(err, ErrNoIndex) {
				tr.absent = append(tr.absent, fmt.Sprintf("the directory has no index of key %s", id))
				continue
			}
			var idx *index.Index
			if err == nil {
				held, _ := t.state.Key(k)
				idx, err = t.state.Accept(k, doc, sig, t.now())
				if errors.Is(err, index.ErrEquivocation) {
					reportEquivocation(ctx, api, relayapi.Equivocation{Key: id, Version: held.Version, Held: held.SHA256, Served: sha256Hex(doc)})
				}
			} else if !errors.Is(err, index.ErrTooLarge) {
				// The directory is unreachable or failing: no answer to judge. One too
				// large to read is refused below, as an attack.
				return nil, err
			}
			switch {
			case errors.Is(err, index.ErrExpired):
				// Verify refuses expiry by the clock it is given, the rest regardless: the
				// zero time tells when a validly signed index expired.
				if old, verr := index.Verify(k, doc, sig, time.Time{}); verr == nil {
					tr.absent = append(tr.absent, fmt.Sprintf("index of key %s expired at %s", id, old.Expires.Format(time.RFC3339)))
				} else {
					tr.absent = append(tr.absent, fmt.Sprintf("index of key %s: %v", id, err))
				}
				continue
			case errors.Is(err, index.ErrRevoked), errors.Is(err, index.ErrRetired):
				tr.absent = append(tr.absent, fmt.Sprintf("index of key %s: %v", id, err))
				// A key that revoked itself just now stays revoked in the next run, whatever
				// the directory serves then.
				if err := t.state.Save(t.statePath); err != nil {
					return nil, err
				}
				continue
			case err != nil:
				return nil, fmt.Errorf("%w: index of key %s at %s: %w", ErrUntrusted, id, api.Base, err)
			}
			if err := t.state.Save(t.statePath); err != nil {
				return nil, err
			}
			tr.indexes = append(tr.indexes, idx)
		}
	}
}

// why is the reason no index vouches for ref, naming the keys and what was wrong.
func (tr *trusted) why(ref Ref) error {
	msg := fmt.Sprintf("%s is not in any index you trust (keys: %s)", ref, strings.Join(tr.keys, ", "))
	if len(tr.absent) > 0 {
		msg += ": " + strings.Join(tr.absent, "; ")
	}
	return fmt.Errorf("%w: %s", ErrUntrusted, msg)
}

// latest is the highest version of ref's catalog and name that a trusted index lists as
// published and none expunges, in internal/version's order (as Resolve decides), or "".
func (tr *trusted) latest(ref Ref) string {
	expunged := map[string]bool{}
	var candidates []string
	for _, idx := range tr.indexes {
		for _, e := range idx.Entries {
			if e.Catalog != ref.Catalog || e.Name != ref.Name {
				continue
			}
			if e.State == index.StatePublished {
				candidates = append(candidates, e.Version)
			} else {
				expunged[e.Version] = true
			}
		}
	}
	best := ""
	for _, v := range candidates {
		// An index lists no publish time: versions equal in order go by the larger string.
		if !expunged[v] && (best == "" || version.Newer(v, time.Time{}, best, time.Time{})) {
			best = v
		}
	}
	return best
}

// lists reports whether a trusted index lists ref, published or expunged.
func (tr *trusted) lists(ref Ref) bool {
	for _, idx := range tr.indexes {
		if _, ok := idx.Find(ref.Catalog, ref.Name, ref.Version); ok {
			return true
		}
	}
	return false
}

// vouch is an index entry that vouches for an artifact, and the index holding it.
type vouch struct {
	entry   index.Entry
	key     string // the index's key id
	version uint64 // the index's version
}

// check refuses the directory's artifact a unless a trusted index lists it as published
// and every trusted index that lists it agrees with a's infohash and files, and returns
// the (first) entry vouching for it.
func (tr *trusted) check(ref Ref, a *catalogapi.Artifact) (*vouch, error) {
	m := manifest.Manifest{Catalog: a.Catalog, Name: a.Name, Version: a.Version, Root: a.Root, Files: a.Files}
	served := entryOf(&m, strings.ToLower(a.InfoHash))
	var v *vouch
	for _, idx := range tr.indexes {
		e, ok := idx.Find(a.Catalog, a.Name, a.Version)
		if !ok {
			continue
		}
		if err := e.Check(served.InfoHash, served.Files); err != nil {
			return nil, fmt.Errorf("%w: index of key %s: %w", ErrUntrusted, idx.Key, err)
		}
		if v == nil {
			v = &vouch{entry: e, key: idx.Key, version: idx.Version}
		}
	}
	if v == nil {
		return nil, tr.why(ref)
	}
	return v, nil
}

// resolve is Resolve held to the trusted indexes: without a version, the highest one
// they list, not the directory's; then the directory's artifact must be what they list.
func (t *Trust) resolve(ctx context.Context, api *apiclient.Client, ref Ref) (*catalogapi.Artifact, *vouch, error) {
	tr, err := t.refresh(ctx, api)
	if err != nil {
		return nil, nil, err
	}
	if ref.Version == "" {
		ref.Version = tr.latest(ref)
	}
	// An artifact no trusted index lists is refused as such, whatever the directory
	// says of it.
	if !tr.lists(ref) {
		return nil, nil, tr.why(ref)
	}
	a, err := Resolve(ctx, api, ref)
	if err != nil {
		return nil, nil, err
	}
	v, err := tr.check(ref, a)
	if err != nil {
		return nil, nil, err
	}
	return a, v, nil
}

// reportEquivocation tells the directory of an index refused as an equivocation, for its
// operator (POST /api/v1/reports); the refusal stands whether or not that works, and a
// busy directory (apiclient waits out its Retry-After) holds the user a moment at most.
func reportEquivocation(ctx context.Context, api *apiclient.Client, e relayapi.Equivocation) {
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	_ = api.CallJSON(ctx, http.MethodPost, "/api/v1/reports", relayapi.Reports{Equivocations: []relayapi.Equivocation{e}}, nil)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
