package main

import (
	"github.com/spf13/cobra"

	"github.com/opendist/odi/internal/sign"
)

func newKeygenCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen --out KEY",
		Short: "Make an ed25519 key pair for a publisher, relay or admin",
		Long: `Make an ed25519 key pair in minisign's format: KEY (private, mode 0600,
unencrypted so daemons can use it) and KEY.pub (public, to give to a directory's operator).

Publishers sign their uploads with it, relays their registrations and heartbeats, admins
their requests. odi never overwrites an existing key.`,
		Example: `  odi keygen --out ~/.config/odi/publisher.key
  odi admin publishers add debian ~/.config/odi/publisher.key.pub`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError("--out KEY is required")
			}
			pub, err := sign.GenerateKeyFiles(out)
			if err != nil {
				return err
			}
			printf(g.stdout, "key id      %s\nprivate key %s\npublic key  %s.pub\n", sign.KeyID(pub.ID()), out, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "path of the private key; the public key goes to PATH.pub")
	return cmd
}
