package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/opendist/odi/catalog/links"
	"github.com/opendist/odi/catalog/originpull"
	"github.com/opendist/odi/catalog/references"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/jsonstrict"
	"github.com/opendist/odi/internal/names"
	"github.com/spf13/cobra"
)

// FederationConfig is a directory's federation (issue 16): catalogs it serves from
// another directory (links), catalogs it sends users on for (references), and catalogs
// it pulls from a project's static upstream (origins).
type FederationConfig struct {
	// Links are catalogs of other directories served here as they are there, under
	// the same infohashes (catalog/links).
	Links []links.Config `mapstructure:"links"`
	// Origins are catalogs pulled from projects' signed static upstreams (catalog/originpull).
	Origins []originpull.Config `mapstructure:"origins"`
	// References are catalogs other directories serve, whose users this one sends on
	// (catalog/references).
	References []references.Config `mapstructure:"references"`
	// Linkers is how directories that link a catalog of this one are listed in its
	// torrents (catalog/links).
	Linkers links.LinkersConfig `mapstructure:"linkers"`
}

// foreign names the catalogs that come from elsewhere, and where (catalog.Config.Foreign).
func (f FederationConfig) foreign() map[string]string {
	out := map[string]string{}
	for _, l := range f.Links {
		out[l.Catalog] = "served here through a federation link to " + l.Directory
	}
	for _, o := range f.Origins {
		out[o.Catalog] = "pulled from the upstream " + o.URL
	}
	for _, r := range f.References {
		out[r.Catalog] = "referenced: other directories serve it"
	}
	return out
}

// handleFederation is GET /api/v1/federation: how each link, reference and origin is
// doing, and which directories link this one. Public, as the catalogs and URLs it
// names are.
func (d *directory) handleFederation(c echo.Context) error {
	return c.JSON(http.StatusOK, catalogapi.FederationStatus{
		Links: d.links.Status(), References: d.refs.Status(), Origins: d.pull.Status(), LinkedBy: d.links.LinkedBy(),
	})
}

// handleSources is GET /api/v1/federation/sources?catalog=C: this directory's own
// trackers and web seeds for C, for directories linked with it (catalogapi.FederationSources).
// A linked catalog whose index is not current here is 503, as its other pages are.
func (d *directory) handleSources(c echo.Context) error {
	catalogName := c.QueryParam("catalog")
	if err := names.CheckComponent(catalogName); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "catalog: "+err.Error())
	}
	if why := d.links.Stale(catalogName); why != "" {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(d.links.Interval(catalogName).Seconds())))
		return echo.NewHTTPError(http.StatusServiceUnavailable, why)
	}
	src := d.cat.Sources(catalogName)
	src.LinkedFrom = d.links.LinkedFrom(catalogName)
	return c.JSON(http.StatusOK, src)
}

// maxLinkerNotice bounds a LinkerNotice's body: a catalog name and a URL.
const maxLinkerNotice = 8 << 10

// handleLinkerNotice is POST /api/v1/federation/linkers: another directory says it
// links a catalog of this one (catalogapi.LinkerNotice). It is checked with that
// directory before this one lists it; the answer is its status here.
func (d *directory) handleLinkerNotice(c echo.Context) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxLinkerNotice+1))
	switch {
	case err != nil:
		return echo.NewHTTPError(http.StatusBadRequest, "read body: "+err.Error())
	case len(body) > maxLinkerNotice:
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("a linker notice is at most %d bytes", maxLinkerNotice))
	}
	var n catalogapi.LinkerNotice
	if err := jsonstrict.Decode(body, &n); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "linker notice: "+err.Error())
	}
	st, err := d.links.Notice(c.Request().Context(), n)
	switch {
	case err == nil:
		return c.JSON(http.StatusOK, st)
	case errors.Is(err, links.ErrBadNotice):
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	case errors.Is(err, links.ErrNotServed):
		return echo.NewHTTPError(http.StatusNotFound, err.Error())
	case errors.Is(err, links.ErrNotLinked):
		return echo.NewHTTPError(http.StatusUnprocessableEntity, err.Error())
	case errors.Is(err, links.ErrLinkersFull):
		c.Response().Header().Set("Retry-After", "60")
		return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
	return err
}

