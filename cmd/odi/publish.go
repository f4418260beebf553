package main

import (
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/manifest"
)

func newPublishCmd(g *globals) *cobra.Command {
	var (
		m     manifest.Manifest
		quiet bool
	)
	cmd := &cobra.Command{
		Use:   "publish --directory URL --key KEY --catalog C --name N --version V PATH",
		Short: "Publish a file or a folder (one torrent) to a directory",
		Long: `Publish PATH, a file or a folder, as the artifact <catalog>/<name>/<version>.

odi reads every byte once: it streams the files to the directory while computing their
sha256, then signs the manifest (names, sizes, sha256) with KEY. The directory hashes
what it receives in the same single pass, checks it against the signed manifest, stores
its origin copy durably and only then lists the artifact. Published artifacts are
immutable: a version can be published once.

A folder becomes one multi-file torrent named after the folder; empty folders are not
carried, and symbolic links or special files are refused.`,
		Example: `  odi publish --directory https://dir.example.org --key publisher.key \
      --catalog debian --name netinst --version 12.5.0 debian-12.5.0-amd64-netinst.iso`,
		Args: exactArgs(1, "one PATH (a file or a folder)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd, g, flagKeys{"directory": "client.directory", "key": "client.key"})
			if err != nil {
				return err
			}
			for _, s := range []struct{ flag, v string }{{"catalog", m.Catalog}, {"name", m.Name}, {"version", m.Version}} {
				if s.v == "" {
					return usageError("--%s is required", s.flag)
				}
			}
			c, err := newClient(cfg.Client)
			if err != nil {
				return err
			}
			if err := requireKey(c); err != nil {
				return err
			}
			var progress io.Writer = io.Discard
			if !quiet {
				progress = g.stderr
			}
			a, err := client.Publish(cmd.Context(), c, m, args[0], progress)
			if errors.Is(err, manifest.ErrInvalid) {
				return usageError("%w", err)
			}
			if err != nil {
				return clientError(err)
			}
			printf(g.stdout, "published %s\n  infohash %s\n  size     %d bytes in %d file%s\n  torrent  %s\n  magnet   %s\n",
				a.ID, a.InfoHash, a.Size, a.FileCount, plural(a.FileCount), a.TorrentURL, a.Magnet)
			return nil
		},
	}
	f := cmd.Flags()
	f.String("directory", "", withKey("directory base URL", "client.directory"))
	f.String("key", "", withKey("publisher's private key (odi keygen)", "client.key"))
	f.StringVar(&m.Catalog, "catalog", "", "catalog to publish into, e.g. debian")
	f.StringVar(&m.Name, "name", "", "artifact name, e.g. netinst")
	f.StringVar(&m.Version, "version", "", "artifact version, e.g. 12.5.0")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress output")
	return cmd
}
