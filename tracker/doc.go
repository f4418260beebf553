// Package tracker is the directory's BitTorrent tracker for the artifacts of its catalog:
// announce and scrape over HTTP (BEP 3, 7, 23, 48) and UDP (BEP 15), swarms in memory,
// and per-infohash popularity counters handed to the rest of the directory through a
// small interface.
package tracker
