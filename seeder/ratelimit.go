package seeder

import (
	"context"
	"io"
	"net"

	"golang.org/x/time/rate"
)

// Bandwidth is shaped per connection, on the socket: anacrolix's own UploadRateLimiter
// stalls uploads for up to a minute at a time in v1.61.0 (see docs/architecture.md), and
// shaping the socket covers BitTorrent peers and HTTP web-seed serving alike.

// newLimiter returns a token bucket of bytesPerSec, or nil for unlimited. The burst is
// 64 KiB or a quarter second of traffic, whichever is larger: small enough to keep the
// rate smooth, large enough that one 16 KiB BitTorrent block never waits twice.
func newLimiter(bytesPerSec int64) *rate.Limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(bytesPerSec), int(max(64<<10, bytesPerSec/4)))
}

// limitedConn waits on up before each write and on down after each read.
type limitedConn struct {
	net.Conn
	up, down *rate.Limiter
}

func (c *limitedConn) Write(b []byte) (int, error) {
	if c.up == nil {
		return c.Conn.Write(b)
	}
	var written int
	for len(b) > 0 {
		chunk := min(len(b), c.up.Burst())
		if err := c.up.WaitN(context.Background(), chunk); err != nil {
			return written, err
		}
		n, err := c.Conn.Write(b[:chunk])
		written += n
		if err != nil {
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}

func (c *limitedConn) Read(b []byte) (int, error) { return readLimited(c.Conn, c.down, b) }

// limitedReader waits on down after each read: warm start's HTTP response bodies, shaped
// like the sockets.
type limitedReader struct {
	r    io.Reader
	down *rate.Limiter
}

func (lr limitedReader) Read(b []byte) (int, error) { return readLimited(lr.r, lr.down, b) }

// readLimited reads at most one burst of down (nil: unlimited) and waits for the bytes read.
func readLimited(r io.Reader, down *rate.Limiter, b []byte) (int, error) {
	if down == nil {
		return r.Read(b)
	}
	if len(b) > down.Burst() {
		b = b[:down.Burst()]
	}
	n, err := r.Read(b)
	if n > 0 {
		if werr := down.WaitN(context.Background(), n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

// limitedListener shapes every accepted connection.
type limitedListener struct {
	net.Listener
	up, down *rate.Limiter
}

func (l *limitedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &limitedConn{Conn: c, up: l.up, down: l.down}, nil
}

// limitedDialer dials peers over TCP and shapes the connections; it is an anacrolix
// torrent.Dialer.
type limitedDialer struct {
	dialer   net.Dialer
	up, down *rate.Limiter
}

func (d *limitedDialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := d.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &limitedConn{Conn: c, up: d.up, down: d.down}, nil
}

func (d *limitedDialer) DialerNetwork() string { return "tcp" }
