package index

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/sign"
)

func TestSignVerify(t *testing.T) {
	k := newKey(t)
	idx, doc, sig := signed(t, k, nil, nil)
	if idx.Key != sign.KeyID(k.pub.ID()) {
		t.Errorf("Sign set Key %q, want %q", idx.Key, sign.KeyID(k.pub.ID()))
	}
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		t.Fatal(err)
	}
	if want := "odi-index-v1 key=" + idx.Key + " version=1 expires=2026-12-10T12:00:00Z"; s.TrustedComment != want {
		t.Errorf("trusted comment %q, want %q", s.TrustedComment, want)
	}
	got, err := Verify(k.pub, doc, sig, t0)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Version != 1 || len(got.Entries) != 3 {
		t.Errorf("Verify = version %d with %d entries", got.Version, len(got.Entries))
	}
	// Verify accepts minisign's legacy (not prehashed) signatures too: minisign.Verify does.
	legacy := minisign.SignWithComments(k.priv, doc, s.TrustedComment, "legacy")
	if _, err := Verify(k.pub, doc, legacy, t0); err != nil {
		t.Errorf("Verify(legacy signature): %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	k, other := newKey(t), newKey(t)
	idx, doc, sig := signed(t, k, nil, nil)
	comment := indexComment(idx.Key, idx.Version, idx.Expires)

	tamperedDoc := bytes.Replace(doc, []byte("debian-12.1.iso"), []byte("debian-12.2.iso"), 1)
	// A trusted comment changed after signing: the global signature no longer covers it.
	tamperedComment := bytes.Replace(sig, []byte("version=1 "), []byte("version=9 "), 1)
	// Valid signatures whose trusted comment lies about the document.
	lyingVersion := signDoc(k.priv, doc, indexComment(idx.Key, 2, idx.Expires), "")
	lyingExpiry := signDoc(k.priv, doc, indexComment(idx.Key, 1, idx.Expires.Add(time.Hour)), "")
	otherComment := minisign.Sign(k.priv, doc) // minisign's default "timestamp:" comment
	// A validly signed document that is not canonical.
	spaced := append([]byte(" "), doc...)
	spacedSig := signDoc(k.priv, spaced, comment, "")
	// The document names another key than the one that signed it.
	otherIdx := testIndex()
	otherIdx.Key = sign.KeyID(other.pub.ID())
	otherDoc := mustMarshal(t, otherIdx)
	otherDocSig := signDoc(k.priv, otherDoc, comment, "")
	huge := bytes.Repeat([]byte{'x'}, MaxBytes+1)

	tests := []struct {
		name    string
		pub     minisign.PublicKey
		doc     []byte
		sig     []byte
		now     time.Time
		want    error
		message string
	}{
		{"tampered document", k.pub, tamperedDoc, sig, t0, ErrBadSignature, "does not match"},
		{"tampered trusted comment", k.pub, doc, tamperedComment, t0, ErrBadSignature, "does not match"},
		{"comment lies about version", k.pub, doc, lyingVersion, t0, ErrBadSignature, "version 1, its trusted comment says 2"},
		{"comment lies about expiry", k.pub, doc, lyingExpiry, t0, ErrBadSignature, "expires at"},
		{"not an index comment", k.pub, doc, otherComment, t0, ErrBadSignature, "not an index's"},
		{"wrong key", other.pub, doc, sig, t0, ErrWrongKey, "signed by key"},
		{"document names another key", k.pub, otherDoc, otherDocSig, t0, ErrWrongKey, "the document names key"},
		{"expired", k.pub, doc, sig, idx.Expires, ErrExpired, "index expired at 2026-12-10T12:00:00Z"},
		{"long expired", k.pub, doc, sig, idx.Expires.Add(365 * 24 * time.Hour), ErrExpired, "index expired at"},
		{"not canonical", k.pub, spaced, spacedSig, t0, ErrNotCanonical, "byte 0"},
		{"oversized document", k.pub, huge, sig, t0, ErrTooLarge, "more than"},
		{"oversized signature", k.pub, doc, bytes.Repeat([]byte{'x'}, 5000), t0, ErrTooLarge, "signature"},
		{"garbage signature", k.pub, doc, []byte("untrusted comment: x\nnot base64\n"), t0, ErrBadSignature, ""},
		{"no signature", k.pub, doc, nil, t0, ErrBadSignature, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(tt.pub, tt.doc, tt.sig, tt.now)
			if !errors.Is(err, tt.want) || !strings.Contains(errString(err), tt.message) {
				t.Errorf("Verify = %v, want %v containing %q", err, tt.want, tt.message)
			}
		})
	}
}

// TestMinisignTool checks that stock minisign verifies a signed index, as the doc says.
func TestMinisignTool(t *testing.T) {
	bin, err := exec.LookPath("minisign")
	if err != nil {
		t.Skip("minisign is not installed (apt-get install minisign); this test checks stock minisign verifies an index")
	}
	k := newKey(t)
	_, doc, sig := signed(t, k, nil, nil)
	dir := t.TempDir()
	pubText, _ := k.pub.MarshalText()
	for name, b := range map[string][]byte{"index.json": doc, "index.json.minisig": sig, "key.pub": append(pubText, '\n')} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// -H: require a prehashed signature, minisign's default form, which Sign makes.
	out, err := exec.Command(bin, "-VH", "-m", filepath.Join(dir, "index.json"), "-p", filepath.Join(dir, "key.pub")).CombinedOutput()
	if err != nil {
		t.Fatalf("minisign -VHm: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Trusted comment: odi-index-v1 key=") {
		t.Errorf("minisign output lacks the trusted comment:\n%s", out)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), append(doc, ' '), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-Vm", filepath.Join(dir, "index.json"), "-p", filepath.Join(dir, "key.pub")).CombinedOutput(); err == nil {
		t.Errorf("minisign verified a tampered index:\n%s", out)
	}
}
