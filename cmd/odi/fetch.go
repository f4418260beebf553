package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/bind"
	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/fsutil"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/names"
	versions "github.com/opendist/odi/internal/version"
	"github.com/opendist/odi/internal/warmfill"
)

// defaultDirectory is where odi fetch looks when no directory is configured: the address
// `odi directory` and `odi demo` listen on by default.
const defaultDirectory = "http://127.0.0.1:8080"

// Errors of odi fetch that scripts tell apart by exit code (see exit.go).
var (
	// errChecksum is returned (as a verifyError) when downloaded bytes do not match the
	// catalog's sha256 or the torrent's piece hashes.
	errChecksum = errors.New("verification failed")
	// errStalled is returned when a transfer made no progress for --stall-timeout.
	errStalled = errors.New("no progress")
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

// fetchOptions are odi fetch's flags that have no config key.
type fetchOptions struct {
	out          string
	btListen     string
	bind         bind.Host
	stallTimeout time.Duration
	torrentOnly  bool
	httpOnly     bool
	quiet        bool
	json         bool
}

func newFetchCmd(g *globals) *cobra.Command {
	var o fetchOptions
	var bindHost string
	cmd := &cobra.Command{
		Use:   "fetch CATALOG/NAME[@VERSION] [-o DIR]",
		Short: "Download an artifact over BitTorrent (with HTTP when it stalls) and verify it",
		Long: `Download the artifact CATALOG/NAME at VERSION (default: the newest published one) into
DIR, and verify every file against the sha256 the publisher signed. CATALOG/NAME/VERSION
(the id the API shows) works too, and @latest means the newest.

odi asks the directory's catalog for the artifact, then downloads it over BitTorrent:
from peers (relays and other users, found through the directory's tracker) and from
every HTTP web seed the torrent lists (relays and the directory's origin copy). If
nothing arrives for --stall-timeout, odi also takes plain HTTP from where the directory's
redirector sends it (/r/: a relay, or the origin), and keeps swarming; it gives up only
when that brought nothing for another --stall-timeout. An origin that answers "busy"
(503) in a crowd is no failure: its pieces are in the swarm. Every piece is checked
against the torrent's hashes as it arrives and every file against the catalog's sha256
at the end; only then is the artifact renamed into place, so DIR/<root> only ever
appears whole and verified. <root> is the torrent's name: the file's name, or the
package's folder.

--bind gives odi its own address for every connection (and, unless --bt-listen says
otherwise, for listening): on a machine with several addresses, the one the tracker
should list.

Until then the download lives in DIR/<root>.part/: the files, the pieces known good
(.torrent.bolt.db) and odi-fetch.json naming the artifact. Interrupt it at any time
(Ctrl-C); the same command resumes, over BitTorrent or HTTP, fetching only what is
missing.

The directory is --directory, else client.directory in the config file, else
ODI_CLIENT_DIRECTORY, else ` + defaultDirectory + `.

Exit codes: 0 fetched and verified; 1 error (what arrived is kept for a resume); 2 bad
usage; 3 verification failed (bytes differ from the catalog; nothing is put in place);
130 interrupted (resumable).`,
		Example: `  odi fetch debian/netinst                       # newest version, into the current folder
  odi fetch debian/netinst@12.5.0 -o ~/isos      # one version, into ~/isos/<file name>
  odi fetch debian/netinst/12.5.0 --directory https://dir.example.org
  odi fetch debian/netinst --http-only           # plain HTTP from relays or the origin
  odi fetch debian/netinst --json | jq -r '.files[].sha256'`,
		Args: exactArgs(1, "CATALOG/NAME[@VERSION]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseArtifactRef(args[0])
			if err != nil {
				return usageError("%w", err)
			}
			switch {
			case o.torrentOnly && o.httpOnly:
				return usageError("--torrent-only and --http-only exclude each other")
			case o.stallTimeout <= 0:
				return usageError("--stall-timeout must be positive (got %s)", o.stallTimeout)
			}
			if o.bind, err = bind.Parse(bindHost); err != nil {
				return usageError("--bind: %w", err)
			}
			if !o.bind.IsZero() && !cmd.Flags().Changed("bt-listen") {
				o.btListen = net.JoinHostPort(o.bind.String(), "0")
			}
			cfg, log, err := loadRole(cmd, g, flagKeys{"directory": "client.directory"})
			if err != nil {
				return err
			}
			if cfg.Client.Directory == "" {
				cfg.Client.Directory = defaultDirectory
			}
			api, err := apiclient.New(cfg.Client.Directory, nil)
			if err != nil {
				return usageError("--directory: %w", err)
			}
			o.bind.Transport(api.HTTP.Transport.(*http.Transport))
			// anacrolix logs at info what users need not see; it speaks only at debug.
			tlog := slog.New(slog.DiscardHandler)
			if strings.EqualFold(cfg.Log.Level, "debug") {
				tlog = log.With("part", "torrent")
			}
			res, err := fetch(cmd.Context(), api, ref, o, newReporter(g.stderr, o.quiet), tlog)
			if err != nil {
				return err
			}
			if o.json {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			printf(g.stdout, "fetched %s\n  path     %s\n  size     %d bytes in %d file%s, sha256 verified\n  sources  %d bytes from peers, %d from web seeds, %d over HTTP, %d already here, in %.1fs\n",
				res.Artifact, res.Path, res.Bytes, len(res.Files), plural(len(res.Files)),
				res.Fetched.Peers, res.Fetched.WebSeeds, res.Fetched.HTTP, res.Resumed, res.Seconds)
			return nil
		},
	}
	f := cmd.Flags()
	f.String("directory", "", withKey("directory base URL (default "+defaultDirectory+")", "client.directory"))
	f.StringVarP(&o.out, "output", "o", ".", "folder to put the artifact in (created if needed)")
	f.StringVar(&o.btListen, "bt-listen", "127.0.0.1:0", "BitTorrent TCP listen address for incoming peers (port 0: any free port; default <--bind>:0 with --bind)")
	f.StringVar(&bindHost, "bind", "", "local IP address every connection leaves from: HTTP, trackers and peers (default: the system's choice)")
	f.DurationVar(&o.stallTimeout, "stall-timeout", 20*time.Second, "add the redirector's HTTP source after nothing arrived for this long, and give up after as long again")
	f.BoolVar(&o.torrentOnly, "torrent-only", false, "peers and the torrent's web seeds only: never the redirector (fail after --stall-timeout without progress)")
	f.BoolVar(&o.httpOnly, "http-only", false, "plain HTTP only, through the redirector or the origin; no BitTorrent")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress or notes on stderr")
	f.BoolVar(&o.json, "json", false, "print the result as JSON on stdout")
	return cmd
}

// artifactRef is an artifact as a user names it; Version "" means the newest published.
type artifactRef struct{ Catalog, Name, Version string }

func (r artifactRef) String() string {
	if r.Version == "" {
		return r.Catalog + "/" + r.Name
	}
	return r.Catalog + "/" + r.Name + "/" + r.Version
}

// parseArtifactRef reads CATALOG/NAME, CATALOG/NAME@VERSION or CATALOG/NAME/VERSION (the
// id the API shows); the version "latest" means the newest, as in URLs.
func parseArtifactRef(s string) (artifactRef, error) {
	var r artifactRef
	rest, version, hasAt := strings.Cut(s, "@")
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2:
		r.Catalog, r.Name = parts[0], parts[1]
	case len(parts) == 3 && !hasAt:
		r.Catalog, r.Name, version = parts[0], parts[1], parts[2]
	default:
		return r, fmt.Errorf("%q is not CATALOG/NAME[@VERSION], e.g. debian/netinst@12.5.0", s)
	}
	if hasAt && version == "" {
		return r, fmt.Errorf("%q: empty version after @", s)
	}
	if !strings.EqualFold(version, names.Latest) {
		r.Version = version
	}
	for _, seg := range []struct{ kind, v string }{{"catalog", r.Catalog}, {"name", r.Name}, {"version", r.Version}} {
		if seg.kind == "version" && seg.v == "" {
			continue
		}
		if err := names.CheckSegment(seg.kind, seg.v); err != nil {
			return r, fmt.Errorf("%q: %w", s, err)
		}
	}
	return r, nil
}

// fetchResult is what a fetch did, printed by --json.
type fetchResult struct {
	Artifact string        `json:"artifact"`
	InfoHash string        `json:"infohash"`
	Path     string        `json:"path"` // absolute: the file, or the package's folder
	Bytes    int64         `json:"bytes"`
	Files    []fetchedFile `json:"files"`
	Seconds  float64       `json:"seconds"`
	Fetched  fetchedBytes  `json:"fetched"`       // useful bytes received by this run
	Resumed  int64         `json:"resumed_bytes"` // bytes an earlier run had verified
}

type fetchedFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type fetchedBytes struct {
	Peers    int64 `json:"peers"`
	WebSeeds int64 `json:"web_seeds"`
	HTTP     int64 `json:"http"`
}

// fetcher is one artifact being fetched into its partial-state folder.
type fetcher struct {
	opts fetchOptions
	api  *apiclient.Client
	http *http.Client
	rep  *reporter
	tlog *slog.Logger

	a    *catalogapi.Artifact
	m    manifest.Manifest
	mi   *metainfo.MetaInfo
	info *metainfo.Info
	ih   metainfo.Hash
	// offsets[i] is where file i starts in the torrent's byte stream.
	offsets []int64

	part    string // <out>/<root>.part
	pc      storage.PieceCompletion
	closePC sync.Once

	fetched fetchedBytes
	buf     []byte
	// warmHTTP is warm fill's HTTP client, bound as every other.
	warmHTTP *http.Client
	// bad are the pieces web seeds sent wrong, for the directory (fetchreport.go).
	bad badSeeds
	// streamed holds each file's hex sha256 as read while BitTorrent fetched it, when
	// it read them all; nil otherwise.
	streamed []string
}

// fetch resolves ref, downloads it into o.out and verifies it.
func fetch(ctx context.Context, api *apiclient.Client, ref artifactRef, o fetchOptions, rep *reporter, tlog *slog.Logger) (*fetchResult, error) {
	start := time.Now()
	a, err := resolve(ctx, api, ref)
	if err != nil {
		return nil, discardExpunged(o.out, err)
	}
	f := &fetcher{
		opts: o, api: api, rep: rep, tlog: tlog, a: a,
		m: manifest.Manifest{Catalog: a.Catalog, Name: a.Name, Version: a.Version, Root: a.Root, Files: a.Files},
		http: &http.Client{
			Transport: o.bind.Transport(&http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				ResponseHeaderTimeout: o.stallTimeout,
				IdleConnTimeout:       30 * time.Second,
			}),
		},
		buf:      make([]byte, 1<<20),
		warmHTTP: warmfill.NewHTTPClient(fetchWarmWorkers),
	}
	o.bind.Transport(f.warmHTTP.Transport.(*http.Transport))
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
	if err := f.openPart(); err != nil {
		return nil, err
	}
	defer f.closeState()

	id, size, resumed := f.m.ID(), f.info.TotalLength(), f.completeBytes()
	rep.start(id, size, resumed)
	defer rep.stop()
	if free, err := fsutil.FreeBytes(f.opts.out); err == nil && free < size-resumed {
		return nil, fmt.Errorf("fetch %s: %s free in %s, %s more needed", id, bytesize.Size(free), f.opts.out, bytesize.Size(size-resumed))
	}

	// A second round only follows pieces found damaged on disk after they had been
	// verified (a crash can lose writes that the piece records outlived).
	for round := 0; ; round++ {
		if err := f.download(ctx); err != nil {
			f.closeState()
			return nil, discardExpunged(o.out, f.failed(ctx, err))
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
		rep.note("%d pieces of %s were damaged on disk; fetching them again", damaged, id)
	}
	rep.stop()
	path, err := f.install()
	if err != nil {
		return nil, err
	}
	res := &fetchResult{
		Artifact: id, InfoHash: f.ih.HexString(), Path: path, Bytes: size,
		Seconds: time.Since(start).Seconds(), Fetched: f.fetched, Resumed: resumed,
	}
	for i, file := range f.m.Files {
		res.Files = append(res.Files, fetchedFile{
			Path: filepath.Join(filepath.Dir(path), filepath.FromSlash(f.m.LocalPath(i))), Size: file.Size, SHA256: file.SHA256,
		})
	}
	return res, nil
}

// resolve asks the directory for the artifact ref names, the newest published version
// if it names none, with its files.
func resolve(ctx context.Context, api *apiclient.Client, ref artifactRef) (*catalogapi.Artifact, error) {
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
			if *latest == nil || versions.Newer(a.Version, a.PublishedAt, (*latest).Version, (*latest).PublishedAt) {
				*latest = a
			}
		}
		switch {
		case newest != nil:
			ref.Version = newest.Version
		case newestGone != nil:
			return nil, fmt.Errorf("no published version of %s: %w", ref, &expungedError{newestGone})
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
		return nil, &expungedError{&a}
	case a.State != catalogapi.Published:
		return nil, fmt.Errorf("artifact %s is %q, not published", ref, a.State)
	}
	return &a, nil
}

