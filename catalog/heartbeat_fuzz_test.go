package catalog

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/jsonstrict"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/sign"
)

// FuzzHeartbeat reads arbitrary heartbeat bodies from an active relay as
// handleHeartbeat does (decodeStrict, then heartbeat): whatever a relay sends, the answer
// is a plan or a 4xx error, never a panic or a 500.
func FuzzHeartbeat(f *testing.F) {
	const ih = "0123456789abcdef0123456789abcdef01234567"
	f.Add([]byte(`{"holdings":[],"free_bytes":1,"bytes_served":0}`))
	f.Add([]byte(`{"holdings":[{"infohash":"` + ih + `","bytes_complete":100,"verified":true}],"free_bytes":1073741824,"bytes_served":5}`))
	f.Add([]byte(`{"holdings":[{"infohash":"` + ih + `","bytes_complete":-1,"verified":false}],"free_bytes":-1}`))
	f.Add([]byte(`{"holdings":[{"infohash":"` + ih + `","bytes_complete":9223372036854775807}],"bytes_served":9223372036854775807}`))
	f.Add([]byte(`{"holdings":[{"infohash":"zz","bytes_complete":1}]}`))
	f.Add([]byte(`{"holdings":[],"audits":[{"id":"a1","sha256":"` + ih + `"},{"id":"","error":"timeout"}]}`))
	f.Add([]byte(`{"holdings":[],"bad_pieces":[{"infohash":"` + ih + `","piece":-3,"web_seed":"http://127.0.0.1:1/ws/"}]}`))
	f.Add([]byte(`{"holdings":[],"bad_pieces":[{"infohash":"` + ih + `","piece":2147483647,"web_seed":"ftp://x"}]}`))
	f.Add([]byte(`{"holdings":[],"degraded":"disk \u0000 full","free_bytes":1,"free_bytes":2}`))
	f.Add([]byte(`{"holdings":null,"unknown":1}`))

	cfg := DefaultConfig()
	cfg.DataDir, cfg.PublicURL, cfg.MinFreeSpace = f.TempDir(), "http://127.0.0.1:1", 0
	cfg.Relays.Policy, cfg.Relays.AllowPrivateURLs, cfg.Relays.ProbeTimeout = PolicyOpen, true, 100*time.Millisecond
	c, err := New(context.Background(), cfg, Deps{}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	pub, _, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	p := &principal{key: pub, fingerprint: sign.Fingerprint(pub), keyID: sign.KeyID(pub.ID())}
	if _, err := c.register(context.Background(), p, &relayapi.Register{PublicURL: "http://127.0.0.1:1", QuotaBytes: 1 << 30}); err != nil {
		f.Fatal(err)
	}
	c.relays.mu.RLock()
	p.relay = c.relays.byID[p.fingerprint]
	c.relays.mu.RUnlock()
	if p.relay == nil || p.relay.State != relayapi.StateActive {
		f.Fatalf("the relay is not active: %+v", p.relay)
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		var hb relayapi.Heartbeat
		if err := decodeStrict(body, &hb); err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, jsonstrict.ErrInvalid) {
				t.Fatalf("decodeStrict(%q) = %v, not ErrInvalid", body, err)
			}
			if s := Status(err); s < 400 || s >= 500 {
				t.Fatalf("decodeStrict(%q) = %v: status %d", body, err, s)
			}
			return
		}
		plan, err := c.heartbeat(context.Background(), p, &hb)
		if err != nil {
			if s := Status(err); s < 400 || s >= 500 || s == http.StatusNotFound {
				t.Fatalf("heartbeat(%q) = %v: status %d", body, err, s)
			}
			return
		}
		if plan == nil || plan.Fetch == nil || plan.Keep == nil {
			t.Fatalf("heartbeat(%q) = %+v, no error", body, plan)
		}
	})
}
