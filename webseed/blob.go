package webseed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/disposition"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/problem"
)

// BlobPrefix is where content-addressed URLs live, on the directory and on relays alike:
// BlobPrefix + "sha256/<64 lower-case hex digits>".
const BlobPrefix = "/blob/"

// blobUsage is the form of a blob URL, for answers to URLs of another shape.
const blobUsage = "blob URLs are /blob/sha256/<the file's sha256: 64 lower-case hex digits>"

// errBlobShape is returned for a path that is not /sha256/<digest>: another algorithm, a
// missing digest, more segments.
var errBlobShape = errors.New(blobUsage)

// errBlobDigest is returned (wrapped) for a /sha256/ path whose digest is not 64
// lower-case hex digits.
var errBlobDigest = errors.New("not a sha256")

// parseBlobPath returns the digest of "/sha256/<digest>" (a blob URL with its prefix
// stripped). Only the spelling sha256sum prints is taken, 64 lower-case hex digits, so
// that a blob has one URL (one key in every cache between users and the bytes); an
// upper-case digest is refused with a hint rather than redirected, since a 301 would
// cost such users a round trip on every request.
func parseBlobPath(p string) (string, error) {
	sum, ok := strings.CutPrefix(p, "/sha256/")
	switch {
	case !ok || sum == "" || strings.Contains(sum, "/"):
		return "", errBlobShape
	case manifest.IsSHA256(sum):
		return sum, nil
	case manifest.IsSHA256(strings.ToLower(sum)):
		return "", fmt.Errorf("%w: %q has upper-case digits; blob URLs take the lower-case form, %s", errBlobDigest, sum, strings.ToLower(sum))
	case len(sum) != 64:
		return "", fmt.Errorf("%w: %q has %d characters, a sha256 is 64 hex digits", errBlobDigest, truncate(sum, 80), len(sum))
	}
	return "", fmt.Errorf("%w: %q is not 64 lower-case hex digits", errBlobDigest, sum)
}

// truncate cuts s to at most n bytes, for quoting what a client sent.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// blobPathFailed answers a blob URL that parseBlobPath refused: 400 for a malformed
// digest, 404 with the URL form for a URL of another shape.
func blobPathFailed(w http.ResponseWriter, err error) {
	if errors.Is(err, errBlobDigest) {
		problem.Write(w, http.StatusBadRequest, err.Error())
		return
	}
	problem.Write(w, http.StatusNotFound, err.Error())
}

// getOrHead answers any other method with 405 and reports whether r is GET or HEAD.
func getOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	problem.Write(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here; use GET or HEAD")
	return false
}

// BlobStore opens files by their content, for a BlobHandler.
type BlobStore interface {
	// OpenBlob opens a file whose sha256 is sum (64 lower-case hex digits) and returns
	// it, with File.SHA256 set to sum, and its torrent path (the torrent's name, then the
	// path inside a package), which names it in Content-Disposition. Errors wrap
	// ErrNotFound for a sum the store does not serve.
	OpenBlob(ctx context.Context, sum string) (File, string, error)
}

// BlobHandler serves a BlobStore's files by their sha256: GET and HEAD on
// /sha256/<hex>, mounted with its prefix stripped (http.StripPrefix("/blob", h)), as a
// Handler serves them by torrent path (ranges, If-Range, the ETag, Content-Disposition),
// with the digest as RFC 3230 Digest and RFC 9530 Repr-Digest.
type BlobHandler struct {
	store BlobStore
	log   *slog.Logger
}

// NewBlobHandler returns a BlobHandler serving store's files.
func NewBlobHandler(store BlobStore, log *slog.Logger) *BlobHandler {
	return &BlobHandler{store: store, log: log}
}

