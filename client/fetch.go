package client

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/bind"
	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/fsutil"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/pieces"
	"github.com/opendist/odi/internal/version"
	"github.com/opendist/odi/internal/warmfill"
)

// Errors a caller tells apart (odi maps them to exit codes); *ExpungedError is another.
var (
	// ErrChecksum is returned when bytes do not match their signed digests: a download's
	// the catalog's sha256 or the torrent's piece hashes, or an upload's what the
	// directory received. Nothing unverified is put in place.
	ErrChecksum = errors.New("verification failed")
	// ErrStalled is returned when a transfer made no progress for StallTimeout.
	ErrStalled = errors.New("no progress")
	// errShortAnswer is returned when a server sent less of a range than asked, as its
	// Content-Range said: a rationing origin does that, and the rest is asked again.
	errShortAnswer = errors.New("server sent part of the range")
)

// maxBusyWaits bounds how many times in a row the HTTP fallback waits out a 503's
// Retry-After without getting anything.
const maxBusyWaits = 3

// maxRedirectHold is the longest odi waits for the redirector's answer.
const maxRedirectHold = 5 * time.Minute

// maxRetryAfter is the longest Retry-After, in seconds, the HTTP fallback waits out.
const maxRetryAfter = 120

// FetchOptions say where and how Fetch downloads.
type FetchOptions struct {
	// Out is the folder the artifact goes into (created if needed), as <Out>/<root>;
	// FetchBlob also takes a file's own path here.
	Out string
	// BTListen is the TCP address incoming BitTorrent peers reach (port 0: any free one).
	BTListen string
	// DHTListen is the UDP address of the fetch's DHT node (BEP 5), which starts from
	// the torrent's nodes and finds peers when the tracker does not answer: with no host
	// (":0"), the address the route to the torrent's first node leaves from; "" for none.
	DHTListen string
	// Bind is the local address every connection leaves from; zero: the system's choice.
	Bind bind.Host
	// StallTimeout is how long without a useful byte before the redirector's HTTP source
	// is added, and how long again before the fetch gives up (ErrStalled). Positive.
	StallTimeout time.Duration
	// TorrentOnly keeps to peers and the torrent's web seeds: never the redirector.
	TorrentOnly bool
	// HTTPOnly takes plain HTTP from the redirector or the origin: no BitTorrent.
	HTTPOnly bool
	// UserAgent names the fetcher in relays' logs (default "odi-fetch").
	UserAgent string
	// Trust, when set, holds the fetch to the indexes of the keys it follows: the
	// artifact must be listed as published, with the infohash and files the directory
	// serves, or the fetch fails with ErrUntrusted before downloading; a version left
	// out is the highest those indexes list. nil takes the directory's word, as before.
	Trust *Trust
	// Progress is told how the fetch goes; nil tells nobody.
	Progress Progress
	// TorrentLog receives the BitTorrent client's logs; nil discards them.
	TorrentLog *slog.Logger
}

// Validate says what is wrong with o, if anything.
func (o FetchOptions) Validate() error {
	switch {
	case o.TorrentOnly && o.HTTPOnly:
		return errors.New("TorrentOnly and HTTPOnly exclude each other")
	case o.StallTimeout <= 0:
		return fmt.Errorf("the stall timeout must be positive (got %s)", o.StallTimeout)
	}
	return nil
}

// FetchResult is what a fetch did (odi fetch --json prints it).
type FetchResult struct {
	Artifact string        `json:"artifact"`
	InfoHash string        `json:"infohash"`
	Path     string        `json:"path"` // absolute: the file, or the package's folder
	Bytes    int64         `json:"bytes"`
	Files    []FetchedFile `json:"files"`
	Seconds  float64       `json:"seconds"`
	Fetched  FetchedBytes  `json:"fetched"`       // useful bytes received by this run
	Resumed  int64         `json:"resumed_bytes"` // bytes an earlier run had verified
	// IndexKey is, with FetchOptions.Trust, the key id of the index that vouched for the
	// artifact, whose sha256 the files were verified against.
	IndexKey string `json:"index_key,omitempty"`
	// PiecesOnly: the files were verified against the torrent's piece hashes alone, the
	// directory not answering for them (FetchTorrent); their sha256 is only reported.
	PiecesOnly bool `json:"pieces_only,omitempty"`
}

// FetchedFile is one file of a fetched artifact, verified.
type FetchedFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// FetchedBytes are the useful bytes a fetch received, by source: pieces that completed
// and passed their hash, counted once, so that they add up to at most the artifact.
type FetchedBytes struct {
	Peers    int64 `json:"peers"`
	WebSeeds int64 `json:"web_seeds"`
	HTTP     int64 `json:"http"`
}

