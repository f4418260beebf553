package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/pieces"
)

// resolveTimeout bounds FetchTorrent's question to the directory: one that is gone
// must not hold up a fetch that can do without it.
const resolveTimeout = 10 * time.Second

// FetchTorrent fetches what the torrent mi describes, as Fetch fetches an artifact, for
// a user who kept a .torrent while its directory may be gone: peers come from its
// trackers and from the DHT through its nodes (FetchOptions.DHTListen), bytes also from
// its web seeds. When the directory api talks to (nil: none) answers for the artifact
// the torrent names (its comment, C/N/V) under the same infohash, the files are
// checked against the catalog's sha256 as Fetch checks them; otherwise against the
// torrent's piece hashes alone (FetchResult.PiecesOnly), and no HTTP source beyond the
// web seeds is taken. An artifact the directory says it expunged is *ExpungedError.
func FetchTorrent(ctx context.Context, api *apiclient.Client, mi *metainfo.MetaInfo, o FetchOptions) (*FetchResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, fmt.Errorf("torrent: %w", err)
	}
	if err := checkPieces(&info); err != nil {
		return nil, fmt.Errorf("torrent: %w", err)
	}
	ih := mi.HashInfoBytes()
	a := torrentArtifact(mi, &info)
	note := ""
	if catalogued, err := catalogEntry(ctx, api, a); err == nil {
		a = catalogued
	} else {
		if xe := (*ExpungedError)(nil); errors.As(err, &xe) {
			return nil, discardExpunged(o.Out, err)
		}
		if o.HTTPOnly {
			return nil, fmt.Errorf("plain HTTP needs the directory's redirector, and the directory does not answer for the torrent: %w", err)
		}
		api, o.TorrentOnly = nil, true
		note = fmt.Sprintf("%v: the files are checked against the torrent's piece hashes only", err)
	}
	f := newFetcher(api, a, o)
	if note != "" {
		f.rep.Note("%s", note)
	}
	// The torrent is trusted for digests, not for file names: a path that escapes the
	// output folder is refused before anything touches the disk.
	if err := f.m.Validate(api != nil); err != nil { // without the catalog, no sha256 to check
		return nil, fmt.Errorf("torrent: %w", err)
	}
	f.ih, f.mi, f.info = ih, mi, &info
	f.bad.infoHash = ih.HexString()
	sizes := make([]int64, len(f.m.Files))
	for i, file := range f.m.Files {
		sizes[i] = file.Size
	}
	f.layout = pieces.NewLayout(info.PieceLength, sizes)
	res, err := f.run(ctx, start, nil)
	if res != nil {
		res.PiecesOnly = api == nil
	}
	return res, err
}

// torrentArtifact describes the torrent as an artifact without sha256: named by the
// comment odi's torrents carry (C/N/V), else "torrent/<name>/<infohash>".
func torrentArtifact(mi *metainfo.MetaInfo, info *metainfo.Info) *catalogapi.Artifact {
	ih := mi.HashInfoBytes().HexString()
	a := &catalogapi.Artifact{Catalog: "torrent", Name: info.Name, Version: ih, Root: info.Name, InfoHash: ih, Size: info.TotalLength()}
	if ref, err := ParseRef(mi.Comment); err == nil && ref.Version != "" {
		a.Catalog, a.Name, a.Version = ref.Catalog, ref.Name, ref.Version
	}
	a.ID = a.Catalog + "/" + a.Name + "/" + a.Version
	for _, f := range info.UpvertedFiles() {
		a.Files = append(a.Files, manifest.File{Path: strings.Join(f.Path, "/"), Size: f.Length})
	}
	return a
}

// catalogEntry is the directory's entry for a, if the directory answers for it with
// the same infohash and files; an error says why not.
func catalogEntry(ctx context.Context, api *apiclient.Client, a *catalogapi.Artifact) (*catalogapi.Artifact, error) {
	if api == nil {
		return nil, errors.New("no directory")
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	got, err := Resolve(ctx, api, Ref{Catalog: a.Catalog, Name: a.Name, Version: a.Version})
	switch {
	case err != nil:
		return nil, err
	case got.InfoHash != a.InfoHash:
		return nil, fmt.Errorf("the directory lists %s with infohash %s, the torrent has %s", a.ID, got.InfoHash, a.InfoHash)
	case !slices.EqualFunc(got.Files, a.Files, func(x, y manifest.File) bool { return x.Path == y.Path && x.Size == y.Size }):
		return nil, fmt.Errorf("the directory lists other files for %s than the torrent", a.ID)
	}
	return got, nil
}

// maxTorrentFile bounds a .torrent read from disk: its info dict lists a 20-byte hash per
// piece, 2 MiB for 100,000 pieces.
const maxTorrentFile = 16 << 20

// LoadTorrent reads the .torrent file at path.
func LoadTorrent(path string) (*metainfo.MetaInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTorrentFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxTorrentFile {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a torrent odi reads", path, maxTorrentFile)
	}
	mi, err := metainfo.Load(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s is not a torrent: %w", path, err)
	}
	if _, err := mi.UnmarshalInfo(); err != nil {
		return nil, fmt.Errorf("%s: info dict: %w", path, err)
	}
	return mi, nil
}

// TorrentDirectory is the directory whose tracker mi names first, for an odi torrent
// (its announce URL is <directory>/announce); "" for another.
func TorrentDirectory(mi *metainfo.MetaInfo) string {
	base, ok := strings.CutSuffix(mi.Announce, "/announce")
	if u, err := url.Parse(base); !ok || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return base
}
