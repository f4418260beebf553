package dhtnode

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Config is a node's settings.
type Config struct {
	// Listen is the UDP host:port the node binds; port 0 lets the system pick. The host is
	// an IP address, bound exactly; empty, 0.0.0.0 or :: binds every interface, IPv4 and
	// IPv6.
	Listen string `mapstructure:"listen"`
	// Bootstrap is host:port of this network's nodes to start from (a directory's node,
	// relays' nodes). They are the only nodes the node starts from.
	Bootstrap []string `mapstructure:"bootstrap"`
	// Public also bootstraps from the public mainline routers
	// (dht.DefaultGlobalBootstrapHostPorts): an operator's explicit choice, never in tests.
	Public bool `mapstructure:"public"`
	// QueryRate is the queries per second accepted from one source address (IPv6: its /64),
	// QueryBurst at once; beyond, they are dropped unanswered.
	QueryRate  float64 `mapstructure:"query_rate"`
	QueryBurst int     `mapstructure:"query_burst"`
	// MaxInfoHashes bounds the infohashes announced peers are kept for (then new ones are
	// not stored), MaxPeersPerInfoHash the peers each (then the stalest goes).
	MaxInfoHashes       int `mapstructure:"max_infohashes"`
	MaxPeersPerInfoHash int `mapstructure:"max_peers_per_infohash"`
	// PeerTTL is how long an announced peer is kept without announcing again.
	PeerTTL time.Duration `mapstructure:"peer_ttl"`
	// MaxValues bounds the peers in one get_peers reply.
	MaxValues int `mapstructure:"max_values"`
	// SendRate bounds the packets per second the node sends in all, as bursts of as many:
	// replies beyond it are dropped, its own queries wait. (anacrolix's default, 25, suits a
	// client; a directory answers every fetch's lookups.)
	SendRate int `mapstructure:"send_rate"`
}

// DefaultConfig is a closed node on loopback: no bootstrap nodes, no public routers.
func DefaultConfig() Config {
	return Config{
		Listen:              "127.0.0.1:0",
		QueryRate:           20,
		QueryBurst:          40,
		MaxInfoHashes:       4096,
		MaxPeersPerInfoHash: 64,
		PeerTTL:             30 * time.Minute,
		MaxValues:           32,
		SendRate:            500,
	}
}

// maxValuesLimit keeps a get_peers reply within one 1500-byte Ethernet frame even when every
// value is an IPv6 peer: 64 × 21 bytes ("18:" and 18) plus about 110 bytes of id, token and
// framing is about 1450 bytes (measured in TestReplySizes), under maxPacket and under the
// 1452 bytes of UDP payload an IPv6 packet carries in 1500 bytes.
const maxValuesLimit = 64

// minPeerTTL: BEP 5 peers announce again every few minutes at most (anacrolix/torrent: every
// 5 min), so a shorter TTL would forget live peers between announces.
const minPeerTTL = time.Minute

// Validate reports every invalid field by its configuration key.
func (c Config) Validate() error {
	var errs []error
	if _, err := parseListen(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %w", err))
	}
	for i, hp := range c.Bootstrap {
		if err := checkHostPort(hp); err != nil {
			errs = append(errs, fmt.Errorf("bootstrap[%d]: %w", i, err))
		}
	}
	if !(c.QueryRate > 0) || math.IsInf(c.QueryRate, 0) {
		errs = append(errs, fmt.Errorf("query_rate: must be a positive number of queries per second, not %g", c.QueryRate))
	}
	if c.QueryBurst < 1 {
		errs = append(errs, fmt.Errorf("query_burst: must be at least 1, not %d", c.QueryBurst))
	}
	if c.MaxInfoHashes < 1 {
		errs = append(errs, fmt.Errorf("max_infohashes: must be at least 1, not %d", c.MaxInfoHashes))
	}
	if c.MaxPeersPerInfoHash < 1 {
		errs = append(errs, fmt.Errorf("max_peers_per_infohash: must be at least 1, not %d", c.MaxPeersPerInfoHash))
	}
	if c.PeerTTL < minPeerTTL {
		errs = append(errs, fmt.Errorf("peer_ttl: must be at least %s, not %s", minPeerTTL, c.PeerTTL))
	}
	if c.MaxValues < 1 || c.MaxValues > maxValuesLimit {
		errs = append(errs, fmt.Errorf("max_values: must be 1 to %d, not %d", maxValuesLimit, c.MaxValues))
	}
	if c.SendRate < 1 {
		errs = append(errs, fmt.Errorf("send_rate: must be at least 1 packet per second, not %d", c.SendRate))
	}
	return errors.Join(errs...)
}

// parseListen returns Listen's address; an empty host is the unspecified address (every
// interface) and its family is then the zero Addr.
func parseListen(s string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not host:port: %w", s, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: port must be 0 to 65535", s)
	}
	if host == "" {
		return netip.AddrPortFrom(netip.Addr{}, uint16(p)), nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%q: host must be an IP address (or empty for every interface)", s)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(p)), nil
}

// checkHostPort checks a node's host:port: a host (name or IP) and a port 1 to 65535.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", s, err)
	}
	if host == "" {
		return fmt.Errorf("%q: host is empty", s)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("%q: port must be 1 to 65535", s)
	}
	return nil
}
