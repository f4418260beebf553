package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendist/odi/catalog"
	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/sign"
)

func newAdminCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage a directory: publishers, expunge (requests signed with an admin key)",
		Long: `Manage a running directory. Every request is signed with --key, which the directory
must trust as an admin key (its --admin-key flag or admin_keys: in its config).`,
		Example: `  odi admin --directory http://127.0.0.1:8080 --key admin.key publishers add debian debian.key.pub
  odi admin --directory http://127.0.0.1:8080 --key admin.key expunge debian/netinst/12.5.0 --reason "CVE-2026-1234"`,
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
		Args:  exactArgs(0, "a subcommand"),
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var catalogs []string
	add := &cobra.Command{
		Use:   "add NAME KEY.pub",
		Short: "Admit a publisher key (optionally only for some catalogs)",
		Args:  exactArgs(2, "NAME and KEY.pub"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			key, err := sign.ParsePublicKey(args[1])
			if err != nil {
				return usageError("%w", err)
			}
			var p catalog.Publisher
			req := catalog.AddPublisherRequest{Name: args[0], PublicKey: key.String(), Catalogs: catalogs}
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
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			if err := c.Call(cmd.Context(), http.MethodPost, "/api/v1/admin/publishers/"+url.PathEscape(args[0])+"/revoke", nil, nil); err != nil {
				return fmt.Errorf("revoke publisher: %w", err)
			}
			printf(g.stdout, "publisher %s revoked\n", args[0])
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List publishers",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			var out struct{ Publishers []catalog.Publisher }
			if err := c.Call(cmd.Context(), http.MethodGet, "/api/v1/admin/publishers", nil, &out); err != nil {
				return fmt.Errorf("list publishers: %w", err)
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
	pubs.AddCommand(add, revoke, list)

	var reason string
	expunge := &cobra.Command{
		Use:   "expunge CATALOG/NAME/VERSION --reason TEXT",
		Short: "Expunge an artifact for good: bytes deleted, name never reused",
		Long: `Expunge an artifact. It becomes a tombstone: the directory deletes its origin bytes,
stops tracking and serving it (410 Gone), tells relays to delete it, and refuses to
publish the same name and version, or the same content, ever again. It cannot be undone.`,
		Args: exactArgs(1, "CATALOG/NAME/VERSION"),
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
			if err := c.CallJSON(cmd.Context(), http.MethodPost, "/api/v1/admin/expunge", catalog.ExpungeRequest{Artifact: args[0], Reason: reason}, &a); err != nil {
				return fmt.Errorf("expunge: %w", err)
			}
			printf(g.stdout, "expunged %s (infohash %s): %s\n", a.ID, a.InfoHash, a.ExpungeReason)
			return nil
		},
	}
	expunge.Flags().StringVar(&reason, "reason", "", "why (shown in the catalog's JSON)")
	cmd.AddCommand(pubs, expunge, newAdminRelaysCmd(adminClient, g))
	return cmd
}

func newAdminRelaysCmd(adminClient func(*cobra.Command) (*apiclient.Client, error), g *globals) *cobra.Command {
	relays := &cobra.Command{
		Use:   "relays",
		Short: "List relays, approve, revoke or clear them",
		Args:  exactArgs(0, "a subcommand"),
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List relays: status (up, down, quarantined, testing, pending, revoked) and why, holdings",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := adminClient(cmd)
			if err != nil {
				return err
			}
			var relays []catalog.Relay
			for after := ""; ; {
				var page catalog.RelayPage
				if err := c.Call(cmd.Context(), http.MethodGet, "/api/v1/relays?after="+url.QueryEscape(after), nil, &page); err != nil {
					return fmt.Errorf("list relays: %w", err)
				}
				relays = append(relays, page.Relays...)
				if after = page.Next; after == "" {
					break
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
	setState := func(verb, path string) *cobra.Command {
		return &cobra.Command{
			Use: verb + " ID",
			Short: map[string]string{
				"approve": "Let a relay serve users (once its self-tests pass)",
				"revoke":  "Drop a relay from url-lists and redirects at once and refuse its heartbeats",
				"clear":   "Lift a relay's quarantine: it is tested again before it serves users",
			}[verb],
			Args: exactArgs(1, "the relay's ID (odi admin relays list)"),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := adminClient(cmd)
				if err != nil {
					return err
				}
				var r catalog.Relay
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
