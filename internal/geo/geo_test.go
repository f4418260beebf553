package geo

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/opendist/odi/internal/geo/geotest"
)

// mustOpen opens a small country database and closes it when the test ends.
func mustOpen(tb testing.TB) *Locator {
	tb.Helper()
	l, err := Open(geotest.WriteDB(tb, "GeoLite2-Country", map[string]mmdbtype.Map{
		"81.2.69.0/24":   geotest.Place("GB", "EU"),
		"89.160.20.0/24": geotest.Place("SE", "EU"),
		"2001:480::/32":  geotest.Place("US", "NA"),
		// Only the registration is known, as for anycast networks.
		"1.128.0.0/16": {
			"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("AU")},
			"continent":          mmdbtype.Map{"code": mmdbtype.String("OC")},
		},
	}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Error(err)
		}
	})
	return l
}

func TestLocate(t *testing.T) {
	l := mustOpen(t)
	tests := []struct {
		addr               string
		country, continent string
	}{
		{"81.2.69.160", "GB", "EU"},
		{"89.160.20.1", "SE", "EU"},
		{"::ffff:81.2.69.160", "GB", "EU"},
		{"2001:480::1", "US", "NA"},
		{"1.128.0.1", "AU", "OC"},
		{"8.8.8.8", "", ""},
		{"127.0.0.1", "", ""},
		{"::1", "", ""},
		{"10.1.2.3", "", ""},
		{"fe80::1", "", ""},
	}
	for _, tt := range tests {
		country, continent := l.Locate(netip.MustParseAddr(tt.addr))
		if country != tt.country || continent != tt.continent {
			t.Errorf("Locate(%s) = %q, %q; want %q, %q", tt.addr, country, continent, tt.country, tt.continent)
		}
	}
	if country, continent := l.Locate(netip.Addr{}); country != "" || continent != "" {
		t.Errorf("Locate(zero Addr) = %q, %q; want empty", country, continent)
	}
}

func TestOpenRefuses(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"missing": filepath.Join(t.TempDir(), "none.mmdb"),
		"garbage": garbage,
		"asn": geotest.WriteDB(t, "GeoLite2-ASN", map[string]mmdbtype.Map{
			"81.2.69.0/24": {"autonomous_system_number": mmdbtype.Uint32(20712)},
		}),
		"unknown type": geotest.WriteDB(t, "Odi-Test", map[string]mmdbtype.Map{"81.2.69.0/24": geotest.Place("GB", "EU")}),
	} {
		if l, err := Open(path); err == nil {
			l.Close()
			t.Errorf("Open(%s database) succeeded; want an error", name)
		}
	}
}

func BenchmarkLocate(b *testing.B) {
	l := mustOpen(b)
	addr := netip.MustParseAddr("81.2.69.160")
	b.ReportAllocs()
	for b.Loop() {
		l.Locate(addr)
	}
}
