package client

import "testing"

func TestParseRef(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Ref
		ok   bool
	}{
		{"debian/netinst", Ref{"debian", "netinst", ""}, true},
		{"debian/netinst@12.5.0", Ref{"debian", "netinst", "12.5.0"}, true},
		{"debian/netinst/12.5.0", Ref{"debian", "netinst", "12.5.0"}, true},
		{"debian/netinst@latest", Ref{"debian", "netinst", ""}, true},
		{"debian/netinst/LATEST", Ref{"debian", "netinst", ""}, true},
		{"debian", Ref{}, false},
		{"debian/", Ref{}, false},
		{"/netinst", Ref{}, false},
		{"debian/netinst@", Ref{}, false},
		{"debian/netinst/1@2", Ref{}, false},
		{"debian/net inst", Ref{}, false},
		{"debian/netinst@1@2", Ref{}, false},
		{"a/b/c/d", Ref{}, false},
	} {
		got, err := ParseRef(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v, ok %t", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
