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
	// Serves is how many times each part of a torrent may leave in one Window while a
	// swarm can carry it; 0 turns rationing off. Once is enough for a swarm, whose peers
	// pass it on to each other.
	Serves int `mapstructure:"serves"`
	// Window is how long a part sent counts against it. It bounds how long a swarm that
	// lost a part (its only holder left before passing it on) waits for the origin to
	// send it again.
	Window time.Duration `mapstructure:"window"`
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
		return fmt.Errorf("serves %d: not 0 (off) or more: %w", c.Serves, ErrInvalidLedgerConfig)
	case c.Serves > 0 && c.Window < time.Second:
		return fmt.Errorf("window %s: under a second: %w", c.Window, ErrInvalidLedgerConfig)
	}
	return nil
}

// LedgerBlock is the part of a torrent a Ledger counts: 64 KiB of its bytes, aligned.
// Pieces would not do: in a package a piece spans files, each fetched by its own request,
// and the piece would count as sent when only one file's share of it was.
const LedgerBlock = 64 << 10

// Ledger rations what an origin web seed sends of each torrent while a swarm can carry
// it: each block leaves at most Serves times per Window. In a flash crowd every client
// asks the origin for every piece at once; with the ledger the artifact leaves the origin
// about once, and the clients, told 503 for the parts already out, take them from each
// other (BEP 19 clients treat a web seed's 503 as "too fast" and keep their peers).
// Only whole blocks are counted: a range's partial blocks at either end go along with
// the whole ones, and a range holding no whole block goes unrationed.
// It is safe for concurrent use.
type Ledger struct {
	serves int
	window int64 // nanoseconds
	now    func() time.Time

	mu        sync.Mutex
	torrents  map[metainfo.Hash]*blockLog
	lastSweep int64
}

// blockLog is when each block of one torrent was last sent: Serves slots per block, each
// the send's time in Unix nanoseconds, 0 when free.
type blockLog struct {
	sent []int64
	last int64 // the latest send, for sweeping
}

// NewLedger returns a Ledger with cfg's limits; a Serves or Window of 0 or less takes the
// default (whether to ration at all is the caller's choice).
func NewLedger(cfg LedgerConfig) *Ledger {
	def := DefaultLedgerConfig()
	l := &Ledger{serves: cfg.Serves, window: int64(cfg.Window), now: cfg.Now, torrents: map[metainfo.Hash]*blockLog{}}
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
	// N is how many bytes from the range's start may be sent: up to the first whole block
	// already out, 0 when that is the first whole block.
	N int64
	// RetryAfter is, when N is 0, how long until that block may leave again.
	RetryAfter time.Duration

	l     *Ledger
	ih    metainfo.Hash
	off   int64
	slots []slotRef
}

// slotRef is a slot a Grant took: what it held before, and the time the Grant wrote.
type slotRef struct {
	block    int64
	slot     int
	was, now int64
}

// Grant decides how much of the torrent's bytes [off, off+n) may be sent now, where the
// torrent is length bytes, and records the blocks granted as sent. Call Done on the
// result with the bytes actually sent. A malformed range (negative, empty, or past the
// end) gets all of n and is not recorded: refusing it is the caller's business.
func (l *Ledger) Grant(ih metainfo.Hash, length, off, n int64) Grant {
	if off < 0 || n <= 0 || off >= length || n > length-off {
		return Grant{N: max(n, 0)}
	}
	end := off + n
	// The whole blocks in the range; the last block of the torrent is whole at its end.
	first := (off + LedgerBlock - 1) / LedgerBlock
	last := end / LedgerBlock // exclusive
	if end == length {
		last = (end + LedgerBlock - 1) / LedgerBlock
	}
	if first >= last {
		return Grant{N: n}
	}
	now := l.now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	bl := l.torrents[ih]
	blocks := (length + LedgerBlock - 1) / LedgerBlock
	if bl == nil || int64(len(bl.sent)) != blocks*int64(l.serves) {
		bl = &blockLog{sent: make([]int64, blocks*int64(l.serves))}
		l.torrents[ih] = bl
	}
	g := Grant{l: l, ih: ih, off: off, N: n}
	for b := first; b < last; b++ {
		slot := l.freeSlot(bl, b, now)
		if slot < 0 {
			if b == first {
				g.N, g.RetryAfter = 0, time.Duration(l.oldest(bl, b)+l.window-now)
			} else {
				g.N = b*LedgerBlock - off
			}
			break
		}
		i := b*int64(l.serves) + int64(slot)
		g.slots = append(g.slots, slotRef{block: b, slot: slot, was: bl.sent[i], now: now})
		bl.sent[i] = now
	}
	if len(g.slots) > 0 {
		bl.last = now
	}
	return g
}

// freeSlot returns a slot of block b not used within the window, or -1.
func (l *Ledger) freeSlot(bl *blockLog, b, now int64) int {
	for s := range l.serves {
		if t := bl.sent[b*int64(l.serves)+int64(s)]; t == 0 || now-t >= l.window {
			return s
		}
	}
	return -1
}

// oldest returns the earliest send time among block b's slots.
func (l *Ledger) oldest(bl *blockLog, b int64) int64 {
	slots := bl.sent[b*int64(l.serves) : (b+1)*int64(l.serves)]
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
	for ih, bl := range l.torrents {
		if now-bl.last >= l.window {
			delete(l.torrents, ih)
		}
	}
}

// Done tells the ledger that sent bytes of the grant went out: the blocks the grant did
// not deliver whole are taken back, free for the next client.
func (g Grant) Done(sent int64) {
	if g.l == nil || len(g.slots) == 0 {
		return
	}
	g.l.mu.Lock()
	defer g.l.mu.Unlock()
	bl := g.l.torrents[g.ih]
	if bl == nil {
		return
	}
	end := g.off + min(max(sent, 0), g.N)
	for _, ref := range g.slots {
		i := ref.block*int64(g.l.serves) + int64(ref.slot)
		// A slot another grant took since (this one's window ran out) stays theirs.
		if end < min((ref.block+1)*LedgerBlock, g.off+g.N) && i < int64(len(bl.sent)) && bl.sent[i] == ref.now {
			bl.sent[i] = ref.was
		}
	}
}
