package limit

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opendist/odi/internal/problem"
)

// Listener caps the connections it accepts (Config.MaxConns in all, MaxConnsPerAddr per
// address) and gives each a stall deadline on writes (Config.StallTimeout): a write that
// moves nothing for that long fails, and the server closes the connection.
type Listener struct {
	net.Listener
	cfg Config
	// proxies have no per-address cap: a trusted reverse proxy carries many clients.
	proxies []netip.Prefix

	mu     sync.Mutex
	open   int
	byAddr map[netip.Addr]int

	refusedFull, refusedAddr atomic.Int64
}

// NewListener wraps ln; cfg must be valid. Connections from proxies count against
// MaxConns only.
func NewListener(ln net.Listener, cfg Config, proxies []netip.Prefix) *Listener {
	return &Listener{Listener: ln, cfg: cfg, proxies: proxies, byAddr: map[netip.Addr]int{}}
}

// Refusals reached at the server's cap in all and at the per-address cap: for metrics.
func (l *Listener) Refusals() (full, perAddr int64) {
	return l.refusedFull.Load(), l.refusedAddr.Load()
}

// Open is the number of connections open now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Canned answers for a refused connection: the server has not read the request and will
// not, so they close the connection; HTTP clients show the status and problem instead of
// a reset.
var (
	answerFull = canned(http.StatusServiceUnavailable, "server at its connection limit; retry in 5 s")
	answerAddr = canned(http.StatusTooManyRequests, "too many connections from your address; close some, or retry in 5 s")
)

// canned is a whole HTTP/1.1 answer of status with a problem body.
func canned(status int, detail string) []byte {
	body := problem.Body(status, detail)
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), problem.ContentType, len(body), body)
}

// Accept returns the next connection within the caps; the ones beyond are answered and
// closed here, so a flood from one address never reaches the server's goroutines.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := connAddr(c)
		key := AddrKey(ip)
		if l.isProxy(ip) {
			key = netip.Addr{} // the proxies' connections share an entry with no cap
		}
		l.mu.Lock()
		var refusal []byte
		switch {
		case l.open >= l.cfg.MaxConns:
			refusal = answerFull
			l.refusedFull.Add(1)
		case key.IsValid() && l.byAddr[key] >= l.cfg.MaxConnsPerAddr:
			refusal = answerAddr
			l.refusedAddr.Add(1)
		default:
			l.open++
			l.byAddr[key]++
		}
		l.mu.Unlock()
		if refusal == nil {
			return &conn{Conn: c, l: l, key: key, stall: l.cfg.StallTimeout}, nil
		}
		// A fresh socket's send buffer takes the few bytes at once; the deadline only
		// guards against a kernel that says otherwise.
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Write(refusal)
		_ = c.Close()
	}
}

func (l *Listener) isProxy(ip netip.Addr) bool {
	for _, p := range l.proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (l *Listener) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if n := l.byAddr[key] - 1; n > 0 {
		l.byAddr[key] = n
	} else {
		delete(l.byAddr, key)
	}
}

// conn applies the stall deadline to writes, under the write deadline its user sets: each
// write gets the sooner of the two. The mutex makes "compute and set" atomic against a
// concurrent SetWriteDeadline. Reads get none here: net/http keeps a read pending while a
// handler runs and cancels the request's context when it fails, so a deadline on it would
// cut off every client that waits quietly for a long answer; request bodies get theirs
// from StallBodies.
type conn struct {
	net.Conn
	l     *Listener
	key   netip.Addr
	stall time.Duration
	once  sync.Once

	wmu   sync.Mutex
	wUser time.Time // the write deadline set by the user; zero: none
}

func (c *conn) stallWrites() error {
	d := time.Now().Add(c.stall)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.wUser.IsZero() && c.wUser.Before(d) {
		d = c.wUser
	}
	return c.Conn.SetWriteDeadline(d)
}

func (c *conn) Write(b []byte) (int, error) {
	if err := c.stallWrites(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// readFromChunk is how much ReadFrom sends under one stall deadline: small enough that a
// slow but moving client (1 MiB/min is 17 KiB/s) never meets the deadline.
const readFromChunk = 1 << 20

// ReadFrom keeps the kernel's sendfile/splice path (http.ServeContent reaches the socket
// through it) while renewing the stall deadline every chunk. A *io.LimitedReader is
// narrowed in place rather than wrapped, as the kernel path looks through one level only.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := c.Conn.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{c}, r)
	}
	outer, limited := r.(*io.LimitedReader)
	var total int64
	for {
		chunk := &io.LimitedReader{R: r, N: readFromChunk}
		if limited {
			chunk.R, chunk.N = outer.R, min(outer.N, readFromChunk)
			if chunk.N <= 0 {
				return total, nil
			}
		}
		want := chunk.N
		if err := c.stallWrites(); err != nil {
			return total, err
		}
		n, err := rf.ReadFrom(chunk)
		total += n
		if limited {
			outer.N -= n
		}
		if err != nil || n < want {
			return total, err
		}
	}
}

func (c *conn) SetDeadline(t time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wUser = t
	return c.Conn.SetDeadline(t)
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wUser = t
	return c.Conn.SetWriteDeadline(t)
}

func (c *conn) Close() error {
	c.once.Do(func() { c.l.release(c.key) })
	return c.Conn.Close()
}
