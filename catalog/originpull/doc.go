// Package originpull fills a catalog from a project's own upstream: any static HTTP
// server holding the project's files beside a SHA256SUMS listing that the project signs
// with its minisign key. A project publishes there with sha256sum and minisign, without
// an odi client, and the directory (and then its relays and swarms) spreads it.
//
// The upstream format (README "Publishing from a static upstream"):
//
//	<url>/SHA256SUMS          lines "<sha256 hex>  <name>/<version>/<path>", as sha256sum prints them
//	<url>/SHA256SUMS.minisig  minisign's signature of SHA256SUMS by the project's key
//	<url>/<name>/<version>/…  the files
//
// so that `sha256sum -c SHA256SUMS` in the upstream folder checks it. One <name>/<version>/
// folder is one artifact: a single file directly in it is a single-file artifact (its
// root is the file's name); anything else is a package whose root is "<name>-<version>".
//
// Each origin is polled every Interval with a conditional GET (RFC 9110 If-None-Match,
// If-Modified-Since); each version the catalog never had (expunged ones count as had)
// is downloaded once into a work folder, rate-limited and resumed with Range requests
// (RFC 9110 section 14, guarded by If-Range) across failures and restarts, checked
// against the signed sha256, and only when every file of the version is verified handed
// to the catalog, which publishes it as if uploaded. An upstream that fails is retried
// with exponential backoff, capped at Interval. Nothing partial is ever listed.
package originpull
