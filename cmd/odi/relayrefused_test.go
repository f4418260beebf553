package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opendist/odi/catalog"
	"github.com/opendist/odi/seeder"
)

// privateRefusingDirectory admits any relay, but not on loopback: as `odi directory`
// without --allow-private-relay-urls.
func privateRefusingDirectory(c *DirectoryConfig) {
	c.Relays.Policy = catalog.PolicyOpen
	c.Relays.AllowPrivateURLs = false
}

// `odi relay` with one directory that refuses its loopback URL for good stops asking,
// and exits with status 4 and the directory's reason, which names the flag to use.
func TestRelayRefusedByItsOnlyDirectoryExits(t *testing.T) {
	tn := startTestDirectory(t, privateRefusingDirectory)
	t.Setenv("ODI_RELAY_MIN_FREE_SPACE", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := run(ctx, []string{"relay", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--bt-listen", "127.0.0.1:0",
		"--directory", tn.base, "--key", newKeys(t, "relay")[0], "--quota", "1GiB", "--log-level", "error"})
	if ctx.Err() != nil {
		t.Fatalf("odi relay still retrying after %s", time.Since(start))
	}
	if !errors.Is(err, seeder.ErrRefused) || codeOf(err) != exitRefused {
		t.Fatalf("odi relay = %v (exit %d), want ErrRefused and exit %d", err, codeOf(err), exitRefused)
	}
	for _, want := range []string{tn.base, "400", "--allow-private-relay-urls", "directory.relays.allow_private_urls"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// A relay refused for good by one of its directories keeps serving the others, and its
// /readyz says it is not ready and why.
func TestRelayRefusedByOneDirectoryServesTheOther(t *testing.T) {
	refusing := startTestDirectory(t, privateRefusingDirectory)
	accepting := startTestDirectory(t, relayDirectory)
	r := startTestRelay(t, accepting, func(c *RelayConfig) {
		c.Directories = []string{refusing.base, accepting.base}
	})
	waitFor(t, 20*time.Second, "the relay registered with the accepting directory and was refused by the other", func() bool {
		return relayView(t, accepting, r.id).ID == r.id && r.relay.Refused() != nil
	})
	if err := r.relay.Refused(); !strings.Contains(err.Error(), refusing.base) || strings.Contains(err.Error(), accepting.base) {
		t.Errorf("Refused() = %v, want only %s", err, refusing.base)
	}
	resp, body := get(t, r.url+"/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "--allow-private-relay-urls") {
		t.Errorf("/readyz = %d %s, want 503 naming --allow-private-relay-urls", resp.StatusCode, body)
	}
	// Heartbeats go on to the directory that accepted it.
	seen := relayView(t, accepting, r.id).LastSeen
	waitFor(t, 10*time.Second, "a heartbeat after the refusal", func() bool {
		return relayView(t, accepting, r.id).LastSeen.After(seen)
	})
}