// fetcher is one artifact being fetched into its partial-state folder.
type fetcher struct {
	opts FetchOptions
	api  *apiclient.Client
	http *http.Client
	rep  Progress
	tlog *slog.Logger

	a      *catalogapi.Artifact
	m      manifest.Manifest
	mi     *metainfo.MetaInfo
	info   *metainfo.Info
	ih     metainfo.Hash
	layout pieces.Layout

	part    string // <out>/<root>.part
	pc      storage.PieceCompletion
	closePC sync.Once

	fetched FetchedBytes
	buf     []byte
	// warmHTTP is warm fill's HTTP client, bound as every other.
	warmHTTP *http.Client
	// bad are the pieces web seeds sent wrong, for the directory (report.go).
	bad badSeeds
	// streamed holds each file's hex sha256 as read while BitTorrent fetched it, when
	// it read them all; nil otherwise.
	streamed []string
}

// Fetch resolves ref at the directory api talks to, downloads the artifact into o.Out
// over BitTorrent (adding HTTP when that stalls) or HTTP alone, verifies every piece and
// every file, and only then puts it in place. What arrived before an error or ctx's end
// stays in <o.Out>/<root>.part for the next Fetch to resume. Errors: ErrChecksum,
// ErrStalled, ErrUntrusted (with o.Trust), *ExpungedError, ctx's, or any other failure.
func Fetch(ctx context.Context, api *apiclient.Client, ref Ref, o FetchOptions) (*FetchResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	var a *catalogapi.Artifact
	var vouched *vouch
	var err error
	if o.Trust != nil {
		a, vouched, err = o.Trust.resolve(ctx, api, ref)
	} else {
		a, err = Resolve(ctx, api, ref)
	}
	if err != nil {
		return nil, discardExpunged(o.Out, err)
	}
	f := newFetcher(api, a, o)
	rep := f.rep
	if o.Trust != nil {
		// The files are verified against the index's sha256, which Trust found equal to
		// the directory's; taking them from the index makes that the rule, not a fact.
		f.m.Files = slices.Clone(f.m.Files)
		for i := range f.m.Files {
			f.m.Files[i].SHA256 = vouched.entry.Files[i].SHA256
		}
		rep.Note("%s: vouched for by the index of key %s, version %d", f.m.ID(), vouched.key, vouched.version)
	}
	// The directory is trusted for digests, not for file names: a path that escapes the
	// output folder is refused here, before anything touches the disk.
	if err := f.m.Validate(true); err != nil {
		return nil, fmt.Errorf("artifact %s from the directory: %w", ref, err)
	}
	if err := f.ih.FromHexString(a.InfoHash); err != nil {
		return nil, fmt.Errorf("artifact %s from the directory: infohash: %w", ref, err)
	}
	f.bad.infoHash = f.ih.HexString()
	if err := f.loadTorrent(ctx); err != nil {
		return nil, err
	}
	return f.run(ctx, start, vouched)
}

// newFetcher is a fetch of a with o, from the directory api talks to (nil: none).
func newFetcher(api *apiclient.Client, a *catalogapi.Artifact, o FetchOptions) *fetcher {
	if o.UserAgent == "" {
		o.UserAgent = "odi-fetch"
	}
	rep, tlog := o.Progress, o.TorrentLog
	if rep == nil {
		rep = NewReporter(nil)
	}
	if tlog == nil {
		tlog = slog.New(slog.DiscardHandler)
	}
	f := &fetcher{
		opts: o, api: api, rep: rep, tlog: tlog, a: a,
		m: manifest.Manifest{Catalog: a.Catalog, Name: a.Name, Version: a.Version, Root: a.Root, Files: a.Files},
		http: &http.Client{
			Transport: o.Bind.Transport(&http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				ResponseHeaderTimeout: o.StallTimeout,
				IdleConnTimeout:       30 * time.Second,
			}),
		},
		buf:      make([]byte, 1<<20),
		warmHTTP: warmfill.NewHTTPClient(fetchWarmWorkers),
	}
	o.Bind.Transport(f.warmHTTP.Transport.(*http.Transport))
	return f
}