// expungedError is returned when the directory says the artifact was expunged.
type expungedError struct{ a *catalogapi.Artifact }

func (e *expungedError) Error() string {
	return fmt.Sprintf("artifact %s/%s/%s was expunged: %s", e.a.Catalog, e.a.Name, e.a.Version, e.a.ExpungeReason)
}

// discardExpunged deletes the partial download of an artifact that err says was
// expunged: it can never complete, and the directory withdrew those bytes. It returns err.
func discardExpunged(out string, err error) error {
	var xe *expungedError
	if !errors.As(err, &xe) || names.CheckComponent(xe.a.Root) != nil {
		return err
	}
	part := filepath.Join(out, xe.a.Root+".part")
	var st partState
	if b, rerr := os.ReadFile(filepath.Join(part, partStateFile)); rerr == nil && json.Unmarshal(b, &st) == nil && strings.EqualFold(st.InfoHash, xe.a.InfoHash) {
		os.RemoveAll(part)
	}
	return err
}

// loadTorrent gets the artifact's torrent from the directory and checks that it is the
// catalog's: same infohash, same files.
func (f *fetcher) loadTorrent(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.api.Base+"/t/"+f.m.ID()+".torrent", nil)
	if err != nil {
		return err
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return fmt.Errorf("get torrent of %s: %w", f.m.ID(), err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusGone:
		return f.expungedNow(ctx)
	default:
		return fmt.Errorf("get torrent of %s: %s", f.m.ID(), resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, manifest.MaxBytes))
	if err != nil {
		return fmt.Errorf("get torrent of %s: %w", f.m.ID(), err)
	}
	if f.mi, err = metainfo.Load(bytes.NewReader(b)); err != nil {
		return fmt.Errorf("torrent of %s: %w", f.m.ID(), err)
	}
	if got := f.mi.HashInfoBytes(); got != f.ih {
		return fmt.Errorf("torrent of %s has infohash %s, the catalog says %s", f.m.ID(), got.HexString(), f.ih.HexString())
	}
	info, err := f.mi.UnmarshalInfo()
	if err != nil {
		return fmt.Errorf("torrent of %s: %w", f.m.ID(), err)
	}
	f.info = &info
	files := info.UpvertedFiles()
	if info.Name != f.m.Root || len(files) != len(f.m.Files) {
		return fmt.Errorf("torrent of %s does not hold the catalog's files", f.m.ID())
	}
	var off int64
	for i, file := range files {
		if strings.Join(file.Path, "/") != f.m.Files[i].Path || file.Length != f.m.Files[i].Size {
			return fmt.Errorf("torrent of %s: file %d differs from the catalog", f.m.ID(), i)
		}
		f.offsets = append(f.offsets, off)
		off += file.Length
	}
	return nil
}

