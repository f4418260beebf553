package index

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/sign"
)

// RevocationFormat names this version of the revocation statement.
const RevocationFormat = "odi-revocation-v1"

// maxRevocation bounds a revocation document: its fields take about 150 bytes.
const maxRevocation = 4 << 10

// Revocation states that a key is no longer to be trusted. It names the key by its whole
// public key, not its id, which whoever makes a key may choose. Revoked says when, for
// people; followers refuse every index of a revoked key, whatever its date, since
// whoever stole a key can date what they sign.
type Revocation struct {
	Format  string    `json:"format"`
	Key     string    `json:"key"` // one-line minisign public key (sign.PublicKeyText)
	Revoked time.Time `json:"revoked"`
}

// PublicKey is the revoked key.
func (r *Revocation) PublicKey() (minisign.PublicKey, error) {
	k, err := parseKey(r.Key)
	if err != nil {
		return minisign.PublicKey{}, fmt.Errorf("%w: revocation key: %w", ErrInvalid, err)
	}
	return k, nil
}

func revocationComment(r *Revocation) string {
	k, _ := r.PublicKey()
	return fmt.Sprintf("%s key=%s revoked=%s", RevocationFormat, sign.KeyID(k.ID()), r.Revoked.UTC().Format(time.RFC3339))
}

// SignRevocation revokes key as of at, signed by signer: the key's own private key, or a
// root key followers trust to revoke theirs.
func SignRevocation(signer minisign.PrivateKey, key minisign.PublicKey, at time.Time) (doc, sig []byte, err error) {
	r := &Revocation{Format: RevocationFormat, Key: sign.PublicKeyText(key), Revoked: at.UTC().Truncate(time.Second)}
	doc, err = json.Marshal(r)
	if err != nil {
		return nil, nil, fmt.Errorf("sign revocation: %w", err)
	}
	return doc, signDoc(signer, doc, revocationComment(r), "odi revocation of key "+sign.KeyID(key.ID())), nil
}

// VerifyRevocation checks a revocation signed by the revoked key itself or by one of
// roots, and returns it. Its document must be canonical, like an index's.
func VerifyRevocation(doc, sig []byte, roots ...minisign.PublicKey) (*Revocation, error) {
	if len(sig) > maxSignature {
		return nil, fmt.Errorf("verify revocation: %w: signature of %d bytes, more than %d", ErrTooLarge, len(sig), maxSignature)
	}
	if len(doc) > maxRevocation {
		return nil, fmt.Errorf("verify revocation: %w: %d bytes, more than %d", ErrTooLarge, len(doc), maxRevocation)
	}
	var r Revocation
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("verify revocation: %w: %w", ErrInvalid, err)
	}
	if r.Format != RevocationFormat {
		return nil, fmt.Errorf("verify revocation: %w: format %q, want %q", ErrInvalid, r.Format, RevocationFormat)
	}
	revoked, err := r.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("verify revocation: %w", err)
	}
	if r.Revoked.IsZero() || !r.Revoked.Equal(r.Revoked.Truncate(time.Second)) {
		return nil, fmt.Errorf("verify revocation: %w: revoked must be a time in whole seconds", ErrInvalid)
	}
	r.Revoked = r.Revoked.UTC()
	want, err := json.Marshal(&r)
	if err != nil {
		return nil, fmt.Errorf("verify revocation: %w: %w", ErrInvalid, err)
	}
	if err := compareCanonical(doc, want); err != nil {
		return nil, fmt.Errorf("verify revocation: %w", err)
	}
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		return nil, fmt.Errorf("verify revocation: %w: malformed signature", ErrBadSignature)
	}
	for _, k := range append([]minisign.PublicKey{revoked}, roots...) {
		if k.ID() != s.KeyID {
			continue
		}
		comment, err := verifySignature(k, doc, sig)
		if err != nil {
			continue // another key may share the id
		}
		if want := revocationComment(&r); comment != want {
			return nil, fmt.Errorf("verify revocation: %w: trusted comment %q, want %q", ErrBadSignature, comment, want)
		}
		return &r, nil
	}
	return nil, fmt.Errorf("verify revocation: %w: not signed by the revoked key nor by a root key", ErrBadSignature)
}
