package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/sign"
)

func newDemoCmd(g *globals) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole odi network on loopback and show what to try",
		Long: `Run a directory on loopback with a temporary data folder, publish two sample
artifacts (a single file and a small multi-file package), and print commands to try
against them with curl, aria2c and torrent clients. Ctrl-C stops it and removes the
temporary folder.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, log, err := loadRole(cmd, g, flagKeys{})
			if err != nil {
				return err
			}
			tmp, err := os.MkdirTemp("", "odi-demo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			return runDemo(cmd.Context(), g.stdout, tmp, listen, log)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "the demo directory's listen address (port 0 picks one)")
	return cmd
}

// runDemo starts a directory on listen with its data under tmp, publishes the samples,
// prints what to try and serves until ctx ends.
func runDemo(ctx context.Context, out io.Writer, tmp, listen string, log *slog.Logger) error {
	adminKey, publisherKey := filepath.Join(tmp, "admin.key"), filepath.Join(tmp, "publisher.key")
	for _, k := range []string{adminKey, publisherKey} {
		if _, err := sign.GenerateKeyFiles(k); err != nil {
			return err
		}
	}
	cfg := defaultConfig().Directory
	cfg.Listen = listen
	cfg.DataDir = filepath.Join(tmp, "directory")
	cfg.AdminKeys = []string{adminKey + ".pub"}
	cfg.Publishers = []string{"demo=" + publisherKey + ".pub"}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d, err := startDirectory(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("demo: %w (is another demo running? try --listen 127.0.0.1:0)", err)
	}
	base := d.cfg.PublicURL
	c, err := newClient(ClientConfig{Directory: base, Key: publisherKey})
	if err != nil {
		return err
	}
	samples, err := demoArtifacts(filepath.Join(tmp, "samples"))
	if err != nil {
		return err
	}
	printf(out, "odi demo: a directory at %s, data in %s\n\n", base, tmp)
	printf(out, "The catalog (JSON):\n  curl -s %s/api/v1/artifacts\n\n", base)
	dl := filepath.Join(os.TempDir(), "odi-demo-download")
	for _, s := range samples {
		a, err := publish(ctx, c, s.id, s.path, io.Discard)
		if err != nil {
			cancel()
			return errors.Join(err, d.Wait())
		}
		printf(out, "%s: %s, %s in %d file%s, infohash %s\n", a.ID, a.Root, bytesize.Size(a.Size), a.FileCount, plural(a.FileCount), a.InfoHash)
		if a.FileCount == 1 {
			printf(out, "  plain HTTP from the origin web seed:\n    curl -fO %s%s\n", a.WebSeeds[0], a.Root)
		}
		printf(out, "  BitTorrent (aria2c):\n    aria2c --seed-time=0 --enable-dht=false --bt-enable-lpd=false --file-allocation=none -d %s %s\n", dl, a.TorrentURL)
		printf(out, "  verify what aria2c wrote:\n    (cd %s && curl -s %s | sha256sum -c)\n", dl, a.SHA256SumsURL)
		printf(out, "  magnet link:\n    %s\n\n", a.Magnet)
	}
	printf(out, "Publish your own file or folder:\n  odi publish --directory %s --key %s --catalog demo --name mine --version 1 PATH\n", base, publisherKey)
	printf(out, "Expunge one (final):\n  odi admin --directory %s --key %s expunge demo/tools/1.0 --reason demo\n\n", base, adminKey)
	printf(out, "Ctrl-C stops the demo and removes %s.\n", tmp)
	return d.Wait()
}

// demoArtifacts writes the sample artifacts under dir and returns their identities and
// paths.
func demoArtifacts(dir string) ([]demoArtifact, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	files := map[string][]byte{
		"odi-sample.img":                  random(24 << 20),
		"odi-tools-1.0/README":            []byte("odi sample package: a folder published as one torrent.\n"),
		"odi-tools-1.0/bin/hello.sh":      []byte("#!/bin/sh\necho hello from odi\n"),
		"odi-tools-1.0/share/data.bin":    random(5<<20 + 12345),
		"odi-tools-1.0/share/doc/NEWS.md": []byte("# 1.0\n- first release\n"),
	}
	for p, b := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			return nil, err
		}
	}
	return []demoArtifact{
		{manifest.Manifest{Catalog: "demo", Name: "sample-image", Version: "1.0"}, filepath.Join(dir, "odi-sample.img")},
		{manifest.Manifest{Catalog: "demo", Name: "tools", Version: "1.0"}, filepath.Join(dir, "odi-tools-1.0")},
	}, nil
}

type demoArtifact struct {
	id   manifest.Manifest
	path string
}