// expungedNow reports an artifact the directory refused with 410 Gone while fetching,
// with the reason the catalog gives.
func (f *fetcher) expungedNow(ctx context.Context) error {
	var a catalogapi.Artifact
	if err := f.api.Call(ctx, http.MethodGet, "/api/v1/artifacts/"+f.m.ID(), nil, &a); err == nil && a.State == catalogapi.Expunged {
		a.Root, a.InfoHash = f.m.Root, f.ih.HexString()
		return &expungedError{&a}
	}
	gone := *f.a
	gone.ExpungeReason = "the directory answers 410 Gone"
	return &expungedError{&gone}
}

// partState is odi-fetch.json, which marks a folder as an odi fetch's partial state and
// says of which artifact.
type partState struct {
	Artifact string `json:"artifact"`
	InfoHash string `json:"infohash"`
}

const partStateFile = "odi-fetch.json"

// openPart opens (or starts) the partial state in <out>/<root>.part and its piece
// records. State of another artifact with the same root name is discarded; a folder of
// that name that is not odi's is left alone.
func (f *fetcher) openPart() error {
	if err := os.MkdirAll(f.opts.out, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	dest := filepath.Join(f.opts.out, f.m.Root)
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("%s already exists; move it away or fetch into another folder (-o)", dest)
	}
	f.part = dest + ".part"
	want := partState{Artifact: f.m.ID(), InfoHash: f.ih.HexString()}
	b, err := os.ReadFile(filepath.Join(f.part, partStateFile))
	switch {
	case err == nil:
		var st partState
		if json.Unmarshal(b, &st) != nil {
			return fmt.Errorf("%s: %s is not odi's; move the folder away", f.part, partStateFile)
		}
		if st != want {
			f.rep.note("discarding %s: it holds a partial download of %s, not %s", f.part, st.Artifact, f.m.ID())
			if err := os.RemoveAll(f.part); err != nil {
				return fmt.Errorf("discard partial download: %w", err)
			}
		}
	case errors.Is(err, os.ErrNotExist):
		if entries, err := os.ReadDir(f.part); err == nil && len(entries) > 0 {
			return fmt.Errorf("%s exists and is not an odi fetch's partial download; move it away", f.part)
		}
	default:
		return fmt.Errorf("partial download: %w", err)
	}
	if err := os.MkdirAll(f.part, 0o755); err != nil {
		return fmt.Errorf("partial download: %w", err)
	}
	sb, _ := json.Marshal(want)
	if err := fsutil.WriteFile(filepath.Join(f.part, partStateFile), append(sb, '\n'), 0o644); err != nil {
		return err
	}
	// bbolt locks its file: a second odi fetch of the same artifact into the same folder
	// fails here after bbolt's 1 s timeout instead of corrupting the first.
	if f.pc, err = storage.NewBoltPieceCompletion(f.part); err != nil {
		return fmt.Errorf("open piece records in %s (is another odi fetch using it?): %w", f.part, err)
	}
	return f.createFiles()
}

