package seeder

import (
	"context"
	"io"
	"net/http"

	"github.com/opendist/odi/internal/warmfill"
)

// Warm start: a relay fills its holdings from their web seeds with warmfill alongside the
// BitTorrent client, which waits up to 5 s before its first web-seed request.

// warmWorkers is how many pieces warm start fetches at once, relay-wide, which bounds its
// memory to that many pieces (64 MiB at the 16 MiB maximum piece length). In
// scripts/bench/webseed.sh (1 GiB, 2 busy cores) 8 filled no faster than 4: the client's
// completion of each piece (hash, then fsync of the file) sets the pace.
const warmWorkers = 4

func newWarmClient() *http.Client { return warmfill.NewHTTPClient(warmWorkers) }

// warmStart fills h's missing pieces from its web seeds until the torrent is complete or
// closed (dropped, removed, or the client closed) or no piece is left to try. When it
// returns nothing of it writes to h's files any more.
func (r *Relay) warmStart(h *holding) {
	opts := warmfill.Options{
		Seeds: h.seeds, HTTP: r.warmHTTP, Slots: r.warmSlots,
		Read: &h.warmBytes, Pieces: &r.warmPieces, Rejected: &r.warmRejected,
		Log: r.log, Name: h.item.ID,
	}
	if r.down != nil {
		opts.Body = func(body io.Reader) io.Reader { return limitedReader{r: body, down: r.down} }
	}
	warmfill.Fill(context.Background(), h.t, opts)
}

// WarmStarted reports what warm start did since the relay started: the pieces it
// completed, and those it fetched whose bytes failed their hash (never written; the
// BitTorrent client fetches them), for metrics and tests.
func (r *Relay) WarmStarted() (pieces, rejected int64) {
	return r.warmPieces.Load(), r.warmRejected.Load()
}
