package seeder

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/dhtnode"
	"github.com/opendist/odi/internal/sign"
)

// Config is a relay's configuration.
type Config struct {
	// Directories are the directories' base URLs the relay registers with.
	Directories []string `mapstructure:"directories"`
	// PublicURL is where users and directories reach this relay's HTTP server.
	PublicURL string `mapstructure:"public_url"`
	// BTListen is the BitTorrent TCP listen address.
	BTListen string `mapstructure:"bt_listen"`
	// DataDir holds the relay's state and the artifacts' bytes.
	DataDir string `mapstructure:"data"`
	// Quota bounds the bytes of artifacts held (reserved in full before a fetch starts).
	Quota bytesize.Size `mapstructure:"quota"`
	// UploadLimit and DownloadLimit are bytes per second; 0 means unlimited.
	UploadLimit   bytesize.Size `mapstructure:"upload_limit"`
	DownloadLimit bytesize.Size `mapstructure:"download_limit"`
	// Catalogs limits the relay to these catalogs; empty carries any.
	Catalogs []string `mapstructure:"catalogs"`
	// KeyFile is the relay's private key (odi keygen).
	KeyFile string `mapstructure:"key"`
	// MinFreeSpace is disk space the relay keeps free, whatever the quota says, but at
	// most a tenth of the disk (floorShare), so that a small disk stays usable: the
	// relay reserves no artifact beyond the free space less this, and reports itself
	// degraded while its plans ask for more (space.go).
	MinFreeSpace bytesize.Size `mapstructure:"min_free_space"`
	// RetryMax caps the backoff between attempts to reach a directory.
	RetryMax time.Duration `mapstructure:"retry_max"`
	// Follow are indexer keys (.pub file paths or key lines) whose signed indexes decide
	// what the relay carries: only artifacts a current index of one of them lists as
	// published, with the infohash it names (follow.go). Empty: whatever the directories'
	// plans say, trusting the directories.
	Follow []string `mapstructure:"follow"`
	// FollowInterval is how often the followed keys' indexes are polled.
	FollowInterval time.Duration `mapstructure:"follow_interval"`
	// DHT is the relay's DHT node (BEP 5). Its listen address is by default the
	// BitTorrent listener's, over UDP; "off" turns the node off. It starts from the
	// directories' nodes and those of bootstrap, never the public routers unless public.
	DHT dhtnode.Config `mapstructure:"dht"`
}

// DefaultConfig returns the defaults; Directories, PublicURL, DataDir and KeyFile have none.
func DefaultConfig() Config {
	return Config{
		Directories:  []string{},
		BTListen:     ":6881",
		Quota:        10 << 30,
		Catalogs:     []string{},
		MinFreeSpace: 1 << 30,
		RetryMax:     5 * time.Minute,
		Follow:       []string{},
		// A minute: a conditional GET answered 304 costs the directory little, and an
		// index the indexer expunged from is acted on within a minute and a heartbeat.
		FollowInterval: time.Minute,
		DHT:            dhtDefaults(),
	}
}

// dhtDefaults are dhtnode's, listening where the BitTorrent listener does.
func dhtDefaults() dhtnode.Config {
	c := dhtnode.DefaultConfig()
	c.Listen = ""
	return c
}

// Validate reports the settings that cannot work, naming their keys.
func (c Config) Validate() error {
	var errs []error
	if len(c.Directories) == 0 {
		errs = append(errs, errors.New("directories: at least one directory URL is required"))
	}
	for _, d := range c.Directories {
		if u, err := url.Parse(d); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("directories: %q is not an http(s) URL", d))
		}
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("public_url: %q is not an http(s) base URL", c.PublicURL))
	}
	if _, _, err := net.SplitHostPort(c.BTListen); err != nil {
		errs = append(errs, fmt.Errorf("bt_listen: %q is not host:port", c.BTListen))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data: required"))
	}
	if c.Quota <= 0 {
		errs = append(errs, errors.New("quota: must be positive"))
	}
	if c.UploadLimit < 0 || c.DownloadLimit < 0 || c.MinFreeSpace < 0 {
		errs = append(errs, errors.New("upload_limit, download_limit, min_free_space: must not be negative"))
	}
	if c.KeyFile == "" {
		errs = append(errs, errors.New("key: required (odi keygen --out FILE makes one)"))
	}
	if c.RetryMax < time.Second {
		errs = append(errs, errors.New("retry_max: must be at least 1s"))
	}
	if _, err := c.followKeys(); err != nil {
		errs = append(errs, err)
	}
	if c.FollowInterval < time.Second {
		errs = append(errs, errors.New("follow_interval: must be at least 1s"))
	}
	if c.DHT.Listen != DHTOff {
		dht := c.DHT
		if dht.Listen == "" {
			dht.Listen = c.BTListen // the default: its address is checked above
		}
		if err := dht.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("dht.%w", err))
		}
	}
	return errors.Join(errs...)
}

// followKeys parses Follow, naming the entry that is not a public key.
func (c Config) followKeys() ([]minisign.PublicKey, error) {
	keys := make([]minisign.PublicKey, 0, len(c.Follow))
	var errs []error
	for i, k := range c.Follow {
		pub, err := sign.ParsePublicKey(k)
		if err != nil {
			errs = append(errs, fmt.Errorf("follow[%d]: %w", i, err))
			continue
		}
		keys = append(keys, pub)
	}
	return keys, errors.Join(errs...)
}
