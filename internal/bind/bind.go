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
// returns the dialer to give the client for peers (Client.AddDialer). For the zero Host
// only the UDP tracker sockets change (see ListenPacket), and the dialer is a plain one.
func (h Host) Torrent(cfg *torrent.ClientConfig) torrent.NetworkDialer {
	cfg.TrackerListenPacket = h.ListenPacket
	d := h.Dialer(&net.Dialer{})
	if h.IsZero() {
		return torrent.NetworkDialer{Network: "tcp", Dialer: d}
	}
	cfg.HTTPDialContext = d.DialContext
	cfg.TrackerDialContext = d.DialContext
	// An address of one family reaches no peer of the other.
	cfg.DisableIPv6, cfg.DisableIPv4 = h.ip.Is4(), h.ip.Is6()
	return torrent.NetworkDialer{Network: "tcp", Dialer: d}
}

// ListenPacket opens a UDP socket of network ("udp", "udp4" or "udp6") on address's port,
// as anacrolix's ClientConfig.TrackerListenPacket and tracker.Announce.ListenPacket ask
// for one (address's host is ignored: they ask for ":0", every address of the machine).
// The socket is bound to h; for the zero Host, or a network of the other family than
// h's, it opens at its first write, bound to the address the system sends from towards
// that destination (see routedPacketConn), so no socket listens on 0.0.0.0 or [::].
func (h Host) ListenPacket(network, address string) (net.PacketConn, error) {
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if h.IsZero() || (network == "udp4" && !h.ip.Is4()) || (network == "udp6" && !h.ip.Is6()) {
		return newRoutedPacketConn(network, port), nil
	}
	var lc net.ListenConfig
	return lc.ListenPacket(context.Background(), network, net.JoinHostPort(h.ip.String(), port))
}
