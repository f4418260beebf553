package seeder

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/opendist/odi/internal/warmfill"
)

// Warm start: a relay fills its holdings from their web seeds with warmfill alongside the
// BitTorrent client, which waits up to 5 s before its first web-seed request.

// warmWorkers is how many pieces warm start fetches at once, relay-wide, which bounds its
// memory to that many pieces (64 MiB at the 16 MiB maximum piece length). In
// scripts/bench/webseed.sh (1 GiB, 2 busy cores) 8 filled no faster than 4: the client's
// completion of each piece (hash, then fsync of the file) sets the pace.
const warmWorkers = 4

// warmAgain is how long warm start rests between passes over the pieces still missing.
const warmAgain = 3 * time.Second

// newWarmClient returns warm start's HTTP client, which shows the origins their tokens.
func (r *Relay) newWarmClient() *http.Client {
	c := warmfill.NewHTTPClient(warmWorkers)
	c.Transport = r.origins.transport(c.Transport)
	return c
}

// warmStart fills h's missing pieces from its web seeds until the torrent is complete or
// ctx ends. When it returns nothing of it writes to h's files any more.
func (r *Relay) warmStart(ctx context.Context, h *holding) {
	opts := warmfill.Options{
		Seeds: h.seeds, HTTP: r.warmHTTP, Slots: r.warmSlots,
		Read: &h.warmBytes, Pieces: &r.warmPieces, Rejected: &r.warmRejected,
		Log: r.log, Name: h.item.ID,
		// Pass after pass: a rationing origin calls a piece busy that another relay
		// took; should that relay not pass it on, the origin sends it again later.
		Again: warmAgain,
		Body:  r.limitBody(),
		BadPiece: func(piece int, webSeed string) {
			r.badPiece(h.item.InfoHash, piece, webSeed)
		},
	}
	warmfill.Fill(ctx, h.t, opts)
}

// limitBody returns what shapes an HTTP response body to the download limit, or nil
// when there is none.
func (r *Relay) limitBody() func(io.Reader) io.Reader {
	if r.down == nil {
		return nil
	}
	return func(body io.Reader) io.Reader { return limitedReader{r: body, down: r.down} }
}

// WarmStarted reports what warm start did since the relay started: the pieces it
// completed, and those it fetched whose bytes failed their hash (never written; the
// BitTorrent client fetches them), for metrics and tests.
func (r *Relay) WarmStarted() (pieces, rejected int64) {
	return r.warmPieces.Load(), r.warmRejected.Load()
}
