package sign

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"net/url"
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
	return signedTo(t, priv, at, "http://127.0.0.1:1/api/v1/x?a=1", body)
}

func signedTo(t *testing.T, priv minisign.PrivateKey, at time.Time, url, body string) *http.Request {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	if err := NewSigner(priv, func() time.Time { return at }).SignBody(req, []byte(body)); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestSignVerify(t *testing.T) {
	pub, priv := mustKey(t)
	otherPub, _ := mustKey(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	const dir = "http://127.0.0.1:1"
	req := signedRequest(t, priv, now, "hello")

	tests := []struct {
		name                   string
		mutate                 func(h http.Header)
		key                    minisign.PublicKey
		directory, method, uri string
		wantErr                error
	}{
		{"valid", nil, pub, dir, "POST", "/api/v1/x?a=1", nil},
		{"other directory", nil, pub, "http://127.0.0.1:2", "POST", "/api/v1/x?a=1", ErrBadSignature},
		{"other host, same port", nil, pub, "http://localhost:1", "POST", "/api/v1/x?a=1", ErrBadSignature},
		{"same host, other scheme", nil, pub, "https://127.0.0.1:1", "POST", "/api/v1/x?a=1", ErrBadSignature},
		{"other method", nil, pub, dir, "PUT", "/api/v1/x?a=1", ErrBadSignature},
		{"other path", nil, pub, dir, "POST", "/api/v1/y?a=1", ErrBadSignature},
		{"other query", nil, pub, dir, "POST", "/api/v1/x?a=2", ErrBadSignature},
		{"other key", nil, otherPub, dir, "POST", "/api/v1/x?a=1", ErrBadSignature},
		{"altered nonce", func(h http.Header) { h.Set(HeaderNonce, "AAAAAAAAAAAAAAAAAAAAAA") }, pub, dir, "POST", "/api/v1/x?a=1", ErrBadSignature},
		{"altered digest", func(h http.Header) { h.Set(HeaderContentSHA256, strings.Repeat("00", 32)) }, pub, dir, "POST", "/api/v1/x?a=1", ErrBadSignature},
		{"altered date", func(h http.Header) { h.Set(HeaderDate, now.Add(time.Second).Format(time.RFC3339)) }, pub, dir, "POST", "/api/v1/x?a=1", ErrBadSignature},
		// The directory header is informational: claiming the verifier's origin does not
		// make a signature for another one verify.
		{"claims the verifier's directory", func(h http.Header) { h.Set(HeaderDirectory, "http://127.0.0.1:2") }, pub, "http://127.0.0.1:2", "POST", "/api/v1/x?a=1", ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := req.Header.Clone()
			if tt.mutate != nil {
				tt.mutate(h)
			}
			c, err := ParseRequest(h)
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			err = c.Verify(tt.key, tt.directory, tt.method, tt.uri)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestVerifyNamesTheDirectorySignedFor(t *testing.T) {
	pub, priv := mustKey(t)
	req := signedTo(t, priv, time.Now(), "http://LOCALHOST:8080/api", "")
	c, err := ParseRequest(req.Header)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(pub, "http://localhost:8080", "POST", "/api"); err != nil {
		t.Fatalf("verify with the signer's origin: %v", err)
	}
	err = c.Verify(pub, "http://127.0.0.1:8080", "POST", "/api")
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), `"http://localhost:8080"`) {
		t.Fatalf("verify for another origin = %v, want ErrBadSignature naming http://localhost:8080", err)
	}
}

func TestFresh(t *testing.T) {
	_, priv := mustKey(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	c, err := ParseRequest(signedRequest(t, priv, now, "").Header)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		at      time.Time
		wantErr error
	}{
		{"now", now, nil},
		{"within the skew", now.Add(DefaultMaxSkew), nil},
		{"stale", now.Add(DefaultMaxSkew + time.Second), ErrStale},
		{"from the future", now.Add(-DefaultMaxSkew - time.Second), ErrStale},
	} {
		if err := c.Fresh(tt.at, DefaultMaxSkew); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("%s: Fresh = %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}

func TestOrigin(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"http://127.0.0.1:8080/api/v1/x?a=1", "http://127.0.0.1:8080"},
		{"HTTPS://Dir.Example.ORG/", "https://dir.example.org"},
		{"https://dir.example.org:443/x", "https://dir.example.org"},
		{"http://dir.example.org:80", "http://dir.example.org"},
		{"http://dir.example.org:443", "http://dir.example.org:443"},
		{"https://dir.example.org:8443", "https://dir.example.org:8443"},
		{"http://[::1]:8080/", "http://[::1]:8080"},
		{"http://[::1]/", "http://[::1]"},
		{"/relative", ""},
		{"ftp://dir.example.org", ""},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Origin(u)
		if (err != nil) != (tt.want == "") || got != tt.want {
			t.Errorf("Origin(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
		}
	}
}

func TestFingerprint(t *testing.T) {
	pub, _ := mustKey(t)
	other, _ := mustKey(t)
	fp := Fingerprint(pub)
	if len(fp) != 32 || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Fatalf("Fingerprint = %q, want 32 lower-case hex digits", fp)
	}
	if Fingerprint(other) == fp {
		t.Fatal("two keys share a fingerprint")
	}
	// A key with the same id and other key bytes: what a squatter makes.
	squat := withID(t, other, pub.ID())
	if squat.ID() != pub.ID() || Fingerprint(squat) == fp {
		t.Fatalf("a key with a chosen id: id %X (want %X), fingerprint %s (must differ from %s)", squat.ID(), pub.ID(), Fingerprint(squat), fp)
	}
}

// withID returns k with its key id replaced: minisign key ids are chosen, not derived.
func withID(t *testing.T, k minisign.PublicKey, id uint64) minisign.PublicKey {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(k.String())
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint64(raw[2:10], id)
	var out minisign.PublicKey
	if err := out.UnmarshalText([]byte(base64.StdEncoding.EncodeToString(raw))); err != nil {
		t.Fatal(err)
	}
	return out
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
	otherPub, _ := mustKey(t)
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
		{"no public key", HeaderPublicKey, "", ErrMalformed},
		{"not a public key", HeaderPublicKey, "RWxyz", ErrMalformed},
		{"another key than signed", HeaderPublicKey, otherPub.String(), ErrMalformed},
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
	f.Add(req.Header.Get(HeaderAuthorization), req.Header.Get(HeaderDate), req.Header.Get(HeaderNonce),
		req.Header.Get(HeaderContentSHA256), req.Header.Get(HeaderPublicKey))
	f.Fuzz(func(t *testing.T, auth, date, nonce, digest, pub string) {
		h := http.Header{}
		h.Set(HeaderAuthorization, auth)
		h.Set(HeaderDate, date)
		h.Set(HeaderNonce, nonce)
		h.Set(HeaderContentSHA256, digest)
		h.Set(HeaderPublicKey, pub)
		_, _ = ParseRequest(h) // must not panic
	})
}

func TestLoadPrivateKeyRefusesOpenPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if _, err := GenerateKeyFiles(path); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o610, 0o701} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadPrivateKey(path)
		if !errors.Is(err, ErrKeyPermissions) {
			t.Fatalf("mode %04o: LoadPrivateKey = %v, want ErrKeyPermissions", mode, err)
		}
		if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "chmod 600 "+path) {
			t.Errorf("mode %04o: error %q names neither the file nor chmod 600", mode, msg)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadPrivateKey(path); err != nil {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
}

// TestKeyKindErrors checks that a key of the wrong kind, or a broken key, is refused with
// an error naming the file and saying which file to give instead.
func TestKeyKindErrors(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "relay.key")
	if _, err := GenerateKeyFiles(priv); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.key")
	privText, _ := os.ReadFile(priv)
	privLines := strings.Fields(string(privText))
	secret := privLines[len(privLines)-1] // the base64 line, never to be quoted
	tests := []struct {
		name, arg string
		load      func(string) error
		want      []string // substrings of the error
		notWant   string
	}{
		{"public key as private", priv + ".pub", loadPriv,
			[]string{priv + ".pub is a public key; give the private key (the file without .pub)"}, "chmod"},
		{"garbage as private", garbage, loadPriv, []string{"load private key " + garbage}, ""},
		{"missing private", missing, loadPriv, []string{missing}, ""},
		{"private key as public", priv, loadPub,
			[]string{priv + " is a private key; give the public key (" + priv + ".pub)"}, secret},
		{"garbage as public", garbage, loadPub, []string{"load public key " + garbage}, ""},
		{"missing public", missing, loadPub, []string{missing}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.load(tt.arg)
			if err == nil {
				t.Fatalf("loading %s succeeded", tt.arg)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to contain %q", err, w)
				}
			}
			if tt.notWant != "" && strings.Contains(err.Error(), tt.notWant) {
				t.Errorf("error %q contains %q", err, tt.notWant)
			}
		})
	}
}

