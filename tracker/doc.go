// Package tracker is the directory's BitTorrent tracker, for the artifacts of its catalog
// only: announce and scrape over HTTP (BEP 3, with BEP 23 compact peers, BEP 7 peers6 and
// BEP 48 scrape) and over UDP (BEP 15), swarms in memory, and per-infohash popularity
// counters (seeders, leechers, completed, decayed demand) that the rest of the directory
// reads through Stats and that survive restarts through a CounterStore, and the sum of the
// download bytes clients report in their announces (ReportedDownloaded: their own word,
// at most one copy of the artifact per announce).
//
// The request parsers (announce query, UDP packets) are pure functions, fuzzed. Swarms
// live in 256 shards keyed by the infohash's first byte, each with its own lock, so
// announces for different swarms rarely contend. Peers are keyed by the address the
// request came from, so no client can remove or impersonate another. What one host (an
// IPv4 address, an IPv6 /64) can weigh is bounded: a few entries in a swarm
// (Config.MaxPeersPerAddress) and one unit of demand per interval, however many ports,
// peer ids and announces it uses. No UDP answer to a sender without a valid connection
// id is longer than its request.
package tracker
