package catalog

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/opendist/odi/catalog/placement"
	"github.com/opendist/odi/internal/bytesize"
)

// Config is the catalog's part of a directory's configuration.
type Config struct {
	// DataDir holds the database and the origin copy of every artifact.
	DataDir string `mapstructure:"data"`
	// PublicURL is where clients reach this directory, e.g. https://dir.example.org; the
	// torrents' announce and web-seed URLs are built from it.
	PublicURL string `mapstructure:"public_url"`
	// Publishers are publisher keys trusted from the configuration, each "[NAME=]KEY"
	// where KEY is a .pub file or the key's base64 line; NAME defaults to the file's name.
	Publishers []string `mapstructure:"publishers"`
	// AdminKeys are the public keys (files or base64 lines) whose signed requests may
	// manage publishers and expunge artifacts.
	AdminKeys []string `mapstructure:"admin_keys"`
	// MaxArtifactSize bounds one artifact's total bytes.
	MaxArtifactSize bytesize.Size `mapstructure:"max_artifact_size"`
	// MinFreeSpace is disk space an upload must leave free on the data dir's file system.
	MinFreeSpace bytesize.Size `mapstructure:"min_free_space"`
	// MaxUploads bounds uploads in progress at once.
	MaxUploads int `mapstructure:"max_uploads"`
	// UploadTTL is how long an upload may sit idle before it is dropped.
	UploadTTL time.Duration `mapstructure:"upload_ttl"`
	// MaxClockSkew is how far a signed request's date may be from this clock.
	MaxClockSkew time.Duration `mapstructure:"max_clock_skew"`
	// Relays is how relays are admitted and checked.
	Relays RelaysConfig `mapstructure:"relays"`
	// Placement tunes how artifacts are spread over relays.
	Placement PlacementConfig `mapstructure:"placement"`
	// CreatedBy goes into every torrent's "created by" field.
	CreatedBy string `mapstructure:"-"`
	// UDPTracker is the BEP 15 announce URL torrents list after the HTTP one, or "".
	UDPTracker string `mapstructure:"-"`
}

// DefaultConfig returns the defaults; DataDir and PublicURL have none.
func DefaultConfig() Config {
	return Config{
		MaxArtifactSize: 64 << 30,
		MinFreeSpace:    1 << 30,
		MaxUploads:      4,
		UploadTTL:       time.Hour,
		MaxClockSkew:    5 * time.Minute,
		CreatedBy:       "odi",
		Publishers:      []string{},
		AdminKeys:       []string{},
		Relays:          defaultRelaysConfig(),
		Placement:       defaultPlacementConfig(),
	}
}

// PlacementConfig tunes the placement planner (catalog/placement).
type PlacementConfig struct {
	// ReplicaFactor scales the replicas demand earns: an artifact with a share s of all
	// demand gets about ReplicaFactor × s × relays copies, and at least one.
	ReplicaFactor float64 `mapstructure:"replica_factor"`
	// Hysteresis is how much more a new copy must be worth than one a relay holds to
	// replace it (1.25: 25% more), so small changes in demand do not move gigabytes.
	Hysteresis float64 `mapstructure:"hysteresis"`
	// SpareFill fills quota that demand leaves free with more copies, and with artifacts
	// nobody asked for yet: volunteers give their disk to be used.
	SpareFill bool `mapstructure:"spare_fill"`
}

func defaultPlacementConfig() PlacementConfig {
	d := placement.DefaultConfig()
	return PlacementConfig{ReplicaFactor: d.ReplicaFactor, Hysteresis: d.Hysteresis, SpareFill: !d.NoSpareFill}
}

func (c PlacementConfig) planner() placement.Config {
	return placement.Config{ReplicaFactor: c.ReplicaFactor, Hysteresis: c.Hysteresis, NoSpareFill: !c.SpareFill}
}

// Validate reports the first setting that cannot work, naming its key.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data: required (the folder for the catalog and origin copies)"))
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("public_url: %q is not an http(s) base URL", c.PublicURL))
	}
	if c.MaxArtifactSize <= 0 {
		errs = append(errs, fmt.Errorf("max_artifact_size: must be positive, not %d", c.MaxArtifactSize))
	}
	if c.MinFreeSpace < 0 {
		errs = append(errs, fmt.Errorf("min_free_space: must not be negative"))
	}
	if c.MaxUploads < 1 {
		errs = append(errs, fmt.Errorf("max_uploads: must be at least 1, not %d", c.MaxUploads))
	}
	if c.UploadTTL < time.Minute {
		errs = append(errs, fmt.Errorf("upload_ttl: must be at least 1m, not %s", c.UploadTTL))
	}
	if c.MaxClockSkew < time.Second || c.MaxClockSkew > time.Hour {
		errs = append(errs, fmt.Errorf("max_clock_skew: must be between 1s and 1h, not %s", c.MaxClockSkew))
	}
	if err := c.Relays.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Placement.planner().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("placement: %w", err))
	}
	for _, p := range c.Publishers {
		if name, key, ok := strings.Cut(p, "="); ok && (name == "" || key == "") {
			errs = append(errs, fmt.Errorf("publishers: %q is not [NAME=]KEY", p))
		}
	}
	return errors.Join(errs...)
}

// base is the public URL without a trailing slash.
func (c Config) base() string { return strings.TrimRight(c.PublicURL, "/") }
