package follow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/boundedget"
	"github.com/opendist/odi/internal/fsutil"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/sign"
)

// followTimeout bounds one request of a poll, body included: an index at index.MaxBytes
// (64 MiB) takes about a minute at 1 MB/s.
const followTimeout = 2 * time.Minute

// maxSignatureRead bounds the read of a .minisig; index.Verify refuses one over 4 KiB,
// so a longer read is only there to say so.
const maxSignatureRead = 16 << 10

// errNoIndex is returned by a poll when the directory has no index of a key (404).
var errNoIndex = errors.New("the directory has no index of this key")

// Follower follows keys' indexes at one directory.
type Follower struct {
	dir  string // base URL, without a trailing slash
	keys []minisign.PublicKey
	role string // who follows, for the logs: "relay", "link"
	http *http.Client
	// path is the folder of the state file and of the documents accepted, one per key
	// (<fingerprint>.json), so that a restart starts from them, not from nothing.
	path  string
	state *index.State
	now   func() time.Time
	log   *slog.Logger

	mu       sync.Mutex
	accepted map[string]*index.Index // by key fingerprint: the version the state holds
	sigs     map[string][]byte       // by key fingerprint: the accepted document's signature
	etags    map[string]string       // by key fingerprint: of the last document seen
	told     map[string]bool         // refusals and expiries logged, by key and reason
}

// Config is what a Follower follows, and where it keeps what it accepted.
type Config struct {
	// Directory is the base URL of the directory serving the indexes.
	Directory string
	// Keys are the indexer keys followed; successors their indexes name are followed too.
	Keys []minisign.PublicKey
	// Path is the folder of the follower's state (see Path).
	Path string
	// Role names the follower in its log lines: "relay", "link".
	Role string
	// Now is the clock indexes expire by; nil for time.Now.
	Now func() time.Time
}

// Path is where a follower under dataDir keeps what it follows at dir: a folder per
// directory URL (a trailing slash aside, so that adding one keeps the state), named by
// its digest since a URL is not a file name.
func Path(dataDir, dir string) string {
	sum := sha256.Sum256([]byte(strings.TrimRight(dir, "/")))
	return filepath.Join(dataDir, "follow", hex.EncodeToString(sum[:8]))
}

// New loads the state kept at cfg.Path and the documents it accepted.
func New(cfg Config, log *slog.Logger) (*Follower, error) {
	dir := cfg.Directory
	if err := os.MkdirAll(cfg.Path, 0o755); err != nil {
		return nil, fmt.Errorf("follow %s: %w", dir, err)
	}
	st, err := index.LoadState(filepath.Join(cfg.Path, "state.json"))
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", dir, err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Follower{
		dir: strings.TrimRight(dir, "/"), keys: cfg.Keys, role: cfg.Role, path: cfg.Path, state: st, now: cfg.Now,
		log:      log.With("directory", dir),
		http:     &http.Client{Timeout: followTimeout},
		accepted: map[string]*index.Index{}, sigs: map[string][]byte{}, etags: map[string]string{}, told: map[string]bool{},
	}
	for _, k := range st.Followed(cfg.Keys...) {
		if idx, sig := f.loadAccepted(k); idx != nil {
			f.accepted[sign.Fingerprint(k)] = idx
			if sig != nil {
				f.sigs[sign.Fingerprint(k)] = sig
			}
		}
	}
	return f, nil
}

// loadAccepted reads the document the state accepted from k, if it is on disk: the
// state's digest vouches for it (index.State.Accept checked its signature then); and its
// signature, if it is there and verifies, for Signed.
func (f *Follower) loadAccepted(k minisign.PublicKey) (*index.Index, []byte) {
	ks, ok := f.state.Key(k)
	if !ok || ks.Version == 0 {
		return nil, nil
	}
	file, err := os.Open(f.docPath(k))
	if err != nil {
		f.log.Warn(f.role+": the index accepted before is missing; polling for it", "key", sign.KeyID(k.ID()), "err", err)
		return nil, nil
	}
	defer file.Close()
	doc, err := index.ReadDoc(file)
	sum := sha256.Sum256(doc)
	if err == nil && hex.EncodeToString(sum[:]) != ks.SHA256 {
		err = errors.New("its sha256 is not the one the state accepted")
	}
	var idx *index.Index
	if err == nil {
		idx, err = index.Parse(doc)
	}
	if err != nil {
		f.log.Warn(f.role+": the index accepted before is unusable; polling for it", "key", sign.KeyID(k.ID()), "err", err)
		return nil, nil
	}
	sig, err := os.ReadFile(f.docPath(k) + ".minisig")
	if err != nil || len(sig) > maxSignatureRead || !minisign.Verify(k, doc, sig) {
		sig = nil // a crash between the two writes: served again once the next is accepted
	}
	return idx, sig
}

