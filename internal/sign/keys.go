package sign

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/fsutil"
)

// GenerateKeyFiles makes a new key pair and writes the private key to path (0600) and
// the public key to path+".pub". It refuses to overwrite an existing key.
func GenerateKeyFiles(path string) (minisign.PublicKey, error) {
	for _, p := range []string{path, path + ".pub"} {
		if _, err := os.Lstat(p); err == nil {
			return minisign.PublicKey{}, fmt.Errorf("generate key: %s already exists", p)
		}
	}
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return minisign.PublicKey{}, fmt.Errorf("generate key: %w", err)
	}
	privText, err := priv.MarshalText()
	if err != nil {
		return minisign.PublicKey{}, fmt.Errorf("generate key: %w", err)
	}
	pubText, _ := pub.MarshalText()
	if err := fsutil.WriteFile(path, append(privText, '\n'), 0o600); err != nil {
		return minisign.PublicKey{}, fmt.Errorf("generate key: %w", err)
	}
	if err := fsutil.WriteFile(path+".pub", append(pubText, '\n'), 0o644); err != nil {
		return minisign.PublicKey{}, fmt.Errorf("generate key: %w", err)
	}
	return pub, nil
}

// ErrKeyPermissions is returned when a private key file may be read by its group or by
// others: odi refuses it, as ssh does, rather than sign with a key that may have leaked.
var ErrKeyPermissions = errors.New("private key readable by others")

// LoadPrivateKey reads an unencrypted minisign private key file, which only its owner
// may access (mode 0600 or 0400). A public key given in its place is named as such.
func LoadPrivateKey(path string) (minisign.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("load private key: %w", err)
	}
	defer f.Close()
	// The mode of the file opened, not of the path: it cannot change in between.
	fi, err := f.Stat()
	if err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("load private key: %w", err)
	}
	text, err := io.ReadAll(io.LimitReader(f, maxKeyFile))
	if err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("load private key %s: %w", path, err)
	}
	// Before the permissions: a .pub file is world-readable by design, and "chmod 600"
	// would be the wrong advice.
	if isPublicKey(text) {
		return minisign.PrivateKey{}, fmt.Errorf("load private key: %s is a public key; give the private key (the file without .pub)", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return minisign.PrivateKey{}, fmt.Errorf("load private key %s: %w: its permissions %04o let its group or others access it; run chmod 600 %s",
			path, ErrKeyPermissions, perm, path)
	}
	if minisign.IsEncrypted(text) {
		return minisign.PrivateKey{}, fmt.Errorf("load private key %s: it is password-protected; odi needs an unencrypted key (odi keygen makes one)", path)
	}
	var key minisign.PrivateKey
	if err := key.UnmarshalText(text); err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("load private key %s: %w", path, err)
	}
	return key, nil
}

// maxKeyFile bounds a key file's read: minisign's are under 300 bytes.
const maxKeyFile = 4 << 10

// ParsePublicKey reads a public key given either as the text of a ".pub" file (with or
// without its comment line) or as a path to such a file. A private key file given in its
// place is named as such, and its content never quoted.
func ParsePublicKey(keyOrPath string) (minisign.PublicKey, error) {
	text := []byte(strings.TrimSpace(keyOrPath))
	where := "load public key"
	if !IsPublicKeyText(keyOrPath) {
		f, err := os.Open(keyOrPath)
		if err != nil {
			return minisign.PublicKey{}, fmt.Errorf("load public key: %w", err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxKeyFile))
		if err != nil {
			return minisign.PublicKey{}, fmt.Errorf("load public key %s: %w", keyOrPath, err)
		}
		if isPrivateKey(b) {
			return minisign.PublicKey{}, fmt.Errorf("load public key: %s is a private key; give the public key (%s.pub), and keep the private key to yourself", keyOrPath, keyOrPath)
		}
		text, where = bytes.TrimSpace(b), "load public key "+keyOrPath
	}
	var key minisign.PublicKey
	if err := key.UnmarshalText(text); err != nil {
		return minisign.PublicKey{}, fmt.Errorf("%s: %w", where, err)
	}
	return key, nil
}

func isPublicKey(text []byte) bool {
	var k minisign.PublicKey
	return k.UnmarshalText(bytes.TrimSpace(text)) == nil
}

// isPrivateKey reports a private key, encrypted or not. A public key is never one:
// minisign.IsEncrypted looks at two bytes only, which about one public key in 65,536
// (a key id ending in 0x6353) has too.
func isPrivateKey(text []byte) bool {
	text = bytes.TrimSpace(text)
	var k minisign.PrivateKey
	return !isPublicKey(text) && (minisign.IsEncrypted(text) || k.UnmarshalText(text) == nil)
}

// IsPublicKeyText tells key text from a path: minisign public keys are a base64 line of
// 56 characters starting with "RW" (the ed25519 algorithm tag), possibly after a comment.
func IsPublicKeyText(s string) bool {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "untrusted comment:") {
		return true
	}
	return len(s) == 56 && strings.HasPrefix(s, "RW")
}

// KeyID formats a key's id the way minisign prints it: 16 upper-case hex digits.
func KeyID(id uint64) string { return fmt.Sprintf("%016X", id) }

// ErrBadKeyID is returned when a key id is not 16 hex digits.
var ErrBadKeyID = errors.New("bad key id")

// ParseKeyID reads a key id printed by KeyID.
func ParseKeyID(s string) (uint64, error) {
	if len(s) != 16 {
		return 0, fmt.Errorf("%w: %q", ErrBadKeyID, s)
	}
	id, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrBadKeyID, s)
	}
	return id, nil
}

// PublicKeyText is the one-line form of a public key stored in databases and configs.
func PublicKeyText(k minisign.PublicKey) string { return k.String() }

// Fingerprint names a public key by all of it: the first 128 bits of the sha256 of its
// one-line form (algorithm, key id and ed25519 key), as 32 lower-case hex digits. A key
// id is 64 bits that whoever makes a key may choose, so two keys can share one; a
// fingerprint cannot be chosen. Keys are looked up, and relays named, by fingerprint.
func Fingerprint(k minisign.PublicKey) string {
	sum := sha256.Sum256([]byte(k.String()))
	return hex.EncodeToString(sum[:16])
}
