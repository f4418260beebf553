// Package apiclient calls a directory's JSON API, signing requests (internal/sign) when it
// has a key, and turns the directory's problem+json refusals (RFC 9457) into *Error. A
// directory it cannot connect to is an *UnreachableError, and a URL whose answers are
// not a directory's (a web server's HTML 404) a *NotDirectoryError, so that a user is
// told to fix the URL rather than shown a refusal no directory made.
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
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
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
		if u := c.unreachable(req, err); u != nil {
			return u
		}
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	fromDirectory := isJSON(resp.Header.Get("Content-Type"))
	if resp.StatusCode >= 300 {
		if !fromDirectory && foreignStatus(resp.StatusCode) {
			return c.notDirectory(req, resp)
		}
		var p struct {
			Detail string `json:"detail"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		switch {
		case json.Unmarshal(b, &p) == nil && p.Detail != "":
		case strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html"):
			// A proxy's error page: its markup would drown the one fact in it.
			p.Detail = "an HTML page, not the directory's answer (from a proxy in front of it?)"
		default:
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
		if !fromDirectory {
			return c.notDirectory(req, resp)
		}
		return fmt.Errorf("%s %s: decode answer: %w", req.Method, req.URL.Redacted(), err)
	}
	return nil
}

// UnreachableError is returned when no connection to the directory could be made: its
// name did not resolve, or the dial was refused, found no route or timed out. Nothing
// was sent, so trying again is safe. Unwrap gives the dial's error (errors.Is(err,
// syscall.ECONNREFUSED) holds for a refusal).
type UnreachableError struct {
	URL string // the directory's base URL
	Err error
}

func (e *UnreachableError) Error() string {
	return "cannot reach the directory at " + e.URL + ": " + dialReason(e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// NotDirectoryError is returned when something answers at the URL, but not as an odi
// directory does: its API answers JSON, and its refusals are problem+json (RFC 9457),
// while a web server's 404 page, a login page or a parked domain answers HTML or text.
// Such an answer is not a directory's refusal: StatusOf says 0 for it.
type NotDirectoryError struct {
	URL         string // the directory's base URL, as configured
	Method      string
	Path        string
	Status      int
	ContentType string // the answer's media type, without parameters; "" if none
}

func (e *NotDirectoryError) Error() string {
	ct := e.ContentType
	if ct == "" {
		ct = "without a Content-Type"
	}
	return fmt.Sprintf("%s does not look like an odi directory (%s %s answered %d %s)", e.URL, e.Method, e.Path, e.Status, ct)
}

// unreachable is err as an *UnreachableError when it is a failure to connect, or nil.
// A dial cut short by the request's context is the caller's doing, not the directory's.
func (c *Client) unreachable(req *http.Request, err error) error {
	var op *net.OpError
	if req.Context().Err() != nil || !errors.As(err, &op) || op.Op != "dial" {
		return nil
	}
	return &UnreachableError{URL: c.baseOf(req), Err: op}
}

// dialReason is the part of a dial error a person acts on: "connection refused", "no
// route to host", "lookup dir.example: no such host", "i/o timeout".
func dialReason(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "lookup " + dns.Name + ": " + dns.Err
	}
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		return sys.Err.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

func (c *Client) notDirectory(req *http.Request, resp *http.Response) error {
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return &NotDirectoryError{URL: c.baseOf(req), Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode, ContentType: ct}
}

// baseOf names the directory a request went to: c.Base, unless the caller sent req
// elsewhere.
func (c *Client) baseOf(req *http.Request) string {
	if u := req.URL.String(); u == c.Base || strings.HasPrefix(u, c.Base+"/") {
		return c.Base
	}
	return req.URL.Scheme + "://" + req.URL.Host
}

// isJSON reports whether a Content-Type is JSON: application/json, or a +json type
// such as application/problem+json.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// foreignStatus reports whether an error status without a JSON body means the answer is
// not a directory's. A directory sends every refusal as problem+json, but 5xx and 429
// also come from proxies and load balancers in front of one (a 502 while it restarts):
// those stay an *Error, so that Retry-After is honoured and callers retry as before.
func foreignStatus(status int) bool {
	return status < 500 && status != http.StatusTooManyRequests
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
