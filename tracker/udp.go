package tracker

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/anacrolix/torrent/tracker/udp"
)

// BEP 15 packet layout.
const (
	udpHeaderLen   = 16 // connection id, action, transaction id
	udpAnnounceLen = 98
	udpScrapeEntry = 20
	// udpMaxScrape is BEP 15's limit: 74 infohashes fill a 1500-byte packet.
	udpMaxScrape = 74
)

// UDPRequest is a parsed BEP 15 request header.
type UDPRequest struct {
	ConnectionID  uint64
	Action        udp.Action
	TransactionID uint32
}

// ParseUDPRequest reads the header every BEP 15 request starts with.
func ParseUDPRequest(b []byte) (UDPRequest, error) {
	if len(b) < udpHeaderLen {
		return UDPRequest{}, fmt.Errorf("%w: %d-byte packet, shorter than a header", ErrBadRequest, len(b))
	}
	return UDPRequest{
		ConnectionID:  binary.BigEndian.Uint64(b[0:8]),
		Action:        udp.Action(int32(binary.BigEndian.Uint32(b[8:12]))),
		TransactionID: binary.BigEndian.Uint32(b[12:16]),
	}, nil
}

// ParseUDPAnnounce reads a BEP 15 announce packet (header included); BEP 41 options
// after the fixed part are ignored.
func ParseUDPAnnounce(b []byte) (Announce, error) {
	a := Announce{Compact: true}
	if len(b) < udpAnnounceLen {
		return a, fmt.Errorf("%w: %d-byte announce, need %d", ErrBadRequest, len(b), udpAnnounceLen)
	}
	copy(a.InfoHash[:], b[16:36])
	copy(a.PeerID[:], b[36:56])
	a.Downloaded = int64(binary.BigEndian.Uint64(b[56:64]))
	a.Left = int64(binary.BigEndian.Uint64(b[64:72]))
	a.Uploaded = int64(binary.BigEndian.Uint64(b[72:80]))
	if a.Downloaded < 0 || a.Uploaded < 0 {
		return a, fmt.Errorf("%w: negative byte counter", ErrBadRequest)
	}
	if a.Left < 0 {
		a.Left = -1 // unknown: a leecher that has no metadata yet
	}
	switch ev := binary.BigEndian.Uint32(b[80:84]); ev {
	case 0, 1, 2, 3:
		a.Event = Event(ev)
	default:
		return a, fmt.Errorf("%w: unknown event %d", ErrBadRequest, ev)
	}
	a.NumWant = int(int32(binary.BigEndian.Uint32(b[92:96])))
	if a.NumWant < -1 {
		return a, fmt.Errorf("%w: num_want %d", ErrBadRequest, a.NumWant)
	}
	a.Port = binary.BigEndian.Uint16(b[96:98])
	if a.Port == 0 {
		return a, fmt.Errorf("%w: port 0", ErrBadRequest)
	}
	return a, nil
}

// ParseUDPScrape returns the infohashes of a BEP 15 scrape packet.
func ParseUDPScrape(b []byte) ([][20]byte, error) {
	body := b[min(len(b), udpHeaderLen):]
	n := len(body) / udpScrapeEntry
	switch {
	case n == 0:
		return nil, fmt.Errorf("%w: scrape without infohashes", ErrBadRequest)
	case len(body)%udpScrapeEntry != 0:
		return nil, fmt.Errorf("%w: scrape body of %d bytes is not whole infohashes", ErrBadRequest, len(body))
	case n > udpMaxScrape:
		return nil, fmt.Errorf("%w: more than %d infohashes in one scrape", ErrBadRequest, udpMaxScrape)
	}
	out := make([][20]byte, n)
	for i := range out {
		copy(out[i][:], body[i*udpScrapeEntry:])
	}
	return out, nil
}

// connIDWindow is how long one connection id window lasts; ids from the current and
// previous window are accepted, so an id lives one to two minutes (BEP 15 asks for ~2).
const connIDWindow = time.Minute

// connID is a keyed MAC of the client's address and the time window: it cannot be forged
// without the key and needs no state. sha256(key || message) is a sound MAC here because
// the message has a fixed length.
func (t *Tracker) connID(ip netip.Addr, window int64) uint64 {
	var msg [32 + 8 + 16]byte
	copy(msg[:32], t.connKey[:])
	binary.BigEndian.PutUint64(msg[32:40], uint64(window))
	ip16 := ip.Unmap().As16()
	copy(msg[40:], ip16[:])
	sum := sha256.Sum256(msg[:])
	return binary.BigEndian.Uint64(sum[:8])
}

func (t *Tracker) validConnID(id uint64, ip netip.Addr, now time.Time) bool {
	w := now.Unix() / int64(connIDWindow/time.Second)
	return id == t.connID(ip, w) || id == t.connID(ip, w-1)
}

