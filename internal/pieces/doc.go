// Package pieces maps a torrent's pieces onto its files and checks pieces as their bytes
// stream by. BEP 3 hashes (SHA-1) fixed-length stretches of the files laid end to end,
// so a piece may span several files and a file several pieces: whoever fetches pieces
// over HTTP (BEP 19 web seeds, which serve files, not pieces) cuts them into per-file
// ranges and hashes the ranges' bytes back into pieces. odi fetch's HTTP path and the
// directory's audits of relays do both through this package.
package pieces
