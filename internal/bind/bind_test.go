package bind

import (
	"net"
	"testing"
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

// A UDP socket of each family opens for a host of either family (anacrolix's UDP
// tracker client asks for both and panics on an error), bound to the host where the
// family is the host's.
func TestPacketHost(t *testing.T) {
	for _, tt := range []struct{ host, network, want string }{
		{"127.0.0.7", "udp4", "127.0.0.7"},
		{"127.0.0.7", "udp", "127.0.0.7"},
		{"127.0.0.7", "udp6", "::1"},
		{"192.0.2.1", "udp6", "::"},
		{"::1", "udp4", "127.0.0.1"},
		{"2001:db8::1", "udp4", "0.0.0.0"},
	} {
		h, err := Parse(tt.host)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.packetHost(tt.network).String(); got != tt.want {
			t.Errorf("%s over %s: bind %s, want %s", tt.host, tt.network, got, tt.want)
		}
	}
	h, _ := Parse("127.0.0.7")
	for _, network := range []string{"udp4", "udp6"} {
		c, err := net.ListenPacket(network, net.JoinHostPort(h.packetHost(network).String(), "0"))
		if err != nil {
			t.Errorf("%s socket for 127.0.0.7: %v", network, err)
			continue
		}
		c.Close()
	}
}
