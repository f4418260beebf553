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
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/spf13/cobra"

	"github.com/opendist/odi/catalog"
	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/sign"
)

func newDemoCmd(g *globals) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole odi network on loopback and show what to try",
		Long: `Run a whole odi network on loopback, in this process, with temporary data folders:
a directory, two relays that join it, and two sample artifacts (a single file and a small
multi-file package). Once both relays hold both artifacts, print commands that work right
now: odi fetch, curl and wget through the /r/ redirector, aria2c with the .torrent, the
.meta4 metalink or the magnet link. Ctrl-C stops everything and removes the temporary
folders.`,
		Example: `  odi demo                         # directory on 127.0.0.1:8080
  odi demo --listen 127.0.0.1:0    # any free port`,
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

// demoRelays is how many relays the demo runs.
const demoRelays = 2

// runDemo starts a directory on listen and two relays with their data under tmp,
// publishes the samples, waits until the relays hold them, prints what to try and serves
// until ctx ends.
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
	cfg.Relays.Policy, cfg.Relays.AllowPrivateURLs = catalog.PolicyOpen, true
	cfg.Relays.HeartbeatInterval = 2 * time.Second
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d, err := startDirectory(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("demo: %w (is another demo running? try --listen 127.0.0.1:0)", err)
	}
	// Everything started is stopped before returning, whatever the outcome.
	var relays []*relayProc
	stop := func(err error) error {
		cancel()
		for _, r := range relays {
			err = errors.Join(err, r.Wait())
		}
		return errors.Join(err, d.Wait())
	}
	base := d.cfg.PublicURL
	c, err := newClient(ClientConfig{Directory: base, Key: publisherKey})
	if err != nil {
		return stop(err)
	}
	samples, err := demoArtifacts(filepath.Join(tmp, "samples"))
	if err != nil {
		return stop(err)
	}
	printf(out, "odi demo: a directory at %s, data in %s\n", base, tmp)
	var published []*catalogapi.Artifact
	for _, s := range samples {
		a, err := client.Publish(ctx, c, s.id, s.path, io.Discard)
		if err != nil {
			return stop(err)
		}
		published = append(published, a)
	}
	for i := range demoRelays {
		rc := defaultConfig().Relay
		rc.DataDir = filepath.Join(tmp, fmt.Sprintf("relay-%d", i+1))
		rc.KeyFile = filepath.Join(tmp, fmt.Sprintf("relay-%d.key", i+1))
		rc.Listen, rc.BTListen, rc.Directories, rc.Quota = "127.0.0.1:0", "127.0.0.1:0", []string{base}, 1<<30
		if _, err := sign.GenerateKeyFiles(rc.KeyFile); err != nil {
			return stop(err)
		}
		r, err := startRelay(ctx, rc, log)
		if err != nil {
			return stop(fmt.Errorf("demo relay: %w", err))
		}
		relays = append(relays, r)
		printf(out, "relay %d at %s\n", i+1, r.cfg.PublicURL)
	}
	printf(out, "waiting for the relays to fetch the samples...\n")
	if err := demoWaitForRelays(ctx, d.cat, published); err != nil {
		return stop(err)
	}

	// One folder per client: each refuses to overwrite what another already wrote. A new
	// one per demo, kept when it stops (it holds what the user fetched): aria2c refuses a
	// file an earlier demo left without its control file.
	dl, err := os.MkdirTemp("", "odi-demo-download-")
	if err != nil {
		return stop(err)
	}
	in := func(client string) string { return filepath.Join(dl, client) }
	printf(out, "\nBoth relays hold both samples. Try (files land in %s/<client>):\n\n", dl)
	printf(out, "The catalog (JSON):\n  curl -s %s/api/v1/artifacts\n\n", base)
	for _, a := range published {
		printf(out, "%s: %s, %s in %d file%s, infohash %s\n", a.ID, a.Root, bytesize.Size(a.Size), a.FileCount, plural(a.FileCount), a.InfoHash)
		printf(out, "  odi fetch (BitTorrent from the relays and web seeds, verified):\n    odi fetch --directory %s -o %s %s/%s@%s\n", base, in("odi"), a.Catalog, a.Name, a.Version)
		first := ""
		if a.FileCount > 1 {
			first = "/" + a.Files[0].Path
		}
		printf(out, "  plain HTTP, redirected to a relay:\n    curl -L --create-dirs -o %s/%s%s %s/r/%s%s\n", in("curl"), a.Root, first, base, a.ID, first)
		printf(out, "  aria2c with the torrent or the metalink:\n    aria2c --seed-time=0 --enable-dht=false --bt-enable-lpd=false -d %s %s\n", in("aria2c-torrent"), a.TorrentURL)
		printf(out, "    aria2c --seed-time=0 --enable-dht=false --bt-enable-lpd=false -d %s %s/m/%s.meta4\n", in("aria2c-metalink"), base, a.ID)
		printf(out, "  verify what aria2c wrote:\n    (cd %s && curl -s %s | sha256sum -c)\n", in("aria2c-torrent"), a.SHA256SumsURL)
		saved := filepath.Join(dl, a.Name+"-"+a.Version+".torrent")
		printf(out, "  a saved torrent: peers from the tracker and the DHT (BEP 5) it names, also with the directory stopped:\n    curl -s -o %s %s\n    odi fetch --torrent %s -o %s\n",
			saved, a.TorrentURL, saved, in("odi-torrent"))
		magnet := a.Magnet
		if art, err := d.cat.Artifact(a.Catalog, a.Name, a.Version); err == nil {
			magnet = d.cat.Magnet(art) // now with the relays' web seeds
		}
		printf(out, "  magnet link:\n    %s\n\n", magnet)
	}
	printf(out, "The relays, their status and holdings:\n  odi admin --directory %s --key %s relays list\n", base, adminKey)
	printf(out, "Publish your own file or folder:\n  odi publish --directory %s --key %s --catalog demo --name mine --version 1 PATH\n", base, publisherKey)
	printf(out, "Expunge one (final; the relays delete it):\n  odi admin --directory %s --key %s expunge demo/tools/1.0 --reason demo\n\n", base, adminKey)
	printf(out, "Ctrl-C stops the demo and removes %s.\n", tmp)
	err = d.Wait() // until Ctrl-C, or the directory fails
	cancel()
	for _, r := range relays {
		err = errors.Join(err, r.Wait())
	}
	return err
}

// demoWaitForRelays waits (bounded) until every relay is a mirror of every artifact.
func demoWaitForRelays(ctx context.Context, cat *catalog.Catalog, arts []*catalogapi.Artifact) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ready := true
		for _, a := range arts {
			var ih metainfo.Hash
			if err := ih.FromHexString(a.InfoHash); err != nil {
				return err
			}
			ready = ready && len(cat.Mirrors(ih)) == demoRelays
		}
		switch {
		case ready:
			return nil
		case time.Now().After(deadline):
			return errors.New("demo: the relays did not fetch the samples within 2 minutes (see the log)")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
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