// ServeUDP answers BEP 15 requests on conn until ctx ends, with one reader per CPU.
// A packet whose sender allow refuses (a rate per address; nil allows all) is dropped
// unanswered: an answer would be traffic sent to a maybe forged source.
func (t *Tracker) ServeUDP(ctx context.Context, conn *net.UDPConn, allow func(netip.Addr) bool) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var wg sync.WaitGroup
	errs := make(chan error, runtime.GOMAXPROCS(0))
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() { errs <- t.udpLoop(conn, allow) })
	}
	wg.Wait()
	close(errs)
	if ctx.Err() != nil {
		return nil
	}
	return <-errs
}

func (t *Tracker) udpLoop(conn *net.UDPConn, allow func(netip.Addr) bool) error {
	in := make([]byte, 2048)
	var out []byte
	var peers []chosen
	for {
		n, from, err := conn.ReadFromUDPAddrPort(in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			continue // a transient read error (e.g. ICMP unreachable) is not fatal
		}
		if allow != nil && !allow(from.Addr()) {
			t.metrics.announces.WithLabelValues("udp", "rate_limited").Inc()
			continue
		}
		out, peers = t.handleUDP(in[:n], from, out[:0], peers[:0])
		if len(out) > 0 {
			conn.WriteToUDPAddrPort(out, from)
		}
	}
}

// handleUDP answers one packet into out; an empty answer means the packet is dropped.
func (t *Tracker) handleUDP(b []byte, from netip.AddrPort, out []byte, peers []chosen) ([]byte, []chosen) {
	req, err := ParseUDPRequest(b)
	if err != nil {
		return out, peers // no transaction id to answer to
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	now := t.now()
	if req.Action == udp.ActionConnect {
		if req.ConnectionID != udp.ConnectRequestConnectionId {
			return udpError(out, req, len(b), errors.New("connect needs the BEP 15 protocol id")), peers
		}
		out = appendU32(appendU32(out, uint32(udp.ActionConnect)), req.TransactionID)
		w := now.Unix() / int64(connIDWindow/time.Second)
		return binary.BigEndian.AppendUint64(out, t.connID(from.Addr(), w)), peers
	}
	if !t.validConnID(req.ConnectionID, from.Addr(), now) {
		t.metrics.announces.WithLabelValues("udp", "bad_request").Inc()
		return udpError(out, req, len(b), errors.New("unknown or expired connection id; connect again")), peers
	}
	switch req.Action {
	case udp.ActionAnnounce:
		a, err := ParseUDPAnnounce(b)
		if err != nil {
			t.metrics.announces.WithLabelValues("udp", "bad_request").Inc()
			return udpError(out, req, len(b), err), peers
		}
		ans, err := t.announce(&a, netip.AddrPortFrom(from.Addr(), a.Port), peers)
		if err != nil {
			t.metrics.announces.WithLabelValues("udp", "refused").Inc()
			return udpError(out, req, len(b), err), peers
		}
		t.metrics.announces.WithLabelValues("udp", "ok").Inc()
		out = appendU32(appendU32(out, uint32(udp.ActionAnnounce)), req.TransactionID)
		out = appendU32(out, uint32(t.cfg.Interval/time.Second))
		out = appendU32(appendU32(out, uint32(ans.leechers)), uint32(ans.seeders))
		// BEP 15: the answer's addresses are of the request's family.
		v4 := from.Addr().Is4()
		for i := range ans.peers {
			k := &ans.peers[i].key
			switch {
			case v4 && k.is4():
				out = append(out, k[12:]...)
			case !v4 && !k.is4():
				out = append(out, k[:]...)
			}
		}
		return out, ans.peers
	case udp.ActionScrape:
		ihs, err := ParseUDPScrape(b)
		if err != nil {
			return udpError(out, req, len(b), err), peers
		}
		t.metrics.scrapes.WithLabelValues("udp").Inc()
		out = appendU32(appendU32(out, uint32(udp.ActionScrape)), req.TransactionID)
		for _, e := range t.scrape(ihs) {
			out = appendU32(appendU32(appendU32(out, uint32(e.Seeders)), uint32(e.Completed)), uint32(e.Leechers))
		}
		return out, peers
	}
	return udpError(out, req, len(b), fmt.Errorf("unknown action %d", req.Action)), peers
}

// udpErrorHeader is an error answer's action and transaction id.
const udpErrorHeader = 8

// udpError appends an error answer to req, a request of reqLen bytes, to out, its
// message cut (at a character's start) so that the answer is no longer than the request.
// A request without a valid connection id may come from a forged address, and a longer
// answer would let anyone amplify traffic at a victim through us (BEP 15's reason for
// connection ids); every error answer is cut alike, so no path can forget to. An
// announce still leaves 90 bytes of reason. The connect answer (16 bytes, the shortest
// request) is the only other answer a sender gets before it holds a valid id.
func udpError(out []byte, req UDPRequest, reqLen int, err error) []byte {
	out = appendU32(appendU32(out, uint32(udp.ActionError)), req.TransactionID)
	msg := err.Error()
	if room := max(reqLen-udpErrorHeader, 0); len(msg) > room {
		for room > 0 && !utf8.RuneStart(msg[room]) {
			room--
		}
		msg = msg[:room]
	}
	return append(out, msg...)
}

func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
