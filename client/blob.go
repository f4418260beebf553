package client

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/fsutil"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/names"
)

// blobScheme begins a reference to a file by its content: "sha256:<hex>".
const blobScheme = "sha256:"

// ParseBlobRef reads "sha256:<64 hex digits>", a file named by its content, and returns
// the digest in lower case (the form /blob/ URLs take); upper-case digits are accepted,
// as users paste them. ok is false when s does not begin with "sha256:" (any case): it
// is then no blob reference at all, and err is nil.
func ParseBlobRef(s string) (sum string, ok bool, err error) {
	if len(s) < len(blobScheme) || !strings.EqualFold(s[:len(blobScheme)], blobScheme) {
		return "", false, nil
	}
	sum = strings.ToLower(s[len(blobScheme):])
	if !manifest.IsSHA256(sum) {
		return "", true, fmt.Errorf("%q is not sha256:<64 hex digits>, e.g. sha256:%s", s, strings.Repeat("0", 64))
	}
	return sum, true, nil
}

// maxBlobRedirects bounds the redirects FetchBlob follows: the directory's to a relay or
// its origin is one, and net/http's default allows ten.
const maxBlobRedirects = 10

// FetchBlob downloads the published file whose sha256 is sum (lower-case hex, as
// ParseBlobRef returns it) over plain HTTP through the directory's /blob/sha256/<sum>,
// which redirects to a relay holding it or to the origin, checks the sha256 of every byte
// that arrived, and only then puts the file in place. It uses o's Out, Bind,
// StallTimeout, UserAgent and Progress.
//
// The file goes into Out when Out is an existing folder, or ends in a path separator
// (the folder is then created if needed), under the name the directory's redirect gives
// (its Content-Disposition, else the final server's); a name that names.CheckComponent
// refuses, one that could leave the folder among them, gives way to the digest itself.
// Any other Out is the file's own path. An existing file is never replaced.
//
// The bytes go to a temporary file beside the destination, which is synced, checked and
// renamed into place: the destination appears whole and verified or not at all, and
// bytes that do not match sum are deleted (ErrChecksum). A download that stops for
// StallTimeout fails with ErrStalled; there is no resume.
func FetchBlob(ctx context.Context, api *apiclient.Client, sum string, o FetchOptions) (*FetchResult, error) {
	if !manifest.IsSHA256(sum) {
		return nil, fmt.Errorf("fetch blob: %q is not 64 lower-case hex digits", sum)
	}
	if o.StallTimeout <= 0 {
		return nil, fmt.Errorf("the stall timeout must be positive (got %s)", o.StallTimeout)
	}
	rep := o.Progress
	if rep == nil {
		rep = NewReporter(nil)
	}
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The first redirect is the directory's own answer: its name for the file is the one
	// to keep, not whatever the relay it sends us to says.
	var named string
	hc := &http.Client{
		Transport: o.Bind.Transport(&http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ResponseHeaderTimeout: o.StallTimeout,
			IdleConnTimeout:       30 * time.Second,
		}),
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxBlobRedirects {
				return fmt.Errorf("stopped after %d redirects", maxBlobRedirects)
			}
			if len(via) == 1 {
				named = req.Response.Header.Get("Content-Disposition")
			}
			return nil
		},
	}
	u := api.Base + "/blob/sha256/" + sum
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", cmp.Or(o.UserAgent, "odi-fetch"))
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch sha256:%s: %w", sum, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch sha256:%s: GET %s: %d %s%s", sum, resp.Request.URL.Redacted(), resp.StatusCode,
			http.StatusText(resp.StatusCode), problemDetail(resp))
	}
	if named == "" {
		named = resp.Header.Get("Content-Disposition")
	}
	name, why := blobName(named, sum)
	if why != "" {
		rep.Note("the server's name for sha256:%s is refused (%s); saving it as %s", sum, why, name)
	}
	dest, err := blobDest(o.Out, name)
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(dest); err == nil {
		return nil, fmt.Errorf("fetch sha256:%s: %s exists; not replacing it", sum, dest)
	}
	dir := filepath.Dir(dest)
	if n := resp.ContentLength; n > 0 {
		if free, err := fsutil.FreeBytes(dir); err == nil && free < n {
			return nil, fmt.Errorf("fetch sha256:%s: %s free in %s, %s needed", sum, bytesize.Size(free), dir, bytesize.Size(n))
		}
	}

	rep.Start(blobScheme+sum, max(resp.ContentLength, 0), 0)
	defer rep.Stop()
	rep.Set(-1, "HTTP from "+resp.Request.URL.Host)
	watchdog := time.AfterFunc(o.StallTimeout, func() { cancel(ErrStalled) })
	defer watchdog.Stop()
	body := &watchedReader{r: resp.Body, t: watchdog, d: o.StallTimeout}
	n, err := writeVerified(dest, body, sum, rep)
	switch {
	case err != nil && errors.Is(context.Cause(ctx), ErrStalled):
		return nil, fmt.Errorf("fetch sha256:%s from %s: %w for %s", sum, resp.Request.URL.Host, ErrStalled, o.StallTimeout)
	case err != nil:
		return nil, fmt.Errorf("fetch sha256:%s from %s: %w", sum, resp.Request.URL.Host, err)
	}
	rep.Stop()
	abs, err := filepath.Abs(dest)
	if err != nil {
		abs = dest
	}
	return &FetchResult{
		Artifact: blobScheme + sum, Path: abs, Bytes: n,
		Files:   []FetchedFile{{Path: abs, Size: n, SHA256: sum}},
		Seconds: time.Since(start).Seconds(), Fetched: FetchedBytes{HTTP: n},
	}, nil
}

