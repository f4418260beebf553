// Package seeder is the relay daemon a volunteer runs: it registers with one or more
// directories, reports its holdings in signed heartbeats, and reconciles its disk quota to
// the plans they answer with (fetch the most wanted, evict what a plan lets go, delete
// what was expunged). It downloads and seeds over BitTorrent with anacrolix/torrent (BEP 3,
// with BEP 19 web seeds: the origin and other relays), starts each download from the web
// seeds at once with ranged HTTP alongside the client (warm start: internal/warmfill), verifies
// every piece, resumes after restarts without trusting its disk blindly, shapes upload and
// download bandwidth at the connection level, and hands verified files to the web-seed
// handler that serves them. A relay that follows indexer keys (Config.Follow, follow.go)
// carries only what their signed, current indexes list (internal/index).
//
// It keeps its own state in SQLite (what it holds and the torrents' metainfo) and anacrolix
// piece completion in bbolt; both survive kill -9.
package seeder
