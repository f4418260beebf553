package seeder

import (
	"context"
	"fmt"
	"sync"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/fsutil"
	"github.com/opendist/odi/internal/relayapi"
)

// The relay's disk. A fetch reserves its artifact's whole size, but the files fill as
// pieces arrive (nothing is preallocated): what the disk can still take is its free space
// less what holdings in progress have yet to write, less a floor. The relay reserves
// nothing beyond that; when its plans ask for more, it skips the artifact and reports
// itself degraded (heartbeat, /readyz) until the disk has room for it again. A write the
// disk refuses all the same (something else filled it) drops that holding, to be fetched
// again once it fits: anacrolix would otherwise stop the torrent's downloads for good.

// floorShare bounds the floor to a tenth of the disk: min_free_space's 1 GiB would leave
// nothing usable on a small disk (a 4 GiB VPS volume keeps 400 MiB free).
const floorShare = 10

// diskUse is the relay's data disk at one moment.
type diskUse struct {
	free    int64 // bytes an unprivileged writer may still use (statfs)
	pending int64 // bytes holdings in progress have reserved but not written yet
	floor   int64 // bytes kept free
}

// room is what the relay may still reserve on the disk.
func (u diskUse) room() int64 { return u.free - u.pending - u.floor }

// space is what the relay knows of its disk's shortfalls.
type space struct {
	mu sync.Mutex
	// shortID and shortSize are the smallest artifact skipped for want of disk since the
	// disk last had room for it (size 0: none); the relay is degraded until it fits.
	shortID   string
	shortSize int64
	// failed holds the holdings whose writes the disk refused, for reconcile to drop.
	failed map[*holding]error
	// state is what the relay was last degraded by ("" when it was not), so that a
	// change is logged once, not every heartbeat whose numbers differ.
	state string
}

// disk measures the data disk; ok is false when this system cannot tell its space.
func (r *Relay) disk() (u diskUse, ok bool) {
	free, size, err := fsutil.Space(r.cfg.DataDir)
	if err != nil {
		return diskUse{}, false
	}
	return diskUse{free: free, pending: r.pending(), floor: min(int64(r.cfg.MinFreeSpace), size/floorShare)}, true
}

// pending is the bytes holdings have reserved and not yet written: what is not complete.
// Pieces written but not yet verified count as unwritten, which errs on the safe side.
func (r *Relay) pending() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, h := range r.held {
		if !h.servable.Load() { // servable ones are complete: no need to ask the client
			n += max(h.item.Size-h.t.BytesCompleted(), 0)
		}
	}
	return n
}

// diskRoom is what the relay may still reserve on its disk, and false when this system
// cannot tell (then the quota alone bounds it).
func (r *Relay) diskRoom() (int64, bool) {
	u, ok := r.disk()
	return max(u.room(), 0), ok
}

// noteSkipped records that it was skipped; when the disk, not the quota, is what it did
// not fit, the relay is degraded until the disk has room for it.
func (r *Relay) noteSkipped(it relayapi.Item) {
	if room, ok := r.diskRoom(); !ok || room >= it.Size {
		return
	}
	r.noteShort(it.ID, it.Size)
	r.degradedReason()
}

// noteShort records an artifact the disk could not hold, if it is the smallest such.
func (r *Relay) noteShort(id string, size int64) {
	r.space.mu.Lock()
	defer r.space.mu.Unlock()
	if r.space.shortSize == 0 || size < r.space.shortSize {
		r.space.shortID, r.space.shortSize = id, size
	}
}

// degradedReason says why the relay is degraded for want of disk, "" when it is not, and
// forgets a shortfall once the disk has room for it: a relay resumes by itself when
// space is freed or the disk grows (its quota raised), within a heartbeat.
func (r *Relay) degradedReason() string {
	u, ok := r.disk()
	if !ok {
		return ""
	}
	room := u.room()
	detail := func() string {
		return fmt.Sprintf("%s free, %s still to be written by holdings in progress, %s kept free by relay.min_free_space",
			bytesize.Size(u.free), bytesize.Size(u.pending), bytesize.Size(u.floor))
	}
	r.space.mu.Lock()
	defer r.space.mu.Unlock()
	if r.space.shortSize > 0 && room >= r.space.shortSize {
		r.space.shortID, r.space.shortSize = "", 0
	}
	var why, state string
	switch {
	case r.space.shortSize > 0:
		state = "short of room for " + r.space.shortID
		why = fmt.Sprintf("disk nearly full: %s needs %s, the disk has room for %s (%s); free space on the disk or lower relay.quota to fit it",
			r.space.shortID, bytesize.Size(r.space.shortSize), bytesize.Size(max(room, 0)), detail())
	case room < 0:
		state = "holdings in progress do not fit"
		why = fmt.Sprintf("disk nearly full: holdings in progress need %s more than the disk has (%s)", bytesize.Size(-room), detail())
	}
	if state != r.space.state {
		if why == "" {
			r.log.Info("relay: the disk has room again", "free", u.free)
		} else {
			r.log.Warn("relay: degraded", "why", why)
		}
		r.space.state = state
	}
	return why
}

// writeFailed is anacrolix's handler of a chunk its storage could not write. Its default
// stops the torrent's downloads for good; without one it would download the chunk again
// and again. Downloads stop here, and reconcile drops the holding, freeing its bytes, to
// fetch it again once it fits.
func (r *Relay) writeFailed(h *holding, err error) {
	r.space.mu.Lock()
	if _, seen := r.space.failed[h]; seen {
		r.space.mu.Unlock()
		return
	}
	if r.space.failed == nil {
		r.space.failed = map[*holding]error{}
	}
	r.space.failed[h] = err
	r.space.mu.Unlock()
	if fsutil.IsNoSpace(err) {
		r.noteShort(h.item.ID, h.item.Size)
	}
	h.t.DisallowDataDownload()
	r.log.Warn("relay: cannot write an artifact; dropping it to fetch it again later", "artifact", h.item.ID, "err", err)
	r.degradedReason()
	select {
	case r.reconcile <- struct{}{}:
	default:
	}
}

// dropFailed removes the holdings whose writes failed and returns their infohashes, which
// the reconcile that dropped them does not fetch again.
func (r *Relay) dropFailed(ctx context.Context) map[string]bool {
	r.space.mu.Lock()
	failed := r.space.failed
	r.space.failed = nil
	r.space.mu.Unlock()
	out := map[string]bool{}
	for h, err := range failed {
		var ih metainfo.Hash
		ih.FromHexString(h.item.InfoHash)
		r.mu.Lock()
		current := r.held[ih] == h
		r.mu.Unlock()
		if current {
			r.remove(ctx, h.item.InfoHash, "write failed: "+err.Error())
			out[h.item.InfoHash] = true
		}
	}
	return out
}
