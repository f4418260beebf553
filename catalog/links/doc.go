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
// The other way round, a linking directory tells the other one at each poll that it
// links the catalog (a LinkerNotice). That one asks the linking directory itself
// whether it does (its sources name it), and then lists the linking directory's
// trackers and, host by host once a piece from each checked out against its hash, its
// web seeds in its own torrents of the catalog; it stops at once when the linking
// directory stops answering or vouching for the catalog. Each directory takes only
// the other's own sources, so that a relay one of them dropped does not come back
// through the other.
//
// While no current index of the link's key is held (it expired, or the directory has
// never served one), the link imports and expunges nothing and reports the catalog
// stale, with why; its artifacts are not withdrawn by this package (see Stale).
package links