// createFiles makes the folders and the empty files, which no piece covers; the rest
// appear as bytes arrive.
func (f *fetcher) createFiles() error {
	for i, file := range f.m.Files {
		p := f.localPath(i)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("partial download: %w", err)
		}
		if file.Size == 0 {
			fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
			if err != nil {
				return fmt.Errorf("partial download: %w", err)
			}
			fh.Close()
		}
	}
	return nil
}

func (f *fetcher) closeState() {
	f.closePC.Do(func() {
		if f.pc != nil {
			f.pc.Close()
		}
	})
}

// localPath is where file i lives inside the partial state (anacrolix's file storage
// layout: <part>/<root>[/<path>]).
func (f *fetcher) localPath(i int) string {
	return filepath.Join(f.part, filepath.FromSlash(f.m.LocalPath(i)))
}

func (f *fetcher) pieceKey(i int) metainfo.PieceKey {
	return metainfo.PieceKey{InfoHash: f.ih, Index: i}
}

// complete lists which pieces are verified on disk.
func (f *fetcher) complete() []bool {
	have := make([]bool, f.info.NumPieces())
	for i := range have {
		c, err := f.pc.Get(f.pieceKey(i))
		have[i] = err == nil && c.Ok && c.Complete
	}
	return have
}

func (f *fetcher) completeBytes() int64 {
	var n int64
	for i, ok := range f.complete() {
		if ok {
			n += f.info.Piece(i).Length()
		}
	}
	return n
}

func (f *fetcher) missingPieces() int {
	n := 0
	for _, ok := range f.complete() {
		if !ok {
			n++
		}
	}
	return n
}

// download fetches every missing piece: over BitTorrent (with HTTP once it stalls), or
// over plain HTTP alone with --http-only.
func (f *fetcher) download(ctx context.Context) error {
	if f.missingPieces() == 0 {
		return nil
	}
	if f.opts.httpOnly {
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
	var ee *exitErr
	if errors.As(err, &ee) {
		return err
	}
	hint := "run the same command again to resume"
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("fetch %s interrupted; %s keeps what arrived, %s: %w", f.m.ID(), f.part, hint, err)
	}
	return fmt.Errorf("fetch %s: %w (%s keeps what arrived; %s)", f.m.ID(), err, f.part, hint)
}

// viaTorrent downloads the missing pieces with an anacrolix client writing into the
// partial state, from peers and web seeds, and from HTTP sources alongside (warm fill,
// see internal/warmfill), until done or ctx ends. A rationing origin's 503 is no
// failure: its pieces are in the swarm, and warm fill asks again on its next pass. When
// no source has brought a useful byte for --stall-timeout, odi also takes the
// redirector's HTTP source (a relay, or the origin's plain download); it gives up when
// that made no difference for another --stall-timeout.
func (f *fetcher) viaTorrent(ctx context.Context) error {
	ln, err := net.Listen("tcp", f.opts.btListen)
	if err != nil {
		return fmt.Errorf("bt-listen: %w", err)
	}
	defer ln.Close()
	tc := torrent.NewDefaultClientConfig()
	tc.DataDir = f.part
	// Files keep their final names while incomplete (warm fill needs that), so the HTTP
	// path writes where anacrolix does and either can resume the other.
	tc.DefaultStorage = warmfill.NewStorage(storage.NewFileClientOpts{
		ClientBaseDir:   f.part,
		TorrentDirMaker: func(base string, _ *metainfo.Info, _ metainfo.Hash) string { return base },
		PieceCompletion: f.pc,
		Logger:          f.tlog,
	})
	// Upload while downloading, to any peer that asks: anacrolix's other rule (a peer
	// gets pieces only while it has pieces we want, and no more than it gave) keeps a
	// piece from the origin away from the crowd's empty clients, where a flash crowd
	// needs it most. odi stops seeding when the download is complete.
	tc.Seed = true
	// The socket is ours (bound to --bt-listen): no other TCP, uTP or DHT sockets, and
	// never UPnP, which would send packets off the machine.
	tc.DisableTCP, tc.DisableUTP, tc.NoDHT = true, true, true
	tc.NoDefaultPortForwarding = true
	tc.Slogger = f.tlog
	dialer := f.opts.bind.Torrent(tc)
	cl, err := torrent.NewClient(tc)
	if err != nil {
		return fmt.Errorf("bittorrent client: %w", err)
	}
	defer cl.Close()
	cl.AddListener(ln)
	cl.AddDialer(dialer)
	spec, err := torrent.TorrentSpecFromMetaInfoErr(f.mi)
	if err != nil {
		return fmt.Errorf("torrent of %s: %w", f.m.ID(), err)
	}
	t, _, err := cl.AddTorrentSpec(spec)
	if err != nil {
		return fmt.Errorf("torrent of %s: %w", f.m.ID(), err)
	}
	defer func() {
		st := t.Stats()
		f.fetched.Peers += st.PeerConns.BytesReadUsefulData.Int64()
		f.fetched.WebSeeds += st.WebSeeds.BytesReadUsefulData.Int64()
	}()
	<-t.GotInfo()
	t.DownloadAll()
	seeds := &seedList{isDir: t.Info().IsDir()}
	seeds.add(f.mi.UrlList)
	var warmUsed, httpUsed atomic.Int64
	fillCtx, stopFilling := context.WithCancel(ctx)
	filled := make(chan struct{})
	go func() {
		defer close(filled)
		f.keepFilling(fillCtx, t, seeds, &warmUsed)
	}()
	var fallback chan struct{} // closed when the HTTP fallback's fill returns
	var asking atomic.Bool     // the fallback waits for the redirector's answer
	defer func() {
		stopFilling()
		<-filled
		if fallback != nil {
			<-fallback
		}
		f.reportBadPieces(ctx)
		// Useful bytes, as the client's own counts.
		f.fetched.WebSeeds += warmUsed.Load()
		f.fetched.HTTP += httpUsed.Load()
	}()
	hctx, stopHashing := context.WithCancel(ctx)
	var sums []string
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		sums = f.streamHash(hctx, t)
	}()
	// No read of the files may outlive the client, closed by a deferred call above.
	defer func() {
		stopHashing()
		<-hashed
	}()

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last, since := int64(-1), time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.Complete().On():
			f.rep.set(t.Length(), "")
			// What is left to hash is on disk and in the page cache: a moment's work.
			<-hashed
			f.streamed = sums
			return nil
		case <-tick.C:
		}
		peers, nseeds := len(t.PeerConns()), len(t.WebseedPeerConns())
		desc := fmt.Sprintf("BitTorrent: %d peer%s, %d web seed%s", peers, plural(peers), nseeds, plural(nseeds))
		if fallback != nil {
			desc += ", and HTTP"
		}
		f.rep.set(t.BytesCompleted(), desc)
		// Progress is any useful byte, not a completed piece: in a crowd on a new artifact
		// a piece can take a while to come together from many peers.
		st := t.Stats()
		if n := st.BytesReadUsefulData.Int64() + warmUsed.Load() + httpUsed.Load(); n > last {
			last, since = n, time.Now()
			continue
		}
		if asking.Load() {
			// The redirector holds the question until a relay has the artifact: the
			// fallback's time starts with its answer.
			since = time.Now()
			continue
		}
		if time.Since(since) < f.opts.stallTimeout {
			continue
		}
		if f.opts.torrentOnly || fallback != nil {
			return fmt.Errorf("bittorrent: %w for %s", errStalled, f.opts.stallTimeout)
		}
		fallback, since = make(chan struct{}), time.Now()
		asking.Store(true)
		go func() {
			defer close(fallback)
			base, err := f.redirectedBase(fillCtx)
			asking.Store(false)
			if err != nil {
				f.rep.note("no progress for %s, and no HTTP source: %v", f.opts.stallTimeout, err)
				return
			}
			f.rep.note("no progress for %s; taking HTTP from %s as well", f.opts.stallTimeout, base)
			warmfill.Fill(fillCtx, t, f.fillOptions([]string{base}, &httpUsed, nil))
		}()
	}
}

