package version

import (
	"testing"
	"time"
)

func TestCompare(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		// Numbers by value, not by text.
		{"1.10", "1.9", 1},
		{"12.5.0", "12.4.10", 1},
		{"2.0.10", "2.0.9", 1},
		{"1.2.3", "1.2.3", 0},
		{"99999999999999999999999.1", "99999999999999999999998.2", 1}, // longer than int64
		// Dates, dotted or not.
		{"2024.01.15", "2023.12.31", 1},
		{"20240115", "20231231", 1},
		{"24.04", "22.04.5", 1},
		{"22.04.5", "22.04", 1},
		// Leading zeros are only padding: 1.0 equals 1.00, as in dpkg.
		{"1.0", "1.00", 0},
		{"1.01", "1.1", 0},
		{"1.0", "1.0.0", -1},
		// A leading v is ignored, but only before a digit.
		{"v1.2", "1.2", 0},
		{"V1.3", "1.2", 1},
		{"v2.0.0-rc1", "2.0.0", -1},
		{"vim9", "vim8", 1},
		// Debian: ~ before everything, letters before other characters, epochs first.
		{"1.0~beta", "1.0", -1},
		{"1.0~beta1", "1.0~beta2", -1},
		{"1.0~~", "1.0~", -1},
		{"1.0a", "1.0", 1},
		{"1.0a", "1.0-", -1},
		{"1.0a", "1.0.1", -1},
		{"1:1.0", "2.0", 1},
		{"0:1.0", "1.0", 0},
		{"2:0.1", "1:9.9", 1},
		{"1.0-1", "1.0-2", -1},
		{"2.36-9+deb12u4", "2.36-9", 0}, // "+..." is build metadata
		// Semver pre-releases sort before their release.
		{"2.0.0-rc1", "2.0.0", -1},
		{"2.0.0-rc1", "2.0.0-rc2", -1},
		{"2.0.0-rc2", "2.0.0-rc10", -1},
		{"2.0.0", "2.0.1", -1},
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-beta", -1},
		{"1.0.0-beta.11", "1.0.0-rc.1", -1},
		{"1.0.0-RC1", "1.0.0", -1},
		{"3.12.0-a4", "3.12.0-b1", -1},
		{"6.8-dev", "6.8", -1},
		{"2.0.0-pre", "1.9.9", 1},
		{"1.0.0+build.5", "1.0.0+build.7", 0},
		{"1.0.0-rc1+build.5", "1.0.0", -1},
		// A hyphen that is not a pre-release stays a hyphen: after the release.
		{"1.0.0-1", "1.0.0", 1},
		{"1.0.0-beta-2", "1.0.0", 1},
		{"1.0.0-rcx", "1.0.0", 1},
		// Any string is accepted.
		{"", "", 0},
		{"", "0", 0},
		{"", "1", -1},
		{":", "", 1},
		{"v", "1", 1},
	} {
		if got := Compare(tt.a, tt.b); got != tt.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := Compare(tt.b, tt.a); got != -tt.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

// samples mixes the shapes the table covers, so the order's properties are checked across
// them and not only within one style.
var samples = []string{
	"", "0", "1", "1.0", "1.00", "1.0.0", "v1.0", "1.0~beta", "1.0~beta1", "1.0-rc1", "1.0-1",
	"1.0a", "1.0+b", "1.9", "1.10", "1:1.0", "1:0.9", "2.0", "2.0.0-rc1", "2.0.0-rc.2",
	"2.0.0-alpha", "2.0.0", "2.0.1", "12.4.10", "12.5.0", "22.04.5", "24.04", "2023.12.31",
	"2024.01.15", "20231231", "20240115", "~", "~~", "a", "A", "-", ".", "v", "10:0", "1.0~",
}

// TestCompareTotalOrder checks that Compare is a total preorder: reflexive, antisymmetric
// and transitive (for both "before" and "equal") over every pair and triple of samples.
func TestCompareTotalOrder(t *testing.T) {
	for _, a := range samples {
		if c := Compare(a, a); c != 0 {
			t.Errorf("Compare(%q, %q) = %d, want 0", a, a, c)
		}
		for _, b := range samples {
			ab := Compare(a, b)
			if ba := Compare(b, a); ab != -ba {
				t.Errorf("Compare(%q, %q) = %d but Compare(%q, %q) = %d", a, b, ab, b, a, ba)
			}
			for _, c := range samples {
				bc, ac := Compare(b, c), Compare(a, c)
				if ab <= 0 && bc <= 0 && ac > 0 || ab == 0 && bc == 0 && ac != 0 {
					t.Errorf("not transitive: %q %+d %q, %q %+d %q, but %q %+d %q", a, ab, b, b, bc, c, a, ac, c)
				}
			}
		}
	}
}

func FuzzCompare(f *testing.F) {
	for i := range samples {
		f.Add(samples[i], samples[(i+1)%len(samples)])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := Compare(a, b), Compare(b, a)
		if ab != -ba || ab < -1 || ab > 1 {
			t.Fatalf("Compare(%q, %q) = %d, Compare(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		if Compare(a, a) != 0 {
			t.Fatalf("Compare(%q, %q) != 0", a, a)
		}
	})
}

func TestNewer(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	for _, tt := range []struct {
		a      string
		aTime  time.Time
		b      string
		bTime  time.Time
		want   bool
		reason string
	}{
		{"2.10.0", t0, "2.9.0", t1, true, "a backport published later does not win"},
		{"2.9.0", t1, "2.10.0", t0, false, "a backport published later does not win"},
		{"1.00", t1, "1.0", t0, true, "equal versions: the later publish wins"},
		{"1.0", t0, "1.00", t1, false, "equal versions: the later publish wins"},
		{"v1.0", t0, "1.0", t0, true, "equal versions and times: the larger string wins"},
		{"1.0", t0, "v1.0", t0, false, "equal versions and times: the larger string wins"},
		{"1.0", t0, "1.0", t0, false, "an artifact is not newer than itself"},
	} {
		if got := Newer(tt.a, tt.aTime, tt.b, tt.bTime); got != tt.want {
			t.Errorf("Newer(%q at %s, %q at %s) = %v, want %v: %s", tt.a, tt.aTime, tt.b, tt.bTime, got, tt.want, tt.reason)
		}
	}
}
