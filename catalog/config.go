package catalog

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/opendist/odi/catalog/placement"
	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/manifest"
)

// Config is the catalog's part of a directory's configuration.
type Config struct {
	// DataDir holds the database and the origin copy of every artifact.
	DataDir string `mapstructure:"data"`
	// PublicURL is where clients reach this directory, e.g. https://dir.example.org; the
	// torrents' announce and web-seed URLs are built from it.
	PublicURL string `mapstructure:"public_url"`
	// Publishers are publisher keys trusted from the configuration, each
	// "[NAME[:SCOPE]=]KEY" where KEY is a .pub file or the key's base64 line. NAME
	// defaults to the file's name (a key line needs one). SCOPE is the catalogs the key
	// may publish to, comma-separated, or "*" for any; without one, the key publishes to
	// the catalog NAME only (see parsePublisherRef).
	Publishers []string `mapstructure:"publishers"`
	// AdminKeys are the public keys (files or base64 lines) whose signed requests may
	// manage publishers and expunge artifacts.
	AdminKeys []string `mapstructure:"admin_keys"`
	// Indexers are indexer keys trusted from the configuration (issue 15), each
	// "[NAME=]KEY" where KEY is a .pub file or the key's base64 line (which needs a NAME);
	// NAME defaults to the file's name. The directory hosts the signed index of each.
	Indexers []string `mapstructure:"indexers"`
	// IndexKey is a private key file (odi keygen) the directory signs its own index
	// with, as the indexer OwnIndexer; "" for none.
	IndexKey string `mapstructure:"index_key"`
	// MaxIndexSize bounds an uploaded index document, checked before its body is read:
	// at most index.MaxBytes, which followers refuse beyond. MaxBodyMemory, which the
	// document is read into, bounds it too.
	MaxIndexSize bytesize.Size `mapstructure:"max_index_size"`
	// MaxArtifactSize bounds one artifact's total bytes.
	MaxArtifactSize bytesize.Size `mapstructure:"max_artifact_size"`
	// MinFreeSpace is disk space an upload must leave free on the data dir's file system;
	// below it the directory is not ready (Ready).
	MinFreeSpace bytesize.Size `mapstructure:"min_free_space"`
	// MaxUploads bounds uploads in progress at once, MaxUploadsPerPublisher those of one
	// publisher key, so that one key cannot hold every slot.
	MaxUploads             int `mapstructure:"max_uploads"`
	MaxUploadsPerPublisher int `mapstructure:"max_uploads_per_publisher"`
	// UploadTTL is how long an upload may wait for its next step (its bytes, its commit)
	// before it is dropped with its bytes and its slot freed. Bytes that stall while they
	// stream are the HTTP server's to cut (cmd/odi's limits.stall_timeout).
	UploadTTL time.Duration `mapstructure:"upload_ttl"`
	// MaxBodyMemory bounds the memory that signed request bodies (manifests, heartbeats,
	// admin and relay requests) hold at once, across all requests. A body takes its
	// Content-Length from it (its endpoint's cap when the length is unknown) before a byte
	// is read; one that finds no room within a moment is answered 503 with Retry-After.
	MaxBodyMemory bytesize.Size `mapstructure:"max_body_memory"`
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
	// DHTNode is this directory's DHT node (BEP 5) as clients reach it, host:port; ""
	// without one. Torrents name it first among their nodes.
	DHTNode string `mapstructure:"-"`
	// Foreign names the catalogs whose artifacts come from elsewhere (a federation
	// link, an origin, a reference), each with where: publishers cannot publish to them
	// here, where their artifacts would clash with the source's.
	Foreign map[string]string `mapstructure:"-"`
}

// DefaultConfig returns the defaults; DataDir and PublicURL have none.
func DefaultConfig() Config {
	return Config{
		MaxArtifactSize: 64 << 30,
		MinFreeSpace:    1 << 30,
		MaxUploads:      4,
		// Two: a publisher may start the next publish while one finishes.
		MaxUploadsPerPublisher: 2,
		UploadTTL:              10 * time.Minute,
		// Twice the largest manifest (manifest.MaxBytes), so that two of them fit: the
		// attack this bounds held 16 bodies of 32 MiB for 880 MiB of RSS.
		MaxBodyMemory: 2 * manifest.MaxBytes,
		MaxClockSkew:  5 * time.Minute,
		CreatedBy:     "odi",
		Publishers:    []string{},
		AdminKeys:     []string{},
		Indexers:      []string{},
		MaxIndexSize:  index.MaxBytes,
		Relays:        defaultRelaysConfig(),
		Placement:     defaultPlacementConfig(),
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
	if c.MaxUploadsPerPublisher < 1 || c.MaxUploadsPerPublisher > c.MaxUploads {
		errs = append(errs, fmt.Errorf("max_uploads_per_publisher: must be 1 to max_uploads (%d), not %d", c.MaxUploads, c.MaxUploadsPerPublisher))
	}
	if c.UploadTTL < time.Minute {
		errs = append(errs, fmt.Errorf("upload_ttl: must be at least 1m, not %s", c.UploadTTL))
	}
	if c.MaxClockSkew < time.Second || c.MaxClockSkew > time.Hour {
		errs = append(errs, fmt.Errorf("max_clock_skew: must be between 1s and 1h, not %s", c.MaxClockSkew))
	}
	if c.MaxBodyMemory < manifest.MaxBytes {
		errs = append(errs, fmt.Errorf("max_body_memory: must be at least %s (the largest manifest), not %s", bytesize.Size(manifest.MaxBytes), c.MaxBodyMemory))
	} else if hb := c.Relays.heartbeatBodyMax(); hb > int64(c.MaxBodyMemory) {
		errs = append(errs, fmt.Errorf("relays.max_holdings: %d holdings make heartbeats of up to %s, more than max_body_memory (%s)",
			c.Relays.MaxHoldings, bytesize.Size(hb), c.MaxBodyMemory))
	}
	if err := c.Relays.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Placement.planner().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("placement: %w", err))
	}
	for _, p := range c.Publishers {
		if _, err := parsePublisherRef(p); err != nil {
			errs = append(errs, fmt.Errorf("publishers: %w", err))
		}
	}
	for _, ref := range c.Indexers {
		if _, _, err := parseIndexerRef(ref); err != nil {
			errs = append(errs, fmt.Errorf("indexers: %w", err))
		}
	}
	if c.MaxIndexSize < 1<<10 || c.MaxIndexSize > index.MaxBytes {
		errs = append(errs, fmt.Errorf("max_index_size: must be 1KiB to %s, not %s", bytesize.Size(index.MaxBytes), c.MaxIndexSize))
	}
	return errors.Join(errs...)
}

// indexBodyMax caps an index upload's body: MaxIndexSize, or MaxBodyMemory if less,
// which a larger body would wait for in vain.
func (c Config) indexBodyMax() int64 { return int64(min(c.MaxIndexSize, c.MaxBodyMemory)) }

// base is the public URL without a trailing slash.
func (c Config) base() string { return strings.TrimRight(c.PublicURL, "/") }
