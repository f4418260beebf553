package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"aead.dev/minisign"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/pieces"
	"github.com/opendist/odi/internal/sign"
)

// ErrNoIndex is returned when the directory holds no index signed by a key.
var ErrNoIndex = errors.New("no index")

// maxSignatureFile bounds the read of an index's .minisig; index.Verify refuses one
// larger than its own, smaller, bound.
const maxSignatureFile = 64 << 10

// indexPath is where the directory serves the current index of the key with id keyID.
func indexPath(keyID string) string { return "/indexes/" + keyID + "/index.json" }

// getIndex gets the current index document of pub and its signature from the directory,
// unverified. A directory with no index of pub answers 404: ErrNoIndex.
func getIndex(ctx context.Context, api *apiclient.Client, pub minisign.PublicKey) (doc, sig []byte, err error) {
	id := sign.KeyID(pub.ID())
	get := func(path string, read func(io.Reader) ([]byte, error)) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.Base+path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := api.HTTP.Do(req)
		if err != nil {
			return nil, fmt.Errorf("get index of key %s: %w", id, err)
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusNotFound:
			return nil, fmt.Errorf("key %s: %w at %s", id, ErrNoIndex, api.Base)
		default:
			return nil, fmt.Errorf("get index of key %s: GET %s: %s", id, path, resp.Status)
		}
		return read(resp.Body)
	}
	if doc, err = get(indexPath(id), index.ReadDoc); err != nil {
		return nil, nil, err
	}
	sig, err = get(indexPath(id)+".minisig", func(r io.Reader) ([]byte, error) {
		return io.ReadAll(io.LimitReader(r, maxSignatureFile))
	})
	if err != nil {
		return nil, nil, err
	}
	return doc, sig, nil
}

// currentIndex gets and verifies the directory's current index of pub. An expired one is
// returned too, with expired true: an indexer re-signs from it, and show reports it.
func currentIndex(ctx context.Context, api *apiclient.Client, pub minisign.PublicKey, now time.Time) (idx *index.Index, expired bool, err error) {
	doc, sig, err := getIndex(ctx, api, pub)
	if err != nil {
		return nil, false, err
	}
	idx, err = index.Verify(pub, doc, sig, now)
	if errors.Is(err, index.ErrExpired) {
		// Verify checks expiry against the time it is given and everything else
		// regardless: the zero time, before any expiry, verifies all but expiry.
		idx, err = index.Verify(pub, doc, sig, time.Time{})
		expired = true
	}
	if err != nil {
		return nil, false, fmt.Errorf("index of key %s at %s: %w", sign.KeyID(pub.ID()), api.Base, err)
	}
	return idx, expired, nil
}

// listArtifacts lists the directory's artifacts (published and expunged), of catalog
// only unless it is "".
func listArtifacts(ctx context.Context, api *apiclient.Client, catalog string) ([]catalogapi.Artifact, error) {
	path := "/api/v1/artifacts"
	if catalog != "" {
		path += "?" + url.Values{"catalog": {catalog}}.Encode()
	}
	var list struct{ Artifacts []catalogapi.Artifact }
	if err := api.Call(ctx, http.MethodGet, path, nil, &list); err != nil {
		return nil, fmt.Errorf("list artifacts: %w", err)
	}
	return list.Artifacts, nil
}

// IndexReport is what odi index show prints: an index as the directory holds it, and
// how the catalog moved on since.
type IndexReport struct {
	Key       string    `json:"key"`   // key id
	Found     bool      `json:"found"` // false: the directory holds no index of this key
	Version   uint64    `json:"version,omitempty"`
	Issued    time.Time `json:"issued,omitzero"`
	Expires   time.Time `json:"expires,omitzero"`
	Expired   bool      `json:"expired"`
	NextKey   string    `json:"next_key,omitempty"`
	Published int       `json:"published"` // entries listed as published
	Expunged  int       `json:"expunged"`  // entries listed as expunged
	// New are the catalog's published artifacts the index does not list.
	New []string `json:"new"`
	// Gone are the artifacts the index lists as published that the catalog expunged or
	// no longer has; the directory refuses the next version until they are removed or
	// expunged from it.
	Gone []GoneArtifact `json:"gone"`
}

// GoneArtifact is an artifact an index vouches for that the catalog no longer serves.
type GoneArtifact struct {
	ID     string `json:"id"`
	Reason string `json:"reason"` // the catalog's expunge reason, or "not in the catalog"
}

