package main

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/catalog"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/webseed"
)

// redirectTargets shows the catalog to the redirector: the artifact, and the relays that
// may be sent its users right now.
type redirectTargets struct {
	cat *catalog.Catalog
	// pieces caches each artifact's piece hashes: decoding the info dict on every
	// redirect would cost more than the redirect.
	pieces sync.Map // *catalog.Artifact -> []byte
}

var _ webseed.Resolver = (*redirectTargets)(nil)

func (rt *redirectTargets) Resolve(cat, name, version string) (*webseed.Target, error) {
	var a *catalog.Artifact
	var err error
	if strings.EqualFold(version, names.Latest) {
		a, err = rt.cat.Latest(cat, name)
	} else {
		a, err = rt.cat.Artifact(cat, name, version)
	}
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return nil, fmt.Errorf("%w: %w", webseed.ErrNotFound, err)
	case err != nil:
		return nil, err
	case a.State == catalog.Expunged:
		return nil, fmt.Errorf("%w: %s was expunged: %s", webseed.ErrGone, a.ID(), a.Reason)
	}
	pieces, err := rt.piecesOf(a)
	if err != nil {
		return nil, err
	}
	t := &webseed.Target{
		Manifest: a.Manifest, InfoHash: a.InfoHash, PieceLength: a.PieceLength, Pieces: pieces,
		TorrentURL: rt.cat.TorrentURL(a), Origin: rt.cat.OriginSeed(a),
	}
	for _, m := range rt.cat.Mirrors(a.InfoHash) {
		t.Mirrors = append(t.Mirrors, webseed.Mirror(m))
	}
	return t, nil
}

func (rt *redirectTargets) piecesOf(a *catalog.Artifact) ([]byte, error) {
	if p, ok := rt.pieces.Load(a); ok {
		return p.([]byte), nil
	}
	var info metainfo.Info
	if err := bencode.Unmarshal(a.Info, &info); err != nil {
		return nil, fmt.Errorf("info dict of %s: %w", a.ID(), err)
	}
	rt.pieces.Store(a, info.Pieces)
	return info.Pieces, nil
}
