package catalog

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/logbuf"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/sign"
)

// TestRegistrationRefusalIsExplainedAndLoggedOnce: a loopback relay URL refused by a
// directory without private URLs names the flag and the key that allow it, and the
// directory logs the refusal at warn once however often the relay retries.
func TestRegistrationRefusalIsExplainedAndLoggedOnce(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir, cfg.PublicURL, cfg.MinFreeSpace = t.TempDir(), "http://127.0.0.1:1", 0
	cfg.Relays.ProbeTimeout = time.Second
	logs := &logbuf.Buffer{}
	c, err := New(context.Background(), cfg, Deps{}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	newPrincipal := func() *principal {
		pub, _, err := minisign.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return &principal{key: pub, fingerprint: sign.Fingerprint(pub), keyID: sign.KeyID(pub.ID())}
	}
	first, second := newPrincipal(), newPrincipal()
	reg := &relayapi.Register{PublicURL: "http://127.0.0.1:8081", QuotaBytes: 1 << 30}
	for range 3 {
		_, err := c.register(context.Background(), first, reg)
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("register a loopback URL = %v, want ErrInvalid", err)
		}
		for _, want := range []string{"--allow-private-relay-urls", "directory.relays.allow_private_urls"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal %q does not name %s", err, want)
			}
		}
	}
	if _, err := c.register(context.Background(), second, reg); !errors.Is(err, ErrInvalid) {
		t.Fatalf("second relay: %v, want ErrInvalid", err)
	}
	got := logs.String()
	if n := strings.Count(got, "relay registration refused"); n != 2 {
		t.Errorf("%d refusals logged for 3 by one relay and 1 by another, want 2 (one per relay):\n%s", n, got)
	}
	for _, want := range []string{"level=WARN", "relay=" + first.fingerprint, "relay=" + second.fingerprint, "--allow-private-relay-urls"} {
		if !strings.Contains(got, want) {
			t.Errorf("the log does not contain %q:\n%s", want, got)
		}
	}
}

// TestKeyRefusalsAreLogged: a revoked relay and an admin key that try to register are
// refused before any registration is read; the directory logs each once all the same.
func TestKeyRefusalsAreLogged(t *testing.T) {
	d := startTestDir(t, nil, nil)
	relay := makeKey(t, d.keys, "relay", 0)
	reg, err := d.register(t, relay)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.admin.Call(context.Background(), http.MethodPost, "/api/v1/admin/relays/"+reg.RelayID+"/revoke", nil, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := d.register(t, relay); apiclient.StatusOf(err) != http.StatusForbidden {
			t.Fatalf("a revoked relay registers: %v, want 403", err)
		}
		if _, err := d.register(t, filepath.Join(d.keys, "admin.key")); apiclient.StatusOf(err) != http.StatusForbidden {
			t.Fatalf("an admin key registers as a relay: %v, want 403", err)
		}
	}
	logs := d.logs.String()
	for _, want := range []string{"relay " + reg.RelayID + " is revoked", "an admin key cannot be a relay key"} {
		if n := strings.Count(logs, want); n != 1 {
			t.Errorf("%q logged %d times for 3 refusals, want once:\n%s", want, n, logs)
		}
	}
}
