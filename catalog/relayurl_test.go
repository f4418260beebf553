package catalog

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opendist/odi/internal/netcheck"
)

// TestRelayURLsRefuseSpecialAddresses: with private URLs off, a relay's public URL may not
// name an address the directory must not reach, in any of its IPv6 disguises, and the
// probe client refuses such an address when it dials, whatever the URL said.
func TestRelayURLsRefuseSpecialAddresses(t *testing.T) {
	c := &Catalog{cfg: Config{Relays: RelaysConfig{ProbeTimeout: time.Second}}}
	for _, u := range []string{
		"http://127.0.0.1/", "http://[::1]/", "http://[::127.0.0.1]/", "http://[::ffff:127.0.0.1]/",
		"http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::1]/", "http://100.64.0.1/", "http://198.18.0.1/",
		"http://240.0.0.1/", "http://0.0.0.0/", "http://169.254.169.254/", "http://[fe80::1]/", "http://10.1.2.3:8081/",
		"http://192.0.2.1/", "http://224.0.0.1/", "http://255.255.255.255/",
	} {
		err := c.checkRelayURL(context.Background(), u)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "RFC") {
			t.Errorf("checkRelayURL(%s) = %v, want ErrInvalid naming the range", u, err)
		}
	}
	if err := c.checkRelayURL(context.Background(), "http://8.8.8.8/"); err != nil {
		t.Errorf("a public address refused: %v", err)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the probe reached a loopback server")
	}))
	defer srv.Close()
	_, err := probeClient(c.cfg.Relays).Get(srv.URL)
	if !errors.Is(err, netcheck.ErrNotPublic) {
		t.Errorf("probe of %s: %v, want ErrNotPublic", srv.URL, err)
	}
}
