package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/manifest"
)

// PublishLocal publishes files already on this directory's disk (paths[i] holding
// m.Files[i]) as if publisher had uploaded them: the same slot, size, name and space
// checks as a declaration, the same one-pass ingest into staging (each file's sha256,
// the pieces, the O_DIRECT origin copy), and the same publish (rename, fsync, row, view,
// own index). Whoever fetched the files vouches for their digests in m and keeps the
// proof in signed (an origin-pull: the project's signed SHA256SUMS and its minisig);
// the digests ingest computes must equal m's, or nothing is published
// (ErrDigestMismatch). The files are read, never moved or removed.
//
// publisher names the source in the artifact's row and logs ("origin:<catalog>"); it
// holds upload slots under that name as a publisher key would. Errors are the upload
// path's: ErrExists (published, expunged or being published), ErrTooLarge, ErrInvalid,
// ErrDuplicateContent, ErrDigestMismatch, ErrBusy when the upload slots
// are taken, ErrNoSpace.
func (c *Catalog) PublishLocal(ctx context.Context, m *manifest.Manifest, paths []string, publisher string, signed SignedManifest) (*Artifact, error) {
	return c.publishLocal(ctx, m, paths, publisher, signed, nil)
}

// maxLinkedPieceLength bounds the piece length of a linked artifact's info dict: 64 MiB,
// four times what this directory chooses for the largest artifacts.
const maxLinkedPieceLength = 64 << 20

// PublishLinked publishes files already on this directory's disk as PublishLocal does,
// for a federation link (catalog/links): the info dict made from their bytes, with the
// piece length of info, must be info byte for byte, so that both directories serve one
// torrent under one infohash; else nothing is published (ErrDigestMismatch). m's
// digests come from the other directory's signed index, which signed records. Both directories must make info
// dicts alike (the same odi release line): one that differs is refused, not rewritten.
func (c *Catalog) PublishLinked(ctx context.Context, m *manifest.Manifest, paths []string, info []byte, publisher string, signed SignedManifest) (*Artifact, error) {
	if len(info) == 0 {
		return nil, fmt.Errorf("%w: no info dict to match", ErrInvalid)
	}
	return c.publishLocal(ctx, m, paths, publisher, signed, info)
}

// publishLocal is PublishLocal, and PublishLinked when info is not nil.
func (c *Catalog) publishLocal(ctx context.Context, m *manifest.Manifest, paths []string, publisher string, signed SignedManifest, info []byte) (_ *Artifact, err error) {
	var pieceLn int64
	if info != nil {
		var mi metainfo.Info
		if err := bencode.Unmarshal(info, &mi); err != nil {
			return nil, fmt.Errorf("%w: info dict: %w", ErrInvalid, err)
		}
		if pieceLn = mi.PieceLength; pieceLn <= 0 || pieceLn > maxLinkedPieceLength {
			return nil, fmt.Errorf("%w: info dict piece length %d", ErrInvalid, mi.PieceLength)
		}
	}
	if err := m.Validate(true); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(paths) != len(m.Files) {
		return nil, fmt.Errorf("%w: %d local files for a manifest of %d", ErrInvalid, len(paths), len(m.Files))
	}
	files := make([]*os.File, 0, len(paths))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	readers := make([]io.Reader, len(paths))
	for i, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", m.ID(), err)
		}
		files = append(files, f)
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", m.ID(), err)
		}
		if fi.Size() != m.Files[i].Size {
			return nil, fmt.Errorf("%w: %s has %d bytes, the manifest says %d", ErrInvalid, p, fi.Size(), m.Files[i].Size)
		}
		readers[i] = f
	}
	// The slot is held under the publisher's name as its key: no signed request can
	// take it, as its id is never handed out.
	up, err := c.reserve(m.Declaration(), &catalogapi.Publisher{Name: publisher}, publisher, publisher)
	if err != nil {
		return nil, err
	}
	up.pieceLn = pieceLn // 0: this directory's choice
	up.mu.Lock()
	up.state = receiving
	up.mu.Unlock()
	defer func() {
		if err != nil {
			c.drop(up, err)
		}
	}()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	defer context.AfterFunc(up.ctx, func() { stop(context.Cause(up.ctx)) })()
	if err := c.ingest(ctx, up, io.MultiReader(readers...)); err != nil {
		if cause := context.Cause(up.ctx); cause != nil {
			return nil, errors.Join(err, cause)
		}
		return nil, err
	}
	if info != nil && !bytes.Equal(up.info, info) {
		return nil, fmt.Errorf("%w: %s: the info dict made from the bytes has infohash %s, the other directory's %s",
			ErrDigestMismatch, m.ID(), up.ih.HexString(), metainfo.HashBytes(info).HexString())
	}
	up.mu.Lock()
	up.state = committing
	up.mu.Unlock()
	return c.land(ctx, up, m, signed)
}