// ShowIndex verifies the directory's current index of pub (an expired one too, said
// so) and compares it with the catalog. A directory without one is a report with Found
// false and every published artifact new.
func ShowIndex(ctx context.Context, api *apiclient.Client, pub minisign.PublicKey, now time.Time) (*IndexReport, error) {
	rep := &IndexReport{Key: sign.KeyID(pub.ID()), New: []string{}, Gone: []GoneArtifact{}}
	idx, expired, err := currentIndex(ctx, api, pub, now)
	switch {
	case errors.Is(err, ErrNoIndex):
		idx = &index.Index{}
	case err != nil:
		return nil, err
	default:
		rep.Found, rep.Expired = true, expired
		rep.Version, rep.Issued, rep.Expires, rep.NextKey = idx.Version, idx.Issued, idx.Expires, idx.NextKey
	}
	arts, err := listArtifacts(ctx, api, "")
	if err != nil {
		return nil, err
	}
	inCatalog := map[string]*catalogapi.Artifact{}
	for i := range arts {
		a := &arts[i]
		inCatalog[a.Catalog+"/"+a.Name+"/"+a.Version] = a
		if _, listed := idx.Find(a.Catalog, a.Name, a.Version); !listed && a.State == catalogapi.Published {
			rep.New = append(rep.New, a.Catalog+"/"+a.Name+"/"+a.Version)
		}
	}
	for _, e := range idx.Entries {
		if e.State != index.StatePublished {
			rep.Expunged++
			continue
		}
		rep.Published++
		switch a := inCatalog[e.ID()]; {
		case a == nil:
			rep.Gone = append(rep.Gone, GoneArtifact{ID: e.ID(), Reason: "not in the catalog"})
		case a.State != catalogapi.Published:
			rep.Gone = append(rep.Gone, GoneArtifact{ID: e.ID(), Reason: a.ExpungeReason})
		}
	}
	return rep, nil
}

// IndexChanges are what odi index sign changes in an index. Refs name a version.
type IndexChanges struct {
	Add     []Ref
	AllNew  []string // catalogs whose published artifacts not yet listed are added
	Remove  []Ref
	Expunge []Ref
	Reason  string        // why Expunge's artifacts are expunged; required with them
	TTL     time.Duration // how long the new version is valid; 0: index.DefaultTTL
	// VerifyBytes downloads every added artifact and checks its bytes against the
	// directory's sha256 and the torrent's pieces, rather than trusting the directory.
	VerifyBytes bool
	DryRun      bool // build, check and sign, but do not upload
	// NextKey, a one-line public key, announces the key that takes over (followers follow
	// it too, and drop this key once it has signed an index they accepted).
	NextKey string
	// Revoke makes this version the key's last word: followers refuse the key from then on.
	Revoke bool
}

// SignResult is what odi index sign did.
type SignResult struct {
	Key      string    `json:"key"`
	Previous uint64    `json:"previous_version"` // 0: there was none
	Version  uint64    `json:"version"`
	Issued   time.Time `json:"issued"`
	Expires  time.Time `json:"expires"`
	Entries  int       `json:"entries"`
	Added    []string  `json:"added"`
	Removed  []string  `json:"removed"`
	Expunged []string  `json:"expunged"`
	NextKey  string    `json:"next_key,omitempty"` // the successor this version announces
	Revoked  bool      `json:"revoked,omitempty"`  // this version revokes the key
	SHA256   string    `json:"sha256"`             // of the signed document
	Uploaded bool      `json:"uploaded"`           // false with DryRun
}

