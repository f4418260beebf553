package webseed

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/names"
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

// ServeHTTP answers GET and HEAD on /<infohash-hex>/<name>[/<path>].
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ih, path, err := parsePath(r.URL.Path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
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
	switch {
	case errors.Is(err, ErrGone):
		http.Error(w, "gone: "+err.Error(), http.StatusGone)
		return
	case errors.Is(err, ErrNotFound):
		http.Error(w, "not found: "+err.Error(), http.StatusNotFound)
		return
	case err != nil:
		h.log.Error("web seed: open", "infohash", ih.HexString(), "path", path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer f.Content.Close()
	if st, ok := f.Content.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := st.Stat(); err != nil || !fi.Mode().IsRegular() {
			http.Error(w, "not found: not a file", http.StatusNotFound)
			return
		}
	}
	if f.SHA256 != "" {
		w.Header().Set("ETag", `"`+f.SHA256+`"`)
	}
	// Content goes to ServeContent as it came (an *os.File), so the kernel can sendfile it.
	http.ServeContent(w, r, path, f.ModTime, f.Content)
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