func newAdminFederationCmd(g *globals) *cobra.Command {
	fed := &cobra.Command{
		Use:   "federation",
		Short: "Show how the directory's federation links, references and origins are doing",
		Long: `The directory's federation (directory.federation in its config): catalogs it serves
from another directory (links), catalogs whose users it sends to other directories
(references), catalogs it pulls from a project's static upstream (origins), and the
directories that link its catalogs (their trackers and web seeds go into its torrents).`,
		Example: `  odi admin federation status --directory https://dist.example.org`,
		Args:    exactArgs(0, "a subcommand"),
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Each link's index version and lag, each referenced directory's health, each origin's last poll",
		Long: `Show GET /api/v1/federation of the directory: for each link, the version of the other
directory's index it follows, whether that index is current, how many of its artifacts
are held here and how many are pending (and for how long), and whether the other
directory lists this one in its torrents; for each reference, each directory's health
and last check; for each origin, its last poll and error; for each directory linking a
catalog of this one, what was taken from it at the last refresh. No key is needed: the
status is public.

--json prints the directory's answer as it sent it.`,
		Example: `  odi admin federation status
  odi admin federation status --json | jq '.links[] | select(.state != "current")'`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, g, flagKeys{"directory": "client.directory", "key": "client.key"})
			if err != nil {
				return err
			}
			c, err := newClient(cfg.Client)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.Call(cmd.Context(), http.MethodGet, "/api/v1/federation", nil, &raw); err != nil {
				return fmt.Errorf("federation status: %w", err)
			}
			if asJSON {
				return writeJSON(g.stdout, raw)
			}
			var st catalogapi.FederationStatus
			if err := json.Unmarshal(raw, &st); err != nil {
				return fmt.Errorf("federation status: %w", err)
			}
			return printFederation(g.stdout, st)
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON instead of tables")
	fed.AddCommand(status)
	return fed
}

// printFederation writes st as four tables; a section with nothing in it says so.
func printFederation(w io.Writer, st catalogapi.FederationStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	when := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Format(time.RFC3339)
	}
	// section prints a section's title and, if it has rows, their header.
	section := func(title string, rows int, header string) bool {
		fmt.Fprintln(tw, title+"\t")
		if rows == 0 {
			fmt.Fprintln(tw, "  none\t")
			return false
		}
		fmt.Fprintln(tw, "  "+header)
		return true
	}
	if section("LINKS", len(st.Links), "CATALOG\tDIRECTORY\tINDEX\tSTATE\tHELD\tPENDING\tLAG\tLAST POLL\tERROR") {
		for _, l := range st.Links {
			why := l.Error
			if l.Stale != "" {
				why = l.Stale
			}
			fmt.Fprintf(tw, "  %s\t%s\tv%d of %s\t%s\t%d\t%d\t%.0fs\t%s\t%s\n", l.Catalog, l.Directory, l.IndexVersion, l.KeyID,
				l.State, l.Artifacts, l.Pending, l.LagSeconds, when(l.LastPoll), why)
			for _, f := range l.Failures {
				fmt.Fprintf(tw, "    not taken: %s\t\n", f)
			}
			if l.NoticeError != "" {
				fmt.Fprintf(tw, "    not listed in %s's torrents: %s\t\n", l.Directory, l.NoticeError)
			}
		}
	}
	if section("LINKED BY", len(st.LinkedBy), "CATALOG\tDIRECTORY\tARTIFACTS\tSINCE\tLAST REFRESH\tERROR") {
		for _, l := range st.LinkedBy {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\n", l.Catalog, l.URL, l.Artifacts, when(l.Since), when(l.LastRefresh), l.Error)
		}
	}
	if section("REFERENCES", len(st.References), "CATALOG\tDIRECTORY\tREGIONS\tHEALTHY\tLAST CHECK\tERROR") {
		for _, r := range st.References {
			for _, d := range r.Directories {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%t\t%s\t%s\n", r.Catalog, d.URL, strings.Join(d.Regions, ","), d.Healthy, when(d.LastCheck), d.Error)
			}
		}
	}
	if section("ORIGINS", len(st.Origins), "CATALOG\tURL\tKEY\tPULLED\tLAST POLL\tNEXT POLL\tERROR") {
		for _, o := range st.Origins {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\t%s\n", o.Catalog, o.URL, o.KeyID, o.Pulled, when(o.LastPoll), when(o.NextPoll), o.Error)
		}
	}
	return tw.Flush()
}
