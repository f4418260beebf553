package limit

import (
	"net"
	"net/netip"
)

// AddrKey is what a client address counts as: an IPv4 address (IPv4-mapped IPv6 unmapped)
// or an IPv6 /64, the block one host or home is given, so that a host cannot multiply
// itself by changing the low bits. The zero Addr stays zero.
func AddrKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return p.Addr()
	}
	return a
}

// connAddr is a connection's remote IP, unmapped; zero if it has none (a Unix socket:
// no per-address cap applies).
func connAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