func (f *Follower) docPath(k minisign.PublicKey) string {
	return filepath.Join(f.path, sign.Fingerprint(k)+".json")
}

// Poll fetches every followed key's index and accepts the new ones. A refused index is
// logged once per key and reason, and the one accepted before stays.
func (f *Follower) Poll(ctx context.Context) {
	for _, k := range f.state.Followed(f.keys...) {
		if ctx.Err() != nil {
			return
		}
		id := sign.KeyID(k.ID())
		err := f.pollKey(ctx, k)
		switch {
		case err == nil:
		case errors.Is(err, index.ErrEquivocation):
			// Reported to the directory by pollKey, once per document served.
			f.tell(k, err, slog.LevelError, f.role+": EQUIVOCATION: a followed key signed two different indexes of one version; keeping the one accepted first; the key may be stolen", "key", id, "err", err)
		case errors.Is(err, errNoIndex):
			f.tell(k, err, slog.LevelWarn, f.role+": the directory has no index of a followed key", "key", id)
		case isRefusal(err):
			f.tell(k, err, slog.LevelError, f.role+": refused the index of a followed key; keeping the one accepted before", "key", id, "err", err)
		default:
			f.tell(k, err, slog.LevelWarn, f.role+": cannot fetch the index of a followed key; will retry", "key", id, "err", err)
		}
		if idx := f.Current(k); idx != nil && !f.now().Before(idx.Expires) {
			f.tell(k, fmt.Errorf("expired %d", idx.Version), slog.LevelError,
				fmt.Sprintf(f.role+": index of key %s expired at %s; dropping what only it vouched for", id, idx.Expires.Format(time.RFC3339)),
				"key", id, "version", idx.Version)
		}
	}
}

