// Package catalog is what a directory knows: the artifacts it publishes, their files and
// torrents, the publishers allowed to add them, and the origin copy of their bytes.
//
// It owns the SQLite database (WAL, one writer, goose migrations embedded in the
// binary), the publish pipeline (declare, upload, hash in one pass, commit under the
// publisher's signed manifest, durable before visible), expunge, and the catalog's HTTP
// API. Torrents are BEP 3 v1 metainfo with a BEP 12 announce-list and a BEP 19 url-list
// of web seeds kept outside the info dict, so the infohash never changes; magnet links
// follow BEP 9 (xt, dn, tr) with ws and xl.
//
// It also keeps the relay registry: signed registration and heartbeats, self-tests,
// probes (health URL and random pieces checked against their SHA-1), down and quarantined
// states, and each relay's share of the placement (catalog/placement) sent back as its
// plan. Mirrors lists the relays users may be sent to, for url-lists and the redirector.
//
// It hosts indexers' signed indexes (issue 15, internal/index), accepting a new version
// only if its signature, version, expiry and every entry hold against this catalog, and,
// given a key, signs an index of its own catalog (indexes.go).
//
// Reads are served from an in-memory view of all artifacts, replaced whole on every
// change, so the hot paths (web seeds, torrents, lookups) run no SQL.
package catalog
