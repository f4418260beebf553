// Package warmfill fills a torrent's missing pieces from its BEP 19 web seeds with ranged
// HTTP GETs, alongside the anacrolix client that downloads it.
//
// anacrolix v1.61.0 plans web-seed requests on a fixed 5 s client timer
// (webseedRequestUpdateTimerInterval in its client.go) that no setting or call shortens,
// and fetches from peers in 16 KiB blocks, so a download that could come from web seeds
// over sendfile waited for its first byte and then went at the pace of the peer protocol.
// Fill's workers fetch missing pieces from the web seeds at once (anacrolix's own BEP 19
// client builds the URLs and splits a piece across the files of a package), check each
// piece's SHA-1 before it touches the disk, write it through the torrent's storage and
// have the client verify it, which marks it complete (or, with Options.MarkWritten, mark
// it complete themselves). A piece the client has, is checking, or has begun is left to
// the client. A piece whose bytes fail its hash is never written, and Options.BadPiece
// names the web seed that sent it, for the directory to audit. Relays fill their holdings
// this way, and odi fetch its downloads (in order, handing the client the pieces no web
// seed gave: Options.InOrder, Options.Missed).
//
// The torrent's storage must be NewStorage's, files without part files: anacrolix renames
// a part file into place once its last piece is good, and a write of Fill's that raced
// the client for a piece recreates the part file holding that piece alone, which the
// piece's check then renames over the complete file (TestLateWriteKeepsTheFileWhole).
//
// The torrent must not be closed (dropped, or its client closed) while Fill runs: end
// Fill's context and wait for it to return first. Fill has the client check each piece it
// writes, and anacrolix v1.61.0 leaves its client locked for good when a piece check is
// asked of a closed torrent (Piece.VerifyDataContext returns early without unlocking,
// piece.go:229), which froze a relay evicting a holding it was filling.
package warmfill
