// Package webseed serves torrent content over plain HTTP by infohash, as a BEP 19
// (GetRight-style) web seed: GET and HEAD on /<infohash>/<name>[/<path>], where <name> is
// the torrent's name and <path> a file inside a multi-file torrent, with byte ranges,
// If-Range and strong ETags (RFC 9110, through http.ServeContent).
//
// One Handler serves both the directory's origin copies and a relay's verified
// downloads: each mount gives it the Store that knows which bytes it may serve.
package webseed
