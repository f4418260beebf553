package netcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// ErrNotBaseURL is returned (wrapped, with the URL) for a URL that is not an http(s) base
// URL: another scheme, no host, user info, a query or a fragment.
var ErrNotBaseURL = errors.New("not an http(s) base URL")

// CheckBaseURL refuses a base URL that users could not or should not be sent to, and a
// directory should not fetch from (relays' public URLs, federated directories): anything
// but an http(s) base URL (ErrNotBaseURL) and, unless allowPrivate, a host that does not
// resolve or resolves to any address Check refuses (ErrNotPublic). The answer holds only
// when it is given: a client built by Client checks again at dial time.
func CheckBaseURL(ctx context.Context, raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is %w", raw, ErrNotBaseURL)
	}
	if allowPrivate {
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil {
		// Text only: a lookup that timed out is not the caller's deadline.
		return fmt.Errorf("host %q does not resolve: %v", u.Hostname(), err)
	}
	for _, a := range addrs {
		if err := Check(a); err != nil {
			return fmt.Errorf("%q resolves to %w", raw, err)
		}
	}
	return nil
}

// Client fetches from URLs CheckBaseURL accepted: bounded by timeout (dial and whole
// request), never following redirects, and (unless allowPrivate) refusing at dial time
// any address Check refuses, so that a host name resolving to a public address when
// checked and a private one when dialled (DNS rebinding) is still refused.
func Client(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		dialer.Control = Control
	}
	return &http.Client{
		Timeout:       timeout,
		Transport:     &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
