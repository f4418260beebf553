package bind

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/anacrolix/torrent"
)

// Host is a local IP address to bind to; the zero Host binds nothing (the system picks).
type Host struct{ ip netip.Addr }

// Parse returns the Host of s, an IP address, or the zero Host for "".
func Parse(s string) (Host, error) {
	if s == "" {
		return Host{}, nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return Host{}, fmt.Errorf("bind address %q: not an IP address", s)
	}
	return Host{ip.Unmap()}, nil
}

// IsZero reports whether h binds nothing.
func (h Host) IsZero() bool { return !h.ip.IsValid() }

func (h Host) String() string {
	if h.IsZero() {
		return ""
	}
	return h.ip.String()
}

// Dialer returns d, set to dial from h.
func (h Host) Dialer(d *net.Dialer) *net.Dialer {
	if !h.IsZero() {
		d.LocalAddr = &net.TCPAddr{IP: h.ip.AsSlice()}
	}
	return d
}

// Transport sets t to dial from h (over TCP) and returns it.
func (h Host) Transport(t *http.Transport) *http.Transport {
	if !h.IsZero() {
		t.DialContext = h.Dialer(&net.Dialer{Timeout: dialTimeout}).DialContext
	}
	return t
}

// dialTimeout bounds a connection attempt, as net/http's default transport does.
const dialTimeout = 30 * time.Second

// Torrent sets cfg's HTTP (web seeds, metadata), tracker (HTTP and UDP) sockets to h, and
// returns the dialer to give the client for peers (Client.AddDialer). Nothing changes for
// the zero Host but the dialer, a plain one.
func (h Host) Torrent(cfg *torrent.ClientConfig) torrent.NetworkDialer {
	d := h.Dialer(&net.Dialer{})
	if h.IsZero() {
		return torrent.NetworkDialer{Network: "tcp", Dialer: d}
	}
	cfg.HTTPDialContext = d.DialContext
	cfg.TrackerDialContext = d.DialContext
	cfg.TrackerListenPacket = func(network, _ string) (net.PacketConn, error) {
		var lc net.ListenConfig
		return lc.ListenPacket(context.Background(), network, net.JoinHostPort(h.packetHost(network).String(), "0"))
	}
	// An address of one family reaches no peer of the other.
	cfg.DisableIPv6, cfg.DisableIPv4 = h.ip.Is4(), h.ip.Is6()
	return torrent.NetworkDialer{Network: "tcp", Dialer: d}
}

// packetHost is the address to bind a packet socket of network ("udp", "udp4" or
// "udp6") to: h, or for the other family (anacrolix opens a UDP tracker socket of each
// family, and panics if it cannot) that family's loopback when h is loopback, else its
// unspecified address.
func (h Host) packetHost(network string) netip.Addr {
	other := (network == "udp6" && h.ip.Is4()) || (network == "udp4" && h.ip.Is6())
	switch {
	case !other:
		return h.ip
	case network == "udp6" && h.ip.IsLoopback():
		return netip.IPv6Loopback()
	case network == "udp6":
		return netip.IPv6Unspecified()
	case h.ip.IsLoopback():
		return netip.AddrFrom4([4]byte{127, 0, 0, 1})
	default:
		return netip.IPv4Unspecified()
	}
}
