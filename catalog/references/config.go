package references

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/netcheck"
)

// ErrInvalidConfig is returned (wrapped, naming the key) by Validate and New for a
// reference that cannot be served.
var ErrInvalidConfig = errors.New("invalid reference")

// Defaults of a reference's checks: a dead directory is out of rotation within
// interval + timeout (5 s) of its death, and back within two intervals (6 s) of its
// return, both inside the 10 s issue 16 asks for.
const (
	DefaultCheckInterval = 3 * time.Second
	DefaultCheckTimeout  = 2 * time.Second
)

// RegionDefault marks a directory that takes users whose country and continent no other
// healthy directory names.
const RegionDefault = "default"

// continents are the codes internal/geo returns (GeoIP's continent codes). They are read
// as continents wherever they appear in regions, so Afghanistan (AF), American Samoa (AS),
// Namibia (NA) and Saudi Arabia (SA) can be reached only through their continent.
var continents = map[string]bool{"AF": true, "AN": true, "AS": true, "EU": true, "NA": true, "OC": true, "SA": true}

// Config is one entry of directory.federation.references: Catalog is served by
// Directories, and this directory sends its users on to them.
type Config struct {
	Catalog     string      `mapstructure:"catalog"`
	Directories []Directory `mapstructure:"directories"`
	// CheckInterval is how often each directory is checked; 0 for DefaultCheckInterval.
	CheckInterval time.Duration `mapstructure:"check_interval"`
	// CheckTimeout bounds one check, index fetches included; 0 for DefaultCheckTimeout,
	// or CheckInterval when that is shorter.
	CheckTimeout time.Duration `mapstructure:"check_timeout"`
}

// Directory is a directory serving the catalog.
type Directory struct {
	// URL is the directory's public base URL; requests keep their path and query.
	URL string `mapstructure:"url"`
	// Regions are the users it takes first: ISO 3166-1 alpha-2 country codes ("DE"),
	// continent codes ("EU"), or "default".
	Regions []string `mapstructure:"regions"`
	// IndexKey, if set, is the public key (FILE.pub or the key itself) whose signed index
	// the directory must serve, current and listing the catalog, to be healthy.
	IndexKey string `mapstructure:"index_key"`
}

// withDefaults fills the zero durations.
func (c Config) withDefaults() Config {
	if c.CheckInterval == 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = min(DefaultCheckTimeout, c.CheckInterval)
	}
	return c
}

// Validate checks what can be checked without the network: names, URL shapes, regions
// and durations. New checks the addresses the URLs resolve to and reads the keys.
func (c Config) Validate() error {
	var errs []error
	if err := names.CheckSegment("catalog", c.Catalog); err != nil {
		errs = append(errs, fmt.Errorf("%w: catalog: %w", ErrInvalidConfig, err))
	}
	if len(c.Directories) == 0 {
		errs = append(errs, fmt.Errorf("%w: directories: none given; a reference needs at least one", ErrInvalidConfig))
	}
	if c.CheckInterval < 0 || c.CheckTimeout < 0 {
		errs = append(errs, fmt.Errorf("%w: check_interval and check_timeout must not be negative", ErrInvalidConfig))
	} else if d := c.withDefaults(); d.CheckTimeout > d.CheckInterval {
		errs = append(errs, fmt.Errorf("%w: check_timeout %s is longer than check_interval %s", ErrInvalidConfig, d.CheckTimeout, d.CheckInterval))
	}
	seen := map[string]bool{}
	for i, d := range c.Directories {
		// The shape only: with private addresses allowed, CheckBaseURL resolves nothing.
		if err := netcheck.CheckBaseURL(context.Background(), d.URL, true); err != nil {
			errs = append(errs, fmt.Errorf("%w: directories[%d].url: %w", ErrInvalidConfig, i, err))
		}
		u := baseURL(d.URL)
		if seen[u] {
			errs = append(errs, fmt.Errorf("%w: directories[%d].url: %s is listed twice", ErrInvalidConfig, i, u))
		}
		seen[u] = true
		for _, r := range d.Regions {
			if _, _, err := parseRegion(r); err != nil {
				errs = append(errs, fmt.Errorf("%w: directories[%d].regions: %w", ErrInvalidConfig, i, err))
			}
		}
	}
	return errors.Join(errs...)
}

// baseURL is u without its trailing slashes: a request's path is appended to it.
func baseURL(u string) string { return strings.TrimRight(u, "/") }

// regionKind is what a region code names.
type regionKind int

const (
	country regionKind = iota
	continent
	fallback // "default"
)

// parseRegion reads a region code, case-insensitively, and returns it in its canonical
// form (upper-case codes, "default").
func parseRegion(r string) (string, regionKind, error) {
	if strings.EqualFold(r, RegionDefault) {
		return RegionDefault, fallback, nil
	}
	up := strings.ToUpper(r)
	if continents[up] {
		return up, continent, nil
	}
	if len(up) == 2 {
		if reg, err := language.ParseRegion(up); err == nil && reg.IsCountry() && reg.String() == up {
			return up, country, nil
		}
	}
	return "", 0, fmt.Errorf("%q is not an ISO 3166-1 alpha-2 country code, a continent code (AF AN AS EU NA OC SA) or %q", r, RegionDefault)
}
