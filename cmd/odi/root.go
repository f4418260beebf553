package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time (-ldflags "-X main.version=..."); otherwise it comes from
// the module's build info.
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// run is the whole program: it builds the command tree and executes args.
func run(ctx context.Context, args []string) error {
	root := newRootCmd(os.Stdout, os.Stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	return explain(cmd, err)
}

// globals are the flags every command takes.
type globals struct {
	configFile string
	stdout     io.Writer
	stderr     io.Writer
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "odi",
		Short: "Distribute large artifacts through BitTorrent swarms backed by HTTP relays",
		Long: `odi distributes large open-source artifacts (ISOs, release tarballs, package sets).

A directory is a catalog and a BitTorrent tracker: it wraps every artifact in a torrent
whose web seeds are the HTTP relays holding it, plus its own origin copy. Publishers
upload signed artifacts to it; users fetch them with odi, any torrent client, or curl.

Configuration comes from defaults, then a YAML file (--config), then ODI_* environment
variables (ODI_DIRECTORY_DATA for directory.data), then flags.

Try it: odi demo`,
		Version:       buildVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
		// Bare "odi" shows help rather than failing; "odi bogus" is a usage error.
		Args: exactArgs(0, "a command"),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetVersionTemplate(versionTemplate)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.configFile, "config", "", "YAML config file (see config.example.yaml)")
	root.PersistentFlags().String("log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().String("log-format", "text", "log format: text or json")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%w", err) })
	root.AddCommand(
		newKeygenCmd(g),
		newDirectoryCmd(g),
		newRelayCmd(g),
		newPublishCmd(g),
		newAdminCmd(g),
		newDemoCmd(g),
		newFetchCmd(g),
		newIndexCmd(g),
		newVersionCmd(g),
		newGenDocsCmd(g),
	)
	return root
}

// exactArgs is cobra.ExactArgs with a usage exit code and the expected arguments named.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			if n == 0 && cmd.HasAvailableSubCommands() {
				return unknownCommand(cmd, args[0])
			}
			return usageError("%s takes %s (got %d argument%s)", cmd.CommandPath(), what, len(args), plural(len(args)))
		}
		return nil
	}
}

// unknownCommand is the usage error for "odi admin bogus", with cobra's suggestions
// ("did you mean ...?") for a typo.
func unknownCommand(cmd *cobra.Command, name string) error {
	hint := ""
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, which only its own lookup sets
	}
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		hint = "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError("unknown command %q for %q%s", name, cmd.CommandPath(), hint)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// newLogger builds the slog logger the config asks for, writing to w.
func newLogger(cfg LogConfig, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil {
		return nil, usageError("log.level: %q is not debug, info, warn or error", cfg.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(cfg.Format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError("log.format: %q is not text or json", cfg.Format)
}

// requireFlag fails with a usage error naming a missing required setting.
func requireSetting(value, flag, key string) error {
	if value == "" {
		return usageError("--%s is required (or %s in the config file, or ODI_%s)", flag, key, envName(key))
	}
	return nil
}

func envName(key string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

func printf(w io.Writer, format string, args ...any) { fmt.Fprintf(w, format, args...) }