// refillPause is how long warm fill rests between passes over the missing pieces: a
// rationing origin's Retry-After is often about as short (relays first, RelayQuiet), and
// a new relay takes about that long to be listed once it holds the artifact.
const refillPause = 3 * time.Second

// fetchBusyLimit is how many busy answers in a row end a warm fill pass's use of a web
// seed (warmfill.Options.BusyLimit).
const fetchBusyLimit = 8

// keepFilling fills t from its web seeds, pass after pass, until t is complete or ctx
// ends, adding before each pass the web seeds the directory lists by then (relays that
// took the artifact meanwhile). They are warm fill's alone: one of 50 clients in a crowd
// panicked in an assertion of anacrolix v1.61.0's web-seed scheduler
// (webseed-requesting.go; which one was lost with the log), and web seeds added to a
// running download were the one new way into it odi had taken.
func (f *fetcher) keepFilling(ctx context.Context, t *torrent.Torrent, seeds *seedList, used *atomic.Int64) {
	warmfill.Fill(ctx, t, f.fillOptions(seeds.list(), used, func(ctx context.Context) []string {
		var a catalogapi.Artifact
		if err := f.api.Call(ctx, http.MethodGet, "/api/v1/artifacts/"+f.m.ID(), nil, &a); err != nil {
			return nil
		}
		return seeds.add(a.WebSeeds)
	}))
}

// fillOptions are warm fill's options for seeds, counting the bytes of the pieces it
// completes in used.
func (f *fetcher) fillOptions(seeds []string, used *atomic.Int64, more func(context.Context) []string) warmfill.Options {
	return warmfill.Options{
		Seeds: seeds, HTTP: f.warmHTTP, Slots: make(chan struct{}, fetchWarmWorkers),
		Used: used, Log: f.tlog, Name: f.m.ID(),
		Again: refillPause, MoreSeeds: more, BusyLimit: fetchBusyLimit,
		BadPiece: f.bad.add,
	}
}

// seedList is the web seeds warm fill may use: the torrent's url-list and those the
// directory lists later, each once, in the order they came.
type seedList struct {
	isDir bool
	mu    sync.Mutex
	urls  []string
}

// add adds the usable ones of urls not there yet, and returns those.
func (s *seedList) add(urls []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var added []string
	for _, u := range warmfill.WebSeeds(urls, "", s.isDir) {
		if !slices.Contains(s.urls, u) {
			s.urls = append(s.urls, u)
			added = append(added, u)
		}
	}
	return added
}

func (s *seedList) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.urls)
}

// redirectedBase asks the redirector where a plain HTTP user gets the artifact's first
// file, and returns that copy's BEP 19 base URL (the location less the file's path): a
// relay's /ws/, or the origin's unrationed /dl/ when no relay holds it.
func (f *fetcher) redirectedBase(ctx context.Context) (string, error) {
	src := f.httpSources()[0]
	u := src.url(0)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return "", err
	}
	// In a crowd the redirector holds the question until a relay has the artifact (up to
	// the origin's relay_first, minutes), longer than the usual header timeout.
	tr := f.http.Transport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 0
	noFollow := &http.Client{
		Transport:     tr,
		Timeout:       maxRedirectHold,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer tr.CloseIdleConnections()
	resp, err := noFollow.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode/100 != 3 || err != nil {
		return "", &statusError{url: u, status: resp.StatusCode}
	}
	suffix := "/" + names.EscapePath(f.m.LocalPath(0))
	base, ok := strings.CutSuffix(loc.String(), suffix)
	if !ok {
		return "", fmt.Errorf("HEAD %s: redirected to %s, which does not end in %s", u, loc, suffix)
	}
	return base + "/", nil
}

