package originpull

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/netcheck"
)

// DefaultInterval is how often an origin is polled: a conditional GET every 5 minutes
// costs a static server nothing, and a release reaches users within minutes.
const DefaultInterval = 5 * time.Minute

// Config is one origin (directory.federation.origins[i]).
type Config struct {
	// Catalog is the catalog the origin's releases are published into.
	Catalog string `mapstructure:"catalog"`
	// URL is the upstream's base URL: SHA256SUMS, its .minisig and the files are below it.
	URL string `mapstructure:"url"`
	// Key is the project's minisign public key (a .pub file, or its text) that signs
	// SHA256SUMS.
	Key string `mapstructure:"key"`
	// Interval is the time between polls; 0 means DefaultInterval.
	Interval time.Duration `mapstructure:"interval"`
	// RateLimit bounds the download rate in bytes per second, so that a project's
	// small server is not saturated by its directories; 0 means no limit.
	RateLimit bytesize.Size `mapstructure:"rate_limit"`
}

// withDefaults returns c with its empty fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	return c
}

// Validate checks the config's form, with errors naming the key; the URL's address (a
// name resolving to a loopback or private address) is checked by New, which knows
// whether private URLs are allowed.
func (c Config) Validate() error {
	var errs []error
	if err := names.CheckSegment("catalog", c.Catalog); err != nil {
		errs = append(errs, fmt.Errorf("catalog: %w", err))
	}
	if err := netcheck.CheckBaseURL(context.Background(), c.URL, true); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	if c.Key == "" {
		errs = append(errs, errors.New("key: the project's public key (FILE.pub) is required"))
	}
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval: must not be negative, not %s", c.Interval))
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("rate_limit: must not be negative, not %d", c.RateLimit))
	}
	return errors.Join(errs...)
}