// run downloads, verifies and puts in place what f fetches, its torrent loaded;
// vouched is the index entry that vouched for it, if any.
func (f *fetcher) run(ctx context.Context, start time.Time, vouched *vouch) (*FetchResult, error) {
	o, rep := f.opts, f.rep
	if err := f.openPart(); err != nil {
		return nil, err
	}
	defer f.closeState()

	id, size, resumed := f.m.ID(), f.info.TotalLength(), f.completeBytes()
	rep.Start(id, size, resumed)
	defer rep.Stop()
	if free, err := fsutil.FreeBytes(f.opts.Out); err == nil && free < size-resumed {
		return nil, fmt.Errorf("fetch %s: %s free in %s, %s more needed", id, bytesize.Size(free), f.opts.Out, bytesize.Size(size-resumed))
	}

	// A second round only follows pieces found damaged on disk after they had been
	// verified (a crash can lose writes that the piece records outlived).
	for round := 0; ; round++ {
		if err := f.download(ctx); err != nil {
			f.closeState()
			return nil, discardExpunged(o.Out, f.failed(ctx, err))
		}
		damaged, err := f.verify()
		if err != nil {
			return nil, err
		}
		if damaged == 0 {
			break
		}
		if round > 0 {
			return nil, fmt.Errorf("fetch %s: %d pieces were damaged on disk again after download; check the disk under %s", id, damaged, f.part)
		}
		rep.Note("%d pieces of %s were damaged on disk; fetching them again", damaged, id)
	}
	rep.Stop()
	path, err := f.install()
	if err != nil {
		return nil, err
	}
	res := &FetchResult{
		Artifact: id, InfoHash: f.ih.HexString(), Path: path, Bytes: size,
		Seconds: time.Since(start).Seconds(), Fetched: f.fetched, Resumed: resumed,
	}
	if vouched != nil {
		res.IndexKey = vouched.key
	}
	for i, file := range f.m.Files {
		res.Files = append(res.Files, FetchedFile{
			Path: filepath.Join(filepath.Dir(path), filepath.FromSlash(f.m.LocalPath(i))), Size: file.Size, SHA256: file.SHA256,
		})
	}
	return res, nil
}

// Resolve asks the directory for the artifact ref names, the highest published version
// (internal/version's order) if it names none, with its files.
func Resolve(ctx context.Context, api *apiclient.Client, ref Ref) (*catalogapi.Artifact, error) {
	if ref.Version == "" {
		var list struct{ Artifacts []catalogapi.Artifact }
		q := url.Values{"catalog": {ref.Catalog}, "name": {ref.Name}}
		if err := api.Call(ctx, http.MethodGet, "/api/v1/artifacts?"+q.Encode(), nil, &list); err != nil {
			return nil, fmt.Errorf("resolve %s: %w", ref, err)
		}
		var newest, newestGone *catalogapi.Artifact
		for i := range list.Artifacts {
			a := &list.Artifacts[i]
			latest := &newest
			if a.State != catalogapi.Published {
				latest = &newestGone
			}
			if *latest == nil || version.Newer(a.Version, a.PublishedAt, (*latest).Version, (*latest).PublishedAt) {
				*latest = a
			}
		}
		switch {
		case newest != nil:
			ref.Version = newest.Version
		case newestGone != nil:
			return nil, fmt.Errorf("no published version of %s: %w", ref, &ExpungedError{Artifact: newestGone})
		default:
			return nil, fmt.Errorf("no artifact %s in the directory at %s", ref, api.Base)
		}
	}
	var a catalogapi.Artifact
	err := api.Call(ctx, http.MethodGet, "/api/v1/artifacts/"+ref.String(), nil, &a)
	switch {
	case apiclient.StatusOf(err) == http.StatusNotFound:
		return nil, fmt.Errorf("no artifact %s in the directory at %s", ref, api.Base)
	case err != nil:
		return nil, fmt.Errorf("resolve %s: %w", ref, err)
	case a.Catalog != ref.Catalog || a.Name != ref.Name || a.Version != ref.Version:
		return nil, fmt.Errorf("resolve %s: the directory answered with %s/%s/%s", ref, a.Catalog, a.Name, a.Version)
	case a.State == catalogapi.Expunged:
		return nil, &ExpungedError{Artifact: &a}
	case a.State != catalogapi.Published:
		return nil, fmt.Errorf("artifact %s is %q, not published", ref, a.State)
	}
	return &a, nil
}

// ExpungedError is returned when the directory says the artifact was expunged: it will
// never be served again under its name.
type ExpungedError struct{ Artifact *catalogapi.Artifact }

func (e *ExpungedError) Error() string {
	return fmt.Sprintf("artifact %s/%s/%s was expunged: %s", e.Artifact.Catalog, e.Artifact.Name, e.Artifact.Version, e.Artifact.ExpungeReason)
}

// discardExpunged deletes the partial download of an artifact that err says was
// expunged: it can never complete, and the directory withdrew those bytes. It returns err.
func discardExpunged(out string, err error) error {
	var xe *ExpungedError
	if !errors.As(err, &xe) || names.CheckComponent(xe.Artifact.Root) != nil {
		return err
	}
	part := filepath.Join(out, xe.Artifact.Root+".part")
	var st partState
	if b, rerr := os.ReadFile(filepath.Join(part, PartStateFile)); rerr == nil && json.Unmarshal(b, &st) == nil && strings.EqualFold(st.InfoHash, xe.Artifact.InfoHash) {
		os.RemoveAll(part)
	}
	return err
}

