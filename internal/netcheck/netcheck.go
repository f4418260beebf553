package netcheck

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// ErrNotPublic is returned (wrapped, with the range and its reason) for an address that
// is not a public unicast address.
var ErrNotPublic = errors.New("not a public address")

type special struct {
	prefix netip.Prefix
	why    string
}

func sp(prefix, why string) special { return special{netip.MustParsePrefix(prefix), why} }

// refused4 and refused6 are the ranges no relay may be reached at: the registries'
// ranges that are not globally reachable, and all of 2001::/23, whose few reachable
// blocks (AMT, AS112) hold no relay.
var refused4 = []special{
	sp("0.0.0.0/8", "\"this network\", RFC 791"),
	sp("10.0.0.0/8", "private, RFC 1918"),
	sp("100.64.0.0/10", "shared address space (carrier-grade NAT), RFC 6598"),
	sp("127.0.0.0/8", "loopback, RFC 1122"),
	sp("169.254.0.0/16", "link-local, RFC 3927"),
	sp("172.16.0.0/12", "private, RFC 1918"),
	sp("192.0.0.0/24", "IETF protocol assignments, RFC 6890"),
	sp("192.0.2.0/24", "documentation (TEST-NET-1), RFC 5737"),
	sp("192.88.99.0/24", "6to4 relay anycast, RFC 7526"),
	sp("192.168.0.0/16", "private, RFC 1918"),
	sp("198.18.0.0/15", "benchmarking, RFC 2544"),
	sp("198.51.100.0/24", "documentation (TEST-NET-2), RFC 5737"),
	sp("203.0.113.0/24", "documentation (TEST-NET-3), RFC 5737"),
	sp("224.0.0.0/4", "multicast, RFC 5771"),
	sp("240.0.0.0/4", "reserved, RFC 1112 (255.255.255.255 is broadcast, RFC 919)"),
}

var refused6 = []special{
	sp("::/96", "IPv4-compatible (deprecated), RFC 4291"), // also :: and ::1
	sp("64:ff9b:1::/48", "local-use IPv4/IPv6 translation, RFC 8215"),
	sp("100::/64", "discard-only, RFC 6666"),
	sp("2001::/23", "IETF protocol assignments (Teredo, ORCHID...), RFC 2928"),
	sp("2001:db8::/32", "documentation, RFC 3849"),
	sp("3fff::/20", "documentation, RFC 9637"),
	sp("5f00::/16", "segment routing SIDs, RFC 9602"),
	sp("fc00::/7", "unique local, RFC 4193"),
	sp("fe80::/10", "link-local, RFC 4291"),
	sp("fec0::/10", "site-local (deprecated), RFC 3879"),
	sp("ff00::/8", "multicast, RFC 4291"),
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Check returns nil for a public unicast address, and an ErrNotPublic naming the range
// otherwise. IPv4-mapped addresses are checked as IPv4; NAT64 and 6to4 addresses by the
// IPv4 address they embed (the one a packet to them ends up at).
func Check(a netip.Addr) error {
	if !a.IsValid() {
		return fmt.Errorf("invalid address: %w", ErrNotPublic)
	}
	a = a.WithZone("")
	if a.Is4In6() {
		return check4(a.Unmap(), a)
	}
	if a.Is4() {
		return check4(a, a)
	}
	for _, s := range refused6 {
		if s.prefix.Contains(a) {
			return fmt.Errorf("%s is in %s, %s: %w", a, s.prefix, s.why, ErrNotPublic)
		}
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return check4(netip.AddrFrom4([4]byte(b[12:16])), a)
	case sixToFour.Contains(a):
		return check4(netip.AddrFrom4([4]byte(b[2:6])), a)
	}
	return nil
}

// check4 checks v4, the address of orig or the IPv4 address it embeds.
func check4(v4, orig netip.Addr) error {
	for _, s := range refused4 {
		if s.prefix.Contains(v4) {
			if v4 != orig {
				return fmt.Errorf("%s embeds %s, in %s, %s: %w", orig, v4, s.prefix, s.why, ErrNotPublic)
			}
			return fmt.Errorf("%s is in %s, %s: %w", v4, s.prefix, s.why, ErrNotPublic)
		}
	}
	return nil
}

// Public reports whether Check accepts a.
func Public(a netip.Addr) bool { return Check(a) == nil }

// Control is a net.Dialer Control function that refuses to connect to an address Check
// refuses. It sees the address actually dialled, after name resolution, so a host name
// that resolves to a public address when checked and to a private one when dialled
// (DNS rebinding) is still refused.
func Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to dial %q: %w", address, ErrNotPublic)
	}
	if err := Check(ap.Addr()); err != nil {
		return fmt.Errorf("refusing to dial %s: %w", address, err)
	}
	return nil
}
