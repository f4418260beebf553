// Package webseed serves torrent content over plain HTTP by infohash, as a BEP 19
// (GetRight-style) web seed: GET and HEAD on /<infohash>/<name>[/<path>], where <name> is
// the torrent's name and <path> a file inside a multi-file torrent, with byte ranges,
// If-Range and strong ETags (RFC 9110, through http.ServeContent, its Range checked
// first by internal/byterange: unsatisfiable, malformed or too many ranges get 416).
// File answers (200, 206) name the file in Content-Disposition (RFC 6266, with an RFC
// 8187 filename* for non-ASCII names). Errors are RFC 9457 problem details.
//
// One Handler serves both the directory's origin copies and a relay's verified
// downloads: each mount gives it the Store that knows which bytes it may serve.
//
// The Redirector sends plain HTTP users to a copy: /r/<catalog>/<name>/<version>[/<path>]
// (a single file's <path> is empty or its name) answers 302 to a mirror chosen by
// nearness and spare capacity, with the other copies in Link: rel=duplicate (RFC 6249,
// Metalink/HTTP) and the file's sha-256 in Digest (RFC 3230) and Repr-Digest (RFC 9530). Its Metalink handler serves the same choice as a
// Metalink 4 document (RFC 5854). Both read a Resolver the directory backs with memory.
//
// Files are content-addressed too: /blob/sha256/<hex> on the directory (Redirector.Blob)
// answers 302 to a relay's /blob/sha256/<hex> (BlobHandler, which serves a verified file
// with that sha256 as Handler would) or to the origin's copy, with Digest, Repr-Digest
// and Content-Disposition.
package webseed
