package webseed

import (
	"errors"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/manifest"
)

func TestParseBlobPath(t *testing.T) {
	const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	for _, tt := range []struct {
		path string
		want string
		err  error // nil, errBlobShape (404) or errBlobDigest (400)
	}{
		{"/sha256/" + sum, sum, nil},
		{"/sha256/" + strings.ToUpper(sum), "", errBlobDigest},
		{"/sha256/" + sum[:63] + "A", "", errBlobDigest},
		{"/sha256/" + sum[:63], "", errBlobDigest},
		{"/sha256/" + sum + "0", "", errBlobDigest},
		{"/sha256/" + sum[:63] + "g", "", errBlobDigest},
		{"/sha256/" + sum[:62] + "é", "", errBlobDigest},
		{"/sha256/" + strings.Repeat("x", 10000), "", errBlobDigest},
		{"/sha256/" + sum + "/", "", errBlobShape},
		{"/sha256/" + sum + "/name.iso", "", errBlobShape},
		{"/sha256/", "", errBlobShape},
		{"/sha256", "", errBlobShape},
		{"/sha512/" + sum + sum, "", errBlobShape},
		{"/SHA256/" + sum, "", errBlobShape},
		{"sha256/" + sum, "", errBlobShape},
		{"", "", errBlobShape},
		{"/", "", errBlobShape},
	} {
		got, err := parseBlobPath(tt.path)
		if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("parseBlobPath(%.80q) = %q, %v; want %q, %v", tt.path, got, err, tt.want, tt.err)
		}
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("parseBlobPath(%.80q): an error of %d bytes quotes too much of the request", tt.path, len(err.Error()))
		}
	}
}

// FuzzParseBlobPath checks that parseBlobPath takes exactly "/sha256/" and a well-formed
// digest, and that whatever it refuses is classed as a bad digest (400) or a bad shape
// (404), with a bounded message.
func FuzzParseBlobPath(f *testing.F) {
	for _, s := range []string{"/sha256/" + strings.Repeat("ab", 32), "/sha256/" + strings.Repeat("AB", 32), "/sha256/x", "/sha1/00", "/sha256//", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		sum, err := parseBlobPath(p)
		if err == nil {
			if p != "/sha256/"+sum || !manifest.IsSHA256(sum) {
				t.Fatalf("parseBlobPath(%q) took %q", p, sum)
			}
			return
		}
		if sum != "" || !errors.Is(err, errBlobDigest) && !errors.Is(err, errBlobShape) {
			t.Fatalf("parseBlobPath(%q) = %q, %v", p, sum, err)
		}
		if len(err.Error()) > 400 {
			t.Fatalf("parseBlobPath(%q): a %d-byte error", p, len(err.Error()))
		}
	})
}

func TestMirrorBlobURL(t *testing.T) {
	var ih metainfo.Hash
	ih[0] = 0xab
	sum := strings.Repeat("0", 64)
	for _, tt := range []struct{ base, want string }{
		{"http://127.0.0.1:9/ws/" + ih.HexString() + "/", "http://127.0.0.1:9/blob/sha256/" + sum},
		{"https://relay.example/odi/ws/" + ih.HexString() + "/", "https://relay.example/odi/blob/sha256/" + sum},
		{"http://127.0.0.1:9/ws/" + strings.Repeat("0", 40) + "/", ""},
		{"http://127.0.0.1:9/seed/", ""},
	} {
		if got := mirrorBlobURL(tt.base, ih, sum); got != tt.want {
			t.Errorf("mirrorBlobURL(%q) = %q, want %q", tt.base, got, tt.want)
		}
	}
}
