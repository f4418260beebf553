package tracker

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent/bencode"
)

// HTTPHandler serves GET /announce and GET /scrape. Client errors are answered 200 with a
// bencoded "failure reason", as BEP 3 clients expect.
func (t *Tracker) HTTPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		switch r.URL.Path {
		case "/announce":
			t.serveAnnounce(w, r)
		case "/scrape":
			t.serveScrape(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// bufs recycles response buffers and peer lists: an announce allocates almost nothing.
var bufs = sync.Pool{New: func() any { return &respBuf{} }}

type respBuf struct {
	b     []byte
	peers []chosen
}

func (t *Tracker) serveAnnounce(w http.ResponseWriter, r *http.Request) {
	rb := bufs.Get().(*respBuf)
	defer bufs.Put(rb)
	a, err := ParseAnnounceQuery(r.URL.RawQuery)
	if err != nil {
		t.metrics.announces.WithLabelValues("http", "bad_request").Inc()
		writeBencode(w, appendFailure(rb.b[:0], err))
		return
	}
	from, ok := t.peerAddr(r, a.IP, a.Port)
	if !ok {
		t.metrics.announces.WithLabelValues("http", "bad_request").Inc()
		writeBencode(w, appendFailure(rb.b[:0], errors.New("cannot tell the peer's address")))
		return
	}
	ans, err := t.announce(&a, from, rb.peers)
	if err != nil {
		t.metrics.announces.WithLabelValues("http", "refused").Inc()
		writeBencode(w, appendFailure(rb.b[:0], err))
		return
	}
	rb.peers = ans.peers
	t.metrics.announces.WithLabelValues("http", "ok").Inc()
	rb.b = appendAnnounce(rb.b[:0], &a, ans, t.cfg.Interval, t.cfg.MinInterval)
	writeBencode(w, rb.b)
}

// peerAddr is the announcing peer's address: the client's (ClientAddr), or the ip= hint
// when a trusted proxy sent the announce without X-Forwarded-For.
func (t *Tracker) peerAddr(r *http.Request, hint netip.Addr, port uint16) (netip.AddrPort, bool) {
	ip := t.ClientAddr(r)
	if !ip.IsValid() {
		return netip.AddrPort{}, false
	}
	if hint.IsValid() && t.trusted(ip) && r.Header.Get("X-Forwarded-For") == "" {
		ip = hint.Unmap()
	}
	return netip.AddrPortFrom(ip, port), true
}

// ClientAddr is the address of whoever sent r: the connection's, unless the connection
// comes from one of the trusted proxies (Config.TrustedProxies), which name the client in
// X-Forwarded-For. The directory's redirector places its users by it too. It is invalid
// when r.RemoteAddr is not an address.
func (t *Tracker) ClientAddr(r *http.Request) netip.Addr {
	remote, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := remote.Addr().Unmap()
	if !t.trusted(ip) {
		return ip
	}
	xff := r.Header.Get("X-Forwarded-For")
	// The last hop is the one our proxy saw; earlier ones are the client's word.
	if fwd, err := netip.ParseAddr(strings.TrimSpace(xff[strings.LastIndexByte(xff, ',')+1:])); err == nil {
		return fwd.Unmap()
	}
	return ip
}

func (t *Tracker) trusted(ip netip.Addr) bool {
	for _, p := range t.proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// appendAnnounce encodes an announce answer by hand: it is the hot path, and the keys
// must come in bencode's sorted order (complete, downloaded, incomplete, interval,
// min interval, peers, peers6).
func appendAnnounce(b []byte, a *Announce, ans answer, interval, minInterval time.Duration) []byte {
	b = append(b, 'd')
	b = appendInt(appendKey(b, "complete"), int64(ans.seeders))
	b = appendInt(appendKey(b, "downloaded"), ans.completed)
	b = appendInt(appendKey(b, "incomplete"), int64(ans.leechers))
	b = appendInt(appendKey(b, "interval"), int64(interval/time.Second))
	b = appendInt(appendKey(b, "min interval"), int64(minInterval/time.Second))
	b = appendKey(b, "peers")
	if !a.Compact {
		b = append(b, 'l')
		for i := range ans.peers {
			p := &ans.peers[i]
			ap := p.addrPort()
			b = append(b, 'd')
			b = appendString(appendKey(b, "ip"), ap.Addr().String())
			if !a.NoPeerID {
				b = appendBytes(appendKey(b, "peer id"), p.id[:])
			}
			b = appendInt(appendKey(b, "port"), int64(ap.Port()))
			b = append(b, 'e')
		}
		return append(b, 'e', 'e')
	}
	var n4, n6 int
	for i := range ans.peers {
		if ans.peers[i].key.is4() {
			n4++
		} else {
			n6++
		}
	}
	b = appendCompact(b, ans.peers, n4, true)
	if n6 > 0 {
		b = appendCompact(appendKey(b, "peers6"), ans.peers, n6, false)
	}
	return append(b, 'e')
}

// appendCompact writes the BEP 23 (IPv4, 6 bytes each) or BEP 7 (IPv6, 18 bytes each)
// compact string of the peers of one family.
func appendCompact(b []byte, peers []chosen, n int, v4 bool) []byte {
	size := 18
	if v4 {
		size = 6
	}
	b = strconv.AppendInt(b, int64(n*size), 10)
	b = append(b, ':')
	for i := range peers {
		k := &peers[i].key
		if k.is4() != v4 {
			continue
		}
		if v4 {
			b = append(b, k[12:]...)
		} else {
			b = append(b, k[:]...)
		}
	}
	return b
}

func appendKey(b []byte, k string) []byte { return appendString(b, k) }

func appendString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	return append(append(b, ':'), s...)
}

func appendBytes(b []byte, s []byte) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	return append(append(b, ':'), s...)
}

func appendInt(b []byte, n int64) []byte {
	return append(strconv.AppendInt(append(b, 'i'), n, 10), 'e')
}

func appendFailure(b []byte, err error) []byte {
	b = append(b, 'd')
	return append(appendString(appendKey(b, "failure reason"), err.Error()), 'e')
}

func writeBencode(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.Write(b)
}

// scrapeFile is one entry of a BEP 48 scrape answer.
type scrapeFile struct {
	Complete   int64 `bencode:"complete"`
	Downloaded int64 `bencode:"downloaded"`
	Incomplete int64 `bencode:"incomplete"`
}

func (t *Tracker) serveScrape(w http.ResponseWriter, r *http.Request) {
	ihs, err := ParseScrapeQuery(r.URL.RawQuery, t.cfg.MaxScrape)
	if err == nil && len(ihs) == 0 && !t.cfg.FullScrape {
		err = errors.New("full scrape is disabled here; name info_hash parameters")
	}
	if err != nil {
		writeBencode(w, appendFailure(nil, err))
		return
	}
	var b []byte
	if len(ihs) > 0 {
		b, err = t.encodeScrape(ihs)
	} else {
		b, err = t.fullScrape()
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	t.metrics.scrapes.WithLabelValues("http").Inc()
	writeBencode(w, b)
}

// fullScrapeTTL is how long one full scrape's answer is served to all: building it costs
// O(catalog), some 10 ms of CPU for 5,000 artifacts (measured: about 2,500 announces'
// worth), which anonymous clients must not get to spend per request. A full scrape's
// counts are this stale at most.
const fullScrapeTTL = 10 * time.Second

// fullScrape returns the answer to a scrape of every catalog swarm, built at most once
// per fullScrapeTTL. The bytes are shared: callers must not change them.
func (t *Tracker) fullScrape() ([]byte, error) {
	t.fullMu.Lock()
	defer t.fullMu.Unlock()
	now := t.now()
	if t.full == nil || now.Sub(t.fullAt) >= fullScrapeTTL || now.Before(t.fullAt) {
		b, err := t.encodeScrape(t.catalog.Trackables())
		if err != nil {
			return nil, err
		}
		t.full, t.fullAt = b, now
	}
	return t.full, nil
}

// encodeScrape encodes the BEP 48 answer for ihs; those outside the catalog are left out.
func (t *Tracker) encodeScrape(ihs [][20]byte) ([]byte, error) {
	files := make(map[string]scrapeFile, len(ihs))
	for i, s := range t.scrape(ihs) {
		if s.tracked {
			files[string(ihs[i][:])] = scrapeFile{int64(s.Seeders), s.Completed, int64(s.Leechers)}
		}
	}
	b, err := bencode.Marshal(map[string]any{"files": files})
	if err != nil {
		return nil, fmt.Errorf("encode scrape: %w", err)
	}
	return b, nil
}

// addrPort turns a peer key back into an address.
func (c *chosen) addrPort() netip.AddrPort {
	ip := netip.AddrFrom16([16]byte(c.key[:16])).Unmap()
	return netip.AddrPortFrom(ip, uint16(c.key[16])<<8|uint16(c.key[17]))
}
