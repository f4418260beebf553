package webseed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/byterange"
	"github.com/opendist/odi/internal/httpcount"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/problem"
)

// Errors a Store returns (wrapped) for content it does not serve.
var (
	// ErrNotFound is returned for an infohash or file the store does not hold: 404.
	ErrNotFound = errors.New("not found")
	// ErrGone is returned for content removed for good (expunged): 410.
	ErrGone = errors.New("gone")
)

// File is one file ready to serve.
type File struct {
	Content io.ReadSeekCloser
	ModTime time.Time
	// SHA256 is the file's hex sha256, or "". It becomes the strong ETag, so a resumed
	// download (If-Range) only continues on the very same bytes.
	SHA256 string
	// Offset is where the file starts in the torrent's bytes, TorrentLength and
	// PieceLength are the torrent's: a Handler that rations needs them to know the
	// pieces a range covers. A TorrentLength or PieceLength of 0 leaves the file
	// unrationed.
	Offset, TorrentLength, PieceLength int64
}

// Store opens the files a Handler may serve.
type Store interface {
	// Open opens file path of torrent ih, where path is the torrent's name followed, for
	// multi-file torrents, by the file's path inside it. The path has been checked to be
	// relative and free of "." and ".." components.
	Open(ctx context.Context, ih metainfo.Hash, path string) (File, error)
}

// Handler serves a Store's files. Mount it with the web-seed prefix stripped:
// http.StripPrefix("/ws", h).
type Handler struct {
	store  Store
	log    *slog.Logger
	mirror func(ih metainfo.Hash) string
	ration Rationing // Ledger nil: no rationing
}

// New returns a Handler serving store's files.
func New(store Store, log *slog.Logger) *Handler {
	return &Handler{store: store, log: log}
}

// DeflectTo makes h answer with a 302 to the web-seed base URL mirror returns for a
// torrent ("" to serve it here). The directory's origin uses it to hand its web-seed
// traffic to relays that hold the bytes: clients keep the origin in their url-list, yet a
// warm swarm costs it only redirects. (anacrolix, aria2 and curl -L follow them; a client
// that does not still has the relays in the same url-list.)
func (h *Handler) DeflectTo(mirror func(ih metainfo.Hash) string) *Handler {
	h.mirror = mirror
	return h
}

// Rationing is what a Handler that rations asks of its directory.
type Rationing struct {
	// Ledger counts the pieces sent.
	Ledger *Ledger
	// Crowded says whether to ration a torrent now: its swarm has peers to pass pieces on.
	Crowded func(ih metainfo.Hash) bool
	// Who tells requesters apart: relays, and clients by address.
	Who func(r *http.Request) Requester
	// RelaysDue, when set, says that relays are about to fill a torrent they have not
	// asked for yet: anonymous clients then wait for them, as while relays fill it.
	RelaysDue func(ih metainfo.Hash) bool
	// Refused, when not nil, counts the 503s the rationing answered (for metrics).
	Refused *atomic.Int64
}

// Ration makes h send no piece of a torrent more often than r.Ledger allows while
// r.Crowded says so. A GET whose first piece is someone else's gets 503 Service
// Unavailable with Retry-After; one that runs into such a piece gets a 206 for what comes
// before it, as its Content-Range says. GETs without a Range count as asking for the
// whole file: BitTorrent clients send them for a file their request covers (anacrolix
// does up to 64 MiB). Plain HTTP users, who have no peers to turn to, must reach the
// bytes through a handler that does not ration (the directory's /dl/).
func (h *Handler) Ration(r Rationing) *Handler {
	h.ration = r
	return h
}

// ServeHTTP answers GET and HEAD on /<infohash-hex>/<name>[/<path>]; file answers carry
// an RFC 6266 Content-Disposition with the file's name.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		problem.Write(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on web seeds; use GET or HEAD")
		return
	}
	ih, path, err := parsePath(r.URL.Path)
	if err != nil {
		problem.Write(w, http.StatusNotFound, err.Error())
		return
	}
	if h.mirror != nil {
		if base := h.mirror(ih); base != "" {
			root, rest, _ := strings.Cut(path, "/")
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, base+fileSuffix(root, rest), http.StatusFound)
			return
		}
	}
	f, err := h.store.Open(r.Context(), ih, path)
	if err != nil {
		lookupFailed(w, h.log, err, "web seed: open", "infohash", ih.HexString(), "path", path)
		return
	}
	defer f.Content.Close()
	serveFile(w, r, path, f, func(w http.ResponseWriter, r *http.Request, start, n, size int64) bool {
		if h.ration.Ledger == nil || r.Method != http.MethodGet || f.TorrentLength <= 0 || f.PieceLength <= 0 || size <= 0 ||
			!h.ration.Crowded(ih) {
			return false
		}
		h.serveRationed(w, r, path, f, start, n, size, ih)
		return true
	})
}

