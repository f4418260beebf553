package bind

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// routedPacketConn is a UDP socket that opens at its first write, bound to the address
// the system sends from towards that write's destination (the route's source address).
//
// anacrolix's UDP tracker client calls ListenPacket(network, ":0") as soon as a torrent
// names a udp:// tracker, before it knows where it will send, and keeps the socket for
// the client's life: left to net.ListenPacket, that socket listens on every address of
// the machine (0.0.0.0, or [::] also taking IPv4), although the tracker answers only the
// one address the route picks. Opening at the first write binds it to that address, and
// a socket of a family that reaches no tracker (udp6 towards an IPv4 tracker: its
// address does not resolve, nothing is written) is never opened at all.
type routedPacketConn struct {
	network, port string

	mu     sync.Mutex
	pc     net.PacketConn // nil until the first write
	closed bool
	opened chan struct{} // closed once pc is set, or on Close
}

var _ net.PacketConn = (*routedPacketConn)(nil)

// errNotOpen is returned by the deadline setters before the first write: nothing is
// bound yet to set them on (anacrolix sets none).
var errNotOpen = errors.New("bind: UDP socket not open before its first write")

func newRoutedPacketConn(network, port string) *routedPacketConn {
	return &routedPacketConn{network: network, port: port, opened: make(chan struct{})}
}

// open returns the socket, binding it first if need be to the route's source address
// towards to.
func (c *routedPacketConn) open(to net.Addr) (net.PacketConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, net.ErrClosed
	case c.pc != nil:
		return c.pc, nil
	}
	dst, ok := to.(*net.UDPAddr)
	if !ok {
		return nil, fmt.Errorf("bind: %v is not a UDP address", to)
	}
	// connect(2) on a UDP socket picks the source address and sends nothing.
	probe, err := net.DialUDP(c.network, nil, dst)
	if err != nil {
		return nil, err
	}
	src := probe.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	probe.Close()
	pc, err := net.ListenPacket(c.network, net.JoinHostPort(src.String(), c.port))
	if err != nil {
		return nil, err
	}
	c.pc = pc
	close(c.opened)
	return pc, nil
}

// current returns the socket, nil before the first write.
func (c *routedPacketConn) current() net.PacketConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pc
}

func (c *routedPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	pc, err := c.open(addr)
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: c.network, Addr: addr, Err: err}
	}
	return pc.WriteTo(b, addr)
}

// ReadFrom waits for the first write (nothing can arrive before it), then reads.
func (c *routedPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	<-c.opened
	pc := c.current()
	if pc == nil {
		return 0, nil, &net.OpError{Op: "read", Net: c.network, Err: net.ErrClosed}
	}
	return pc.ReadFrom(b)
}

func (c *routedPacketConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.closed = true
	if c.pc == nil {
		close(c.opened)
		return nil
	}
	return c.pc.Close()
}

// LocalAddr is nil before the first write: the socket is bound to nothing yet.
func (c *routedPacketConn) LocalAddr() net.Addr {
	if pc := c.current(); pc != nil {
		return pc.LocalAddr()
	}
	return nil
}

func (c *routedPacketConn) SetDeadline(t time.Time) error {
	return c.set(func(pc net.PacketConn) error { return pc.SetDeadline(t) })
}

func (c *routedPacketConn) SetReadDeadline(t time.Time) error {
	return c.set(func(pc net.PacketConn) error { return pc.SetReadDeadline(t) })
}

func (c *routedPacketConn) SetWriteDeadline(t time.Time) error {
	return c.set(func(pc net.PacketConn) error { return pc.SetWriteDeadline(t) })
}

func (c *routedPacketConn) set(f func(net.PacketConn) error) error {
	if pc := c.current(); pc != nil {
		return f(pc)
	}
	return errNotOpen
}
