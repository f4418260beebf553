package bytesize

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		ok   bool
	}{
		{"4096", 4096, true},
		{"10GiB", 10 << 30, true},
		{"10 GiB", 10 << 30, true},
		{"1.5MiB", 3 << 19, true},
		{"1GB", 1_000_000_000, true},
		{"", 0, false},
		{"ten", 0, false},
		{"-1GiB", 0, false},
		{"99999999EiB", 0, false},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, s := range []Size{0, 1, 1 << 20, 10 << 30} {
		text, _ := s.MarshalText()
		var back Size
		if err := back.UnmarshalText(text); err != nil || back != s {
			t.Errorf("%d -> %q -> %d, %v", s, text, back, err)
		}
	}
}
