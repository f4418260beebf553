package sign

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"aead.dev/minisign"
)

// Header names of a signed request.
const (
	HeaderDate          = "Odi-Date"
	HeaderNonce         = "Odi-Nonce"
	HeaderContentSHA256 = "Odi-Content-Sha256"
	HeaderAuthorization = "Authorization"
	scheme              = "Odi-Minisign "
)

// Errors of request verification.
var (
	// ErrUnsigned is returned when a request carries no odi signature at all.
	ErrUnsigned = errors.New("request is not signed")
	// ErrMalformed is returned when signature headers are present but unreadable.
	ErrMalformed = errors.New("malformed request signature")
	// ErrStale is returned when the signed date is outside the allowed clock skew.
	ErrStale = errors.New("request date outside the allowed clock skew")
	// ErrBadSignature is returned when the signature does not verify with the key.
	ErrBadSignature = errors.New("bad request signature")
	// ErrContentMismatch is returned when the content does not match the signed digest.
	ErrContentMismatch = errors.New("content does not match the signed digest")
)

// DefaultMaxSkew is how far a request's date may be from the verifier's clock.
const DefaultMaxSkew = 5 * time.Minute

// Signer signs requests with one private key.
type Signer struct {
	key minisign.PrivateKey
	now func() time.Time
}

// NewSigner returns a Signer for key; now is the clock (nil means time.Now).
func NewSigner(key minisign.PrivateKey, now func() time.Time) *Signer {
	if now == nil {
		now = time.Now
	}
	return &Signer{key: key, now: now}
}

// KeyID is the id of the signing key, as KeyID formats it.
func (s *Signer) KeyID() string { return KeyID(s.key.ID()) }

// Sign sets the signature headers on req, vouching for content whose sha256 is digest.
func (s *Signer) Sign(req *http.Request, digest [sha256.Size]byte) error {
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	c := Claims{
		Date:          s.now().UTC().Truncate(time.Second),
		Nonce:         base64.RawURLEncoding.EncodeToString(nonce[:]),
		ContentSHA256: digest,
	}
	sig := minisign.Sign(s.key, c.message(req.Method, req.URL.RequestURI()))
	req.Header.Set(HeaderDate, c.Date.Format(time.RFC3339))
	req.Header.Set(HeaderNonce, c.Nonce)
	req.Header.Set(HeaderContentSHA256, hex.EncodeToString(digest[:]))
	req.Header.Set(HeaderAuthorization, scheme+base64.StdEncoding.EncodeToString(sig))
	return nil
}

// SignBody signs req for a body held in memory.
func (s *Signer) SignBody(req *http.Request, body []byte) error {
	return s.Sign(req, sha256.Sum256(body))
}

// Claims are what a signed request says about itself, before verification.
type Claims struct {
	KeyID         uint64
	Date          time.Time
	Nonce         string
	ContentSHA256 [sha256.Size]byte
	Signature     []byte // minisign signature text
}

// ParseRequest reads the signature headers. It checks their form only: call Verify.
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
	return c, nil
}

// Verify checks that the claims were signed by key for this method and request URI, and
// that their date is within maxSkew of now. It does not check the nonce for replay nor the
// content digest against the content: the caller does both.
func (c Claims) Verify(key minisign.PublicKey, method, requestURI string, now time.Time, maxSkew time.Duration) error {
	if d := now.Sub(c.Date); d > maxSkew || d < -maxSkew {
		return fmt.Errorf("%w: signed at %s, now %s (allowed skew %s)", ErrStale,
			c.Date.Format(time.RFC3339), now.UTC().Format(time.RFC3339), maxSkew)
	}
	if key.ID() != c.KeyID {
		return fmt.Errorf("%w: signed by key %s, not %s", ErrBadSignature, KeyID(c.KeyID), KeyID(key.ID()))
	}
	if !minisign.Verify(key, c.message(method, requestURI), c.Signature) {
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

func (c Claims) message(method, requestURI string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "odi-request-v1\n%s\n%s\n%s\n%s\n%x", method, requestURI,
		c.Date.UTC().Format(time.RFC3339), c.Nonce, c.ContentSHA256[:])
	return b.Bytes()
}
