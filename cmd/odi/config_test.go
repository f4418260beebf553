package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/webseed"
)

// directoryConfigFrom loads `odi directory`'s config as the command would.
func directoryConfigFrom(t *testing.T, file string, args ...string) (Config, error) {
	t.Helper()
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{})
	var cfg Config
	var loadErr error
	cmd, _, _ := root.Find([]string{"directory"})
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		g := &globals{}
		g.configFile, _ = cmd.Flags().GetString("config")
		cfg, loadErr = loadConfig(cmd, g, flagKeys{
			"data": "directory.data", "listen": "directory.listen", "public-url": "directory.public_url",
			"publisher-key": "directory.publishers", "admin-key": "directory.admin_keys",
			"max-artifact-size": "directory.max_artifact_size",
		})
		return nil
	}
	if file != "" {
		args = append([]string{"--config", file}, args...)
	}
	root.SetArgs(append([]string{"directory"}, args...))
	if err := root.Execute(); err != nil {
		return Config{}, err
	}
	return cfg, loadErr
}

func TestConfigLayers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "odi.yaml")
	os.WriteFile(file, []byte(`
directory:
  data: /from/file
  listen: 127.0.0.1:9000
  max_artifact_size: 2GiB
  upload_ttl: 90m
  publishers: [a=/keys/a.pub]
log:
  level: debug
`), 0o644)

	cfg, err := directoryConfigFrom(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Directory.Listen != "127.0.0.1:8080" || cfg.Directory.MaxArtifactSize != 64<<30 || cfg.Log.Level != "info" {
		t.Errorf("defaults: %+v", cfg.Directory)
	}

	cfg, err = directoryConfigFrom(t, file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Directory.DataDir != "/from/file" || cfg.Directory.MaxArtifactSize != 2<<30 ||
		cfg.Directory.UploadTTL.Minutes() != 90 || cfg.Log.Level != "debug" ||
		len(cfg.Directory.Publishers) != 1 || cfg.Directory.Publishers[0] != "a=/keys/a.pub" {
		t.Errorf("from file: %+v %+v", cfg.Directory, cfg.Log)
	}

	t.Setenv("ODI_DIRECTORY_DATA", "/from/env")
	t.Setenv("ODI_DIRECTORY_ADMIN_KEYS", "/k/1.pub,/k/2.pub")
	t.Setenv("ODI_DIRECTORY_MIN_FREE_SPACE", "5GiB")
	cfg, err = directoryConfigFrom(t, file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Directory.DataDir != "/from/env" || len(cfg.Directory.AdminKeys) != 2 || cfg.Directory.MinFreeSpace != bytesize.Size(5<<30) {
		t.Errorf("env over file: data %q admin %q free %d", cfg.Directory.DataDir, cfg.Directory.AdminKeys, cfg.Directory.MinFreeSpace)
	}

	cfg, err = directoryConfigFrom(t, file, "--data", "/from/flag", "--max-artifact-size", "3GiB", "--publisher-key", "b=/b.pub", "--publisher-key", "/c.pub")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Directory.DataDir != "/from/flag" || cfg.Directory.MaxArtifactSize != 3<<30 || len(cfg.Directory.Publishers) != 2 {
		t.Errorf("flags over env: %+v", cfg.Directory)
	}
}

func TestConfigRefusesTypos(t *testing.T) {
	file := filepath.Join(t.TempDir(), "odi.yaml")
	os.WriteFile(file, []byte("directory:\n  dta: /typo\n"), 0o644)
	if _, err := directoryConfigFrom(t, file); err == nil || !strings.Contains(err.Error(), "dta") {
		t.Fatalf("unknown key: %v, want an error naming it", err)
	}
	if _, err := directoryConfigFrom(t, filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("missing config file accepted")
	}
	os.WriteFile(file, []byte("directory:\n  max_artifact_size: lots\n"), 0o644)
	if _, err := directoryConfigFrom(t, file); err == nil {
		t.Fatal("bad size accepted")
	}
}

func TestExitCodes(t *testing.T) {
	ctx := context.Background()
	key := filepath.Join(t.TempDir(), "k")
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"--version"}, exitOK},
		{[]string{"keygen", "--out", key}, exitOK},
		{[]string{"keygen", "--out", key}, exitError}, // refuses to overwrite
		{[]string{"keygen"}, exitUsage},
		{[]string{"keygen", "extra", "--out", key + "2"}, exitUsage},
		{[]string{"--no-such-flag"}, exitUsage},
		{[]string{"publish", "--directory", "http://127.0.0.1:1", "--key", key, "x"}, exitUsage}, // no --catalog
		{[]string{"publish", "--directory", "ftp://x", "--key", key, "--catalog", "c", "--name", "n", "--version", "1", "x"}, exitUsage},
		{[]string{"admin", "expunge", "not-an-id", "--reason", "r"}, exitUsage},
		{[]string{"directory", "--log-level", "loud", "--data", t.TempDir()}, exitUsage},
		{[]string{"completion", "bash"}, exitOK},
	}
	for _, tt := range tests {
		err := run(ctx, tt.args)
		if got := codeOf(err); got != tt.code {
			t.Errorf("odi %s: exit %d (%v), want %d", strings.Join(tt.args, " "), got, err, tt.code)
		}
	}
}

