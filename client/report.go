package client

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/opendist/odi/internal/relayapi"
)

// reportTimeout bounds odi fetch's report of bad pieces to the directory: a report is a
// favour to the other users, never a reason for a fetch to wait or fail.
const reportTimeout = 5 * time.Second

// badSeeds collects the pieces whose bytes from a web seed failed their hash during a
// fetch (warmfill.Options.BadPiece), to report them to the directory: a report makes it
// audit that relay at once.
type badSeeds struct {
	infoHash string
	mu       sync.Mutex
	pieces   []relayapi.BadPiece // the first relayapi.MaxReports
	counts   map[string]int      // bad pieces by web seed, all of them
	order    []string            // web seeds in the order they first sent one
}

// add records a bad piece from a web seed; warm fill tells each once.
func (b *badSeeds) add(piece int, webSeed string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.counts == nil {
		b.counts = map[string]int{}
	}
	if b.counts[webSeed] == 0 {
		b.order = append(b.order, webSeed)
	}
	b.counts[webSeed]++
	if len(b.pieces) < relayapi.MaxReports {
		b.pieces = append(b.pieces, relayapi.BadPiece{InfoHash: b.infoHash, Piece: piece, WebSeed: webSeed})
	}
}

// take returns what was collected and forgets it, so that a second report of the same
// fetch (after a retry round) sends only what came since.
func (b *badSeeds) take() (pieces []relayapi.BadPiece, seeds []string, counts map[string]int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	pieces, seeds, counts = b.pieces, b.order, b.counts
	b.pieces, b.order, b.counts = nil, nil, nil
	return pieces, seeds, counts
}

// reportBadPieces tells the directory of the bad pieces warm fill saw, in one request
// bounded by reportTimeout, and the user of each web seed that sent any. A failed report
// is logged at debug: the fetch goes on as if it had been taken. Nothing is sent once ctx
// ended (the user interrupted the fetch).
func (f *fetcher) reportBadPieces(ctx context.Context) {
	pieces, seeds, counts := f.bad.take()
	if len(pieces) == 0 || ctx.Err() != nil {
		return
	}
	outcome := "no directory to report it to"
	if f.api != nil {
		ctx, cancel := context.WithTimeout(ctx, reportTimeout)
		defer cancel()
		outcome = "reported to the directory"
		if err := f.api.CallJSON(ctx, http.MethodPost, "/api/v1/reports", relayapi.Reports{BadPieces: pieces}, nil); err != nil {
			outcome = "the directory did not take the report"
			f.tlog.Debug("fetch: reporting bad pieces", "directory", f.api.Base, "pieces", len(pieces), "err", err)
		}
	}
	for _, s := range seeds {
		n := counts[s]
		f.rep.Note("web seed %s sent %d bad piece%s; %s", s, n, plural(n), outcome)
	}
}
