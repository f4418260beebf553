package bind

import (
	"errors"
	"net"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", true}, {"127.0.0.7", "127.0.0.7", true}, {"::1", "::1", true},
		{"::ffff:127.0.0.2", "127.0.0.2", true}, {"nope", "", false}, {"fe80::1%eth0", "", false},
		{"127.0.0.1:80", "", false},
	} {
		h, err := Parse(tt.in)
		if (err == nil) != tt.ok || h.String() != tt.want {
			t.Errorf("Parse(%q) = %q, %v; want %q, ok %v", tt.in, h, err, tt.want, tt.ok)
		}
	}
}

// A Host's UDP socket is bound to it; the zero Host's, and one of the other family
// than the Host's, is bound at its first write to the source address towards the
// destination: loopback here, never 0.0.0.0 or [::].
func TestListenPacket(t *testing.T) {
	echo4, echo6 := startEcho(t, "udp4", "127.0.0.1:0"), startEcho(t, "udp6", "[::1]:0")
	for _, tt := range []struct {
		host, network string
		to            net.Addr
		bound, want   string
	}{
		{"127.0.0.7", "udp4", echo4, "127.0.0.7", "127.0.0.7"},
		{"127.0.0.7", "udp", echo4, "127.0.0.7", "127.0.0.7"},
		{"127.0.0.7", "udp6", echo6, "", "::1"},
		{"", "udp4", echo4, "", "127.0.0.1"},
		{"", "udp", echo4, "", "127.0.0.1"},
		{"", "udp6", echo6, "", "::1"},
		{"::1", "udp4", echo4, "", "127.0.0.1"},
	} {
		name := tt.host + " over " + tt.network
		pc, err := bindTo(t, tt.host).ListenPacket(tt.network, ":0")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := hostOf(pc.LocalAddr()); got != tt.bound {
			t.Errorf("%s: bound to %q before a write, want %q", name, got, tt.bound)
		}
		if _, err := pc.WriteTo([]byte("ping"), tt.to); err != nil {
			t.Fatalf("%s: write: %v", name, err)
		}
		if got := hostOf(pc.LocalAddr()); got != tt.want {
			t.Errorf("%s: bound to %q, want %q", name, got, tt.want)
		}
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 64)
		if n, _, err := pc.ReadFrom(b); err != nil || string(b[:n]) != "ping" {
			t.Errorf("%s: read %q, %v; want the echo", name, b[:n], err)
		}
		pc.Close()
	}
}

// startEcho starts a UDP server on address that sends every packet back, and returns
// its address.
func startEcho(t *testing.T, network, address string) net.Addr {
	t.Helper()
	pc, err := net.ListenPacket(network, address)
	if err != nil {
		t.Skipf("no %s socket on %s here: %v", network, address, err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		b := make([]byte, 64)
		for {
			n, from, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			pc.WriteTo(b[:n], from)
		}
	}()
	return pc.LocalAddr()
}

// A socket never written to binds nothing, and Close ends a read waiting for it, as
// anacrolix's tracker client reads from the moment it opens one.
func TestListenPacketNeverWritten(t *testing.T) {
	pc, err := Host{}.ListenPacket("udp6", ":0")
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan error, 1)
	go func() {
		_, _, err := pc.ReadFrom(make([]byte, 1))
		read <- err
	}()
	if pc.LocalAddr() != nil {
		t.Errorf("bound to %v before any write", pc.LocalAddr())
	}
	pc.Close()
	if err := <-read; !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after Close: %v, want net.ErrClosed", err)
	}
	if _, err := pc.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv6loopback, Port: 9}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after Close: %v, want net.ErrClosed", err)
	}
}

func bindTo(t *testing.T, ip string) Host {
	t.Helper()
	h, err := Parse(ip)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// hostOf is a's IP address, "" for none.
func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.(*net.UDPAddr).AddrPort().Addr().Unmap().String()
}
