package tracker

import (
	"net/http/httptest"
	"testing"
)

func TestClientAddr(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TrustedProxies = []string{"10.0.0.0/8", "::1/128"}
	proxies, err := cfg.Proxies()
	if err != nil {
		t.Fatal(err)
	}
	tr := &Tracker{proxies: proxies}
	tests := []struct {
		remote, xff, want string
	}{
		{"192.0.2.1:5000", "", "192.0.2.1"},
		{"192.0.2.1:5000", "198.51.100.7", "192.0.2.1"},                // not a proxy of ours
		{"10.1.2.3:5000", "198.51.100.7", "198.51.100.7"},              // our proxy names the client
		{"10.1.2.3:5000", "203.0.113.9, 198.51.100.7", "198.51.100.7"}, // the hop it saw, not the client's word
		{"10.1.2.3:5000", "198.51.100.7, not-an-address", "10.1.2.3"},
		{"10.1.2.3:5000", "", "10.1.2.3"},
		{"[::1]:5000", " 2001:db8::7 ", "2001:db8::7"},
		{"[::ffff:10.1.2.3]:5000", "::ffff:198.51.100.7", "198.51.100.7"},
		{"not an address", "198.51.100.7", "invalid IP"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/r/debian/netinst/12.5", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := tr.ClientAddr(r); got.String() != tt.want {
			t.Errorf("ClientAddr(from %s, X-Forwarded-For %q) = %s; want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}
