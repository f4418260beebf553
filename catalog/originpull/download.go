package originpull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opendist/odi/internal/byterange"
	"github.com/opendist/odi/internal/fsutil"
)

// download makes sure the work folder holds f's verified bytes, at <dir>/<sha256>, and
// returns their size. The bytes go first to <sha256>.part, which survives failures and
// restarts: the next try asks for the rest with a Range request (If-Range the validator
// of the answer that began the file, so a changed upstream file starts over), and the
// whole file is checked against the signed sha256 once complete, however many tries it
// took. A file of more than budget bytes is refused. The work folder is keyed by digest,
// so a file listed twice, or in two releases, is downloaded once.
func (o *origin) download(ctx context.Context, f File, budget int64) (int64, error) {
	final := filepath.Join(o.dir, f.SHA256)
	if fi, err := os.Stat(final); err == nil {
		return fi.Size(), nil
	}
	part := final + ".part"
	validatorPath := part + ".validator"
	w, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return 0, fmt.Errorf("download %s: %w", f.Source, err)
	}
	defer w.Close()
	fi, err := w.Stat()
	if err != nil {
		return 0, fmt.Errorf("download %s: %w", f.Source, err)
	}
	have := fi.Size()
	validator, _ := os.ReadFile(validatorPath)
	if have > budget {
		have = 0 // more than may be taken: not a prefix of an acceptable file
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.base.JoinPath(strings.Split(f.Source, "/")...).String(), nil)
	if err != nil {
		return 0, err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		if len(validator) > 0 {
			req.Header.Set("If-Range", string(validator))
		}
	}
	resp, err := o.files.Do(req)
	if err != nil {
		return 0, fmt.Errorf("download %s: %w", f.Source, err)
	}
	defer resp.Body.Close()
	var start, size int64
	switch resp.StatusCode {
	case http.StatusPartialContent:
		var last int64
		start, last, size, err = byterange.ParseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != have || (size >= 0 && last != size-1) {
			return 0, fmt.Errorf("%w: %s: Content-Range %q for bytes %d-", ErrUpstream, f.Source, resp.Header.Get("Content-Range"), have)
		}
	case http.StatusOK:
		// The whole file: the upstream ignores Range, or the file changed (If-Range).
		size = resp.ContentLength
		if err := os.WriteFile(validatorPath, []byte(validatorOf(resp.Header)), 0o644); err != nil {
			return 0, fmt.Errorf("download %s: %w", f.Source, err)
		}
	case http.StatusRequestedRangeNotSatisfiable:
		// The part is as long as the file, or longer: check it whole below.
		start, size = have, have
	default:
		return 0, fmt.Errorf("%w: %s: %s", ErrUpstream, f.Source, resp.Status)
	}
	if size > budget {
		return 0, fmt.Errorf("%w: %s has %d bytes, more than the %d this artifact may still take (max_artifact_size)", ErrUpstream, f.Source, size, budget)
	}
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		if err := w.Truncate(start); err != nil {
			return 0, fmt.Errorf("download %s: %w", f.Source, err)
		}
		idle := time.AfterFunc(idleTimeout, func() { cancel(fmt.Errorf("no byte for %s", idleTimeout)) })
		defer idle.Stop()
		body := &paced{r: io.LimitReader(resp.Body, budget-start+1), ctx: ctx, o: o, idle: idle}
		n, err := io.Copy(io.NewOffsetWriter(w, start), body)
		// What arrived is kept for the next try, durably, whatever happened.
		if serr := w.Sync(); err == nil {
			err = serr
		}
		if err != nil {
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
				err = cause
			}
			return 0, fmt.Errorf("download %s (%d of its bytes kept to resume): %w", f.Source, start+n, err)
		}
		if start+n > budget {
			os.Remove(part) // no prefix of an acceptable file
			return 0, fmt.Errorf("%w: %s is longer than the %d bytes this artifact may still take (max_artifact_size)", ErrUpstream, f.Source, budget)
		}
		if size >= 0 && start+n != size {
			return 0, fmt.Errorf("%w: %s ended after %d of %d bytes (kept to resume)", ErrUpstream, f.Source, start+n, size)
		}
	}
	got, n, err := digest(w)
	if err != nil {
		return 0, fmt.Errorf("download %s: %w", f.Source, err)
	}
	if got != f.SHA256 {
		os.Remove(part)
		os.Remove(validatorPath)
		return 0, fmt.Errorf("%w: %s: sha256 %s, signed %s", ErrDigest, f.Source, got, f.SHA256)
	}
	if err := os.Rename(part, final); err != nil {
		return 0, fmt.Errorf("download %s: %w", f.Source, err)
	}
	os.Remove(validatorPath)
	if err := fsutil.SyncDir(o.dir); err != nil {
		return 0, fmt.Errorf("download %s: %w", f.Source, err)
	}
	return n, nil
}

// validatorOf is the If-Range value of a later resume: a strong ETag, else a strong
// Last-Modified (RFC 9110 13.1.5 allows only those), else none.
func validatorOf(h http.Header) string {
	if e := h.Get("ETag"); e != "" && !strings.HasPrefix(e, "W/") {
		return e
	}
	return strongLastModified(h)
}

// strongLastModified is the answer's Last-Modified if it is a strong validator: at
// least a second before the answer's Date (RFC 9110 8.8.2.2). A file changed again
// within the second it was served in keeps its Last-Modified, so a later
// If-Modified-Since or If-Range with that date could take a new file for the old.
func strongLastModified(h http.Header) string {
	lm, err1 := http.ParseTime(h.Get("Last-Modified"))
	date, err2 := http.ParseTime(h.Get("Date"))
	if err1 != nil || err2 != nil || date.Sub(lm) < time.Second {
		return ""
	}
	return h.Get("Last-Modified")
}

// digest is the sha256 and the size of f's bytes.
func digest(f *os.File) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// paced reads at the origin's rate, counts the bytes, and holds off the idle cut while
// bytes arrive.
type paced struct {
	r    io.Reader
	ctx  context.Context
	o    *origin
	idle *time.Timer
}

func (p *paced) Read(b []byte) (int, error) {
	if burst := p.o.limiter.Burst(); len(b) > burst {
		b = b[:burst]
	}
	n, err := p.r.Read(b)
	if n > 0 {
		p.idle.Reset(idleTimeout)
		p.o.m.bytes.WithLabelValues(p.o.cfg.Catalog).Add(float64(n))
		if werr := p.o.limiter.WaitN(p.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}