func (h *BlobHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	sum, err := parseBlobPath(r.URL.Path)
	if err != nil {
		blobPathFailed(w, err)
		return
	}
	f, p, err := h.store.OpenBlob(r.Context(), sum)
	if err != nil {
		lookupFailed(w, h.log, err, "blob: open", "sha256", sum)
		return
	}
	defer f.Content.Close()
	setDigest(w.Header(), sum)
	serveFile(w, r, p, f, nil)
}

// setDigest sets the Digest and Repr-Digest of a file whose sha256 is sum (well formed).
func setDigest(h http.Header, sum string) {
	digest, reprDigest := digestValues(sum)
	h["Digest"], h["Repr-Digest"] = []string{digest}, []string{reprDigest}
}

// BlobResolver finds a published file by its content, for the Redirector's Blob
// handler. It is asked on every request, so it answers from memory.
type BlobResolver interface {
	// ResolveBlob returns an artifact holding a file whose sha256 is sum (64 lower-case
	// hex digits) and the file's index in its Files, preferring an artifact that mirrors
	// hold. Errors wrap ErrNotFound, or ErrGone with the reason when only expunged
	// artifacts held such a file.
	ResolveBlob(sum string) (*Target, int, error)
}

// Blob returns the handler of content-addressed redirects: GET and HEAD on
// /sha256/<hex>, mounted with its prefix stripped (http.StripPrefix("/blob",
// rd.Blob())), answer 302 to a mirror's own /blob/sha256/<hex>, chosen as ServeHTTP
// chooses (nearness, spare capacity), or, when no mirror can take the user, to the
// origin's copy of the file (under Target.OriginDownload). The answer carries the
// digest as Digest and Repr-Digest and the file's name in Content-Disposition. Users
// are not held for relays (RedirectorOptions.Hold): a hash names no artifact whose
// relays they could wait for. Hashes come from RedirectorOptions.Blobs.
func (rd *Redirector) Blob() http.Handler {
	return http.HandlerFunc(rd.serveBlob)
}

func (rd *Redirector) serveBlob(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	sum, err := parseBlobPath(r.URL.Path)
	if err != nil {
		blobPathFailed(w, err)
		return
	}
	if rd.opts.Blobs == nil {
		problem.Write(w, http.StatusNotFound, "no published file has sha256 "+sum)
		return
	}
	t, i, err := rd.opts.Blobs.ResolveBlob(sum)
	if err != nil {
		lookupFailed(w, rd.log, err, "redirector: resolve blob", "sha256", sum)
		return
	}
	country, continent := rd.locate(r)
	rk := newRanker(t.Mirrors, country, continent)
	var location string
	if chosen := rk.choose(t.Mirrors, rd.draw()); chosen >= 0 {
		location = mirrorBlobURL(t.Mirrors[chosen].Base, t.InfoHash, sum)
	}
	if location == "" {
		origin := cmp.Or(t.OriginDownload, t.Origin)
		if origin == "" {
			problem.Write(w, http.StatusServiceUnavailable, "no copy of the file with sha256 "+sum+" can be reached now")
			return
		}
		location = origin + t.prepared().suffix[i]
	}
	h := w.Header()
	h.Set("Location", location)
	setDigest(h, sum)
	h.Set("Content-Disposition", disposition.Attachment(path.Base(t.Root+"/"+t.Files[i].Path)))
	h["Cache-Control"] = noStore
	w.WriteHeader(http.StatusFound)
	if r.Method == http.MethodGet && t.Redirects != nil {
		t.Redirects.Add(1)
	}
}

// mirrorBlobURL is where the mirror whose web seed for ih is base serves blob sum: its
// /blob/sha256/<sum>, beside its /ws/ (base is <relay>/ws/<infohash>/, as Mirror.Base
// says); "" for a base laid out otherwise.
func mirrorBlobURL(base string, ih metainfo.Hash, sum string) string {
	relay, ok := strings.CutSuffix(base, "/ws/"+ih.HexString()+"/")
	if !ok {
		return ""
	}
	return relay + BlobPrefix + "sha256/" + sum
}
