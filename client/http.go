package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/opendist/odi/internal/byterange"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/pieces"
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
		{name: "redirector", redirector: true, url: func(i int) string { return redirectURL(f.api.Base, &f.m, i) }},
		{name: "origin", url: func(i int) string {
			return f.api.Base + "/ws/" + f.ih.HexString() + "/" + names.EscapePath(f.m.LocalPath(i))
		}},
	}
}

// redirectURL is where the directory at base redirects a plain HTTP download of file i
// of m: a relay holding it, or the origin.
func redirectURL(base string, m *manifest.Manifest, i int) string {
	u := base + "/r/" + m.ID()
	if p := m.Files[i].Path; p != "" {
		u += "/" + names.EscapePath(p)
	}
	return u
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
			f.rep.Note("HTTP from the %s: busy; asking again in %s", srcs[i].name, se.retryAfter)
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
			f.rep.Note("HTTP from the %s: %v", srcs[i].name, err)
		case len(bad) > 0:
			f.rep.Note("HTTP from the %s: %d pieces did not match the torrent's hashes", srcs[i].name, len(bad))
		}
		if i == len(srcs)-1 && after < before && len(bad) == 0 {
			continue
		}
		i++
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s: %d pieces from every HTTP source differ from the torrent's piece hashes (first: piece %d); nothing was put in place",
			ErrChecksum, f.m.ID(), len(bad), bad[0])
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
// A piece is recorded complete only after its files were fsynced, every commitEvery
// and at the end, as a BitTorrent run's are (storageRecords): a record that reached the
// disk before its bytes would vouch, after a crash, for bytes that are not there.
func (f *fetcher) fillFrom(ctx context.Context, src httpSource) (bad []int, err error) {
	f.rep.Set(f.completeBytes(), "")
	var arrived []int // whole and good, not yet recorded
	committed := time.Now()
	commit := func() error {
		if len(arrived) == 0 {
			return nil
		}
		if err := f.syncFiles(arrived); err != nil {
			return fmt.Errorf("sync pieces: %w", err)
		}
		for _, p := range arrived {
			if err := f.pc.Set(f.pieceKey(p), true); err != nil {
				return fmt.Errorf("record piece %d: %w", p, err)
			}
		}
		arrived, committed = arrived[:0], time.Now()
		return nil
	}
	defer func() { err = errors.Join(err, commit()) }()
	h := pieces.NewHasher(f.layout, f.info.Pieces, 0, func(p int, ok bool) error {
		if !ok {
			bad = append(bad, p)
			if err := f.pc.Set(f.pieceKey(p), false); err != nil {
				return fmt.Errorf("record piece %d: %w", p, err)
			}
			return nil
		}
		_, n := f.layout.Piece(p)
		f.fetched.HTTP += n
		arrived = append(arrived, p)
		if time.Since(committed) >= commitEvery {
			return commit()
		}
		return nil
	})
	for _, run := range missingRuns(f.complete()) {
		from, _ := f.layout.Piece(run[0])
		last, n := f.layout.Piece(run[1] - 1)
		h.Restart(run[0])
		for _, sp := range f.layout.Spans(from, last+n) {
			if err := f.getSpan(ctx, src.url(sp.File), f.localPath(sp.File), sp, h); err != nil {
				return bad, err
			}
		}
	}
	return bad, nil
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

// getSpan GETs one file range from u into the local file at path, and writes what it
// wrote there to check too. A response that stops for StallTimeout is abandoned.
func (f *fetcher) getSpan(ctx context.Context, u, path string, sp pieces.Span, check io.Writer) (err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", sp.Off, sp.Off+sp.N-1))
	req.Header.Set("User-Agent", f.opts.UserAgent)
	resp, err := f.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	switch resp.StatusCode {
	case http.StatusPartialContent:
		first, last, _, err := byterange.ParseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || first != sp.Off || last >= sp.Off+sp.N {
			return fmt.Errorf("GET %s: asked for bytes %d-%d, got %q", u, sp.Off, sp.Off+sp.N-1, resp.Header.Get("Content-Range"))
		}
		if got := last - first + 1; got < sp.N {
			defer func() {
				if err == nil {
					err = fmt.Errorf("GET %s: %w (%d of %d bytes)", u, errShortAnswer, got, sp.N)
				}
			}()
			sp.N = got
		}
	case http.StatusOK: // a server without ranges: skip to the offset
		if _, err := io.CopyN(io.Discard, body, sp.Off); err != nil {
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
	f.rep.Set(-1, "HTTP from "+resp.Request.URL.Host)
	watchdog := time.AfterFunc(f.opts.StallTimeout, func() { cancel(ErrStalled) })
	defer watchdog.Stop()
	body = &watchedReader{r: io.LimitReader(body, sp.N), t: watchdog, d: f.opts.StallTimeout}

	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer fh.Close()
	pos := sp.Off
	for pos < sp.Off+sp.N {
		n, rerr := io.ReadFull(body, f.buf[:min(int64(len(f.buf)), sp.Off+sp.N-pos)])
		if n > 0 {
			if _, err := fh.WriteAt(f.buf[:n], pos); err != nil {
				return err
			}
			if _, err := check.Write(f.buf[:n]); err != nil {
				return err
			}
			pos += int64(n)
			f.rep.Add(int64(n))
		}
		if rerr != nil {
			if cause := context.Cause(ctx); errors.Is(cause, ErrStalled) {
				return fmt.Errorf("GET %s: %w for %s", u, ErrStalled, f.opts.StallTimeout)
			}
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				return fmt.Errorf("GET %s: body ended at byte %d of %d", u, pos, sp.Off+sp.N)
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