// problemDetail is ": <detail>" of an RFC 9457 problem body, "" for any other body.
func problemDetail(resp *http.Response) string {
	var p struct {
		Detail string `json:"detail"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&p) != nil || p.Detail == "" {
		return ""
	}
	return ": " + p.Detail
}

// blobName is the file name a Content-Disposition value gives, if names.CheckComponent
// takes it (a name that is a path, ".." or a device name is refused), else sum, and why
// not ("" when the name came from the header, or none was given).
func blobName(contentDisposition, sum string) (name, why string) {
	if contentDisposition == "" {
		return sum, ""
	}
	_, params, err := mime.ParseMediaType(contentDisposition)
	if err != nil {
		return sum, "Content-Disposition: " + err.Error()
	}
	name = params["filename"]
	if name == "" {
		return sum, ""
	}
	if err := names.CheckComponent(name); err != nil {
		return sum, err.Error()
	}
	return name, ""
}

// blobDest is where a blob named name goes for out (FetchBlob's rules); it creates the
// folder it goes into.
func blobDest(out, name string) (string, error) {
	if out == "" {
		out = "."
	}
	folder := strings.HasSuffix(out, string(filepath.Separator)) || strings.HasSuffix(out, "/")
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		folder = true
	}
	dest := out
	if folder {
		dest = filepath.Join(out, name)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return "", fmt.Errorf("output folder: %w", err)
	}
	return dest, nil
}

// writeVerified copies body into a temporary file beside dest and, when its sha256 is
// sum, syncs it and renames it to dest; otherwise it deletes it and returns ErrChecksum.
// It returns the bytes written.
func writeVerified(dest string, body io.Reader, sum string, rep Progress) (n int64, err error) {
	dir := filepath.Dir(dest)
	f, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".part-*")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err = io.Copy(io.MultiWriter(f, h, progressWriter{rep}), body)
	if err != nil {
		return n, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return n, fmt.Errorf("%w: the %d bytes received have sha256 %s; nothing was kept", ErrChecksum, n, got)
	}
	if err := f.Chmod(0o644); err != nil {
		return n, err
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	if err := f.Close(); err != nil {
		return n, err
	}
	// Checked again: dest may have appeared during the download, and rename would
	// replace it silently.
	if _, err := os.Lstat(dest); err == nil {
		return n, fmt.Errorf("%s appeared while fetching; not replacing it", dest)
	}
	if err := os.Rename(f.Name(), dest); err != nil {
		return n, err
	}
	return n, fsutil.SyncDir(dir)
}

// progressWriter tells a Progress of the bytes written through it.
type progressWriter struct{ rep Progress }

func (w progressWriter) Write(p []byte) (int, error) {
	w.rep.Add(int64(len(p)))
	return len(p), nil
}
