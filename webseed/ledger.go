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
	// Serves is how many times each piece of a torrent may leave in one Window while a
	// swarm can carry it; 0 turns rationing off. Once is enough for a swarm, whose peers
	// pass it on to each other.
	Serves int `mapstructure:"serves"`
	// Window is how long a piece sent counts against it. It bounds how long a swarm that
	// lost a piece (its only holder left before passing it on) waits for the origin to
	// send it again.
	Window time.Duration `mapstructure:"window"`
	// RelayFirst is how long, at most, anonymous clients wait while relays fill a
	// torrent: from a relay's first request, and as long as relays keep asking (a
	// request every RelayQuiet at least), the origin serves relays only; once per
	// torrent, until the ledger forgets it (a window without grants). The relays then
	// hold it within seconds and the origin sends its clients there; meanwhile the
	// clients take what the relays have over BitTorrent. 0 turns it off.
	RelayFirst time.Duration `mapstructure:"relay_first"`
	// Now is the clock; nil means time.Now.
	Now func() time.Time `mapstructure:"-"`
}

// RelayQuiet is how long after a relay's last request for a torrent the relays count as
// done filling it (or stuck): anonymous clients are served again. Relays ask again
// within it while they fill: warm fill asks continuously, and anacrolix's web-seed
// requests resume within 10 s of a 503 (webseed-peer.go).
const RelayQuiet = 10 * time.Second

// ErrInvalidLedgerConfig is returned by LedgerConfig.Validate.
var ErrInvalidLedgerConfig = errors.New("invalid origin ration")

// DefaultLedgerConfig is what the directory's origin runs with.
func DefaultLedgerConfig() LedgerConfig {
	return LedgerConfig{Serves: 1, Window: time.Minute, RelayFirst: 2 * time.Minute}
}

// Validate reports a negative Serves or RelayFirst, or a Window under a second while
// Serves is set.
func (c LedgerConfig) Validate() error {
	switch {
	case c.Serves < 0:
		return fmt.Errorf("serves %d: not 0 (off) or more: %w", c.Serves, ErrInvalidLedgerConfig)
	case c.Serves > 0 && c.Window < time.Second:
		return fmt.Errorf("window %s: under a second: %w", c.Window, ErrInvalidLedgerConfig)
	case c.RelayFirst < 0:
		return fmt.Errorf("relay_first %s: negative (0 turns it off): %w", c.RelayFirst, ErrInvalidLedgerConfig)
	}
	return nil
}

// Requester is who asks a rationed origin for bytes.
type Requester struct {
	// Key tells requesters apart: a relay's id, or a client's address. A piece granted
	// to a key goes to that key again within the window (the rest of a piece that spans
	// files, a retry) and to no other.
	Key string
	// Relay marks a relay the directory knows: relays are served ahead of anonymous
	// clients (LedgerConfig.RelayFirst).
	Relay bool
}

// Ask is one request's view of a torrent's bytes.
type Ask struct {
	// Length and PieceLength are the torrent's.
	Length, PieceLength int64
	// Off and N are the range asked for, in the torrent's bytes.
	Off, N int64
	// FileStart and FileEnd say the range begins at its file's start or ends at its
	// file's end: a piece that spans files can only be asked for a part at a time there.
	FileStart, FileEnd bool
	Who                Requester
	// RelaysDue says that relays are about to fill the torrent, before they have asked:
	// an anonymous requester waits for them, as while they fill it.
	RelaysDue bool
}

// Ledger rations what an origin web seed sends of each torrent while a swarm can carry
// it: each piece leaves at most Serves times per Window, whole, to one requester. In a
// flash crowd every client asks the origin for every piece at once; with the ledger the
// artifact leaves the origin about once and every byte that leaves completes a piece
// somebody can share, while the clients, told 503 for the pieces already out, take
// them from each other (BEP 19 clients treat a web seed's 503 as "too fast" and keep
// their peers). Relays come first: while they fill a torrent, anonymous clients wait.
//
// A piece is granted to a requester when a request covers it whole, or up to a file's
// end or from a file's start (a piece that spans files comes in one request per file);
// the requester then gets its other parts too, and nobody else gets any within the
// window. A piece that a request covers only in part, inside a file, goes along with
// the pieces around it unrecorded, unless it is someone else's.
// It is safe for concurrent use.
type Ledger struct {
	serves     int
	window     int64 // nanoseconds
	relayFirst int64 // nanoseconds; 0 off
	now        func() time.Time
	// left, if set, reports a requester that let a torrent go since a time (Reclaim).
	left func(who string, ih metainfo.Hash, since time.Time) bool

	mu        sync.Mutex
	torrents  map[metainfo.Hash]*pieceLog
	lastSweep int64
}

