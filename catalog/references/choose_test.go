package references

import (
	"net/netip"
	"testing"
)

func TestChoose(t *testing.T) {
	de := Choice{Countries: []string{"DE"}, Healthy: true, Hash: 1}
	eu := Choice{Continents: []string{"EU"}, Healthy: true, Hash: 2}
	us := Choice{Countries: []string{"US"}, Default: true, Healthy: true, Hash: 3}
	plain := Choice{Healthy: true, Hash: 4}
	down := func(c Choice) Choice { c.Healthy = false; return c }
	tests := []struct {
		name               string
		dirs               []Choice
		country, continent string
		want               int
	}{
		{"country first", []Choice{eu, de, us}, "DE", "EU", 1},
		{"continent next", []Choice{de, eu, us}, "FR", "EU", 1},
		{"default next", []Choice{de, eu, us}, "JP", "AS", 2},
		{"any healthy last", []Choice{de, plain}, "JP", "AS", -2},
		{"unknown user goes to default", []Choice{de, eu, us}, "", "", 2},
		{"country down: continent", []Choice{down(de), eu, us}, "DE", "EU", 1},
		{"country and continent down: default", []Choice{down(de), down(eu), us}, "DE", "EU", 2},
		{"only one left", []Choice{down(de), down(eu), down(us), plain}, "DE", "EU", 3},
		{"none healthy", []Choice{down(de), down(us)}, "DE", "EU", -1},
		{"nothing", nil, "DE", "EU", -1},
		// "NA" as a country (Namibia) is not North America's continent code.
		{"continent code is no country", []Choice{{Continents: []string{"NA"}, Healthy: true}, us}, "NA", "AF", 1},
	}
	for _, tt := range tests {
		got := Choose(tt.dirs, tt.country, tt.continent, 42)
		if tt.want == -2 { // any of the healthy ones
			if got < 0 || !tt.dirs[got].Healthy {
				t.Errorf("%s: Choose = %d, want a healthy directory", tt.name, got)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("%s: Choose = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestChooseSpreadsAndSticks: users of one tier spread over its directories, each user
// keeps to one, and a directory that leaves moves only its own users.
func TestChooseSpreadsAndSticks(t *testing.T) {
	dirs := []Choice{
		{Default: true, Healthy: true, Hash: hashBytes([]byte("http://a.example"))},
		{Default: true, Healthy: true, Hash: hashBytes([]byte("http://b.example"))},
		{Default: true, Healthy: true, Hash: hashBytes([]byte("http://c.example"))},
	}
	const users = 3000
	count := make([]int, len(dirs))
	first := make([]int, users)
	for u := range users {
		a := netip.AddrFrom4([4]byte{10, byte(u >> 16), byte(u >> 8), byte(u)}).As16()
		first[u] = Choose(dirs, "", "", hashBytes(a[:]))
		count[first[u]]++
		if again := Choose(dirs, "", "", hashBytes(a[:])); again != first[u] {
			t.Fatalf("user %d: chose %d, then %d", u, first[u], again)
		}
	}
	for i, n := range count {
		if n < users/3*8/10 || n > users/3*12/10 {
			t.Errorf("directory %d took %d of %d users, want about a third", i, n, users)
		}
	}
	dirs[1].Healthy = false
	for u := range users {
		a := netip.AddrFrom4([4]byte{10, byte(u >> 16), byte(u >> 8), byte(u)}).As16()
		got := Choose(dirs, "", "", hashBytes(a[:]))
		if first[u] != 1 && got != first[u] {
			t.Fatalf("user %d moved from %d to %d when directory 1 left", u, first[u], got)
		}
		if got == 1 {
			t.Fatalf("user %d sent to the unhealthy directory", u)
		}
	}
}

func TestParseRegion(t *testing.T) {
	for in, want := range map[string]string{"DE": "DE", "de": "DE", "eu": "EU", "NA": "NA", "Default": "default", "us": "US"} {
		if got, _, err := parseRegion(in); err != nil || got != want {
			t.Errorf("parseRegion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "D", "DEU", "276", "XX", "ZZ", "QO", "europe", "001"} {
		if got, _, err := parseRegion(in); err == nil {
			t.Errorf("parseRegion(%q) = %q, want an error", in, got)
		}
	}
}
