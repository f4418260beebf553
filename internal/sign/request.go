package sign

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"aead.dev/minisign"
)

// Header names of a signed request.
const (
	HeaderDate          = "Odi-Date"
	HeaderNonce         = "Odi-Nonce"
	HeaderContentSHA256 = "Odi-Content-Sha256"
	HeaderPublicKey     = "Odi-Public-Key"
	HeaderDirectory     = "Odi-Directory"
	HeaderAuthorization = "Authorization"
	scheme              = "Odi-Minisign "
)

// Errors of request verification.
var (
	// ErrUnsigned is returned when a request carries no odi signature at all.
	ErrUnsigned = errors.New("request is not signed")
	// ErrMalformed is returned when signature headers are present but unreadable, or the
	// public key they name is not the one that signed.
	ErrMalformed = errors.New("malformed request signature")
	// ErrStale is returned when the signed date is outside the allowed clock skew.
	ErrStale = errors.New("request date outside the allowed clock skew")
	// ErrBadSignature is returned when the signature does not verify with the key, for
	// this directory, method and request URI.
	ErrBadSignature = errors.New("bad request signature")
	// ErrContentMismatch is returned when the content does not match the signed digest.
	ErrContentMismatch = errors.New("content does not match the signed digest")
)

// DefaultMaxSkew is how far a request's date may be from the verifier's clock.
const DefaultMaxSkew = 5 * time.Minute

// maxDirectoryHeader bounds the Odi-Directory header, which is only ever echoed in an
// error message.
const maxDirectoryHeader = 256

// Signer signs requests with one private key.
type Signer struct {
	key minisign.PrivateKey
	pub minisign.PublicKey
	now func() time.Time
}

// NewSigner returns a Signer for key; now is the clock (nil means time.Now).
func NewSigner(key minisign.PrivateKey, now func() time.Time) *Signer {
	if now == nil {
		now = time.Now
	}
	return &Signer{key: key, pub: key.Public().(minisign.PublicKey), now: now}
}

// KeyID is the id of the signing key, as KeyID formats it.
func (s *Signer) KeyID() string { return KeyID(s.key.ID()) }

// PublicKey is the signing key's public half.
func (s *Signer) PublicKey() minisign.PublicKey { return s.pub }

// Sign sets the signature headers on req, vouching for content whose sha256 is digest.
// The signature is for the directory req is sent to (Origin of req.URL): a directory
// refuses what was signed for another.
func (s *Signer) Sign(req *http.Request, digest [sha256.Size]byte) error {
	dir, err := Origin(req.URL)
	if err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	c := Claims{
		Date:          s.now().UTC().Truncate(time.Second),
		Nonce:         base64.RawURLEncoding.EncodeToString(nonce[:]),
		ContentSHA256: digest,
	}
	sig := minisign.Sign(s.key, c.message(dir, req.Method, req.URL.RequestURI()))
	req.Header.Set(HeaderDate, c.Date.Format(time.RFC3339))
	req.Header.Set(HeaderNonce, c.Nonce)
	req.Header.Set(HeaderContentSHA256, hex.EncodeToString(digest[:]))
	req.Header.Set(HeaderPublicKey, s.pub.String())
	req.Header.Set(HeaderDirectory, dir)
	req.Header.Set(HeaderAuthorization, scheme+base64.StdEncoding.EncodeToString(sig))
	return nil
}

// SignBody signs req for a body held in memory.
func (s *Signer) SignBody(req *http.Request, body []byte) error {
	return s.Sign(req, sha256.Sum256(body))
}

// Origin is the identity of the directory a URL points at, as signatures name it: its
// scheme and host (RFC 6454's origin), in lower case, with the port only when it is not
// the scheme's default. The signer takes it from the URL it sends to; a directory from
// its configured public URL, never from the request's Host header, which the sender
// chooses. Two names of one directory (127.0.0.1 and localhost, a proxy and the address
// behind it) are two origins: clients use the public URL.
func Origin(u *url.URL) (string, error) {
	s := strings.ToLower(u.Scheme)
	if (s != "http" && s != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute http(s) URL", u.Redacted())
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" || (s == "http" && port == "80") || (s == "https" && port == "443") {
		if strings.Contains(host, ":") { // IPv6
			host = "[" + host + "]"
		}
		return s + "://" + host, nil
	}
	return s + "://" + net.JoinHostPort(host, port), nil
}

// Claims are what a signed request says about itself, before verification.
type Claims struct {
	KeyID uint64
	// PublicKey is the whole key the request names (Odi-Public-Key); its id is KeyID.
	// Verifiers look keys up by it (Fingerprint), never by KeyID alone.
	PublicKey     minisign.PublicKey
	Date          time.Time
	Nonce         string
	ContentSHA256 [sha256.Size]byte
	Signature     []byte // minisign signature text
	// Directory is the origin the signer says it signed for (Odi-Directory). It is not
	// trusted: Verify takes the verifier's own origin, and shows this one only to explain
	// a mismatch.
	Directory string
}