// SignIndex builds the next version of key's index at the directory api talks to from
// the current one (verified; version 1 if there is none), applies ch, checks each added
// artifact against its torrent (and its bytes with ch.VerifyBytes), signs it with key,
// which never leaves this machine, and uploads it, in a request api signs with the same
// key. Errors: ErrChecksum when an added artifact's hashes disagree with its torrent or
// bytes, index.ErrNotListed for a change to an artifact the index does not list, the
// directory's refusal (*apiclient.Error), or any other failure.
func SignIndex(ctx context.Context, api *apiclient.Client, key minisign.PrivateKey, ch IndexChanges, now time.Time) (*SignResult, error) {
	pub := key.Public().(minisign.PublicKey)
	keyID := sign.KeyID(pub.ID())
	if api.Signer == nil || sign.Fingerprint(api.Signer.PublicKey()) != sign.Fingerprint(pub) {
		return nil, fmt.Errorf("sign index of key %s: the upload must be signed by the same key", keyID)
	}
	if len(ch.Expunge) > 0 && ch.Reason == "" {
		return nil, fmt.Errorf("sign index of key %s: expunging needs a reason", keyID)
	}
	prev, _, err := currentIndex(ctx, api, pub, now)
	if err != nil && !errors.Is(err, ErrNoIndex) {
		return nil, err
	}
	idx := index.Next(prev, now, ch.TTL)
	idx.Directory = api.Base
	if ch.NextKey != "" {
		idx.NextKey = ch.NextKey
	}
	idx.Revoked = ch.Revoke
	res := &SignResult{Key: keyID, Version: idx.Version, Issued: idx.Issued, Expires: idx.Expires,
		Added: []string{}, Removed: []string{}, Expunged: []string{}}
	if prev != nil {
		res.Previous = prev.Version
	}
	for _, r := range ch.Remove {
		if !idx.Remove(r.Catalog, r.Name, r.Version) {
			return nil, fmt.Errorf("remove %s: %w in version %d", r, index.ErrNotListed, res.Previous)
		}
		res.Removed = append(res.Removed, r.String())
	}
	for _, r := range ch.Expunge {
		if err := idx.Expunge(r.Catalog, r.Name, r.Version, ch.Reason); err != nil {
			return nil, err
		}
		res.Expunged = append(res.Expunged, r.String())
	}
	add := slices.Clone(ch.Add)
	for _, c := range ch.AllNew {
		arts, err := listArtifacts(ctx, api, c)
		if err != nil {
			return nil, err
		}
		for _, a := range arts {
			if _, listed := idx.Find(a.Catalog, a.Name, a.Version); !listed && a.State == catalogapi.Published {
				add = append(add, Ref{Catalog: a.Catalog, Name: a.Name, Version: a.Version})
			}
		}
	}
	for _, r := range add {
		e, err := checkArtifact(ctx, api, r, ch.VerifyBytes)
		if err != nil {
			return nil, err
		}
		if old, ok := idx.Find(r.Catalog, r.Name, r.Version); ok && entriesEqual(old, e) {
			continue
		}
		idx.Put(e)
		res.Added = append(res.Added, r.String())
	}
	doc, sig, err := index.Sign(key, idx)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(doc)
	res.Entries, res.SHA256 = len(idx.Entries), hex.EncodeToString(sum[:])
	res.NextKey, res.Revoked = idx.NextKey, idx.Revoked
	if ch.DryRun {
		return res, nil
	}
	if err := uploadIndex(ctx, api, keyID, doc, sig); err != nil {
		return nil, fmt.Errorf("upload index version %d of key %s: %w", idx.Version, keyID, err)
	}
	res.Uploaded = true
	return res, nil
}

func entriesEqual(a, b index.Entry) bool {
	return a.State == b.State && a.Reason == b.Reason && a.Check(b.InfoHash, b.Files) == nil
}

// uploadIndex PUTs a signed index document to the directory (catalogapi's contract): the
// document as the body, its signature in a header, the request signed by api's key.
func uploadIndex(ctx context.Context, api *apiclient.Client, keyID string, doc, sig []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, api.Base+"/api/v1/indexes/"+keyID, bytes.NewReader(doc))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(catalogapi.IndexSignatureHeader, base64.StdEncoding.EncodeToString(sig))
	if err := api.Signer.SignBody(req, doc); err != nil {
		return err
	}
	var info catalogapi.IndexInfo
	return api.Do(req, &info)
}

