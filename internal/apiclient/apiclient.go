// Package apiclient calls a directory's JSON API, signing requests (internal/sign) when it
// has a key, and turns the directory's problem+json refusals (RFC 9457) into *Error.
// Publishers, admins and relays all use it.
package apiclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opendist/odi/internal/sign"
)

// Client calls one directory.
type Client struct {
	Base   string // the directory's base URL, without a trailing slash
	HTTP   *http.Client
	Signer *sign.Signer // nil: requests go unsigned; signatures are for Base's origin
	// RetryFor bounds how long Call waits in all, as told by Retry-After, for a directory
	// that answers 429 (this address's rate) or 503 (busy: upload slots, memory) before
	// it gives up; 0 never waits.
	RetryFor time.Duration
	// Waiting, when set, is told of each refusal Call waits out (to tell a user).
	Waiting func(refusal *Error)
}

// DefaultRetryFor is New's Client.RetryFor: a directory's upload slots free up within
// minutes, and a user's publish should outwait them rather than fail.
const DefaultRetryFor = 5 * time.Minute

// New returns a client for the directory at base, signing with signer (which may be nil).
// A signature is for base's origin (sign.Origin), and a directory refuses one made for
// another: base must be the directory's public URL, as it is configured there (not
// localhost for 127.0.0.1, nor the address behind its reverse proxy).
func New(base string, signer *sign.Signer) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("directory URL %q is not an http(s) URL", base)
	}
	return &Client{
		Base: strings.TrimRight(base, "/"),
		// No overall timeout: uploads of large artifacts take as long as they take.
		HTTP: &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ResponseHeaderTimeout: 10 * time.Minute, // the directory fsyncs before answering
			IdleConnTimeout:       30 * time.Second,
		}},
		Signer:   signer,
		RetryFor: DefaultRetryFor,
	}, nil
}

// Error is a directory's refusal, decoded from its problem+json body.
type Error struct {
	Status int
	Detail string
	// RetryAfter is the directory's Retry-After, when it sent one (429, 503).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("directory answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Detail)
}

// StatusOf is the HTTP status of a directory's refusal, or 0 for other errors.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Call sends a request with an in-memory body (signed if the client has a signer) and
// decodes a JSON answer into out (if not nil). A 429 or 503 with Retry-After is tried
// again after the wait it names, with a fresh signature (a nonce is good once), while
// the waits add up to at most c.RetryFor.
func (c *Client) Call(ctx context.Context, method, path string, body []byte, out any) error {
	var waited time.Duration
	for {
		err := c.call(ctx, method, path, body, out)
		var e *Error
		if !errors.As(err, &e) || e.RetryAfter <= 0 || waited+e.RetryAfter > c.RetryFor {
			return err
		}
		if c.Waiting != nil {
			c.Waiting(e)
		}
		t := time.NewTimer(e.RetryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (waiting to try again: %w)", err, ctx.Err())
		case <-t.C:
		}
		waited += e.RetryAfter
	}
}

func (c *Client) call(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Signer != nil {
		if err := c.Signer.Sign(req, sha256.Sum256(body)); err != nil {
			return err
		}
	}
	return c.Do(req, out)
}

// CallJSON is Call with v encoded as the JSON body.
func (c *Client) CallJSON(ctx context.Context, method, path string, v, out any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Call(ctx, method, path, body, out)
}

// Do sends req as it is and decodes a JSON answer into out (if not nil).
func (c *Client) Do(req *http.Request, out any) error {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var p struct {
			Detail string `json:"detail"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &p) != nil || p.Detail == "" {
			p.Detail = strings.TrimSpace(string(b))
		}
		e := &Error{Status: resp.StatusCode, Detail: p.Detail}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", req.Method, req.URL.Redacted(), err)
	}
	return nil
}

// retryAfter reads a Retry-After header (RFC 9110: seconds or an HTTP date) as a wait
// from now; 0 when it is absent or unreadable. A wait rounds up to at least a second.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs < 0 || secs > int64(24*time.Hour/time.Second) {
			return 0
		}
		return max(time.Duration(secs)*time.Second, time.Second)
	}
	if at, err := http.ParseTime(h); err == nil {
		return max(at.Sub(now), time.Second)
	}
	return 0
}
