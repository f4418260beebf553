// Package seeder is the relay daemon: an anacrolix/torrent client that registers with
// directories, reconciles its disk quota to their plans (fetch, keep, drop, expunge),
// seeds over BitTorrent, and hands verified files to the web-seed handler (BEP 19).
package seeder