// streamHash reads the torrent in order as its pieces complete and returns each file's
// hex sha256, or nil when ctx ends or a read fails first. Reading through the client's
// reader makes it fetch the pieces near the read position first, so the hashes are ready
// about when the last piece arrives, where a pass over the whole download after it cost
// about a second per GiB; syncing each stretch once hashed leaves the final fsync little
// to write.
func (f *fetcher) streamHash(ctx context.Context, t *torrent.Torrent) []string {
	r := t.NewReader()
	defer r.Close()
	r.SetReadahead(streamReadahead)
	buf := make([]byte, 1<<20)
	sums := make([]string, len(f.m.Files))
	for i, file := range f.m.Files {
		fh, err := os.Open(f.localPath(i))
		if err != nil {
			return nil
		}
		h := sha256.New()
		var done, synced int64
		for done < file.Size {
			n, err := r.ReadContext(ctx, buf[:min(int64(len(buf)), file.Size-done)])
			h.Write(buf[:n])
			done += int64(n)
			if done-synced >= streamSyncEvery || done == file.Size {
				err = errors.Join(err, fh.Sync())
				synced = done
			}
			if err != nil && !(errors.Is(err, io.EOF) && done == file.Size) {
				fh.Close()
				return nil
			}
		}
		fh.Close()
		sums[i] = hex.EncodeToString(h.Sum(nil))
	}
	return sums
}

const (
	// fetchWarmWorkers is how many pieces odi fetch takes over HTTP from web seeds at once
	// besides what the BitTorrent client fetches.
	fetchWarmWorkers = 4
	// streamReadahead is how far ahead of the hashing the client fetches first: the
	// size of its own web-seed requests, so that the order costs it no parallelism.
	streamReadahead = 64 << 20
	// streamSyncEvery is how much hashed data streamHash leaves unsynced at most.
	streamSyncEvery = 64 << 20
)

// httpSource is one way to the bytes over plain HTTP.
type httpSource struct {
	name       string
	redirector bool
	url        func(file int) string
}

// httpSources are the redirector (which picks a relay, or the origin) and, should the
// redirector be missing or fail, the directory's origin copy itself.
func (f *fetcher) httpSources() []httpSource {
	return []httpSource{
		{name: "redirector", redirector: true, url: func(i int) string {
			u := f.api.Base + "/r/" + f.m.ID()
			if p := f.m.Files[i].Path; p != "" {
				u += "/" + names.EscapePath(p)
			}
			return u
		}},
		{name: "origin", url: func(i int) string {
			return f.api.Base + "/ws/" + f.ih.HexString() + "/" + names.EscapePath(f.m.LocalPath(i))
		}},
	}
}

// viaHTTP fills the missing pieces over HTTP, from each source in turn; the last one is
// retried as long as each attempt gets further.
func (f *fetcher) viaHTTP(ctx context.Context) error {
	srcs := f.httpSources()
	var err error
	var bad []int
	waits := 0
	for i := 0; i < len(srcs); {
		before := f.missingPieces()
		bad, err = f.fillFrom(ctx, srcs[i])
		after := f.missingPieces()
		if after < before {
			waits = 0
		}
		var se *statusError
		switch {
		case after == 0:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &se) && se.status == http.StatusGone:
			return err
		case errors.As(err, &se) && se.status == http.StatusServiceUnavailable && se.retryAfter > 0 && waits < maxBusyWaits:
			// A rationing origin: the pieces left it moments ago for the swarm, which
			// did not pass them on; it sends them again once Retry-After has passed.
			waits++
			f.rep.note("HTTP from the %s: busy; asking again in %s", srcs[i].name, se.retryAfter)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(se.retryAfter):
			}
			continue
		case errors.Is(err, errShortAnswer) && after < before && len(bad) == 0:
			continue // part of what was asked came: ask the same source for the rest
		case srcs[i].redirector && errors.As(err, &se) && se.status == http.StatusNotFound:
			// The artifact was just resolved as published: a 404 means this directory
			// has no redirector, so its origin is the way.
		case err != nil:
			f.rep.note("HTTP from the %s: %v", srcs[i].name, err)
		case len(bad) > 0:
			f.rep.note("HTTP from the %s: %d pieces did not match the torrent's hashes", srcs[i].name, len(bad))
		}
		if i == len(srcs)-1 && after < before && len(bad) == 0 {
			continue
		}
		i++
	}
	if len(bad) > 0 {
		return verifyError(fmt.Errorf("%w: %s: %d pieces from every HTTP source differ from the torrent's piece hashes (first: piece %d); nothing was put in place",
			errChecksum, f.m.ID(), len(bad), bad[0]))
	}
	return err
}

// statusError is an HTTP answer other than the bytes asked for.
type statusError struct {
	url        string
	status     int
	retryAfter time.Duration // a 503's Retry-After, 0 when none
}

func (e *statusError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.url, e.status, http.StatusText(e.status))
}

// fillFrom asks src for every run of missing pieces, file by file, and records each
// piece that arrives whole and matches its hash. It returns the pieces that did not.
func (f *fetcher) fillFrom(ctx context.Context, src httpSource) ([]int, error) {
	f.rep.set(f.completeBytes(), "")
	plen := f.info.PieceLength
	chk := &pieceChecker{f: f, h: sha1.New()}
	for _, run := range missingRuns(f.complete()) {
		from, to := int64(run[0])*plen, min(int64(run[1])*plen, f.info.TotalLength())
		chk.reset(run[0])
		for _, sp := range fileSpans(f.offsets, f.info.TotalLength(), from, to) {
			if err := f.getSpan(ctx, src.url(sp.file), f.localPath(sp.file), sp, chk); err != nil {
				return chk.bad, err
			}
		}
	}
	return chk.bad, nil
}

// missingRuns returns the runs of pieces not yet complete, as [first, end) index pairs.
func missingRuns(have []bool) [][2]int {
	var runs [][2]int
	for i := 0; i < len(have); i++ {
		if have[i] {
			continue
		}
		j := i
		for j < len(have) && !have[j] {
			j++
		}
		runs = append(runs, [2]int{i, j})
		i = j
	}
	return runs
}

// span is a byte range of one file: off and n are within the file.
type span struct {
	file   int
	off, n int64
}

