// Package limit bounds what one client address, or all of them together, can take from a
// server that faces the internet: connections (a cap in all and per address, IPv6 by /64),
// time (an answer or a request body that moves no byte for a while is cut off, so stalled
// sockets give their file descriptors back; idle ones go at the server's idle timeout), and requests (a token bucket per
// address, golang.org/x/time/rate, answered 429 with Retry-After, RFC 6585 section 4, and an
// RFC 9457 problem body when empty).
//
// The directory and relays put their listeners and handlers behind it; which address a
// request counts against (the peer, or X-Forwarded-For behind a trusted proxy) is the
// caller's choice.
package limit