func loadPriv(path string) error { _, err := LoadPrivateKey(path); return err }
func loadPub(path string) error  { _, err := ParsePublicKey(path); return err }

// TestPublicKeyThatLooksEncrypted: minisign.IsEncrypted checks two bytes, which a public
// key with a key id ending in 0x6353 has too (about one key in 65,536); such a key is
// still a public key.
func TestPublicKeyThatLooksEncrypted(t *testing.T) {
	pub, _, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := pub.MarshalText()
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	raw, err := base64.StdEncoding.DecodeString(lines[len(lines)-1])
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint64(raw[2:10], 0xA14F45AD973B6353) // the key id, after "Ed"
	lines[len(lines)-1] = base64.StdEncoding.EncodeToString(raw)
	text = []byte(strings.Join(lines, "\n") + "\n")
	if !minisign.IsEncrypted(text) {
		t.Fatal("the crafted public key does not look encrypted to minisign: the test checks nothing")
	}
	path := filepath.Join(t.TempDir(), "relay.key.pub")
	if err := os.WriteFile(path, text, 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := ParsePublicKey(path)
	if err != nil {
		t.Fatalf("ParsePublicKey: %v", err)
	}
	if key.ID() != 0xA14F45AD973B6353 {
		t.Errorf("key id %X", key.ID())
	}
}
