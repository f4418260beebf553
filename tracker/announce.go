package tracker

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Event is the BEP 3 announce event.
type Event uint8

// Events, in BEP 15's numbering.
const (
	EventNone Event = iota
	EventCompleted
	EventStarted
	EventStopped
)

// ErrBadRequest is returned (wrapped, with the reason) for an announce or scrape a client
// got wrong; the reason goes back to the client as the failure reason.
var ErrBadRequest = errors.New("bad request")

// MaxQueryLen bounds an HTTP announce or scrape query (a real announce is ~300 bytes; a
// scrape of MaxScrape infohashes fits too).
const MaxQueryLen = 8 << 10

// Announce is a parsed announce, from HTTP or UDP.
type Announce struct {
	InfoHash   [20]byte
	PeerID     [20]byte
	Port       uint16
	Uploaded   int64
	Downloaded int64
	Left       int64 // -1 when the client did not say
	Event      Event
	NumWant    int // -1 for the default
	Compact    bool
	NoPeerID   bool
	IP         netip.Addr // the ip= parameter, honoured only from trusted proxies
}

// Seeder reports whether the announcing peer has everything.
func (a *Announce) Seeder() bool { return a.Left == 0 }

// MayLackMetadata reports a "seeder" that may only be a magnet-link client yet to fetch
// the info dict: aria2c, for one, starts with left=0 before it knows the size. It is
// handed seeders too, or a swarm of seeders alone would never reach it.
func (a *Announce) MayLackMetadata() bool {
	return a.Event == EventStarted && a.Left == 0 && a.Downloaded == 0
}

// ParseAnnounceQuery parses the raw query of GET /announce without allocating for the
// binary fields. Percent-escapes are decoded byte-wise; unlike form decoding, "+" is a
// literal byte, as BitTorrent clients send it.
func ParseAnnounceQuery(q string) (Announce, error) {
	a := Announce{Left: -1, NumWant: -1, Compact: true}
	if len(q) > MaxQueryLen {
		return a, fmt.Errorf("%w: query longer than %d bytes", ErrBadRequest, MaxQueryLen)
	}
	var haveIH, havePeer, havePort bool
	err := eachParam(q, func(key, val string) error {
		var err error
		switch key {
		case "info_hash":
			haveIH = true
			err = unescape20(&a.InfoHash, val, "info_hash")
		case "peer_id":
			havePeer = true
			err = unescape20(&a.PeerID, val, "peer_id")
		case "port":
			var n uint64
			n, err = strconv.ParseUint(val, 10, 16)
			if err != nil || n == 0 {
				return fmt.Errorf("%w: port %q is not 1-65535", ErrBadRequest, val)
			}
			a.Port, havePort = uint16(n), true
		case "uploaded":
			a.Uploaded, err = parseCount(key, val)
		case "downloaded":
			a.Downloaded, err = parseCount(key, val)
		case "left":
			a.Left, err = parseCount(key, val)
		case "event":
			a.Event, err = parseEvent(val)
		case "numwant":
			n, perr := strconv.Atoi(val)
			if perr != nil || n < 0 {
				return fmt.Errorf("%w: numwant %q is not a non-negative number", ErrBadRequest, val)
			}
			a.NumWant = n
		case "compact":
			a.Compact = val != "0"
		case "no_peer_id":
			a.NoPeerID = val == "1"
		case "ip":
			a.IP, _ = netip.ParseAddr(val) // a hint only; ignored when unparsable
		}
		return err
	})
	switch {
	case err != nil:
		return a, err
	case !haveIH:
		return a, fmt.Errorf("%w: missing info_hash", ErrBadRequest)
	case !havePeer:
		return a, fmt.Errorf("%w: missing peer_id", ErrBadRequest)
	case !havePort:
		return a, fmt.Errorf("%w: missing port", ErrBadRequest)
	}
	return a, nil
}

// ParseScrapeQuery returns the info_hash parameters of GET /scrape, at most max of them.
func ParseScrapeQuery(q string, max int) ([][20]byte, error) {
	if len(q) > MaxQueryLen {
		return nil, fmt.Errorf("%w: query longer than %d bytes", ErrBadRequest, MaxQueryLen)
	}
	var out [][20]byte
	err := eachParam(q, func(key, val string) error {
		if key != "info_hash" {
			return nil
		}
		if len(out) == max {
			return fmt.Errorf("%w: more than %d info_hash in one scrape", ErrBadRequest, max)
		}
		var ih [20]byte
		if err := unescape20(&ih, val, "info_hash"); err != nil {
			return err
		}
		out = append(out, ih)
		return nil
	})
	return out, err
}

// eachParam calls fn for each key=value pair of a raw query, keys unescaped only as far
// as the fixed names need (they are plain ASCII).
func eachParam(q string, fn func(key, val string) error) error {
	for q != "" {
		var pair string
		if i := strings.IndexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			pair, q = q, ""
		}
		if pair == "" {
			continue
		}
		key, val := pair, ""
		if i := strings.IndexByte(pair, '='); i >= 0 {
			key, val = pair[:i], pair[i+1:]
		}
		if err := fn(key, val); err != nil {
			return err
		}
	}
	return nil
}

// unescape20 percent-decodes s into exactly 20 bytes.
func unescape20(dst *[20]byte, s, name string) error {
	n := 0
	for i := 0; i < len(s); i++ {
		if n == 20 {
			return fmt.Errorf("%w: %s longer than 20 bytes", ErrBadRequest, name)
		}
		c := s[i]
		switch c {
		case '+':
			// Form encoding, as Go's url.Values and others write a 0x20 byte.
			c = ' '
		case '%':
			if i+2 >= len(s) {
				return fmt.Errorf("%w: %s has a truncated escape", ErrBadRequest, name)
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return fmt.Errorf("%w: %s has a bad escape %q", ErrBadRequest, name, s[i:i+3])
			}
			c = hi<<4 | lo
			i += 2
		}
		dst[n] = c
		n++
	}
	if n != 20 {
		return fmt.Errorf("%w: %s is %d bytes, not 20", ErrBadRequest, name, n)
	}
	return nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseCount reads a byte counter: a non-negative int64. Clients that do not know the
// size yet send left=2^63-1 (anacrolix does), which is accepted.
func parseCount(key, val string) (int64, error) {
	n, err := strconv.ParseInt(val, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %s %q is not a byte count in 0..2^63-1", ErrBadRequest, key, val)
	}
	return n, nil
}

func parseEvent(val string) (Event, error) {
	switch val {
	case "", "empty":
		return EventNone, nil
	case "started":
		return EventStarted, nil
	case "completed":
		return EventCompleted, nil
	case "stopped":
		return EventStopped, nil
	case "paused": // BEP 21: a partial seed that stopped downloading; still in the swarm
		return EventNone, nil
	}
	return 0, fmt.Errorf("%w: unknown event %q", ErrBadRequest, val)
}