// pieceLog is one torrent's grants: Serves slots per piece.
type pieceLog struct {
	slots []slot
	last  int64 // the latest grant, for sweeping
	// The relay-first phase: its start (the first relay request) and the latest relay
	// request.
	relayFrom, relayLast int64
}

// slot is one grant of a piece: when (Unix nanoseconds, 0 when free) and to whom.
type slot struct {
	at  int64
	who string
}

// NewLedger returns a Ledger with cfg's limits; a Serves or Window of 0 or less takes the
// default (whether to ration at all is the caller's choice).
func NewLedger(cfg LedgerConfig) *Ledger {
	def := DefaultLedgerConfig()
	l := &Ledger{serves: cfg.Serves, window: int64(cfg.Window), relayFirst: int64(max(cfg.RelayFirst, 0)),
		now: cfg.Now, torrents: map[metainfo.Hash]*pieceLog{}}
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

// Reclaim makes l take back the grants of a requester that left reports let the torrent
// go since it was granted them: a relay that evicted the artifact, or never kept it,
// passes on no piece, and the swarm it left would otherwise wait out the window for the
// origin to send them again. left is asked only about pieces no slot is free for, with
// l's lock held: it must be quick and must not call l. Call Reclaim before l is used.
func (l *Ledger) Reclaim(left func(who string, ih metainfo.Hash, since time.Time) bool) *Ledger {
	l.left = left
	return l
}

// Grant is the part of a range a Ledger lets go out.
type Grant struct {
	// N is how many bytes from the range's start may be sent: up to the first piece that
	// is someone else's, 0 when that is the first piece (or relays come first).
	N int64
	// RetryAfter is, when N is 0, how long until the piece may leave again.
	RetryAfter time.Duration

	l     *Ledger
	ih    metainfo.Hash
	off   int64
	plen  int64
	slots []slotRef
}

// slotRef is a slot a Grant took: what it held before, and what the Grant wrote.
type slotRef struct {
	piece    int64
	slot     int
	was, now slot
}

// Grant decides how much of the range a asks for may be sent now, and records the
// pieces granted. Call Done on the result with the bytes actually sent. A malformed ask
// (negative, empty, past the end, no piece length) gets all of N and is not recorded:
// refusing it is the caller's business.
func (l *Ledger) Grant(ih metainfo.Hash, a Ask) Grant {
	if a.Off < 0 || a.N <= 0 || a.PieceLength <= 0 || a.Off >= a.Length || a.N > a.Length-a.Off {
		return Grant{N: max(a.N, 0)}
	}
	end := a.Off + a.N
	now := l.now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	pl := l.torrents[ih]
	pieces := (a.Length + a.PieceLength - 1) / a.PieceLength
	if pl == nil || int64(len(pl.slots)) != pieces*int64(l.serves) {
		pl = &pieceLog{slots: make([]slot, pieces*int64(l.serves))}
		l.torrents[ih] = pl
	}
	if a.Who.Relay {
		// One relay-first phase per torrent while the ledger keeps it: a relay asking on
		// and off must not keep clients waiting for good.
		if pl.relayFrom == 0 {
			pl.relayFrom = now
		}
		pl.relayLast = now
	} else if wait := l.relaysFirst(pl, now); wait > 0 {
		return Grant{RetryAfter: time.Duration(wait)}
	} else if a.RelaysDue && l.relayFirst > 0 && pl.relayFrom == 0 {
		return Grant{RetryAfter: RelayQuiet}
	}
	g := Grant{l: l, ih: ih, off: a.Off, plen: a.PieceLength, N: a.N}
	first, last := a.Off/a.PieceLength, (end-1)/a.PieceLength
	for p := first; p <= last; p++ {
		pStart, pEnd := p*a.PieceLength, min((p+1)*a.PieceLength, a.Length)
		covered := (a.Off <= pStart || a.FileStart) && (end >= pEnd || a.FileEnd)
		if l.owned(pl, p, a.Who.Key, now) {
			continue
		}
		s := l.freeSlot(pl, ih, p, now)
		if s < 0 {
			if p == first {
				g.N, g.RetryAfter = 0, time.Duration(l.oldest(pl, p)+l.window-now)
			} else {
				g.N = pStart - a.Off
			}
			break
		}
		if !covered {
			continue
		}
		i := p*int64(l.serves) + int64(s)
		ref := slotRef{piece: p, slot: s, was: pl.slots[i], now: slot{at: now, who: a.Who.Key}}
		g.slots = append(g.slots, ref)
		pl.slots[i] = ref.now
	}
	if len(g.slots) > 0 {
		pl.last = now
	}
	return g
}

// RelaysFilling reports whether relays are taking torrent ih from the origin ahead of
// anonymous clients right now (LedgerConfig.RelayFirst).
func (l *Ledger) RelaysFilling(ih metainfo.Hash) bool {
	now := l.now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	pl := l.torrents[ih]
	return pl != nil && l.relaysFirst(pl, now) > 0
}

// relaysFirst returns how long an anonymous client should wait for the relays filling
// the torrent, in nanoseconds; 0 when they are not (or have had their RelayFirst).
func (l *Ledger) relaysFirst(pl *pieceLog, now int64) int64 {
	if l.relayFirst == 0 || pl.relayLast == 0 || now-pl.relayLast >= int64(RelayQuiet) {
		return 0
	}
	left := pl.relayFrom + l.relayFirst - now
	if left <= 0 {
		return 0
	}
	return min(left, int64(RelayQuiet))
}

// owned reports whether piece p was granted to who within the window.
func (l *Ledger) owned(pl *pieceLog, p int64, who string, now int64) bool {
	for _, s := range pl.slots[p*int64(l.serves) : (p+1)*int64(l.serves)] {
		if s.at != 0 && now-s.at < l.window && s.who == who {
			return true
		}
	}
	return false
}

// freeSlot returns a slot of piece p of torrent ih not used within the window, or
// granted to a requester that let the torrent go since (Reclaim), or -1.
func (l *Ledger) freeSlot(pl *pieceLog, ih metainfo.Hash, p, now int64) int {
	for s := range l.serves {
		if t := pl.slots[p*int64(l.serves)+int64(s)].at; t == 0 || now-t >= l.window {
			return s
		}
	}
	if l.left == nil {
		return -1
	}
	for s := range l.serves {
		if sl := pl.slots[p*int64(l.serves)+int64(s)]; l.left(sl.who, ih, time.Unix(0, sl.at)) {
			return s
		}
	}
	return -1
}

// oldest returns the earliest grant time among piece p's slots.
func (l *Ledger) oldest(pl *pieceLog, p int64) int64 {
	slots := pl.slots[p*int64(l.serves) : (p+1)*int64(l.serves)]
	t := slots[0].at
	for _, s := range slots[1:] {
		t = min(t, s.at)
	}
	return t
}

// sweep forgets torrents nothing was granted of, and no relay asked for, for a window
// (RelayQuiet if longer), at most once per window.
func (l *Ledger) sweep(now int64) {
	quiet := max(l.window, int64(RelayQuiet))
	if now-l.lastSweep < l.window {
		return
	}
	l.lastSweep = now
	for ih, pl := range l.torrents {
		if now-max(pl.last, pl.relayLast) >= quiet {
			delete(l.torrents, ih)
		}
	}
}

// Done tells the ledger that sent bytes of the grant went out: the pieces whose part in
// the grant was not sent whole are taken back, free for the next requester.
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
		if end < min((ref.piece+1)*g.plen, g.off+g.N) && i < int64(len(pl.slots)) && pl.slots[i] == ref.now {
			pl.slots[i] = ref.was
		}
	}
}
