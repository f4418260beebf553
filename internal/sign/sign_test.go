package sign

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"
)

func mustKey(t *testing.T) (minisign.PublicKey, minisign.PrivateKey) {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func signedRequest(t *testing.T, priv minisign.PrivateKey, at time.Time, body string) *http.Request {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://127.0.0.1:1/api/v1/x?a=1", strings.NewReader(body))
	if err := NewSigner(priv, func() time.Time { return at }).SignBody(req, []byte(body)); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestSignVerify(t *testing.T) {
	pub, priv := mustKey(t)
	otherPub, _ := mustKey(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	req := signedRequest(t, priv, now, "hello")

	tests := []struct {
		name    string
		mutate  func(h http.Header) (method, uri string, key minisign.PublicKey, at time.Time)
		wantErr error
	}{
		{"valid", func(http.Header) (string, string, minisign.PublicKey, time.Time) {
			return "POST", "/api/v1/x?a=1", pub, now.Add(time.Minute)
		}, nil},
		{"other method", func(http.Header) (string, string, minisign.PublicKey, time.Time) {
			return "PUT", "/api/v1/x?a=1", pub, now
		}, ErrBadSignature},
		{"other path", func(http.Header) (string, string, minisign.PublicKey, time.Time) {
			return "POST", "/api/v1/x?a=2", pub, now
		}, ErrBadSignature},
		{"other key", func(http.Header) (string, string, minisign.PublicKey, time.Time) {
			return "POST", "/api/v1/x?a=1", otherPub, now
		}, ErrBadSignature},
		{"stale", func(http.Header) (string, string, minisign.PublicKey, time.Time) {
			return "POST", "/api/v1/x?a=1", pub, now.Add(DefaultMaxSkew + time.Second)
		}, ErrStale},
		{"from the future", func(http.Header) (string, string, minisign.PublicKey, time.Time) {
			return "POST", "/api/v1/x?a=1", pub, now.Add(-DefaultMaxSkew - time.Second)
		}, ErrStale},
		{"altered nonce", func(h http.Header) (string, string, minisign.PublicKey, time.Time) {
			h.Set(HeaderNonce, "AAAAAAAAAAAAAAAAAAAAAA")
			return "POST", "/api/v1/x?a=1", pub, now
		}, ErrBadSignature},
		{"altered digest", func(h http.Header) (string, string, minisign.PublicKey, time.Time) {
			h.Set(HeaderContentSHA256, strings.Repeat("00", 32))
			return "POST", "/api/v1/x?a=1", pub, now
		}, ErrBadSignature},
		{"altered date", func(h http.Header) (string, string, minisign.PublicKey, time.Time) {
			h.Set(HeaderDate, now.Add(time.Second).Format(time.RFC3339))
			return "POST", "/api/v1/x?a=1", pub, now
		}, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := req.Header.Clone()
			method, uri, key, at := tt.mutate(h)
			c, err := ParseRequest(h)
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			err = c.Verify(key, method, uri, at, DefaultMaxSkew)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestCheckContent(t *testing.T) {
	_, priv := mustKey(t)
	req := signedRequest(t, priv, time.Now(), "hello")
	c, err := ParseRequest(req.Header)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckContent(sha256.Sum256([]byte("hello"))); err != nil {
		t.Errorf("matching content: %v", err)
	}
	if err := c.CheckContent(sha256.Sum256([]byte("hellO"))); !errors.Is(err, ErrContentMismatch) {
		t.Errorf("altered content: %v, want ErrContentMismatch", err)
	}
}

func TestParseRequestMalformed(t *testing.T) {
	_, priv := mustKey(t)
	good := signedRequest(t, priv, time.Now(), "").Header
	tests := []struct {
		name    string
		header  string
		value   string
		wantErr error
	}{
		{"no authorization", HeaderAuthorization, "", ErrUnsigned},
		{"other scheme", HeaderAuthorization, "Bearer abc", ErrMalformed},
		{"not base64", HeaderAuthorization, "Odi-Minisign !!!", ErrMalformed},
		{"not a signature", HeaderAuthorization, "Odi-Minisign aGVsbG8=", ErrMalformed},
		{"bad date", HeaderDate, "yesterday", ErrMalformed},
		{"short nonce", HeaderNonce, "abc", ErrMalformed},
		{"bad digest", HeaderContentSHA256, "xyz", ErrMalformed},
	}
	for _, tt := range tests {
		h := good.Clone()
		if tt.value == "" {
			h.Del(tt.header)
		} else {
			h.Set(tt.header, tt.value)
		}
		if _, err := ParseRequest(h); !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: ParseRequest = %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}

func TestKeyFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	pub, err := GenerateKeyFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKeyFiles(path); err == nil {
		t.Fatal("GenerateKeyFiles overwrote an existing key")
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	priv, err := LoadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{path + ".pub", pub.String()} {
		got, err := ParsePublicKey(ref)
		if err != nil {
			t.Fatalf("ParsePublicKey(%q): %v", ref, err)
		}
		if !got.Equal(priv.Public()) {
			t.Fatalf("ParsePublicKey(%q) does not match the private key", ref)
		}
	}
	fileText, _ := os.ReadFile(path + ".pub")
	if _, err := ParsePublicKey(string(fileText)); err != nil {
		t.Fatalf("ParsePublicKey(file text): %v", err)
	}
	if _, err := ParsePublicKey(filepath.Join(t.TempDir(), "missing.pub")); err == nil {
		t.Fatal("ParsePublicKey of a missing file succeeded")
	}
	id, err := ParseKeyID(KeyID(pub.ID()))
	if err != nil || id != pub.ID() {
		t.Fatalf("ParseKeyID round trip = %x, %v", id, err)
	}
}

func FuzzParseRequest(f *testing.F) {
	_, priv, _ := minisign.GenerateKey(rand.Reader)
	req, _ := http.NewRequest("GET", "http://127.0.0.1:1/", nil)
	_ = NewSigner(priv, nil).SignBody(req, nil)
	f.Add(req.Header.Get(HeaderAuthorization), req.Header.Get(HeaderDate), req.Header.Get(HeaderNonce), req.Header.Get(HeaderContentSHA256))
	f.Fuzz(func(t *testing.T, auth, date, nonce, digest string) {
		h := http.Header{}
		h.Set(HeaderAuthorization, auth)
		h.Set(HeaderDate, date)
		h.Set(HeaderNonce, nonce)
		h.Set(HeaderContentSHA256, digest)
		_, _ = ParseRequest(h) // must not panic
	})
}
