package catalog

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/relayapi"
)

func TestOriginToken(t *testing.T) {
	key, other := []byte("0123456789abcdef0123456789abcdef"), []byte("another key, another directory!!")
	now := time.Unix(1700000000, 0)
	good := mintOriginToken(key, "RWQ.relay.1", now.Add(time.Minute))
	tests := []struct {
		name string
		tok  string
		at   time.Time
		want string // the relay id, or "" for an error
	}{
		{"good", good, now, "RWQ.relay.1"},
		{"a second before it expires", good, now.Add(time.Minute - time.Second), "RWQ.relay.1"},
		{"expired", good, now.Add(time.Minute), ""},
		{"another directory's", mintOriginToken(other, "RWQ.relay.1", now.Add(time.Minute)), now, ""},
		{"another relay's id under the same MAC", strings.Replace(good, "relay.1", "relay.2", 1), now, ""},
		{"a later expiry under the same MAC", strings.Replace(good, "1700000060", "1800000000", 1), now, ""},
		{"no MAC", "RWQ.1700000060", now, ""},
		{"empty", "", now, ""},
		{"no id", mintOriginToken(key, "", now.Add(time.Minute)), now, ""},
		{"an id with dots", mintOriginToken(key, "r.soon", now.Add(time.Minute)), now, "r.soon"},
		{"expiry not a number", "r.soon." + tokenMAC(key, "r.soon"), now, ""},
	}
	for _, tt := range tests {
		id, err := parseOriginToken(key, tt.tok, tt.at)
		if id != tt.want || (tt.want == "") != (err != nil) || (err != nil && !errors.Is(err, errToken)) {
			t.Errorf("%s: parseOriginToken(%q) = %q, %v; want %q", tt.name, tt.tok, id, err, tt.want)
		}
	}
}

// RelayOfOrigin accepts a good token of an active relay only: not another scheme, not an
// oversized header, not an unknown or revoked relay.
func TestRelayOfOrigin(t *testing.T) {
	c := testCatalog(t, t.TempDir())
	c.relays.byID["AAAA"] = &relay{Relay: catalogapi.Relay{ID: "AAAA", State: relayapi.StateActive}}
	c.relays.byID["BBBB"] = &relay{Relay: catalogapi.Relay{ID: "BBBB", State: relayapi.StateRevoked}}
	long := strings.Repeat("L", maxOriginToken) // an active relay, but a token over the cap
	c.relays.byID[long] = &relay{Relay: catalogapi.Relay{ID: long, State: relayapi.StateActive}}
	scheme := relayapi.OriginAuthScheme + " "
	good := c.originToken("AAAA")
	tests := []struct {
		auth string
		want bool
	}{
		{scheme + good, true},
		{"Bearer " + good, false},
		{good, false},
		{scheme + c.originToken(long), false},
		{scheme + c.originToken("BBBB"), false},
		{scheme + c.originToken("CCCC"), false},
		{"", false},
	}
	for _, tt := range tests {
		id, ok := c.RelayOfOrigin(tt.auth)
		if ok != tt.want || (ok && id != "AAAA") {
			t.Errorf("RelayOfOrigin(%.40q) = %q, %v; want %v", tt.auth, id, ok, tt.want)
		}
	}
}