// lookupFailed answers a request whose file or artifact could not be found or opened:
// 410 for ErrGone, 404 for ErrNotFound, each with err as the detail; else 500, logged as
// msg with args.
func lookupFailed(w http.ResponseWriter, log *slog.Logger, err error, msg string, args ...any) {
	switch {
	case errors.Is(err, ErrGone):
		problem.Write(w, http.StatusGone, err.Error())
	case errors.Is(err, ErrNotFound):
		problem.Write(w, http.StatusNotFound, err.Error())
	default:
		log.Error(msg, append(args, "err", err)...)
		problem.Write(w, http.StatusInternalServerError, "internal error")
	}
}

// serveFile answers r with f, the file at torrent path p (its name, then the path
// inside a package): ranges, If-Range and the ETag of its sha256, and Content-Disposition.
// rationed, when not nil, may answer instead once the range [start, start+n) of the
// file's size bytes is known, and reports whether it did.
func serveFile(w http.ResponseWriter, r *http.Request, p string, f File, rationed func(w http.ResponseWriter, r *http.Request, start, n, size int64) bool) {
	// curl -O and wget name a download after the URL they were given, which for a redirect
	// (/r/…/latest) is no file name; told to, they take this header's instead.
	w = withDisposition(w, p)
	size := int64(-1)
	if st, ok := f.Content.(interface{ Stat() (fs.FileInfo, error) }); ok {
		fi, err := st.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			problem.Write(w, http.StatusNotFound, p+" is not a file")
			return
		}
		size = fi.Size()
	}
	if f.SHA256 != "" {
		w.Header().Set("ETag", `"`+f.SHA256+`"`)
	}
	start, n := int64(0), size
	if rng := r.Header.Get("Range"); rng != "" && size >= 0 {
		var ok bool
		if r, start, n, ok = byterange.Check(w, r, size); !ok {
			return
		}
	}
	if rationed != nil && rationed(w, r, start, n, size) {
		return
	}
	// Content goes to ServeContent as it came (an *os.File), so the kernel can sendfile it.
	http.ServeContent(w, r, p, f.ModTime, f.Content)
}

// serveRationed serves the part of the file's bytes [start, start+n) the ledger grants,
// where the file is size bytes.
func (h *Handler) serveRationed(w http.ResponseWriter, r *http.Request, path string, f File, start, n, size int64, ih metainfo.Hash) {
	who := h.ration.Who(r)
	g := h.ration.Ledger.Grant(ih, Ask{
		Length: f.TorrentLength, PieceLength: f.PieceLength, Off: f.Offset + start, N: n,
		FileStart: start == 0, FileEnd: start+n == size, Who: who,
		RelaysDue: !who.Relay && h.ration.RelaysDue != nil && h.ration.RelaysDue(ih),
	})
	if g.N == 0 {
		if h.ration.Refused != nil {
			h.ration.Refused.Add(1)
		}
		w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64(math.Ceil(g.RetryAfter.Seconds()))), 10))
		problem.Write(w, http.StatusServiceUnavailable, "busy: these bytes left the origin moments ago, or relays are taking them first; take them from the swarm's peers")
		return
	}
	if g.N < n {
		r = r.Clone(r.Context())
		r.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, start+g.N-1))
	}
	var sent atomic.Int64
	httpcount.Count(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, path, f.ModTime, f.Content)
	}), &sent).ServeHTTP(w, r)
	g.Done(sent.Load())
}

// parsePath splits "/<infohash-hex>/<name>[/<path>]".
func parsePath(p string) (metainfo.Hash, string, error) {
	var ih metainfo.Hash
	hexIH, rest, ok := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if !ok || rest == "" {
		return ih, "", errors.New("web seed URLs are /ws/<infohash>/<name>[/<path>]")
	}
	if len(hexIH) != 40 || ih.FromHexString(strings.ToLower(hexIH)) != nil {
		return ih, "", errors.New("not a 40-digit hex infohash")
	}
	if _, err := names.SplitPath(rest); err != nil {
		return ih, "", err
	}
	return ih, rest, nil
}
