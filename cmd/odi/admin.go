package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/sign"
)

func newAdminCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage a directory: publishers, indexers, relays, expunge (requests signed with an admin key)",
		Long: `Manage a running directory. Every request is signed with --key, which the directory
must trust as an admin key (its --admin-key flag or admin_keys: in its config). Make the
key pair with odi keygen --out admin.key and give the directory admin.key.pub.

--directory is the directory's public URL, as it is configured there (its --public-url):
a signature is made for that URL, and the directory refuses one made for another.`,
		Example: `  odi keygen --out admin.key     # the directory runs with --admin-key admin.key.pub
  export ODI_CLIENT_DIRECTORY=http://127.0.0.1:8080 ODI_CLIENT_KEY=admin.key
  odi admin publishers add debian debian.key.pub
  odi admin indexers add reviewers reviewers.key.pub
  odi admin relays list
  odi admin expunge debian/netinst/12.5.0 --reason "CVE-2026-1234"`,
		Args: exactArgs(0, "a subcommand"),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().String("directory", "", withKey("directory base URL", "client.directory"))
	cmd.PersistentFlags().String("key", "", withKey("admin's private key", "client.key"))

	// adminClient loads the config of a subcommand and returns a signing client.
	adminClient := func(cmd *cobra.Command) (*apiclient.Client, error) {
		cfg, err := loadConfig(cmd, g, flagKeys{"directory": "client.directory", "key": "client.key"})
		if err != nil {
			return nil, err
		}
		c, err := newClient(cfg.Client)
		if err != nil {
			return nil, err
		}
		return c, requireKey(c)
	}

	pubs := &cobra.Command{
		Use:   "publishers",
		Short: "List, add or revoke publisher keys",
		Long: `The publisher keys the directory trusts. A publisher makes a key pair with
odi keygen --out KEY, keeps KEY, and gives the directory's operator KEY.pub, who admits it
with publishers add under a NAME of their choosing. publishers revoke takes that NAME.

Publishers in the directory's own config (--publisher-key, directory.publishers) are
listed too, as "active (config)"; they are changed there, not here.`,
		Example: `  odi admin publishers list
  odi admin publishers add debian debian.key.pub --catalog debian
  odi admin publishers revoke debian`,
		Args: exactArgs(0, "a subcommand"),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var catalogs []string
	add := &cobra.Command{
		Use:   "add NAME KEY.pub",
		Short: "Admit a publisher key (optionally only for some catalogs)",
		Long: `Admit a publisher's public key: from then on, uploads signed with its private key
publish, into the --catalog catalogs only when any are given.

NAME is yours to choose (letters, digits and . _ + ~ -, starting with a letter or digit):
it is what publishers list shows and what publishers revoke takes. KEY.pub is the public
key file odi keygen --out KEY writes beside the private key KEY, which the publisher keeps;
the key's one-line text (RW...) is taken too. A name or key is never reused, not even
after a revoke, and an admin key cannot also publish.`,
		Example: `  odi keygen --out debian.key     # the publisher, who sends you debian.key.pub
  odi admin publishers add debian debian.key.pub --catalog debian --catalog debian-security`,
		Args: exactArgs(2, "NAME and KEY.pub"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			key, err := sign.ParsePublicKey(args[1])
			if err != nil {
				return usageError("%w", err)
			}
			var p catalogapi.Publisher
			req := catalogapi.AddPublisherRequest{Name: args[0], PublicKey: key.String(), Catalogs: catalogs}
			if err := c.CallJSON(cmd.Context(), http.MethodPost, "/api/v1/admin/publishers", req, &p); err != nil {
				return fmt.Errorf("add publisher: %w", err)
			}
			printf(g.stdout, "publisher %s added (key %s)\n", p.Name, p.KeyID)
			return nil
		},
	}
	add.Flags().StringArrayVar(&catalogs, "catalog", nil, "limit the publisher to this catalog; repeatable (default: any)")
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a publisher: its key can no longer publish (its artifacts stay)",
		Long: `Revoke a publisher: its key can no longer publish, and its uploads in progress are
aborted at once. What it published stays (odi admin expunge removes an artifact).

NAME is the one given to publishers add, as publishers list shows it. A publisher from
the directory's config (--publisher-key) is removed there, and the directory restarted.`,
		Example: `  odi admin publishers list
  odi admin publishers revoke debian`,
		Args: exactArgs(1, "NAME"),
		RunE: revokeByName(adminClient, g, "publisher"),
	}
	var pubsJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List publishers",
		Long: `List the publishers the directory trusts: NAME (what publishers revoke takes), the key's
minisign id (what odi keygen printed as "key id"), the catalogs it may publish into (*
for any) and its state: active, active (config) for those in the directory's config, or
revoked.

--json prints the directory's answer as it is, one JSON object on stdout:
{"publishers": [{"name", "key_id", "public_key", "catalogs", "added_at", "revoked",
"static"}, ...]}.`,
		Example: `  odi admin publishers list
  odi admin publishers list --json | jq -r '.publishers[] | select(.revoked | not) | .name'`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			var out struct{ Publishers []catalogapi.Publisher }
			if decoded, err := adminList(cmd, c, g, "publishers", pubsJSON, &out); !decoded {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKEY ID\tCATALOGS\tSTATE")
			for _, p := range out.Publishers {
				state := "active"
				switch {
				case p.Revoked:
					state = "revoked"
				case p.Static:
					state = "active (config)"
				}
				cats := strings.Join(p.Catalogs, ",")
				if cats == "" {
					cats = "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.KeyID, cats, state)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&pubsJSON, "json", false, "print the directory's JSON answer instead of a table")
	pubs.AddCommand(add, revoke, list)

	var reason string
	expunge := &cobra.Command{
		Use:   "expunge CATALOG/NAME/VERSION --reason TEXT",
		Short: "Expunge an artifact for good: bytes deleted, name never reused",
		Long: `Expunge an artifact. It becomes a tombstone: the directory deletes its origin bytes,
stops tracking and serving it (410 Gone), tells relays to delete it, and refuses to
publish the same name and version, or the same content, ever again. It cannot be undone.

CATALOG/NAME/VERSION is the artifact's id, as odi publish printed it ("published ...")
and as odi fetch and GET /api/v1/artifacts name it. --reason is required: it is shown to
everyone who asks for the artifact from then on.`,
		Example: `  odi admin expunge debian/netinst/12.5.0 --reason "CVE-2026-1234: the image ships a backdoored sshd"`,
		Args:    exactArgs(1, "CATALOG/NAME/VERSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.Count(args[0], "/") != 2 {
				return usageError("%q is not CATALOG/NAME/VERSION", args[0])
			}
			if strings.TrimSpace(reason) == "" {
				return usageError("--reason is required: it is shown to everyone who asks for the artifact")
			}
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			var a catalogapi.Artifact
			if err := c.CallJSON(cmd.Context(), http.MethodPost, "/api/v1/admin/expunge", catalogapi.ExpungeRequest{Artifact: args[0], Reason: reason}, &a); err != nil {
				return fmt.Errorf("expunge: %w", err)
			}
			printf(g.stdout, "expunged %s (infohash %s): %s\n", a.ID, a.InfoHash, a.ExpungeReason)
			return nil
		},
	}
	expunge.Flags().StringVar(&reason, "reason", "", "why (shown in the catalog's JSON)")
	cmd.AddCommand(pubs, expunge, newAdminIndexersCmd(adminClient, g), newAdminRelaysCmd(adminClient, g), newAdminFederationCmd(g))
	return cmd
}

func newAdminIndexersCmd(adminClient func(*cobra.Command) (*apiclient.Client, error), g *globals) *cobra.Command {
	indexers := &cobra.Command{
		Use:   "indexers",
		Short: "List, add or revoke indexer keys (whose signed indexes the directory hosts)",
		Long: `The indexer keys the directory trusts to upload signed indexes: lists of the artifacts
an indexer vouches for, with each file's sha256, that relays and users may choose to
follow. An indexer makes a key pair with odi keygen --out KEY, keeps KEY, and gives the
directory's operator KEY.pub, who admits it with indexers add under a NAME of their
choosing. The directory then hosts its index at /indexes/<key id>/index.json, and
accepts a new version only if it is signed by that key, newer, not expired, and lists
each artifact exactly as the catalog holds it.

Indexers in the directory's config (--indexer-key, directory.indexers), and the
directory's own index key (--index-key, listed as "directory"), are listed too; they
are changed there, not here.`,
		Example: `  odi admin indexers list
  odi admin indexers add reviewers reviewers.key.pub
  odi admin indexers revoke reviewers`,
		Args: exactArgs(0, "a subcommand"),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	add := &cobra.Command{
		Use:   "add NAME KEY.pub",
		Short: "Admit an indexer key: the directory hosts its signed index",
		Long: `Admit an indexer's public key: from then on, the directory accepts indexes signed with
its private key, uploaded by requests signed with it too, and serves the current one at
/indexes/<key id>/index.json.

NAME is yours to choose (letters, digits and . _ + ~ -, starting with a letter or digit;
"directory" is the directory's own): it is what indexers list shows and what indexers
revoke takes. KEY.pub is the public key file odi keygen --out KEY writes beside the
private key KEY, which the indexer keeps; the key's one-line text (RW...) is taken too.
A name, key or key id is never reused, not even after a revoke: the key id names the
index's URL.`,
		Example: `  odi keygen --out reviewers.key     # the indexer, who sends you reviewers.key.pub
  odi admin indexers add reviewers reviewers.key.pub`,
		Args: exactArgs(2, "NAME and KEY.pub"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			key, err := sign.ParsePublicKey(args[1])
			if err != nil {
				return usageError("%w", err)
			}
			var ix catalogapi.Indexer
			req := catalogapi.AddIndexerRequest{Name: args[0], PublicKey: key.String()}
			if err := c.CallJSON(cmd.Context(), http.MethodPost, "/api/v1/admin/indexers", req, &ix); err != nil {
				return fmt.Errorf("add indexer: %w", err)
			}
			printf(g.stdout, "indexer %s added (key %s): its index goes to /indexes/%s/index.json\n", ix.Name, ix.Key, ix.Key)
			return nil
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke an indexer: its uploads are refused and its index no longer served",
		Long: `Revoke an indexer: the directory refuses its uploads and stops serving its index at
once. Followers of its key keep what they accepted until it expires; a revocation they
trust is the indexer's (or a root key's) to sign.

NAME is the one given to indexers add, as indexers list shows it. An indexer from the
directory's config (--indexer-key) is removed there, and the directory restarted.`,
		Example: `  odi admin indexers list
  odi admin indexers revoke reviewers`,
		Args: exactArgs(1, "NAME"),
		RunE: revokeByName(adminClient, g, "indexer"),
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List indexers",
		Long: `List the indexer keys the directory trusts: NAME (what indexers revoke takes), the key's
minisign id (what odi keygen printed as "key id", and what the index's URL
/indexes/<key id>/index.json names), and its state: active, active (config) for those
in the directory's config, own for the directory's own index key, or revoked.

--json prints the directory's answer as it is, one JSON object on stdout:
{"indexers": [{"name", "key", "public_key", "fingerprint", "added_at", "revoked",
"static", "own"}, ...]}.`,
		Example: `  odi admin indexers list
  odi admin indexers list --json | jq -r '.indexers[] | select(.revoked | not) | .key'`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			var out struct{ Indexers []catalogapi.Indexer }
			if decoded, err := adminList(cmd, c, g, "indexers", asJSON, &out); !decoded {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKEY ID\tFINGERPRINT\tSTATE")
			for _, ix := range out.Indexers {
				state := "active"
				switch {
				case ix.Revoked:
					state = "revoked"
				case ix.Own:
					state = "own"
				case ix.Static:
					state = "active (config)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ix.Name, ix.Key, ix.Fingerprint, state)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print the directory's JSON answer instead of a table")
	indexers.AddCommand(add, revoke, list)
	return indexers
}

func newAdminRelaysCmd(adminClient func(*cobra.Command) (*apiclient.Client, error), g *globals) *cobra.Command {
	relays := &cobra.Command{
		Use:   "relays",
		Short: "List relays, approve, revoke or clear them",
		Long: `The relays that registered with the directory. A relay is named by its ID: the
fingerprint of its public key (32 hex digits), which odi relay prints when it starts
("relay id ..."), the directory logs when it registers ("relay registered" relay=ID),
and relays list shows in its first column. A relay's URL can change; its ID cannot.

Under --relay-policy approve (the default) a new relay waits as pending until an
operator approves it; a relay that served wrong bytes is quarantined until cleared.`,
		Example: `  odi admin relays list
  odi admin relays approve 3f2a9c0d5e6b7a8190a1b2c3d4e5f607
  odi admin relays clear 3f2a9c0d5e6b7a8190a1b2c3d4e5f607
  odi admin relays revoke 3f2a9c0d5e6b7a8190a1b2c3d4e5f607`,
		Args: exactArgs(0, "a subcommand"),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List relays: status (up, down, quarantined, testing, pending, revoked) and why, holdings",
		Long: `List every relay the directory knows, page after page of GET /api/v1/relays: its ID
(what approve, revoke and clear take), public URL, status and why it is not up, holdings
(and how many of them the directory verified), free space and when it was last heard from.

A status is up, suspect, suspended, down, quarantined (clear it once the relay is
fixed), testing, pending (approve it) or revoked.

--json prints one JSON object on stdout: {"relays": [...]}, every page's relay objects
as the directory sent them (id, public_url, status, reason, holdings, ...).`,
		Example: `  odi admin relays list
  odi admin relays list --json | jq -r '.relays[] | select(.status == "pending") | .id'`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			// Each relay is kept as the directory sent it, for --json: fields this odi
			// does not know yet stay in.
			var raws []json.RawMessage
			for after := ""; ; {
				var page struct {
					Relays []json.RawMessage `json:"relays"`
					Next   string            `json:"next"`
				}
				if err := c.Call(cmd.Context(), http.MethodGet, "/api/v1/relays?after="+url.QueryEscape(after), nil, &page); err != nil {
					return fmt.Errorf("list relays: %w", err)
				}
				raws = append(raws, page.Relays...)
				if after = page.Next; after == "" {
					break
				}
			}
			if asJSON {
				return writeJSON(g.stdout, struct {
					Relays []json.RawMessage `json:"relays"`
				}{Relays: append([]json.RawMessage{}, raws...)})
			}
			relays := make([]catalogapi.Relay, len(raws))
			for i, raw := range raws {
				if err := json.Unmarshal(raw, &relays[i]); err != nil {
					return fmt.Errorf("list relays: %w", err)
				}
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tURL\tSTATUS\tHOLDINGS\tFREE\tLAST SEEN\tREASON")
			for _, r := range relays {
				verified := 0
				for _, h := range r.Holdings {
					if h.Verified {
						verified++
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d (%d verified)\t%s\t%s\t%s\n", r.ID, r.PublicURL, r.Status,
					len(r.Holdings), verified, bytesize.Size(r.Free), r.LastSeen.Format(time.RFC3339), r.Reason)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print the relays as JSON instead of a table")
	const idFrom = `ID is the relay's key fingerprint: the first column of odi admin relays list, the
"relay id" odi relay prints when it starts, and relay= in the directory's "relay
registered" log line.`
	setState := func(verb, path string) *cobra.Command {
		return &cobra.Command{
			Use: verb + " ID",
			Short: map[string]string{
				"approve": "Let a relay serve users (once its self-tests pass)",
				"revoke":  "Drop a relay from url-lists and redirects at once and refuse its heartbeats",
				"clear":   "Lift a relay's quarantine: it is tested again before it serves users",
			}[verb],
			Long: map[string]string{
				"approve": `Approve a relay: a pending relay (--relay-policy approve), or one revoked before, becomes
active. The directory sends it users once it passes its self-test.

`,
				"revoke": `Revoke a relay: it is dropped from url-lists and redirects at once, and its heartbeats
are refused, so it gets no more plans. approve undoes it.

`,
				"clear": `Clear a relay: lift its quarantine (it served bytes that did not match), forget its
failed probes and lift a suspension. It is self-tested and its holdings range-checked
again before users are sent to it. Clear a relay once its operator has fixed it.

`,
			}[verb] + idFrom,
			Example: "  odi admin relays list\n  odi admin relays " + verb + " 3f2a9c0d5e6b7a8190a1b2c3d4e5f607",
			Args:    exactArgs(1, "the relay's ID (odi admin relays list)"),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := adminClient(cmd)
				if err != nil {
					return err
				}
				var r catalogapi.Relay
				if err := c.Call(cmd.Context(), http.MethodPost, "/api/v1/admin/relays/"+url.PathEscape(args[0])+"/"+path, nil, &r); err != nil {
					return fmt.Errorf("%s relay: %w", verb, err)
				}
				if verb == "clear" {
					printf(g.stdout, "relay %s cleared: its self-test and range checks run again\n", r.ID)
				} else {
					printf(g.stdout, "relay %s is %s\n", r.ID, r.State)
				}
				return nil
			},
		}
	}
	relays.AddCommand(list, setState("approve", "approve"), setState("revoke", "revoke"), setState("clear", "clear"))
	return relays
}

// writeJSON prints v as one indented JSON document on w, for --json.
// revokeByName is the RunE of "publishers revoke" and "indexers revoke" (what is
// "publisher" or "indexer").
func revokeByName(adminClient func(*cobra.Command) (*apiclient.Client, error), g *globals, what string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := adminClient(cmd)
		if err != nil {
			return err
		}
		if err := c.Call(cmd.Context(), http.MethodPost, "/api/v1/admin/"+what+"s/"+url.PathEscape(args[0])+"/revoke", nil, nil); err != nil {
			return fmt.Errorf("revoke %s: %w", what, err)
		}
		printf(g.stdout, "%s %s revoked\n", what, args[0])
		return nil
	}
}

// adminList GETs the admin listing of what ("publishers", "indexers"). With asJSON it
// writes the directory's answer as it is; else it decodes it into out, and reports that
// it did: the caller prints out only then (err is nil in both cases when all went well).
func adminList(cmd *cobra.Command, c *apiclient.Client, g *globals, what string, asJSON bool, out any) (decoded bool, err error) {
	var raw json.RawMessage
	if err := c.Call(cmd.Context(), http.MethodGet, "/api/v1/admin/"+what, nil, &raw); err != nil {
		return false, fmt.Errorf("list %s: %w", what, err)
	}
	if asJSON {
		return false, writeJSON(g.stdout, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return false, fmt.Errorf("list %s: %w", what, err)
	}
	return true, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