// fileSpans cuts the torrent's byte range [from, to) into per-file ranges, in order,
// skipping empty files. offsets are the files' starts; total is the torrent's length.
func fileSpans(offsets []int64, total, from, to int64) []span {
	var out []span
	for i, start := range offsets {
		end := total
		if i+1 < len(offsets) {
			end = offsets[i+1]
		}
		lo, hi := max(from, start), min(to, end)
		if lo < hi {
			out = append(out, span{file: i, off: lo - start, n: hi - lo})
		}
	}
	return out
}

// pieceChecker hashes a run of pieces from the bytes written, in order, and records each
// piece's outcome in the piece records.
type pieceChecker struct {
	f     *fetcher
	piece int
	n     int64 // bytes of piece hashed so far
	h     hash.Hash
	bad   []int
}

func (c *pieceChecker) reset(piece int) {
	c.piece, c.n = piece, 0
	c.h.Reset()
}

func (c *pieceChecker) write(p []byte) error {
	for len(p) > 0 {
		piece := c.f.info.Piece(c.piece)
		k := min(int64(len(p)), piece.Length()-c.n)
		c.h.Write(p[:k])
		c.n += k
		p = p[k:]
		if c.n < piece.Length() {
			continue
		}
		var got metainfo.Hash
		c.h.Sum(got[:0])
		ok := got == piece.V1Hash().Unwrap()
		if err := c.f.pc.Set(c.f.pieceKey(c.piece), ok); err != nil {
			return fmt.Errorf("record piece %d: %w", c.piece, err)
		}
		if !ok {
			c.bad = append(c.bad, c.piece)
		}
		c.reset(c.piece + 1)
	}
	return nil
}

// getSpan GETs one file range from u into the local file at path, through chk. A
// response that stops for --stall-timeout is abandoned.
func (f *fetcher) getSpan(ctx context.Context, u, path string, sp span, chk *pieceChecker) (err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", sp.off, sp.off+sp.n-1))
	req.Header.Set("User-Agent", "odi-fetch/"+buildVersion()) // names odi in relays' logs
	resp, err := f.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	switch resp.StatusCode {
	case http.StatusPartialContent:
		var first, last int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/", &first, &last); err != nil ||
			first != sp.off || last < first || last >= sp.off+sp.n {
			return fmt.Errorf("GET %s: asked for bytes %d-%d, got %q", u, sp.off, sp.off+sp.n-1, resp.Header.Get("Content-Range"))
		}
		if got := last - first + 1; got < sp.n {
			defer func() {
				if err == nil {
					err = fmt.Errorf("GET %s: %w (%d of %d bytes)", u, errShortAnswer, got, sp.n)
				}
			}()
			sp.n = got
		}
	case http.StatusOK: // a server without ranges: skip to the offset
		if _, err := io.CopyN(io.Discard, body, sp.off); err != nil {
			return fmt.Errorf("GET %s: %w", u, err)
		}
	default:
		se := &statusError{url: u, status: resp.StatusCode}
		// A wait longer than maxRetryAfter is no wait a user sits through.
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 && secs <= maxRetryAfter {
			se.retryAfter = time.Duration(secs) * time.Second
		}
		return se
	}
	f.rep.set(-1, "HTTP from "+resp.Request.URL.Host)
	watchdog := time.AfterFunc(f.opts.stallTimeout, func() { cancel(errStalled) })
	defer watchdog.Stop()
	body = &watchedReader{r: io.LimitReader(body, sp.n), t: watchdog, d: f.opts.stallTimeout}

	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer fh.Close()
	pos := sp.off
	for pos < sp.off+sp.n {
		n, rerr := io.ReadFull(body, f.buf[:min(int64(len(f.buf)), sp.off+sp.n-pos)])
		if n > 0 {
			if _, err := fh.WriteAt(f.buf[:n], pos); err != nil {
				return err
			}
			if err := chk.write(f.buf[:n]); err != nil {
				return err
			}
			pos += int64(n)
			f.fetched.HTTP += int64(n)
			f.rep.add(int64(n))
		}
		if rerr != nil {
			if cause := context.Cause(ctx); errors.Is(cause, errStalled) {
				return fmt.Errorf("GET %s: %w for %s", u, errStalled, f.opts.stallTimeout)
			}
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				return fmt.Errorf("GET %s: body ended at byte %d of %d", u, pos, sp.off+sp.n)
			}
			return fmt.Errorf("GET %s: %w", u, rerr)
		}
	}
	return fh.Close()
}

// watchedReader pushes its watchdog back on every read that returns bytes.
type watchedReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (w *watchedReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if n > 0 {
		w.t.Reset(w.d)
	}
	return n, err
}

// verify checks every file against the catalog's sha256 and syncs it to disk. When a
// file differs, its pieces are hashed again: pieces that fail were damaged on disk after
// they were verified, so they are marked missing and their count returned for another
// round; if all pass, the torrent itself disagrees with the catalog, a verification
// failure.
func (f *fetcher) verify() (damaged int, err error) {
	f.rep.set(-1, "verifying sha256")
	streamed := f.streamed
	f.streamed = nil // a second round hashes afresh
	for i, file := range f.m.Files {
		if streamed != nil && streamed[i] == file.SHA256 {
			if err := f.checkSize(i); err != nil {
				return 0, fmt.Errorf("verify %s: %w", f.m.LocalPath(i), err)
			}
			continue
		}
		sum, err := f.hashFile(i)
		if err != nil {
			return 0, fmt.Errorf("verify %s: %w", f.m.LocalPath(i), err)
		}
		if sum == file.SHA256 {
			continue
		}
		n, err := f.recheckPieces(i)
		if err != nil {
			return 0, fmt.Errorf("verify %s: %w", f.m.LocalPath(i), err)
		}
		if n == 0 {
			return 0, verifyError(fmt.Errorf("%w: %s: %s has sha256 %s, the catalog says %s; nothing was put in place (the bytes stay in %s)",
				errChecksum, f.m.ID(), f.m.LocalPath(i), sum, file.SHA256, f.part))
		}
		damaged += n
	}
	return damaged, nil
}

