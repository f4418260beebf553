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
	"strings"
	"time"

	"github.com/opendist/odi/internal/sign"
)

// Client calls one directory.
type Client struct {
	Base   string // the directory's base URL, without a trailing slash
	HTTP   *http.Client
	Signer *sign.Signer // nil: requests go unsigned; signatures are for Base's origin
}

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
		Signer: signer,
	}, nil
}

// Error is a directory's refusal, decoded from its problem+json body.
type Error struct {
	Status int
	Detail string
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
// decodes a JSON answer into out (if not nil).
func (c *Client) Call(ctx context.Context, method, path string, body []byte, out any) error {
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
		return &Error{Status: resp.StatusCode, Detail: p.Detail}
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", req.Method, req.URL.Redacted(), err)
	}
	return nil
}
