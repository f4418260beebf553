// Package boundedget reads small documents over HTTP from servers that may lie: an index,
// a torrent, a listing. A body is read up to a bound, refused beyond it before anything
// parses it (a server sending endless data costs the bound, no more), and conditional on
// an ETag, so that polling an unchanged document costs a 304 (RFC 9110 §13.1.2).
package boundedget

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrTooLarge is returned (wrapped, with the URL) for a body over the bound.
var ErrTooLarge = errors.New("body over its limit")

// StatusError is an answer other than 200 (or 304 to an ETag).
type StatusError struct {
	URL    string
	Code   int
	Status string
}

func (e *StatusError) Error() string { return fmt.Sprintf("GET %s: %s", e.URL, e.Status) }

// Get reads url's body with client, at most limit bytes, unless its ETag is etag: then it
// returns no body and no error. It returns the body's ETag.
func Get(ctx context.Context, client *http.Client, url, etag string, limit int64) (body []byte, newTag string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && etag != "":
		return nil, etag, nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", &StatusError{URL: url, Code: resp.StatusCode, Status: resp.Status}
	case resp.ContentLength > limit:
		return nil, "", fmt.Errorf("GET %s: %w: %d bytes, more than %d", url, ErrTooLarge, resp.ContentLength, limit)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", url, err)
	}
	if int64(len(body)) > limit {
		return nil, "", fmt.Errorf("GET %s: %w: more than %d bytes", url, ErrTooLarge, limit)
	}
	return body, resp.Header.Get("ETag"), nil
}
