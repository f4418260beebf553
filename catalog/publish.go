package catalog

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/catalog/ingest"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/fsutil"
	"github.com/opendist/odi/internal/manifest"
)

// A publish takes three requests, so that no byte moves before the publisher is known and
// the name is free, and the publisher's signature covers digests it computed itself:
//
//  1. declare (signed): catalog, name, version, root and each file's path and size;
//  2. upload: the files' bytes, end to end in manifest order, to the upload's secret URL;
//     the directory hashes them in one pass into a staging folder;
//  3. commit (signed): the manifest with the sha256 the publisher computed while
//     sending; if it matches every received byte, the staging folder becomes the origin
//     copy and then the row lands. Until the row lands nothing is visible, and a restart
//     removes whatever a crash left in staging.
//
// An upload holds a slot (MaxUploads in all, MaxUploadsPerPublisher per key) until it is
// committed, fails, waits UploadTTL for its next step, or its publisher is revoked.

type uploadState int

const (
	declared uploadState = iota
	receiving
	received
	committing
)

type upload struct {
	id        string
	decl      *manifest.Manifest
	publisher *catalogapi.Publisher
	keyID     string // shown
	key       string // the declaring key's fingerprint: only it may commit
	dir       string
	// ctx ends when the upload is cancelled (its publisher revoked, aborted, expired),
	// with the reason as its cause; the request working on it then fails and drops it.
	ctx    context.Context
	cancel context.CancelCauseFunc

	declared time.Time // for odi_directory_publish_duration_seconds

	mu      sync.Mutex
	state   uploadState
	expires time.Time
	sums    []string // hex sha256 per file, once received
	info    []byte
	ih      metainfo.Hash
	pieceLn int64
}

type uploads struct {
	mu         sync.Mutex
	byID       map[string]*upload
	byArtifact map[string]*upload
}

func newUploads() *uploads {
	return &uploads{byID: map[string]*upload{}, byArtifact: map[string]*upload{}}
}

// reserved is the bytes in-flight uploads will still occupy.
func (u *uploads) reserved() (n int64) {
	for _, up := range u.byID {
		n += up.decl.TotalSize()
	}
	return n
}

// Declare starts a publish for the signer of p.
func (c *Catalog) declare(p *principal, decl *manifest.Manifest) (*catalogapi.Upload, error) {
	if p.publisher == nil {
		return nil, fmt.Errorf("%w: admin keys cannot publish; add a publisher key", ErrForbidden)
	}
	if err := c.mayPublish(p.publisher, decl.Catalog); err != nil {
		return nil, err
	}
	up, err := c.reserve(decl, p.publisher, p.keyID, p.fingerprint)
	if err != nil {
		return nil, err
	}
	return &catalogapi.Upload{ID: up.id, Expires: up.expires}, nil
}

// reserve takes an upload slot for decl, published by publisher with the key keyID
// (shown) whose fingerprint is key, and makes its staging folder: the steps every way
// into the catalog shares, so that an artifact pulled from an origin (pull.go) is
// bounded, refused and excluded exactly as an uploaded one.
func (c *Catalog) reserve(decl *manifest.Manifest, publisher *catalogapi.Publisher, keyID, key string) (*upload, error) {
	total := decl.TotalSize()
	if total > int64(c.cfg.MaxArtifactSize) {
		return nil, fmt.Errorf("%w: %d bytes, this directory takes at most %s", ErrTooLarge, total, c.cfg.MaxArtifactSize)
	}
	if a := c.view.Load().byID[decl.ID()]; a != nil {
		if a.State == catalogapi.Expunged {
			return nil, fmt.Errorf("%s was expunged and can never be published again: %w", decl.ID(), ErrExists)
		}
		return nil, fmt.Errorf("%s: %w", decl.ID(), ErrExists)
	}
	c.uploads.mu.Lock()
	defer c.uploads.mu.Unlock()
	if _, busy := c.uploads.byArtifact[decl.ID()]; busy {
		return nil, fmt.Errorf("a publish of %s is in progress: %w", decl.ID(), ErrExists)
	}
	if len(c.uploads.byID) >= c.cfg.MaxUploads {
		return nil, busy(uploadRetry, "%d uploads in progress, as many as this directory runs at once (max_uploads)", c.cfg.MaxUploads)
	}
	mine := 0
	for _, up := range c.uploads.byID {
		if up.key == key {
			mine++
		}
	}
	if mine >= c.cfg.MaxUploadsPerPublisher {
		return nil, busy(uploadRetry, "publisher %s has %d uploads in progress, as many as one publisher may (max_uploads_per_publisher)",
			publisher.Name, mine)
	}
	if free, err := c.space.fresh(); err == nil {
		if reserved := c.uploads.reserved(); total+reserved+int64(c.cfg.MinFreeSpace) > free {
			return nil, c.space.refuse(decl.ID(), total, reserved, nil)
		}
	}
	var b [16]byte
	rand.Read(b[:])
	up := &upload{
		id:        hex.EncodeToString(b[:]),
		decl:      decl,
		publisher: publisher,
		keyID:     keyID,
		key:       key,
		declared:  c.now(),
		expires:   c.now().Add(c.cfg.UploadTTL),
	}
	up.ctx, up.cancel = context.WithCancelCause(context.Background())
	up.dir = filepath.Join(c.stagingDir, stagingName(up.id))
	if err := os.Mkdir(up.dir, 0o755); err != nil {
		return nil, c.space.check(decl.ID(), total, fmt.Errorf("declare %s: %w", decl.ID(), err))
	}
	c.uploads.byID[up.id] = up
	c.uploads.byArtifact[decl.ID()] = up
	c.log.Info("publish declared", "artifact", decl.ID(), "publisher", publisher.Name, "bytes", total, "files", len(decl.Files), "upload", UploadRef(up.id))
	return up, nil
}

