package netcheck

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	refused := []string{
		// IPv4 ranges
		"0.0.0.0", "0.1.2.3", "10.0.0.1", "100.64.0.1", "100.127.255.254", "127.0.0.1", "127.255.0.1",
		"169.254.169.254", "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.0.2.1", "192.88.99.1",
		"192.168.1.1", "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9",
		"224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
		// IPv4-mapped
		"::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:100.64.0.1", "::ffff:0.0.0.0", "::ffff:169.254.169.254",
		// IPv4-compatible, unspecified, loopback
		"::", "::1", "::127.0.0.1", "::8.8.8.8", "::a00:1",
		// NAT64 with a private IPv4 inside, local-use NAT64
		"64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b::10.0.0.1", "64:ff9b:1::8.8.8.8",
		// 6to4 with a private IPv4 inside
		"2002:7f00:1::1", "2002:a00:1::", "2002:c0a8:101::1", "2002:6440:1::1",
		// IPv6 ranges
		"100::1", "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:10::1", "2001:db8::1", "3fff::1",
		"5f00::1", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "fec0::1",
		"ff02::1", "ff05::1:3", "ff0e::1",
	}
	for _, s := range refused {
		err := Check(netip.MustParseAddr(s))
		if !errors.Is(err, ErrNotPublic) {
			t.Errorf("Check(%s) = %v, want ErrNotPublic", s, err)
			continue
		}
		if !strings.Contains(err.Error(), "RFC") && !strings.Contains(err.Error(), "invalid") {
			t.Errorf("Check(%s) = %q: names no range", s, err)
		}
	}
	public := []string{
		"8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.1", "172.15.255.255", "172.32.0.1",
		"192.0.1.1", "192.169.0.1", "198.17.255.255", "198.20.0.1", "223.255.255.255",
		"::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1",
		"2001:4860:4860::8888", "2a00:1450:4001::1", "2606:4700::1111",
	}
	for _, s := range public {
		if err := Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("Check(%s) = %v, want nil", s, err)
		}
	}
	if Public(netip.Addr{}) {
		t.Error("the zero Addr is public")
	}
}

func TestControl(t *testing.T) {
	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{"[::127.0.0.1]:80", false},
		{"127.0.0.1:80", false},
		{"[::ffff:127.0.0.1]:443", false},
		{"[64:ff9b::7f00:1]:80", false},
		{"localhost:80", false}, // not an address: never dialled unresolved
		{"8.8.8.8:53", true},
		{"[2001:4860:4860::8888]:443", true},
	} {
		err := Control("tcp", c.addr, nil)
		if (err == nil) != c.ok {
			t.Errorf("Control(%s) = %v, want ok %v", c.addr, err, c.ok)
		}
	}
}

// TestDialerRefuses dials through a net.Dialer with Control, as the directory's probes
// do: [::127.0.0.1] and a loopback listener are refused before any connection.
func TestDialerRefuses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := &net.Dialer{Control: Control}
	for _, addr := range []string{ln.Addr().String(), "[::127.0.0.1]:1"} {
		c, err := d.Dial("tcp", addr)
		if err == nil {
			c.Close()
			t.Errorf("dialled %s", addr)
			continue
		}
		if !errors.Is(err, ErrNotPublic) {
			t.Errorf("dial %s: %v, want ErrNotPublic", addr, err)
		}
	}
}
