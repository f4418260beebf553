// Package links makes a directory serve a catalog of another directory as its own: a
// federation link (issue 16). For each link it follows the other directory's signed index
// of that catalog (internal/follow: no rollback, no equivocation, expiry), downloads each
// artifact the index lists as published over BitTorrent (BEP 3) and web seeds (BEP 19),
// and hands the verified files with the other directory's info dict to the catalog,
// which hashes them again and publishes them under the same infohash: one swarm across
// both directories. An expunge in the index is carried out here at the next poll. The
// trackers and web seeds the other directory lists for an artifact are kept, so that
// this directory's torrents list both (BEP 12 announce-list tiers, BEP 19 url-list).
//
// While no current index of the link's key is held (it expired, or the directory has
// never served one), the link imports and expunges nothing and reports the catalog
// stale, with why; its artifacts are not withdrawn by this package (see Stale).
package links
