// Package manifest defines what a publisher vouches for: an artifact's identity
// (<catalog>/<name>/<version>) and every file in it with its size and sha256. The
// publisher signs it, the directory checks every received byte against it, and the same
// shape is what catalogs list, so a client can verify a download end to end.
//
// The files of a manifest are in the order of the torrent's files and of the upload
// stream: sorted by path, so the same content always makes the same torrent.
package manifest
