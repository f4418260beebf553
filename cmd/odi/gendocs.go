package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// newGenDocsCmd writes what `make install` puts beside the binary. It is hidden because
// only packagers want it, and it reads the command tree it runs in, so pages and
// completions cannot drift from the binary they ship with.
func newGenDocsCmd(g *globals) *cobra.Command {
	var manDir, completionsDir string
	cmd := &cobra.Command{
		Use:    "gen-docs --man DIR --completions DIR",
		Short:  "Write man pages and bash, zsh and fish completions for the whole command tree",
		Hidden: true,
		Args:   exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if manDir == "" && completionsDir == "" {
				return usageError("gen-docs needs --man DIR, --completions DIR or both")
			}
			root := cmd.Root()
			if completionsDir != "" {
				if err := writeCompletions(root, completionsDir); err != nil {
					return err
				}
				printf(g.stdout, "completions in %s\n", completionsDir)
			}
			// Last: writing the pages escapes the tree's help text.
			if manDir != "" {
				date, err := manDate(os.Getenv("SOURCE_DATE_EPOCH"))
				if err != nil {
					return err
				}
				if err := writeManPages(root, manDir, date); err != nil {
					return err
				}
				printf(g.stdout, "man pages in %s\n", manDir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&manDir, "man", "", "directory for the section 1 man pages (odi.1, odi-fetch.1, ...)")
	cmd.Flags().StringVar(&completionsDir, "completions", "", "directory for odi.bash, _odi (zsh) and odi.fish")
	return cmd
}

// manDate is the date man pages carry: SOURCE_DATE_EPOCH's when set
// (https://reproducible-builds.org/specs/source-date-epoch/), in UTC so that the same
// commit gives the same pages in every time zone; otherwise today's.
func manDate(epoch string) (time.Time, error) {
	if epoch == "" {
		return time.Now().UTC(), nil
	}
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return time.Time{}, usageError("SOURCE_DATE_EPOCH: %q is not a count of seconds", epoch)
	}
	return time.Unix(secs, 0).UTC(), nil
}

func writeManPages(root *cobra.Command, dir string, date time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create man directory: %w", err)
	}
	header := &doc.GenManHeader{
		Section: "1",
		Date:    &date,
		Source:  "odi " + buildVersion(),
		Manual:  "User Commands", // section 1's title in man-pages(7)
	}
	escapeForMarkdown(root, map[*pflag.Flag]bool{})
	if err := doc.GenManTree(root, header, dir); err != nil {
		return fmt.Errorf("write man pages: %w", err)
	}
	return nil
}

// markdownEscaper backslash-escapes every character Markdown may read as syntax (the
// escapable set of blackfriday, which cobra's man pages go through).
var markdownEscaper = func() *strings.Replacer {
	var pairs []string
	for _, c := range "\\`*_{}[]()#+-.!:|&<>~" {
		pairs = append(pairs, string(c), `\`+string(c))
	}
	return strings.NewReplacer(pairs...)
}()

// escapeForMarkdown makes the help text of cmd and its descendants literal Markdown:
// cobra renders man pages from Markdown, but our help is plain text for a terminal, where
// DIR/<root> is a placeholder and not an HTML tag to drop. It changes the tree in place,
// which only a process that exits after writing the pages may do; done marks the flags
// already escaped, since inherited flags are shared by every command below.
func escapeForMarkdown(cmd *cobra.Command, done map[*pflag.Flag]bool) {
	cmd.Short = escapeMarkdown(cmd.Short)
	cmd.Long = escapeMarkdown(cmd.Long)
	escapeFlags := func(f *pflag.Flag) {
		if !done[f] {
			f.Usage = escapeMarkdown(f.Usage)
			done[f] = true
		}
	}
	cmd.LocalFlags().VisitAll(escapeFlags)
	cmd.InheritedFlags().VisitAll(escapeFlags)
	for _, c := range cmd.Commands() {
		escapeForMarkdown(c, done)
	}
}

// escapeMarkdown escapes s line by line, except indented lines: Markdown shows those as
// code, verbatim, backslashes included (cobra's completion help has its commands there).
func escapeMarkdown(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "\t") && !strings.HasPrefix(l, "    ") {
			lines[i] = markdownEscaper.Replace(l)
		}
	}
	return strings.Join(lines, "\n")
}

// writeCompletions writes the scripts `odi completion SHELL` prints, with descriptions
// as there, under the names the shells' vendor directories expect.
func writeCompletions(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create completions directory: %w", err)
	}
	for _, c := range []struct {
		name string
		gen  func(io.Writer) error
	}{
		{"odi.bash", func(w io.Writer) error { return root.GenBashCompletionV2(w, true) }},
		{"_odi", root.GenZshCompletion},
		{"odi.fish", func(w io.Writer) error { return root.GenFishCompletion(w, true) }},
	} {
		if err := writeGenerated(filepath.Join(dir, c.name), c.gen); err != nil {
			return fmt.Errorf("write %s completion: %w", c.name, err)
		}
	}
	return nil
}

func writeGenerated(path string, gen func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := gen(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
