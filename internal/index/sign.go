package index

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/sign"
)

var (
	// ErrBadSignature is returned when a signature does not verify, is malformed, or
	// its trusted comment is not an index's or disagrees with the document.
	ErrBadSignature = errors.New("bad signature")
	// ErrWrongKey is returned when a document or signature names another key than the
	// one it is verified with.
	ErrWrongKey = errors.New("wrong key")
	// ErrExpired is returned when an index's expiry has passed.
	ErrExpired = errors.New("index expired")
)

// maxSignature bounds a signature file: minisign's are about 300 bytes with our comments.
const maxSignature = 4 << 10

// Sign sets idx.Key to key's id, and returns idx's canonical document and its minisign
// signature, prehashed (BLAKE2b-512), the form minisign makes by default, so that
// "minisign -VHm" checks it too. Its trusted comment, covered by the signature, is
//
//	odi-index-v1 key=<key id> version=<version> expires=<RFC 3339 UTC>
func Sign(key minisign.PrivateKey, idx *Index) (doc, sig []byte, err error) {
	idx.Key = sign.KeyID(key.ID())
	doc, err = Marshal(idx)
	if err != nil {
		return nil, nil, fmt.Errorf("sign index: %w", err)
	}
	return doc, signDoc(key, doc, indexComment(idx.Key, idx.Version, idx.Expires), "odi index signed by key "+idx.Key), nil
}

func signDoc(key minisign.PrivateKey, doc []byte, trusted, untrusted string) []byte {
	r := minisign.NewReader(bytes.NewReader(doc))
	_, _ = io.Copy(io.Discard, r) // a bytes.Reader cannot fail
	return r.SignWithComments(key, trusted, untrusted)
}

func indexComment(key string, version uint64, expires time.Time) string {
	return fmt.Sprintf("%s key=%s version=%d expires=%s", Format, key, version, expires.UTC().Format(time.RFC3339))
}

// parseIndexComment reads a trusted comment indexComment wrote, and only such a comment.
func parseIndexComment(c string) (key string, version uint64, expires time.Time, err error) {
	f := strings.Split(c, " ")
	if len(f) != 4 || f[0] != Format || !strings.HasPrefix(f[1], "key=") || !strings.HasPrefix(f[2], "version=") || !strings.HasPrefix(f[3], "expires=") {
		return "", 0, time.Time{}, fmt.Errorf("%w: trusted comment %q is not an index's", ErrBadSignature, c)
	}
	key = strings.TrimPrefix(f[1], "key=")
	version, err1 := strconv.ParseUint(strings.TrimPrefix(f[2], "version="), 10, 64)
	expires, err2 := time.Parse(time.RFC3339, strings.TrimPrefix(f[3], "expires="))
	if err1 != nil || err2 != nil || indexComment(key, version, expires) != c {
		return "", 0, time.Time{}, fmt.Errorf("%w: trusted comment %q is not an index's", ErrBadSignature, c)
	}
	return key, version, expires, nil
}

// verifySignature checks sig over doc with pub and returns its trusted comment.
func verifySignature(pub minisign.PublicKey, doc, sig []byte) (string, error) {
	if len(sig) > maxSignature {
		return "", fmt.Errorf("%w: signature of %d bytes, more than %d", ErrTooLarge, len(sig), maxSignature)
	}
	comment, err := sign.VerifyDetached(pub, doc, sig, "the document and its trusted comment")
	var other *sign.OtherKeyError
	switch {
	case errors.As(err, &other):
		return "", fmt.Errorf("%w: %w", ErrWrongKey, err)
	case err != nil:
		return "", fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return comment, nil
}

// Verify checks an index signed by pub and returns it, refusing, in this order: a
// document over MaxBytes (ErrTooLarge), a signature by another key (ErrWrongKey) or one
// that does not verify (ErrBadSignature), an index expired at now (ErrExpired), and a
// document that is not canonical (ErrNotCanonical) or valid (ErrInvalid) or disagrees
// with the trusted comment (ErrBadSignature). Expiry comes from the signed comment, so
// an expired index is refused without parsing it.
func Verify(pub minisign.PublicKey, doc, sig []byte, now time.Time) (*Index, error) {
	if len(doc) > MaxBytes {
		return nil, fmt.Errorf("verify index: %w: %d bytes, more than %d", ErrTooLarge, len(doc), MaxBytes)
	}
	comment, err := verifySignature(pub, doc, sig)
	if err != nil {
		return nil, fmt.Errorf("verify index: %w", err)
	}
	key, version, expires, err := parseIndexComment(comment)
	if err != nil {
		return nil, fmt.Errorf("verify index: %w", err)
	}
	if want := sign.KeyID(pub.ID()); key != want {
		return nil, fmt.Errorf("verify index: %w: the trusted comment names key %s, not %s", ErrWrongKey, key, want)
	}
	if !now.Before(expires) {
		return nil, fmt.Errorf("verify index: %w at %s", ErrExpired, expires.Format(time.RFC3339))
	}
	idx, err := Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("verify index: %w", err)
	}
	switch {
	case idx.Key != key:
		return nil, fmt.Errorf("verify index: %w: the document names key %s, its signature %s", ErrWrongKey, idx.Key, key)
	case idx.Version != version:
		return nil, fmt.Errorf("verify index: %w: the document is version %d, its trusted comment says %d", ErrBadSignature, idx.Version, version)
	case !idx.Expires.Equal(expires):
		return nil, fmt.Errorf("verify index: %w: the document expires at %s, its trusted comment says %s", ErrBadSignature, idx.Expires.Format(time.RFC3339), expires.Format(time.RFC3339))
	}
	return idx, nil
}
