package seeder

import (
	"fmt"
	"os"

	"github.com/anacrolix/torrent/metainfo"
)

// OpenBlob opens a file whose sha256 is sum (lower-case hex) in a holding that is
// complete and verified, and returns it with its torrent path (the torrent's name, then
// the path inside a package). The sha256 is the one the directory's plan gave for the
// file (relayapi.Item.Files), which the relay kept with the holding; the holding's pieces
// were checked against the torrent, whose files the plan's match (parseTorrent).
//
// It walks every held file under the lock: holdings are what the quota fits (directories
// take at most their relays.max_holdings of them), and a walk per blob request is
// cheaper to keep right than an index kept in step with every change of the holdings.
func (r *Relay) OpenBlob(sum string) (*os.File, string, error) {
	ih, p, ok := r.findBlob(sum)
	if !ok {
		return nil, "", fmt.Errorf("no verified file with sha256 %s: %w", sum, ErrNotServed)
	}
	f, _, err := r.Open(ih, p)
	return f, p, err
}

// findBlob returns the infohash and torrent path of a servable file whose sha256 is sum.
func (r *Relay) findBlob(sum string) (metainfo.Hash, string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ih, h := range r.held {
		if !h.servable.Load() {
			continue
		}
		for _, f := range h.item.Files {
			if f.SHA256 != sum {
				continue
			}
			p := h.t.Info().Name
			if f.Path != "" {
				p += "/" + f.Path
			}
			return ih, p, true
		}
	}
	return metainfo.Hash{}, "", false
}