// UploadRef names an upload in logs and errors without giving it away: its id is the
// capability to send, commit or abandon it (the bytes are not signed), so it appears in
// no log line, error or file name. 8 hex digits of its sha256 tell uploads apart.
func UploadRef(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "ref-" + hex.EncodeToString(sum[:4])
}

// stagingName is the folder an upload's bytes wait in: a whole sha256 of the id, so that
// file errors (which name the path) do not carry the id.
func stagingName(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// uploadRetry is the Retry-After of a publish refused for want of a slot. Slots free up
// as publishes finish, from a second for small artifacts to minutes for large ones; a
// declaration is a cheap signed request, so waiting publishers may ask often.
const uploadRetry = 5 * time.Second

// take finds an upload in the given state and moves it to next, so that two requests
// cannot work on one upload at once. A cancelled upload is not taken (cancel drops
// those no request works on).
func (c *Catalog) take(id string, want, next uploadState) (*upload, error) {
	c.uploads.mu.Lock()
	up := c.uploads.byID[id]
	c.uploads.mu.Unlock()
	if up == nil {
		return nil, fmt.Errorf("upload %s: %w (expired, failed or never declared; publish again)", UploadRef(id), ErrNotFound)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if err := context.Cause(up.ctx); err != nil {
		return nil, fmt.Errorf("upload %s: %w", UploadRef(id), err)
	}
	if up.state != want {
		return nil, fmt.Errorf("upload %s is not waiting for this step: %w", UploadRef(id), ErrExists)
	}
	up.state = next
	up.expires = c.now().Add(c.cfg.UploadTTL)
	return up, nil
}

// receive reads an upload's bytes; on any failure the upload is dropped with its files.
// interrupt, if not nil, makes a read of body that is waiting for bytes fail at once: a
// cancelled upload calls it, as no context reaches a read blocked on a connection.
func (c *Catalog) receive(ctx context.Context, id string, body io.Reader, contentLength int64, interrupt func()) (_ *catalogapi.Upload, err error) {
	up, err := c.take(id, declared, receiving)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	defer context.AfterFunc(up.ctx, func() {
		stop(context.Cause(up.ctx))
		if interrupt != nil {
			interrupt()
		}
	})()
	defer func() {
		if cause := context.Cause(up.ctx); err != nil && cause != nil {
			err = fmt.Errorf("upload %s: %w", UploadRef(id), cause) // why the read failed
		}
		if err != nil {
			c.drop(up, err)
		}
	}()
	total := up.decl.TotalSize()
	if contentLength >= 0 && contentLength != total {
		return nil, fmt.Errorf("%w: body of %d bytes, declared %d", ErrInvalid, contentLength, total)
	}
	start := c.now()
	if err := c.ingest(ctx, up, body); err != nil {
		return nil, err
	}

	up.mu.Lock()
	up.state = received
	up.expires = c.now().Add(c.cfg.UploadTTL) // the commit's wait starts now, however long the bytes took
	cancelled := context.Cause(up.ctx)
	up.mu.Unlock()
	if cancelled != nil {
		return nil, cancelled // cancel saw it receiving: it is this request's to drop
	}
	elapsed := c.now().Sub(start)
	c.log.Info("publish received", "artifact", up.decl.ID(), "infohash", up.ih.HexString(), "bytes", total,
		"seconds", elapsed.Seconds(), "MBps", float64(total)/1e6/max(elapsed.Seconds(), 1e-9))
	out := &catalogapi.Upload{ID: up.id, Expires: up.expires, InfoHash: up.ih.HexString(), Files: append([]manifest.File(nil), up.decl.Files...)}
	for i := range out.Files {
		out.Files[i].SHA256 = up.sums[i]
	}
	return out, nil
}

// ingest writes an upload's bytes from body into its staging folder in one pass,
// computing each file's sha256, the pieces and the info dict. On an error the caller
// drops the upload, and its bytes with it.
func (c *Catalog) ingest(ctx context.Context, up *upload, body io.Reader) error {
	total := up.decl.TotalSize()
	files := make([]ingest.File, len(up.decl.Files))
	for i, f := range up.decl.Files {
		files[i] = ingest.File{Path: up.decl.LocalPath(i), Size: f.Size}
	}
	if up.pieceLn == 0 { // a link's is the other directory's (PublishLinked)
		up.pieceLn = ingest.PieceLength(total)
	}
	res, err := ingest.Write(ctx, body, up.dir, files, up.pieceLn)
	if err != nil {
		if errors.Is(err, ingest.ErrTruncated) || errors.Is(err, ingest.ErrTooLong) {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return c.space.check(up.decl.ID(), total, err)
	}
	up.sums = make([]string, len(res.SHA256))
	for i, s := range res.SHA256 {
		up.sums[i] = hex.EncodeToString(s[:])
	}
	if up.info, err = infoDict(up.decl, up.pieceLn, res.Pieces); err != nil {
		return err
	}
	up.ih = metainfo.HashBytes(up.info)
	return nil
}

// commit checks the publisher's signed manifest against the received bytes and publishes.
func (c *Catalog) commit(ctx context.Context, p *principal, id string, signed []byte) (_ *Artifact, err error) {
	up, err := c.take(id, received, committing)
	if err != nil {
		return nil, err
	}
	if p.fingerprint != up.key {
		up.mu.Lock()
		up.state = received
		cancelled := context.Cause(up.ctx)
		up.mu.Unlock()
		if cancelled != nil {
			c.drop(up, cancelled)
		}
		return nil, fmt.Errorf("%w: upload %s was declared by key %s (%s), not this one", ErrForbidden, UploadRef(id), up.keyID, up.key)
	}
	defer func() {
		if err != nil {
			c.drop(up, err)
		}
	}()
	m, err := manifest.Decode(strings.NewReader(string(signed)), true)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !m.Declaration().Equal(up.decl) {
		return nil, fmt.Errorf("%w: the manifest names other files than were declared", ErrInvalid)
	}
	if err := c.mayPublish(p.publisher, m.Catalog); err != nil {
		return nil, err
	}
	return c.land(ctx, up, m, SignedManifest{
		Manifest: signed, KeyID: p.keyID, Date: p.claims.Date.UTC().Format(time.RFC3339),
		Nonce: p.claims.Nonce, URI: p.uri, Signature: p.claims.Signature,
	})
}

// land publishes a received upload as m, whose digests must be the ones ingest
// computed, with signed as the evidence of who vouched for them. On an error the
// caller drops the upload.
func (c *Catalog) land(ctx context.Context, up *upload, m *manifest.Manifest, signed SignedManifest) (*Artifact, error) {
	for i, f := range m.Files {
		if f.SHA256 != up.sums[i] {
			return nil, fmt.Errorf("%w: %s: signed sha256 %s, received %s", ErrDigestMismatch, m.LocalPath(i), f.SHA256, up.sums[i])
		}
	}
	a := &Artifact{
		Manifest:    *m,
		InfoHash:    up.ih,
		PieceLength: up.pieceLn,
		Size:        m.TotalSize(),
		Info:        up.info,
		Publisher:   up.publisher.Name,
		Signed:      signed,
		State:       catalogapi.Published,
		PublishedAt: c.now().UTC().Truncate(time.Second),
	}
	a.index()
	if err := c.publish(ctx, up, a); err != nil {
		return nil, err
	}
	c.uploads.mu.Lock()
	delete(c.uploads.byID, up.id)
	delete(c.uploads.byArtifact, up.decl.ID())
	c.uploads.mu.Unlock()
	c.pubMetrics.published(a.Size, c.now().Sub(up.declared))
	return a, nil
}

// publish makes the staged bytes the origin copy, durably, then lands the row, unless
// the upload was cancelled first (its publisher revoked while it committed).
func (c *Catalog) publish(ctx context.Context, up *upload, a *Artifact) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := context.Cause(up.ctx); err != nil {
		return fmt.Errorf("upload %s: %w", UploadRef(up.id), err)
	}
	v := c.view.Load()
	if other := v.byHash[a.InfoHash]; other != nil {
		return fmt.Errorf("%w: %s has the same infohash %s", ErrDuplicateContent, other.ID(), a.InfoHash.HexString())
	}
	origin := filepath.Join(c.originDir, a.InfoHash.HexString())
	if err := os.Rename(up.dir, origin); err != nil {
		return c.space.check(a.ID(), a.Size, fmt.Errorf("publish %s: %w", a.ID(), err))
	}
	if err := errors.Join(fsutil.SyncDir(c.originDir), fsutil.SyncDir(c.stagingDir)); err != nil {
		os.RemoveAll(origin)
		return c.space.check(a.ID(), a.Size, fmt.Errorf("publish %s: %w", a.ID(), err))
	}
	if err := c.db.insertArtifact(ctx, a); err != nil {
		os.RemoveAll(origin)
		return err
	}
	c.view.Store(v.with(a))
	c.resignOwnIndex()
	c.log.Info("artifact published", "artifact", a.ID(), "infohash", a.InfoHash.HexString(), "bytes", a.Size, "publisher", a.Publisher)
	return nil
}

// abort cancels an upload at its publisher's request.
func (c *Catalog) abort(id string) error {
	c.uploads.mu.Lock()
	up := c.uploads.byID[id]
	c.uploads.mu.Unlock()
	if up == nil {
		return fmt.Errorf("upload %s: %w", UploadRef(id), ErrNotFound)
	}
	c.cancel(up, errors.New("aborted by the publisher"))
	return nil
}

// cancelUploads cancels every upload match selects, and returns how many.
func (c *Catalog) cancelUploads(match func(*upload) bool, why error) int {
	c.uploads.mu.Lock()
	var hit []*upload
	for _, up := range c.uploads.byID {
		if match(up) {
			hit = append(hit, up)
		}
	}
	c.uploads.mu.Unlock()
	for _, up := range hit {
		c.cancel(up, why)
	}
	return len(hit)
}

// cancel ends an upload at once. One waiting for its next step is dropped here; one
// receiving or committing is dropped by the request working on it, which fails now
// (its reads are interrupted, and a commit checks before it lands).
func (c *Catalog) cancel(up *upload, why error) {
	up.cancel(why)
	up.mu.Lock()
	working := up.state == receiving || up.state == committing
	up.mu.Unlock()
	if !working {
		c.drop(up, why)
	}
}

// drop forgets an upload and removes its staging folder.
func (c *Catalog) drop(up *upload, why error) {
	c.uploads.mu.Lock()
	if c.uploads.byID[up.id] == up {
		delete(c.uploads.byID, up.id)
		delete(c.uploads.byArtifact, up.decl.ID())
	}
	c.uploads.mu.Unlock()
	if err := os.RemoveAll(up.dir); err != nil {
		c.log.Error("removing a failed upload", "upload", UploadRef(up.id), "err", err)
	}
	c.log.Warn("publish failed", "artifact", up.decl.ID(), "upload", UploadRef(up.id), "err", why)
}

// expireUploads cancels uploads that waited for their next step past UploadTTL.
func (c *Catalog) expireUploads() {
	now := c.now()
	c.cancelUploads(func(up *upload) bool {
		up.mu.Lock()
		defer up.mu.Unlock()
		return up.state != receiving && up.state != committing && now.After(up.expires)
	}, fmt.Errorf("%w: no request for %s (upload_ttl)", ErrNotFound, c.cfg.UploadTTL))
}

// Run does the catalog's housekeeping until ctx ends (expiring uploads and pending
// relays, checking relays, signing the directory's own index), and returns once every
// goroutine it or a request started has ended.
func (c *Catalog) Run(ctx context.Context) error {
	c.bg.Go(c.watchRelays)
	if c.indexes.own != nil {
		c.bg.Go(c.keepOwnIndex)
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.bg.stop()
			return nil
		case <-t.C:
			c.expireUploads()
			if err := c.expirePending(ctx); err != nil {
				c.log.Error("expiring pending relays", "err", err)
			}
		}
	}
}

// infoDict builds the BEP 3 info dict of a manifest's files. Its "source" is the catalog
// (the key private trackers set for the same reason): the same bytes published into two
// catalogs are two torrents, so a publisher of one catalog can neither squat another's
// content nor, by an expunge there, take it down here. Within a catalog, the infohash is
// the content's identity: a second name or version of the same bytes is refused, for
// good once the first is expunged.
func infoDict(m *manifest.Manifest, pieceLength int64, pieces []byte) ([]byte, error) {
	info := metainfo.Info{PieceLength: pieceLength, Pieces: pieces, Name: m.Root, Source: m.Catalog}
	if m.SingleFile() {
		info.Length = m.Files[0].Size
	} else {
		for _, f := range m.Files {
			info.Files = append(info.Files, metainfo.FileInfo{Length: f.Size, Path: strings.Split(f.Path, "/")})
		}
	}
	b, err := bencode.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("encode info dict: %w", err)
	}
	return b, nil
}
