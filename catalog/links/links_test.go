package links

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opendist/odi/internal/sign"
)

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "idx.key")
	if _, err := sign.GenerateKeyFiles(key); err != nil {
		t.Fatal(err)
	}
	notKey := filepath.Join(dir, "junk.pub")
	if err := os.WriteFile(notKey, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := Config{Directory: "http://127.0.0.1:8080", Catalog: "debian", IndexKey: key + ".pub"}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // in the error; "" for none
	}{
		{"good", func(*Config) {}, ""},
		{"interval", func(c *Config) { c.Interval = 5 * time.Second }, ""},
		{"not a URL", func(c *Config) { c.Directory = "dir.example.org" }, "directory:"},
		{"query", func(c *Config) { c.Directory = "http://127.0.0.1/?x=1" }, "directory:"},
		{"ftp", func(c *Config) { c.Directory = "ftp://127.0.0.1/" }, "directory:"},
		{"traversal", func(c *Config) { c.Catalog = ".." }, "catalog:"},
		{"slash", func(c *Config) { c.Catalog = "a/b" }, "catalog:"},
		{"no key", func(c *Config) { c.IndexKey = "" }, "index_key: missing"},
		{"private key", func(c *Config) { c.IndexKey = key }, "is a private key"},
		{"not a key", func(c *Config) { c.IndexKey = notKey }, "index_key:"},
		{"fast", func(c *Config) { c.Interval = time.Millisecond }, "below 1s"},
		{"negative", func(c *Config) { c.Interval = -time.Second }, "interval:"},
	} {
		c := good
		tc.edit(&c)
		err := c.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestUsable(t *testing.T) {
	in := []string{"http://a.example/ws/x/", "javascript:alert(1)", "udp://t.example:6969/announce", "https://b.example/ws/x/",
		"http://u:p@c.example/", "http://d.example/?q", "", "http://e.example/ws/x/"}
	if got, want := usable(context.Background(), in, 2), []string{"http://a.example/ws/x/", "https://b.example/ws/x/"}; !slices.Equal(got, want) {
		t.Errorf("usable(2) = %q, want %q", got, want)
	}
	if got, want := usable(context.Background(), in, 10, "udp"), []string{"http://a.example/ws/x/", "udp://t.example:6969/announce",
		"https://b.example/ws/x/", "http://e.example/ws/x/"}; !slices.Equal(got, want) {
		t.Errorf("usable(10, udp) = %q, want %q", got, want)
	}
}

func TestSameDirectory(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"http://a.example", "http://a.example/", true},
		{"HTTP://A.Example:80/", "http://a.example", true},
		{"https://a.example:443/odi/", "https://a.example/odi", true},
		{"http://a.example:8080", "http://a.example", false},
		{"http://a.example", "https://a.example", false},
		{"http://a.example/odi", "http://a.example/", false},
		{"http://127.0.0.1:8080", "http://127.0.0.2:8080", false},
		{"", "http://a.example", false},
		{"%zz", "%zz", false},
	} {
		if got := sameDirectory(tc.a, tc.b); got != tc.want {
			t.Errorf("sameDirectory(%q, %q) = %t, want %t", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestLinkersConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  LinkersConfig
		want string
	}{
		{DefaultLinkersConfig(), ""},
		{LinkersConfig{Max: 0, Refresh: time.Second}, ""},
		{LinkersConfig{Max: -1, Refresh: time.Second}, "max"},
		{LinkersConfig{Max: 5000, Refresh: time.Second}, "max"},
		{LinkersConfig{Max: 4, Refresh: time.Millisecond}, "refresh"},
	} {
		err := tc.cfg.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: Validate() = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
