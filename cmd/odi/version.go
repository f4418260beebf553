package main

import "github.com/spf13/cobra"

// versionTemplate is what `odi --version` prints; `odi version` prints the same.
const versionTemplate = "{{.Name}} version {{.Version}}\n"

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print odi's version (the same as odi --version)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			root := cmd.Root()
			printf(g.stdout, "%s version %s\n", root.Name(), root.Version)
			return nil
		},
	}
}
