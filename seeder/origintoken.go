package seeder

import (
	"net/http"
	"strings"
	"sync"

	"github.com/opendist/odi/internal/relayapi"
)

// originTokens are the origin tokens the directories' plans gave the relay, by the
// prefix of each directory's own web seed (relayapi.Plan.Origin): shown with the
// relay's requests there, they get it served ahead of anonymous clients while it fills.
type originTokens struct {
	mu       sync.RWMutex
	byOrigin map[string]string
}

// set records the token of one directory's origin; an empty token removes it.
func (o *originTokens) set(origin, token string) {
	if origin == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.byOrigin == nil {
		o.byOrigin = map[string]string{}
	}
	if token == "" {
		delete(o.byOrigin, origin)
		return
	}
	o.byOrigin[origin] = token
}

// forURL returns the token for a request to u, or "".
func (o *originTokens) forURL(u string) string {
	o.mu.RLock()
	defer o.mu.RUnlock()
	for origin, tok := range o.byOrigin {
		if strings.HasPrefix(u, origin) {
			return tok
		}
	}
	return ""
}

// transport returns next with the tokens added to the requests they belong to. It is
// applied per request, redirects included, so a token never goes to another host.
func (o *originTokens) transport(next http.RoundTripper) http.RoundTripper {
	return tokenTransport{tokens: o, next: next}
}

type tokenTransport struct {
	tokens *originTokens
	next   http.RoundTripper
}

func (t tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if tok := t.tokens.forURL(req.URL.String()); tok != "" {
		req = req.Clone(req.Context()) // a RoundTripper must not change its request
		req.Header.Set("Authorization", relayapi.OriginAuthScheme+" "+tok)
	}
	return t.next.RoundTrip(req)
}
