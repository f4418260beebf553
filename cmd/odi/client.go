package main

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

// client talks to a directory's API, signing requests when it has a key.
type client struct {
	base   string
	http   *http.Client
	signer *sign.Signer
}

// newClient checks the directory URL and loads the signing key (if keyFile is set).
func newClient(cfg ClientConfig) (*client, error) {
	if err := requireSetting(cfg.Directory, "directory", "client.directory"); err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.Directory)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError("--directory %q is not an http(s) URL", cfg.Directory)
	}
	c := &client{
		base: strings.TrimRight(cfg.Directory, "/"),
		// No overall timeout: uploads of large artifacts take as long as they take.
		http: &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ResponseHeaderTimeout: 10 * time.Minute, // the directory fsyncs before answering
			IdleConnTimeout:       30 * time.Second,
		}},
	}
	if cfg.Key != "" {
		key, err := sign.LoadPrivateKey(cfg.Key)
		if err != nil {
			return nil, err
		}
		c.signer = sign.NewSigner(key, nil)
	}
	return c, nil
}

func (c *client) requireKey() error {
	if c.signer == nil {
		return requireSetting("", "key", "client.key")
	}
	return nil
}

// APIError is a directory's refusal, decoded from its problem+json body.
type APIError struct {
	Status int
	Detail string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("directory answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Detail)
}

// call sends a request with an in-memory body (signed if the client has a key) and
// decodes a JSON answer into out (if not nil).
func (c *client) call(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.signer != nil {
		if err := c.signer.Sign(req, sha256.Sum256(body)); err != nil {
			return err
		}
	}
	return c.do(req, out)
}

// callJSON is call with v encoded as the JSON body.
func (c *client) callJSON(ctx context.Context, method, path string, v, out any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.call(ctx, method, path, body, out)
}

func (c *client) do(req *http.Request, out any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return errCanceled
		}
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
		return &APIError{Status: resp.StatusCode, Detail: p.Detail}
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", req.Method, req.URL.Redacted(), err)
	}
	return nil
}