// loadTorrent gets the artifact's torrent from the directory and checks that it is the
// catalog's: same infohash, same files.
func (f *fetcher) loadTorrent(ctx context.Context) error {
	var err error
	f.mi, f.info, err = getTorrent(ctx, f.http, f.api.Base, &f.m, f.ih)
	var se *statusError
	if errors.As(err, &se) && se.status == http.StatusGone {
		return f.expungedNow(ctx)
	}
	if err != nil {
		return err
	}
	sizes := make([]int64, len(f.m.Files))
	for i, file := range f.m.Files {
		sizes[i] = file.Size
	}
	f.layout = pieces.NewLayout(f.info.PieceLength, sizes)
	return nil
}

// getTorrent gets the torrent of the artifact m names from the directory at base, and
// refuses one that is not m's (another infohash than ih, other files or sizes) or whose
// pieces do not cover its files. A status other than 200 is a *statusError.
func getTorrent(ctx context.Context, hc *http.Client, base string, m *manifest.Manifest, ih metainfo.Hash) (*metainfo.MetaInfo, *metainfo.Info, error) {
	u := base + "/t/" + m.ID() + ".torrent"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("get torrent of %s: %w", m.ID(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("get torrent of %s: %w", m.ID(), &statusError{url: u, status: resp.StatusCode})
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, manifest.MaxBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("get torrent of %s: %w", m.ID(), err)
	}
	mi, err := metainfo.Load(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("torrent of %s: %w", m.ID(), err)
	}
	if got := mi.HashInfoBytes(); got != ih {
		return nil, nil, fmt.Errorf("torrent of %s has infohash %s, the catalog says %s", m.ID(), got.HexString(), ih.HexString())
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, nil, fmt.Errorf("torrent of %s: %w", m.ID(), err)
	}
	if err := checkPieces(&info); err != nil {
		return nil, nil, fmt.Errorf("torrent of %s: %w", m.ID(), err)
	}
	files := info.UpvertedFiles()
	if info.Name != m.Root || len(files) != len(m.Files) {
		return nil, nil, fmt.Errorf("torrent of %s does not hold the catalog's files", m.ID())
	}
	for i, file := range files {
		if strings.Join(file.Path, "/") != m.Files[i].Path || file.Length != m.Files[i].Size {
			return nil, nil, fmt.Errorf("torrent of %s: file %d differs from the catalog", m.ID(), i)
		}
	}
	return mi, &info, nil
}

// checkPieces refuses an info dict whose pieces do not cover its files: a directory is
// trusted for digests, not to be sane, and such pieces would stop the fetch with a panic
// (a division by zero, an index past the end).
func checkPieces(info *metainfo.Info) error {
	if info.PieceLength <= 0 || len(info.Pieces)%sha1.Size != 0 ||
		int64(len(info.Pieces)/sha1.Size) != (info.TotalLength()+info.PieceLength-1)/info.PieceLength {
		return fmt.Errorf("its pieces (length %d, %d bytes of hashes) do not cover its %d bytes", info.PieceLength, len(info.Pieces), info.TotalLength())
	}
	return nil
}

// expungedNow reports an artifact the directory refused with 410 Gone while fetching,
// with the reason the catalog gives.
func (f *fetcher) expungedNow(ctx context.Context) error {
	var a catalogapi.Artifact
	if err := f.api.Call(ctx, http.MethodGet, "/api/v1/artifacts/"+f.m.ID(), nil, &a); err == nil && a.State == catalogapi.Expunged {
		a.Root, a.InfoHash = f.m.Root, f.ih.HexString()
		return &ExpungedError{Artifact: &a}
	}
	gone := *f.a
	gone.ExpungeReason = "the directory answers 410 Gone"
	return &ExpungedError{Artifact: &gone}
}

// download fetches every missing piece: over BitTorrent (with HTTP once it stalls), or
// over plain HTTP alone with HTTPOnly.
func (f *fetcher) download(ctx context.Context) error {
	if f.missingPieces() == 0 {
		return nil
	}
	if f.opts.HTTPOnly {
		return f.viaHTTP(ctx)
	}
	return f.viaTorrent(ctx)
}

// failed turns a download error into what the user should read: why, and that what
// arrived is kept for a resume.
func (f *fetcher) failed(ctx context.Context, err error) error {
	var se *statusError
	if errors.As(err, &se) && se.status == http.StatusGone {
		return f.expungedNow(context.WithoutCancel(ctx))
	}
	if errors.Is(err, ErrChecksum) {
		return err
	}
	hint := "run the same command again to resume"
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("fetch %s interrupted; %s keeps what arrived, %s: %w", f.m.ID(), f.part, hint, err)
	}
	return fmt.Errorf("fetch %s: %w (%s keeps what arrived; %s)", f.m.ID(), err, f.part, hint)
}