// The documented example must load: it is the reference for every key.
func TestConfigExampleLoads(t *testing.T) {
	cfg, err := directoryConfigFrom(t, "../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Directory.DataDir == "" || cfg.Directory.PublicURL == "" || len(cfg.Directory.AdminKeys) != 1 {
		t.Fatalf("example config: %+v", cfg.Directory)
	}
	def := defaultConfig()
	got := cfg.Directory
	got.DataDir, got.PublicURL, got.Publishers, got.AdminKeys = "", "", def.Directory.Publishers, def.Directory.AdminKeys
	if fmt.Sprint(got) != fmt.Sprint(def.Directory) {
		t.Errorf("config.example.yaml's directory values differ from the defaults:\n got %+v\nwant %+v", got, def.Directory)
	}
	relay := cfg.Relay
	relay.PublicURL, relay.Directories, relay.KeyFile, relay.DataDir = "", def.Relay.Directories, "", ""
	if fmt.Sprint(relay) != fmt.Sprint(def.Relay) {
		t.Errorf("config.example.yaml's relay values differ from the defaults:\n got %+v\nwant %+v", relay, def.Relay)
	}
}

func TestDirectoryRefusesUnreadableGeoIP(t *testing.T) {
	cfg := defaultConfig().Directory
	cfg.DataDir, cfg.Listen, cfg.MinFreeSpace = t.TempDir(), "127.0.0.1:0", 0
	cfg.GeoIP = filepath.Join(t.TempDir(), "missing.mmdb")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := startDirectory(ctx, cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		cancel()
		d.Wait()
		t.Fatal("a directory started with a GeoIP database that does not exist")
	}
	if !strings.Contains(err.Error(), "geoip") {
		t.Fatalf("error %q does not name the geoip setting", err)
	}
}

func TestDirectoryRefusesBadOriginRation(t *testing.T) {
	for _, origin := range []webseed.LedgerConfig{{Serves: -1, Window: time.Minute}, {Serves: 1, Window: time.Millisecond}, {Serves: 1, Window: time.Minute, RelayFirst: -time.Second}} {
		cfg := defaultConfig().Directory
		cfg.DataDir, cfg.Listen, cfg.MinFreeSpace = t.TempDir(), "127.0.0.1:0", 0
		cfg.Origin = origin
		ctx, cancel := context.WithCancel(context.Background())
		d, err := startDirectory(ctx, cfg, slog.New(slog.DiscardHandler))
		if err == nil {
			cancel()
			d.Wait()
			t.Fatalf("a directory started with origin %+v", origin)
		}
		cancel()
		if !strings.Contains(err.Error(), "origin: ") || exitCode(err) != exitUsage {
			t.Errorf("origin %+v: error %q (exit %d), want a usage error naming the setting", origin, err, exitCode(err))
		}
	}
}
