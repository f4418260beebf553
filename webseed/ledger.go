package webseed

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// LedgerConfig tunes a Ledger: the directory's `origin:` settings.
type LedgerConfig struct {
	// Serves is how many times each piece may leave in one Window while a swarm can
	// carry it; 0 turns rationing off. Once is enough for a swarm, whose peers pass it
	// on to each other.
	Serves int `mapstructure:"piece_serves"`
	// Window is how long a piece sent counts against it. It bounds how long a swarm that
	// lost a piece (its only holder left before passing it on) waits for the origin to
	// send it again.
	Window time.Duration `mapstructure:"piece_window"`
	// Now is the clock; nil means time.Now.
	Now func() time.Time `mapstructure:"-"`
}

// ErrInvalidLedgerConfig is returned by LedgerConfig.Validate.
var ErrInvalidLedgerConfig = errors.New("invalid origin ration")

// DefaultLedgerConfig is what the directory's origin runs with.
func DefaultLedgerConfig() LedgerConfig {
	return LedgerConfig{Serves: 1, Window: time.Minute}
}

// Validate reports a negative Serves, or a Window under a second while Serves is set.
func (c LedgerConfig) Validate() error {
	switch {
	case c.Serves < 0:
		return fmt.Errorf("piece_serves %d: not 0 (off) or more: %w", c.Serves, ErrInvalidLedgerConfig)
	case c.Serves > 0 && c.Window < time.Second:
		return fmt.Errorf("piece_window %s: under a second: %w", c.Window, ErrInvalidLedgerConfig)
	}
	return nil
}

// Ledger rations what an origin web seed sends of each torrent while a swarm can carry
// it: each piece leaves at most Serves times per Window. In a flash crowd every client
// asks the origin for every piece at once; with the ledger the artifact leaves the origin
// about once, and the clients, told 503 for the pieces already out, take them from each
// other (BEP 19 clients treat a web seed's 503 as "too fast" and keep their peers).
// It is safe for concurrent use.
type Ledger struct {
	serves int
	window int64 // nanoseconds
	now    func() time.Time

	mu        sync.Mutex
	torrents  map[metainfo.Hash]*pieceLog
	lastSweep int64
}

// pieceLog is when each piece of one torrent was last sent: Serves slots per piece, each
// the send's time in Unix nanoseconds, 0 when free.
type pieceLog struct {
	sent []int64
	last int64 // the latest send, for sweeping
}

// NewLedger returns a Ledger with cfg's limits; a Serves or Window of 0 or less takes the
// default (whether to ration at all is the caller's choice).
func NewLedger(cfg LedgerConfig) *Ledger {
	def := DefaultLedgerConfig()
	l := &Ledger{serves: cfg.Serves, window: int64(cfg.Window), now: cfg.Now, torrents: map[metainfo.Hash]*pieceLog{}}
	if l.serves <= 0 {
		l.serves = def.Serves
	}
	if l.window <= 0 {
		l.window = int64(def.Window)
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// Grant is the part of a range a Ledger lets go out.
type Grant struct {
	// N is how many bytes from the range's start may be sent: whole pieces in a row (the
	// first and last may be cut by the range), 0 when the first piece is out already.
	N int64
	// RetryAfter is, when N is 0, how long until the first piece may leave again.
	RetryAfter time.Duration

	l      *Ledger
	ih     metainfo.Hash
	off    int64
	pieceL int64
	slots  []slotRef
}

// slotRef is a slot a Grant took: what it held before, and the time the Grant wrote.
type slotRef struct {
	piece    int64
	slot     int
	was, now int64
}

// Grant decides how much of the torrent's bytes [off, off+n) may be sent now, where the
// torrent is length bytes in pieces of pieceLength, and records the pieces granted as
// sent. Call Done on the result with the bytes actually sent. A malformed range (negative,
// empty, or past the end) gets all of n and is not recorded: refusing it is the caller's
// business.
func (l *Ledger) Grant(ih metainfo.Hash, pieceLength, length, off, n int64) Grant {
	if pieceLength <= 0 || off < 0 || n <= 0 || off >= length || n > length-off {
		return Grant{N: max(n, 0)}
	}
	now := l.now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	pl := l.torrents[ih]
	pieces := (length + pieceLength - 1) / pieceLength
	if pl == nil || int64(len(pl.sent)) != pieces*int64(l.serves) {
		pl = &pieceLog{sent: make([]int64, pieces*int64(l.serves))}
		l.torrents[ih] = pl
	}
	g := Grant{l: l, ih: ih, off: off, pieceL: pieceLength}
	first, last := off/pieceLength, (off+n-1)/pieceLength
	for p := first; p <= last; p++ {
		slot := l.freeSlot(pl, p, now)
		if slot < 0 {
			if p == first {
				g.RetryAfter = time.Duration(l.oldest(pl, p) + l.window - now)
			}
			break
		}
		ref := slotRef{piece: p, slot: slot, was: pl.sent[p*int64(l.serves)+int64(slot)], now: now}
		pl.sent[p*int64(l.serves)+int64(slot)] = now
		g.slots = append(g.slots, ref)
		g.N = min((p+1)*pieceLength, off+n) - off
	}
	if g.N > 0 {
		pl.last = now
	}
	return g
}

// freeSlot returns a slot of piece p not used within the window, or -1.
func (l *Ledger) freeSlot(pl *pieceLog, p, now int64) int {
	for s := range l.serves {
		if t := pl.sent[p*int64(l.serves)+int64(s)]; t == 0 || now-t >= l.window {
			return s
		}
	}
	return -1
}

// oldest returns the earliest send time among piece p's slots.
func (l *Ledger) oldest(pl *pieceLog, p int64) int64 {
	slots := pl.sent[p*int64(l.serves) : (p+1)*int64(l.serves)]
	t := slots[0]
	for _, s := range slots[1:] {
		t = min(t, s)
	}
	return t
}

// sweep forgets torrents nothing was sent of for a window, at most once per window.
func (l *Ledger) sweep(now int64) {
	if now-l.lastSweep < l.window {
		return
	}
	l.lastSweep = now
	for ih, pl := range l.torrents {
		if now-pl.last >= l.window {
			delete(l.torrents, ih)
		}
	}
}

// Done tells the ledger that sent bytes of the grant went out: the pieces the grant did
// not deliver whole are taken back, free for the next client.
func (g Grant) Done(sent int64) {
	if g.l == nil || len(g.slots) == 0 {
		return
	}
	g.l.mu.Lock()
	defer g.l.mu.Unlock()
	pl := g.l.torrents[g.ih]
	if pl == nil {
		return
	}
	end := g.off + min(max(sent, 0), g.N)
	for _, ref := range g.slots {
		i := ref.piece*int64(g.l.serves) + int64(ref.slot)
		// A slot another grant took since (this one's window ran out) stays theirs.
		if end < min((ref.piece+1)*g.pieceL, g.off+g.N) && i < int64(len(pl.sent)) && pl.sent[i] == ref.now {
			pl.sent[i] = ref.was
		}
	}
}
