// Package netcheck tells addresses the public internet can route from the ones it must
// not reach through us: loopback, private, shared, link-local, reserved, documentation,
// benchmarking, multicast and broadcast ranges (the IANA IPv4 and IPv6 Special-Purpose
// Address Registries, RFC 6890), and IPv6 forms that carry an IPv4 address (IPv4-mapped
// and IPv4-compatible, RFC 4291; NAT64, RFC 6052; 6to4, RFC 3056), whose embedded address
// is checked in turn. A directory uses it on the addresses it dials for relays and for
// the directories and upstreams it federates with (SSRF): CheckBaseURL when it is given a
// URL, Client's dial-time check on every connection.
package netcheck
