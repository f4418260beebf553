package main

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

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
	// static caches what never changes of each artifact's Target (artifacts are
	// immutable): decoding the info dict and building URLs on every redirect would cost
	// more than the redirect.
	static sync.Map // *catalog.Artifact -> *webseed.Target
	// recent caches each artifact's whole Target, mirrors included, for mirrorsTTL: a
	// popular artifact's redirects then share one list of its relays instead of
	// building one each.
	recent sync.Map // *catalog.Artifact -> *recentTarget
}

// mirrorsTTL is how long a redirect may send users by a list of an artifact's relays
// already built: a relay found down or quarantined leaves redirects this much later than
// url-lists, next to the probe intervals (a minute) that find it out.
const mirrorsTTL = 250 * time.Millisecond

type recentTarget struct {
	t     *webseed.Target
	until int64 // Unix nanoseconds
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
	now := time.Now().UnixNano()
	if v, ok := rt.recent.Load(a); ok && now < v.(*recentTarget).until {
		return v.(*recentTarget).t, nil
	}
	base, err := rt.staticOf(a)
	if err != nil {
		return nil, err
	}
	t := *base
	mirrors := rt.cat.Mirrors(a.InfoHash)
	t.Mirrors = make([]webseed.Mirror, len(mirrors))
	for i, m := range mirrors {
		t.Mirrors[i] = webseed.Mirror(m)
	}
	rt.recent.Store(a, &recentTarget{t: &t, until: now + int64(mirrorsTTL)})
	return &t, nil
}

func (rt *redirectTargets) staticOf(a *catalog.Artifact) (*webseed.Target, error) {
	if t, ok := rt.static.Load(a); ok {
		return t.(*webseed.Target), nil
	}
	var info metainfo.Info
	if err := bencode.Unmarshal(a.Info, &info); err != nil {
		return nil, fmt.Errorf("info dict of %s: %w", a.ID(), err)
	}
	t := &webseed.Target{
		Manifest: a.Manifest, InfoHash: a.InfoHash, PieceLength: a.PieceLength, Pieces: info.Pieces,
		TorrentURL: rt.cat.TorrentURL(a), Origin: rt.cat.OriginSeed(a), OriginDownload: rt.cat.OriginDownload(a),
	}
	t.Prepare()
	rt.static.Store(a, t)
	return t, nil
}
