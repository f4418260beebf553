package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/sign"
)

// newClient checks the directory URL and loads the signing key (if one is configured).
func newClient(cfg ClientConfig) (*apiclient.Client, error) {
	if err := requireSetting(cfg.Directory, "directory", "client.directory"); err != nil {
		return nil, err
	}
	var signer *sign.Signer
	if cfg.Key != "" {
		key, err := sign.LoadPrivateKey(cfg.Key)
		if err != nil {
			return nil, err
		}
		signer = sign.NewSigner(key, nil)
	}
	c, err := apiclient.New(cfg.Directory, signer)
	if err != nil {
		return nil, usageError("--directory: %w", err)
	}
	c.Waiting = func(e *apiclient.Error) {
		fmt.Fprintf(os.Stderr, "odi: %s; trying again in %s\n", e.Detail, e.RetryAfter)
	}
	return c, nil
}

// requireKey fails with a usage error when a command that signs has no key.
func requireKey(c *apiclient.Client) error {
	if c.Signer == nil {
		return requireSetting("", "key", "client.key")
	}
	return nil
}

// clientError gives an error of package client its exit code: 3 when bytes did not
// match their signed digests, or no trusted index vouched for them.
func clientError(err error) error {
	if errors.Is(err, client.ErrChecksum) || errors.Is(err, client.ErrUntrusted) {
		return verifyError(err)
	}
	return err
}