// checkArtifact gets a published artifact from the directory and checks it against its
// torrent (infohash, files and sizes) and, with verifyBytes, against its bytes (each
// file's sha256 and the torrent's piece hashes); it returns the index entry vouching
// for it.
func checkArtifact(ctx context.Context, api *apiclient.Client, r Ref, verifyBytes bool) (index.Entry, error) {
	var a catalogapi.Artifact
	err := api.Call(ctx, http.MethodGet, "/api/v1/artifacts/"+r.String(), nil, &a)
	switch {
	case apiclient.StatusOf(err) == http.StatusNotFound:
		return index.Entry{}, fmt.Errorf("%s: no such artifact at %s", r, api.Base)
	case err != nil:
		return index.Entry{}, fmt.Errorf("%s: %w", r, err)
	case a.Catalog != r.Catalog || a.Name != r.Name || a.Version != r.Version:
		return index.Entry{}, fmt.Errorf("%s: the directory answered with %s/%s/%s", r, a.Catalog, a.Name, a.Version)
	case a.State != catalogapi.Published:
		return index.Entry{}, fmt.Errorf("%s is %s at the directory (%s), not published", r, a.State, a.ExpungeReason)
	}
	m := manifest.Manifest{Catalog: a.Catalog, Name: a.Name, Version: a.Version, Root: a.Root, Files: a.Files}
	if err := m.Validate(true); err != nil {
		return index.Entry{}, fmt.Errorf("%s from the directory: %w", r, err)
	}
	var ih metainfo.Hash
	if err := ih.FromHexString(a.InfoHash); err != nil {
		return index.Entry{}, fmt.Errorf("%s from the directory: infohash: %w", r, err)
	}
	_, info, err := getTorrent(ctx, api.HTTP, api.Base, &m, ih)
	if err != nil {
		return index.Entry{}, fmt.Errorf("%w: %s: %w", ErrChecksum, r, err)
	}
	if verifyBytes {
		if err := checkBytes(ctx, api, &m, info); err != nil {
			return index.Entry{}, err
		}
	}
	return entryOf(&m, ih.HexString()), nil
}

// entryOf is the index entry of the artifact m with infohash ih: its files at the paths
// the torrent puts them.
func entryOf(m *manifest.Manifest, ih string) index.Entry {
	return index.Entry{Catalog: m.Catalog, Name: m.Name, Version: m.Version, InfoHash: ih, State: index.StatePublished, Files: index.FilesOf(m)}
}

// checkBytes downloads m's files through the directory's redirector, in order, and checks
// them against the directory's sha256 and the torrent's piece hashes as they stream by;
// nothing is kept.
func checkBytes(ctx context.Context, api *apiclient.Client, m *manifest.Manifest, info *metainfo.Info) error {
	sizes := make([]int64, len(m.Files))
	for i, f := range m.Files {
		sizes[i] = f.Size
	}
	badPiece := -1
	pieceCheck := pieces.NewHasher(pieces.NewLayout(info.PieceLength, sizes), info.Pieces, 0, func(p int, ok bool) error {
		if !ok && badPiece < 0 {
			badPiece = p
		}
		return nil
	})
	buf := make([]byte, 1<<20)
	for i, f := range m.Files {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, redirectURL(api.Base, m, i), nil)
		if err != nil {
			return err
		}
		n, more, sum, err := downloadFile(api.HTTP, req, f.Size, pieceCheck, buf)
		switch {
		case err != nil:
			return fmt.Errorf("%s: download %s (--verify-bytes): %w", m.ID(), m.LocalPath(i), err)
		case more:
			return fmt.Errorf("%w: %s: %s has more bytes than the directory's %d (--verify-bytes)", ErrChecksum, m.ID(), m.LocalPath(i), f.Size)
		case n != f.Size:
			return fmt.Errorf("%w: %s: %s has %d bytes, the directory says %d (--verify-bytes)", ErrChecksum, m.ID(), m.LocalPath(i), n, f.Size)
		case sum != f.SHA256:
			return fmt.Errorf("%w: %s: the directory's sha256 of %s differs from the bytes (--verify-bytes)", ErrChecksum, m.ID(), m.LocalPath(i))
		}
	}
	if badPiece >= 0 {
		return fmt.Errorf("%w: %s: piece %d of the torrent differs from the bytes (--verify-bytes)", ErrChecksum, m.ID(), badPiece)
	}
	return nil
}

// downloadFile GETs one file of size bytes with req, writing them to w too, and returns
// how many came (up to size), whether more followed, and their hex sha256.
func downloadFile(hc *http.Client, req *http.Request, size int64, w io.Writer, buf []byte) (n int64, more bool, sum string, err error) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, false, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false, "", &statusError{url: req.URL.String(), status: resp.StatusCode}
	}
	h := sha256.New()
	if n, err = io.CopyBuffer(io.MultiWriter(h, w), io.LimitReader(resp.Body, size), buf); err != nil {
		return n, false, "", err
	}
	extra, _ := resp.Body.Read(buf[:1])
	return n, extra > 0, hex.EncodeToString(h.Sum(nil)), nil
}