// isRefusal tells an index refused for what it is from a fetch that failed.
func isRefusal(err error) bool {
	for _, e := range []error{index.ErrRollback, index.ErrRevoked, index.ErrRetired, index.ErrTooLarge,
		index.ErrBadSignature, index.ErrWrongKey, index.ErrExpired, index.ErrInvalid, index.ErrNotCanonical} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// tell logs msg once per key and reason (err's text, which names the version).
func (f *Follower) tell(k minisign.PublicKey, err error, level slog.Level, msg string, args ...any) {
	why := sign.Fingerprint(k) + "\x00" + err.Error()
	f.mu.Lock()
	told := f.told[why]
	if len(f.told) >= 1024 { // transport errors vary; keep the memory bounded
		clear(f.told)
	}
	f.told[why] = true
	f.mu.Unlock()
	if !told {
		f.log.Log(context.Background(), level, msg, args...)
	}
}

// pollKey fetches k's index unless it is the one seen last (If-None-Match), and
// accepts it.
func (f *Follower) pollKey(ctx context.Context, k minisign.PublicKey) error {
	fp, base := sign.Fingerprint(k), f.dir+"/indexes/"+sign.KeyID(k.ID())+"/index.json"
	f.mu.Lock()
	etag := f.etags[fp]
	f.mu.Unlock()
	doc, newTag, err := f.get(ctx, base, etag, index.MaxBytes)
	if err != nil || doc == nil { // nil: 304, unchanged
		return err
	}
	sig, _, err := f.get(ctx, base+".minisig", "", maxSignatureRead)
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	f.mu.Lock()
	prev := f.accepted[fp]
	f.mu.Unlock()
	held, _ := f.state.Key(k)
	idx, err := f.state.Accept(k, doc, sig, f.now())
	if errors.Is(err, index.ErrEquivocation) {
		served := sha256.Sum256(doc)
		f.reportEquivocation(ctx, relayapi.Equivocation{Key: sign.KeyID(k.ID()), Version: held.Version, Held: held.SHA256, Served: hex.EncodeToString(served[:])})
	}
	// Accepted or refused, the same bytes need not come again; but a signature that does
	// not match may be the next version's, fetched as the directory replaced the
	// document: that document is fetched again.
	if !errors.Is(err, index.ErrBadSignature) {
		f.mu.Lock()
		f.etags[fp] = newTag
		f.mu.Unlock()
	}
	if errors.Is(err, index.ErrRevoked) {
		// A key that revoked itself just now stays revoked after a restart, whatever
		// the directory serves then.
		if serr := f.state.Save(filepath.Join(f.path, "state.json")); serr != nil {
			f.log.Error(f.role+": keeping the follow state; after a restart it would accept the revoked key", "err", serr)
		}
	}
	if err != nil {
		return err
	}
	if prev != nil && idx.Version == prev.Version {
		return nil
	}
	// The signature, then the document, then the state: after a crash in between, the
	// state's digest names the older document and the next poll accepts the newer one
	// again, and a signature that is not the document's is not served (loadAccepted).
	if err := fsutil.WriteFile(f.docPath(k)+".minisig", sig, 0o644); err != nil {
		f.log.Error(f.role+": keeping an accepted index's signature", "err", err)
	} else if err := fsutil.WriteFile(f.docPath(k), doc, 0o644); err != nil {
		f.log.Error(f.role+": keeping an accepted index", "err", err)
	} else if err := f.state.Save(filepath.Join(f.path, "state.json")); err != nil {
		f.log.Error(f.role+": keeping the follow state; after a restart it would accept older indexes", "err", err)
	}
	f.mu.Lock()
	f.accepted[fp], f.sigs[fp] = idx, sig
	f.mu.Unlock()
	f.log.Info(f.role+": accepted the index of a followed key", "key", idx.Key, "version", idx.Version,
		"entries", len(idx.Entries), "expires", idx.Expires.Format(time.RFC3339))
	return nil
}

// get reads url's body, at most limit bytes (index.ErrTooLarge beyond, before anything
// parses it), unless its ETag is etag: then it returns no body and no error.
func (f *Follower) get(ctx context.Context, url, etag string, limit int64) ([]byte, string, error) {
	body, tag, err := boundedget.Get(ctx, f.http, url, etag, limit)
	var se *boundedget.StatusError
	switch {
	case errors.As(err, &se) && se.Code == http.StatusNotFound:
		return nil, "", errNoIndex
	case errors.Is(err, boundedget.ErrTooLarge):
		return nil, "", fmt.Errorf("%w: %w", index.ErrTooLarge, err)
	}
	return body, tag, err
}

// Current is the index accepted from k, expired or not; nil if none.
func (f *Follower) Current(k minisign.PublicKey) *index.Index {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepted[sign.Fingerprint(k)]
}

// Indexes are the indexes accepted from the keys followed now, expired or not (carry
// tells which are current): a retired key's no longer count.
func (f *Follower) Indexes() []*index.Index {
	var out []*index.Index
	for _, k := range f.state.Followed(f.keys...) {
		if idx := f.Current(k); idx != nil {
			out = append(out, idx)
		}
	}
	return out
}

// Signed is an accepted index as its key signed it, for serving it again.
type Signed struct {
	Index  *index.Index
	Key    minisign.PublicKey
	Doc    string // the document's file
	Sig    []byte // its minisign signature
	SHA256 string // of the document
}

// Signed is the index accepted from the followed key whose id is keyID, with its
// signature; false when there is none, or its signature was lost in a crash.
func (f *Follower) Signed(keyID string) (Signed, bool) {
	for _, k := range f.state.Followed(f.keys...) {
		if sign.KeyID(k.ID()) != keyID {
			continue
		}
		fp := sign.Fingerprint(k)
		ks, _ := f.state.Key(k)
		f.mu.Lock()
		idx, sig := f.accepted[fp], f.sigs[fp]
		f.mu.Unlock()
		if idx == nil || sig == nil {
			return Signed{}, false
		}
		return Signed{Index: idx, Key: k, Doc: f.docPath(k), Sig: sig, SHA256: ks.SHA256}, true
	}
	return Signed{}, false
}

// Status counts the keys followed now by the state of their index: current (accepted,
// unexpired), expired, or missing (none accepted).
func (f *Follower) Status() (current, expired, missing int) {
	for _, k := range f.state.Followed(f.keys...) {
		switch idx := f.Current(k); {
		case idx == nil:
			missing++
		case f.now().Before(idx.Expires):
			current++
		default:
			expired++
		}
	}
	return current, expired, missing
}

// Now is the follower's clock, which its indexes expire by.
func (f *Follower) Now() time.Time { return f.now() }

// reportEquivocation tells the directory (POST /api/v1/reports) of an index refused as an
// equivocation, for its operator; a failure is logged only: the refusal stands either way.
func (f *Follower) reportEquivocation(ctx context.Context, e relayapi.Equivocation) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // the poll has more to do
	defer cancel()
	if err := f.postReport(ctx, relayapi.Reports{Equivocations: []relayapi.Equivocation{e}}); err != nil {
		f.log.Warn(f.role+": cannot report an index equivocation to the directory", "key", e.Key, "version", e.Version, "err", err)
	}
}

func (f *Follower) postReport(ctx context.Context, rep relayapi.Reports) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.dir+"/api/v1/reports", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("the directory answered %s", resp.Status)
	}
	return nil
}
