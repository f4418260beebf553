// Package client is what a user's machine does with a directory: fetch an artifact
// (Fetch), verified, resumable, over BitTorrent (BEP 3, with the tracker of BEP 3/15 and
// BEP 19 web seeds) and plain HTTP (RFC 9110 range requests), and publish one (Publish).
// It speaks the directory's API (internal/catalogapi's wire types) through
// internal/apiclient; odi's commands (cmd/odi) only parse flags and print.
//
// A fetch lives in <out>/<root>.part until every piece has passed its SHA-1 and every
// file its signed sha256; only then is it renamed into place, so <out>/<root> appears
// whole and verified or not at all.
package client
