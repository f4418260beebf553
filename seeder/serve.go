package seeder

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/httpcount"
)

// ErrNotServed is returned for content the relay does not serve: unknown, incomplete,
// not yet verified, or being removed.
var ErrNotServed = errors.New("not served by this relay")

// Open opens file path (the torrent's name, then the path inside a package) of a holding
// that is complete and verified, with the file's sha256 from the directory's plan.
func (r *Relay) Open(ih metainfo.Hash, path string) (*os.File, string, error) {
	r.mu.Lock()
	h := r.held[ih]
	r.mu.Unlock()
	if h == nil || !h.servable.Load() {
		return nil, "", fmt.Errorf("%s: %w", ih.HexString(), ErrNotServed)
	}
	info := h.t.Info()
	rel, ok := strings.CutPrefix(path, info.Name)
	if ok && rel != "" {
		rel, ok = strings.CutPrefix(rel, "/")
	}
	if !ok {
		return nil, "", fmt.Errorf("%s has no file %q: %w", h.item.ID, path, ErrNotServed)
	}
	for _, f := range h.item.Files {
		if f.Path != rel {
			continue
		}
		root, err := os.OpenRoot(filepath.Join(r.cfg.DataDir, "torrents", ih.HexString()))
		if err != nil {
			return nil, "", err
		}
		defer root.Close()
		file, err := root.Open(path)
		if err != nil {
			return nil, "", err
		}
		// A removal may have started while the file was being opened.
		if !h.servable.Load() {
			file.Close()
			return nil, "", fmt.Errorf("%s: %w", ih.HexString(), ErrNotServed)
		}
		return file, f.SHA256, nil
	}
	return nil, "", fmt.Errorf("%s has no file %q: %w", h.item.ID, path, ErrNotServed)
}

// CountServed wraps the web-seed handler to count the bytes it serves, for heartbeats.
func (r *Relay) CountServed(h http.Handler) http.Handler { return httpcount.Count(h, &r.servedHTTP) }

// UploadedBitTorrent is the bytes of pieces the relay has sent its BitTorrent peers since
// it started: monotonic, unlike the heartbeat's count of the bytes since the last one.
func (r *Relay) UploadedBitTorrent() int64 {
	stats := r.cl.ConnStats()
	return stats.BytesWrittenData.Int64()
}

// WrapListener shapes the HTTP server's connections with the upload limit (if any).
func (r *Relay) WrapListener(ln net.Listener) net.Listener {
	if r.up == nil {
		return ln
	}
	return &limitedListener{Listener: ln, up: r.up}
}

// Ready reports whether the relay can serve: its storage is writable, its client up, and
// its disk has room for what its plans ask (space.go).
func (r *Relay) Ready() error {
	if why := r.degradedReason(); why != "" {
		return errors.New(why)
	}
	f, err := os.CreateTemp(r.cfg.DataDir, ".ready-*")
	if err != nil {
		return fmt.Errorf("storage not writable: %w", err)
	}
	f.Close()
	os.Remove(f.Name())
	if r.cl == nil || len(r.cl.Listeners()) == 0 {
		return errors.New("bittorrent client not listening")
	}
	return nil
}

// Downloaded is what the relay read since it started, from BitTorrent peers and from web
// seeds, warm start's included: monotonic, the holdings it removed keep their part (for
// metrics, the relay's page and tests of resume).
func (r *Relay) Downloaded() (fromPeers, fromWebSeeds int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fromPeers, fromWebSeeds = r.removedPeers, r.removedWebSeeds
	for _, h := range r.held {
		p, w := h.downloaded()
		fromPeers += p
		fromWebSeeds += w
	}
	return fromPeers, fromWebSeeds
}

// Usage reports the holdings, how many are servable, and the bytes they reserve.
func (r *Relay) Usage() (holdings, servable int, reserved int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.held {
		holdings++
		if h.servable.Load() {
			servable++
		}
		reserved += h.item.Size
	}
	return holdings, servable, reserved
}