// ParseRequest reads the signature headers. It checks their form, and that the public
// key named is the one the signature claims: call Fresh and Verify.
func ParseRequest(h http.Header) (Claims, error) {
	auth := h.Get(HeaderAuthorization)
	if auth == "" {
		return Claims{}, ErrUnsigned
	}
	if !strings.HasPrefix(auth, scheme) {
		return Claims{}, fmt.Errorf("%w: Authorization scheme is not %q", ErrMalformed, strings.TrimSpace(scheme))
	}
	var c Claims
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(auth[len(scheme):]))
	if err != nil || len(sig) > 4096 {
		return Claims{}, fmt.Errorf("%w: signature is not base64", ErrMalformed)
	}
	var parsed minisign.Signature
	if err := parsed.UnmarshalText(sig); err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	c.Signature, c.KeyID = sig, parsed.KeyID
	pub := h.Get(HeaderPublicKey)
	if len(pub) > 64 || c.PublicKey.UnmarshalText([]byte(pub)) != nil {
		return Claims{}, fmt.Errorf("%w: %s is not a minisign public key line", ErrMalformed, HeaderPublicKey)
	}
	if c.PublicKey.ID() != c.KeyID {
		return Claims{}, fmt.Errorf("%w: %s is key %s, the signature is by key %s", ErrMalformed, HeaderPublicKey,
			KeyID(c.PublicKey.ID()), KeyID(c.KeyID))
	}
	if c.Date, err = time.Parse(time.RFC3339, h.Get(HeaderDate)); err != nil {
		return Claims{}, fmt.Errorf("%w: %s is not an RFC 3339 time", ErrMalformed, HeaderDate)
	}
	c.Nonce = h.Get(HeaderNonce)
	if n, err := base64.RawURLEncoding.DecodeString(c.Nonce); err != nil || len(n) < 16 || len(n) > 64 {
		return Claims{}, fmt.Errorf("%w: %s must be 16 to 64 random bytes in base64url", ErrMalformed, HeaderNonce)
	}
	digest, err := hex.DecodeString(h.Get(HeaderContentSHA256))
	if err != nil || len(digest) != sha256.Size {
		return Claims{}, fmt.Errorf("%w: %s is not a hex sha256", ErrMalformed, HeaderContentSHA256)
	}
	copy(c.ContentSHA256[:], digest)
	if d := h.Get(HeaderDirectory); len(d) <= maxDirectoryHeader {
		c.Directory = d
	}
	return c, nil
}

// Fresh checks that the claims' date is within maxSkew of now. It needs no key, so a
// verifier checks it first.
func (c Claims) Fresh(now time.Time, maxSkew time.Duration) error {
	if d := now.Sub(c.Date); d > maxSkew || d < -maxSkew {
		return fmt.Errorf("%w: signed at %s, now %s (allowed skew %s)", ErrStale,
			c.Date.Format(time.RFC3339), now.UTC().Format(time.RFC3339), maxSkew)
	}
	return nil
}

// Verify checks that the claims were signed by key for the directory whose origin is
// directory (see Origin), this method and this request URI. It covers the content
// digest the headers claim, so it needs no body: the caller checks the body against it
// (CheckContent), the date (Fresh), and the nonce for replay, which needs storage.
func (c Claims) Verify(key minisign.PublicKey, directory, method, requestURI string) error {
	if !key.Equal(c.PublicKey) {
		return fmt.Errorf("%w: signed by key %s, not %s", ErrBadSignature, Fingerprint(c.PublicKey), Fingerprint(key))
	}
	if !minisign.Verify(key, c.message(directory, method, requestURI), c.Signature) {
		if c.Directory != "" && c.Directory != directory {
			return fmt.Errorf("%w: the request says it was signed for directory %q, and this is %s; sign with the directory's public URL",
				ErrBadSignature, c.Directory, directory)
		}
		return ErrBadSignature
	}
	return nil
}

// CheckContent compares content's digest with the signed one.
func (c Claims) CheckContent(digest [sha256.Size]byte) error {
	if digest != c.ContentSHA256 {
		return ErrContentMismatch
	}
	return nil
}

// message is the text a request's signature covers, version 2: the directory's origin
// binds a request to the directory it was signed for, so one directory cannot execute
// what was signed for another.
func (c Claims) message(directory, method, requestURI string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "odi-request-v2\n%s\n%s\n%s\n%s\n%s\n%x", directory, method, requestURI,
		c.Date.UTC().Format(time.RFC3339), c.Nonce, c.ContentSHA256[:])
	return b.Bytes()
}
