package sign

import (
	"errors"
	"fmt"

	"aead.dev/minisign"
)

// OtherKeyError is VerifyDetached's answer to a signature made by another key than the
// one expected: callers tell it apart from a signature that does not verify.
type OtherKeyError struct{ Got, Want uint64 }

func (e *OtherKeyError) Error() string {
	return fmt.Sprintf("signed by key %s, not %s", KeyID(e.Got), KeyID(e.Want))
}

// VerifyDetached checks that sig, the text of a minisign signature file, is pub's over
// msg, and returns its trusted comment. what names the signed bytes in errors. A
// signature by another key is an *OtherKeyError; one that does not parse or verify is
// any other error.
func VerifyDetached(pub minisign.PublicKey, msg, sig []byte, what string) (string, error) {
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		return "", err
	}
	// minisign.Verify would refuse this too, but could not say why.
	if s.KeyID != pub.ID() {
		return "", &OtherKeyError{Got: s.KeyID, Want: pub.ID()}
	}
	if !minisign.Verify(pub, msg, sig) {
		return "", errors.New("the signature does not match " + what)
	}
	return s.TrustedComment, nil
}
