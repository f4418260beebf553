package tracker

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Config is the tracker's part of a directory's configuration.
type Config struct {
	// UDPListen is the BEP 15 listen address; empty means the HTTP listen address's port
	// over UDP. "off" disables the UDP tracker.
	UDPListen string `mapstructure:"udp_listen"`
	// Interval is how often clients should announce; MinInterval the least they must wait.
	// Interval is also demand's window: a host adds to a swarm's demand at most once per
	// window as a leecher and once as a completion, however often it announces.
	Interval    time.Duration `mapstructure:"interval"`
	MinInterval time.Duration `mapstructure:"min_interval"`
	// PeerTTLIntervals is how many intervals a peer stays listed without announcing.
	PeerTTLIntervals int `mapstructure:"peer_ttl_intervals"`
	// DefaultNumWant is how many peers an announce gets when it does not say; MaxNumWant
	// caps what it may ask for (at most 200).
	DefaultNumWant int `mapstructure:"default_numwant"`
	MaxNumWant     int `mapstructure:"max_numwant"`
	// MaxScrape caps the infohashes of one scrape.
	MaxScrape int `mapstructure:"max_scrape"`
	// MaxPeersPerSwarm bounds memory: past it, new peers get peers but are not listed.
	// It bounds the hosts a swarm remembers for demand too.
	MaxPeersPerSwarm int `mapstructure:"max_peers_per_swarm"`
	// MaxPeersPerAddress is how many entries one host (an IPv4 address, an IPv6 /64) may
	// have in a swarm (1..64): a new one past it replaces the host's least recently
	// announced entry, so one address with many ports cannot fill a swarm (an eclipse).
	// Loopback is exempt (see hostOf).
	MaxPeersPerAddress int `mapstructure:"max_peers_per_address"`
	// FullScrape allows /scrape without info_hash to list every swarm.
	FullScrape bool `mapstructure:"full_scrape"`
	// TrustedProxies are CIDRs of reverse proxies whose X-Forwarded-For and ip= are
	// believed; from anyone else, the connection's address is the peer's. The directory's
	// redirector places users (GeoIP) by the same rule.
	TrustedProxies []string `mapstructure:"trusted_proxies"`
	// DemandHalfLife is how fast the demand signal forgets.
	DemandHalfLife time.Duration `mapstructure:"demand_half_life"`
	// FlushInterval is how often counters are written to the database.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Interval:         10 * time.Minute,
		MinInterval:      5 * time.Minute,
		PeerTTLIntervals: 2,
		DefaultNumWant:   50,
		MaxNumWant:       200,
		MaxScrape:        64,
		MaxPeersPerSwarm: 100_000,
		// Two: a client restarted on a new port while its old entry lives, or two users
		// behind one NAT, stay listed; an address takes at most 2 of an answer's 50 peers.
		MaxPeersPerAddress: 2,
		FullScrape:         true,
		TrustedProxies:     []string{},
		DemandHalfLife:     24 * time.Hour,
		FlushInterval:      30 * time.Second,
	}
}

// Validate reports the first setting that cannot work, naming its key.
func (c Config) Validate() error {
	var errs []error
	if c.Interval < time.Second {
		errs = append(errs, fmt.Errorf("interval: must be at least 1s, not %s", c.Interval))
	}
	if c.MinInterval <= 0 || c.MinInterval > c.Interval {
		errs = append(errs, fmt.Errorf("min_interval: must be in (0, interval], not %s", c.MinInterval))
	}
	if c.PeerTTLIntervals < 1 {
		errs = append(errs, fmt.Errorf("peer_ttl_intervals: must be at least 1, not %d", c.PeerTTLIntervals))
	}
	if c.MaxNumWant < 1 || c.MaxNumWant > 200 {
		errs = append(errs, fmt.Errorf("max_numwant: must be 1..200, not %d", c.MaxNumWant))
	}
	if c.DefaultNumWant < 0 || c.DefaultNumWant > c.MaxNumWant {
		errs = append(errs, fmt.Errorf("default_numwant: must be 0..max_numwant, not %d", c.DefaultNumWant))
	}
	if c.MaxScrape < 1 {
		errs = append(errs, fmt.Errorf("max_scrape: must be at least 1, not %d", c.MaxScrape))
	}
	if c.MaxPeersPerSwarm < 1 {
		errs = append(errs, fmt.Errorf("max_peers_per_swarm: must be at least 1, not %d", c.MaxPeersPerSwarm))
	}
	if c.MaxPeersPerAddress < 1 || c.MaxPeersPerAddress > maxPeersPerAddress {
		errs = append(errs, fmt.Errorf("max_peers_per_address: must be 1..%d, not %d", maxPeersPerAddress, c.MaxPeersPerAddress))
	}
	if _, err := c.Proxies(); err != nil {
		errs = append(errs, err)
	}
	if c.DemandHalfLife < time.Minute {
		errs = append(errs, fmt.Errorf("demand_half_life: must be at least 1m, not %s", c.DemandHalfLife))
	}
	if c.FlushInterval < time.Second {
		errs = append(errs, fmt.Errorf("flush_interval: must be at least 1s, not %s", c.FlushInterval))
	}
	return errors.Join(errs...)
}

// Proxies parses TrustedProxies.
func (c Config) Proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies: %q is not a CIDR", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// maxPeersPerAddress bounds MaxPeersPerAddress: a host's entries are walked on every new
// entry and expiry, which must stay O(1).
const maxPeersPerAddress = 64

func (c Config) peerTTL() time.Duration { return time.Duration(c.PeerTTLIntervals) * c.Interval }
