package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/sign"
)

func newIndexCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "index",
		Short: "Show or sign an indexer's signed index of a directory's artifacts",
		Long: `An indexer vouches for artifacts by key: its index, a JSON document signed with
minisign, lists each artifact it vouches for with its infohash and its files' sizes and
sha256, has a version that only grows and expires (a week by default). The directory
hosts it at /indexes/<key id>/index.json (and .minisig); users who trust the key fetch
only what it lists (odi fetch --trust KEY.pub), and stock minisign checks it too.

index sign builds the next version on this machine, from the directory's current one
(verified with the key), so the private key never leaves it; the directory must know
the key as an indexer's (its operator adds it). Sign again before the index expires,
with no changes to renew it.`,
		Example: `  odi keygen --out indexer.key
  odi index show --directory https://dir.example.org --key indexer.key.pub
  odi index sign --directory https://dir.example.org --key indexer.key --add debian/netinst/12.5.0 --verify-bytes
  odi index sign --directory https://dir.example.org --key indexer.key --all-new debian
  odi index sign --directory https://dir.example.org --key indexer.key --expunge debian/netinst/12.4.0 --reason "CVE-2026-1234"`,
		Args: exactArgs(0, "a subcommand"),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().String("directory", "", withKey("directory base URL", "client.directory"))
	cmd.AddCommand(newIndexShowCmd(g), newIndexSignCmd(g))
	return cmd
}

// indexClient loads the directory's URL of an index subcommand.
func indexClient(cmd *cobra.Command, g *globals) (*apiclient.Client, error) {
	cfg, err := loadConfig(cmd, g, flagKeys{"directory": "client.directory"})
	if err != nil {
		return nil, err
	}
	return newClient(ClientConfig{Directory: cfg.Client.Directory})
}

