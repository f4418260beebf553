// Package dhtnode is the DHT node every odi role runs: a BEP 5 (Mainline DHT) node, with
// BEP 32's IPv6 extension, built on github.com/anacrolix/dht/v2, made safe to expose.
//
// Its one job is to be the rendezvous point of one odi network: it answers ping, find_node,
// get_peers and announce_peer, keeps the peers announced to it, and lets the role's
// anacrolix client (Node.Server) look peers up and announce through it. What makes it safe:
//
//   - Closed: it bootstraps only from the nodes it is given (Config.Bootstrap, AddNodes)
//     and talks only to them and to those who talk to it; the public mainline routers are
//     used only when Config.Public says so.
//   - A guard on its socket, before anacrolix sees a packet: datagrams over 2 KiB, anything
//     that does not decode as KRPC, queries other than BEP 5's four, and queries beyond a
//     source address's rate (IPv6: its /64) are dropped unanswered. Outgoing bytes to any
//     one address are rate-limited too, so a forged source cannot be flooded.
//   - Bounded memory: the peer store holds at most MaxInfoHashes × MaxPeersPerInfoHash
//     peers, each forgotten PeerTTL after its last announce; anacrolix's routing table is
//     160 k-buckets of 8; the rate tables are bounded (internal/limit).
//   - No amplification: a get_peers reply carries at most MaxValues peers, so a reply is a
//     small multiple of the query that asked for it (measured in the tests).
//   - Tokens as BEP 5 requires: anacrolix issues them per querier IP and checks them on
//     announce_peer.
//
// It deliberately does not do BEP 44 (arbitrary data in the DHT): put and get are dropped,
// so nothing but announced peers is ever stored. Nor BEP 51 (sample_infohashes), BEP 33
// (scrapes) or BEP 42 enforcement (see NoSecurity in node.go).
package dhtnode