func (f *fetcher) hashFile(i int) (string, error) {
	fh, err := os.Open(f.localPath(i))
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, fh, f.buf)
	if err != nil {
		return "", err
	}
	if n != f.m.Files[i].Size {
		return "", fmt.Errorf("%d bytes on disk, %d expected", n, f.m.Files[i].Size)
	}
	if err := fh.Sync(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkSize checks that file i, hashed and synced as it arrived, has its size on disk.
func (f *fetcher) checkSize(i int) error {
	fi, err := os.Stat(f.localPath(i))
	if err != nil {
		return err
	}
	if fi.Size() != f.m.Files[i].Size {
		return fmt.Errorf("%d bytes on disk, %d expected", fi.Size(), f.m.Files[i].Size)
	}
	return nil
}

// recheckPieces hashes the pieces that cover file i and marks those that fail missing.
func (f *fetcher) recheckPieces(i int) (int, error) {
	plen := f.info.PieceLength
	first := int(f.offsets[i] / plen)
	end := int((f.offsets[i] + f.m.Files[i].Size + plen - 1) / plen)
	damaged := 0
	for p := first; p < end; p++ {
		piece := f.info.Piece(p)
		h := sha1.New()
		for _, sp := range fileSpans(f.offsets, f.info.TotalLength(), piece.Offset(), piece.Offset()+piece.Length()) {
			if err := copyRange(h, f.localPath(sp.file), sp); err != nil {
				return 0, err
			}
		}
		var got metainfo.Hash
		h.Sum(got[:0])
		if got == piece.V1Hash().Unwrap() {
			continue
		}
		if err := f.pc.Set(f.pieceKey(p), false); err != nil {
			return 0, err
		}
		damaged++
	}
	return damaged, nil
}

func copyRange(w io.Writer, path string, sp span) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	_, err = io.Copy(w, io.NewSectionReader(fh, sp.off, sp.n))
	return err
}

// install moves the verified artifact from the partial state to <out>/<root> and
// deletes the partial state. Files were synced by verify; the folders are synced here,
// before and after the rename, so a crash leaves the artifact whole in one place.
func (f *fetcher) install() (string, error) {
	src := filepath.Join(f.part, f.m.Root)
	dest := filepath.Join(f.opts.out, f.m.Root)
	if !f.m.SingleFile() {
		err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			return fsutil.SyncDir(p)
		})
		if err != nil {
			return "", fmt.Errorf("install %s: %w", f.m.ID(), err)
		}
	}
	// Checked again: dest may have appeared during the download, and rename would
	// replace a file silently.
	if _, err := os.Lstat(dest); err == nil {
		return "", fmt.Errorf("%s appeared while fetching; the verified download stays in %s", dest, f.part)
	}
	if err := os.Rename(src, dest); err != nil {
		return "", fmt.Errorf("install %s: %w", f.m.ID(), err)
	}
	if err := fsutil.SyncDir(f.opts.out); err != nil {
		return "", err
	}
	f.closeState()
	if err := os.RemoveAll(f.part); err != nil {
		f.rep.note("could not remove %s: %v", f.part, err)
	}
	abs, err := filepath.Abs(dest)
	if err != nil {
		return dest, nil
	}
	return abs, nil
}

// reporter shows progress on stderr: a bar on a terminal, a line every few seconds
// otherwise, nothing with --quiet. Notes (fallbacks, discarded state) go the same way.
type reporter struct {
	w   io.Writer // nil: quiet
	tty bool

	mu    sync.Mutex
	id    string
	total int64
	done  int64
	desc  string
	bar   *progressbar.ProgressBar
	quit  chan struct{}
	wg    sync.WaitGroup
}

// plainEvery is how often progress lines are printed when stderr is not a terminal: often
// enough to show life in CI logs, rarely enough not to flood them.
const plainEvery = 5 * time.Second

func newReporter(w io.Writer, quiet bool) *reporter {
	if quiet {
		return &reporter{}
	}
	f, ok := w.(*os.File)
	return &reporter{w: w, tty: ok && term.IsTerminal(int(f.Fd()))}
}

func (r *reporter) start(id string, total, done int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.id, r.total, r.done = id, total, done
	if r.w == nil || total == 0 {
		return
	}
	every := plainEvery
	if r.tty {
		every = 200 * time.Millisecond
		r.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(r.w),
			progressbar.OptionSetDescription(id),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		r.bar.Set64(done)
	}
	r.quit = make(chan struct{})
	r.wg.Add(1)
	go r.loop(every, r.quit)
}

func (r *reporter) loop(every time.Duration, quit <-chan struct{}) {
	defer r.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	r.mu.Lock()
	lastDone, lastAt := r.done, time.Now()
	r.mu.Unlock()
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		r.mu.Lock()
		if r.bar != nil {
			r.bar.Describe(r.id + " " + r.desc)
			r.bar.Set64(r.done)
		} else {
			rate := float64(r.done-lastDone) / time.Since(lastAt).Seconds()
			lastDone, lastAt = r.done, time.Now()
			eta := "?"
			if rate > 0 {
				eta = (time.Duration(float64(r.total-r.done)/rate) * time.Second).Round(time.Second).String()
			}
			fmt.Fprintf(r.w, "fetch %s: %d%% (%s of %s), %s/s, ETA %s; %s\n", r.id, r.done*100/r.total,
				bytesize.Size(r.done), bytesize.Size(r.total), bytesize.Size(int64(rate)), eta, r.desc)
		}
		r.mu.Unlock()
	}
}

// set records bytes done (unless negative) and, if not empty, what is happening.
func (r *reporter) set(done int64, desc string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if done >= 0 {
		r.done = done
	}
	if desc != "" {
		r.desc = desc
	}
}

func (r *reporter) add(n int64) {
	r.mu.Lock()
	r.done += n
	r.mu.Unlock()
}

func (r *reporter) note(format string, args ...any) {
	if r.w == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar != nil {
		r.bar.Clear()
	}
	fmt.Fprintf(r.w, "odi: "+format+"\n", args...)
}

// stop ends the progress display; it may be called more than once.
func (r *reporter) stop() {
	r.mu.Lock()
	quit := r.quit
	r.quit = nil
	r.mu.Unlock()
	if quit == nil {
		return
	}
	close(quit)
	r.wg.Wait()
	if r.bar != nil {
		r.bar.Finish()
	}
}