func newIndexShowCmd(g *globals) *cobra.Command {
	var (
		keyArg  string
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "show --directory URL --key KEY.pub",
		Short: "Verify and show the directory's current index of a key, and what is new since",
		Long: `Fetch the index the directory holds for KEY.pub, verify its signature, and show its
version, when it was issued and expires (an expired index is shown, and said to be), how
many artifacts it lists, and how the catalog moved on since: published artifacts it
does not list, and artifacts it lists as published that the catalog expunged.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyArg == "" {
				return usageError("--key is required: the indexer's public key")
			}
			pub, err := sign.ParsePublicKey(keyArg)
			if err != nil {
				return usageError("--key: %w", err)
			}
			c, err := indexClient(cmd, g)
			if err != nil {
				return err
			}
			rep, err := client.ShowIndex(cmd.Context(), c, pub, time.Now())
			if err != nil {
				return clientError(err)
			}
			if jsonOut {
				return writeJSON(g.stdout, rep)
			}
			printIndexReport(g.stdout, c.Base, rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyArg, "key", "", "the indexer's public key (KEY.pub, or its RW... line)")
	f.BoolVar(&jsonOut, "json", false, "print the report as JSON on stdout")
	return cmd
}

func printIndexReport(w io.Writer, base string, rep *client.IndexReport) {
	if !rep.Found {
		printf(w, "the directory at %s holds no index of key %s (odi index sign makes version 1)\n", base, rep.Key)
	} else {
		printf(w, "index of key %s at %s\n  version  %d\n  issued   %s\n", rep.Key, base, rep.Version, rep.Issued.Format(time.RFC3339))
		if rep.Expired {
			printf(w, "  expires  EXPIRED at %s: followers refuse it until a new version is signed\n", rep.Expires.Format(time.RFC3339))
		} else {
			printf(w, "  expires  %s (in %s)\n", rep.Expires.Format(time.RFC3339), time.Until(rep.Expires).Round(time.Minute))
		}
		printf(w, "  entries  %d (%d published, %d expunged)\n", rep.Published+rep.Expunged, rep.Published, rep.Expunged)
		if rep.NextKey != "" {
			printf(w, "  next key %s\n", rep.NextKey)
		}
	}
	printf(w, "new in the catalog since: %d\n", len(rep.New))
	for _, id := range rep.New {
		printf(w, "  %s\n", id)
	}
	if len(rep.Gone) > 0 {
		printf(w, "listed as published, no longer in the catalog: %d (remove or expunge them)\n", len(rep.Gone))
		for _, a := range rep.Gone {
			printf(w, "  %s  %s\n", a.ID, a.Reason)
		}
	}
}

func newIndexSignCmd(g *globals) *cobra.Command {
	var (
		keyPath              string
		add, remove, expunge []string
		ch                   client.IndexChanges
		nextKey              string
		jsonOut              bool
	)
	cmd := &cobra.Command{
		Use:   "sign --directory URL --key KEY [--add C/N/V ...] [--remove C/N/V ...] [--expunge C/N/V --reason TEXT ...] [--all-new CATALOG ...]",
		Short: "Sign the next version of an index on this machine and upload it",
		Long: `Build the next version of KEY's index from the directory's current one (verified with
KEY; version 1 if there is none), apply the changes, sign it here and upload it (the
upload is signed by KEY too). With no changes, the same entries are signed again with a
new expiry: do that before the index expires.

--add checks each artifact against the directory: it must be published, and its
torrent must have the catalog's infohash, file names and sizes. --verify-bytes also
downloads every added file (through the redirector, as a user would; nothing is kept)
and checks it against the catalog's sha256 and the torrent's piece hashes, so that the
index vouches for bytes seen rather than the directory's word. --all-new adds every
published artifact of CATALOG the index does not list. --remove drops an entry without
a trace; --expunge keeps it, marked expunged with --reason, so followers drop its bytes.

Keys: --next-key NEW.pub announces a successor (make it with odi keygen and have the
directory's admin add it with odi admin indexers add): followers fetch its index too, and
once NEW has signed one they accepted they drop this key. --revoke makes this version the
key's last word (when it is retired, or may be stolen): followers that see it refuse the
key from then on, and do not follow a successor it names that had not signed before.

Exit codes: 0 signed (and uploaded); 1 error; 2 bad usage; 3 an added artifact's
hashes disagree with its torrent or bytes (nothing is signed).`,
		Args: exactArgs(0, "no arguments (artifacts go with --add, --remove, --expunge)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyPath == "" {
				return usageError("--key is required: the indexer's private key")
			}
			if len(expunge) > 0 && ch.Reason == "" {
				return usageError("--expunge needs --reason")
			}
			for _, l := range []struct {
				flag string
				in   []string
				out  *[]client.Ref
			}{{"add", add, &ch.Add}, {"remove", remove, &ch.Remove}, {"expunge", expunge, &ch.Expunge}} {
				for _, s := range l.in {
					r, err := client.ParseRef(s)
					if err == nil && r.Version == "" {
						err = fmt.Errorf("%q names no version (CATALOG/NAME/VERSION)", s)
					}
					if err != nil {
						return usageError("--%s: %w", l.flag, err)
					}
					*l.out = append(*l.out, r)
				}
			}
			if nextKey != "" {
				next, err := sign.ParsePublicKey(nextKey)
				if err != nil {
					return usageError("--next-key: %w", err)
				}
				ch.NextKey = sign.PublicKeyText(next)
			}
			if ch.TTL <= 0 {
				return usageError("--ttl must be positive (got %s)", ch.TTL)
			}
			key, err := sign.LoadPrivateKey(keyPath)
			if err != nil {
				return err
			}
			c, err := indexClient(cmd, g)
			if err != nil {
				return err
			}
			c.Signer = sign.NewSigner(key, nil)
			res, err := client.SignIndex(cmd.Context(), c, key, ch, time.Now())
			if err != nil {
				return clientError(err)
			}
			if jsonOut {
				return writeJSON(g.stdout, res)
			}
			printf(g.stdout, "signed version %d of key %s's index (previous: %d), %d entries, expires %s\n",
				res.Version, res.Key, res.Previous, res.Entries, res.Expires.Format(time.RFC3339))
			for _, l := range []struct {
				what string
				ids  []string
			}{{"added", res.Added}, {"removed", res.Removed}, {"expunged", res.Expunged}} {
				for _, id := range l.ids {
					printf(g.stdout, "  %-8s %s\n", l.what, id)
				}
			}
			if res.NextKey != "" {
				printf(g.stdout, "  announces the next key %s\n", res.NextKey)
			}
			if res.Revoked {
				printf(g.stdout, "  revokes key %s: its followers refuse it from now on\n", res.Key)
			}
			if !res.Uploaded {
				printf(g.stdout, "dry run: not uploaded\n")
				return nil
			}
			printf(g.stdout, "uploaded: %s/indexes/%s/index.json (sha256 %s)\n", c.Base, res.Key, res.SHA256)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyPath, "key", "", "the indexer's private key (odi keygen); it signs here and is never sent")
	f.StringArrayVar(&add, "add", nil, "vouch for the published artifact CATALOG/NAME/VERSION (repeatable)")
	f.StringArrayVar(&ch.AllNew, "all-new", nil, "vouch for every published artifact of CATALOG not yet listed (repeatable)")
	f.StringArrayVar(&remove, "remove", nil, "drop CATALOG/NAME/VERSION from the index (repeatable)")
	f.StringArrayVar(&expunge, "expunge", nil, "mark CATALOG/NAME/VERSION expunged, with --reason (repeatable)")
	f.StringVar(&ch.Reason, "reason", "", "why the --expunge artifacts are expunged")
	f.DurationVar(&ch.TTL, "ttl", index.DefaultTTL, "how long the new version is valid")
	f.BoolVar(&ch.VerifyBytes, "verify-bytes", false, "download each added artifact and check its bytes against the catalog's sha256 and the torrent")
	f.BoolVar(&ch.DryRun, "dry-run", false, "build, check and sign, but do not upload")
	f.StringVar(&nextKey, "next-key", "", "announce NEW.pub (or its RW... line) as this key's successor")
	f.BoolVar(&ch.Revoke, "revoke", false, "make this version revoke the key: followers refuse it from then on")
	f.BoolVar(&jsonOut, "json", false, "print the result as JSON on stdout")
	return cmd
}
