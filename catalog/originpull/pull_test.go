package originpull

import (
	"testing"
	"time"
)

func TestNextBackoff(t *testing.T) {
	interval := 5 * time.Minute
	var b time.Duration
	var got []time.Duration
	for range 12 {
		b = nextBackoff(b, interval, true)
		got = append(got, b)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("backoffs %v, want %v seconds", got, want)
		}
	}
	if b := nextBackoff(b, interval, false); b != 0 {
		t.Errorf("after a success: %s, want 0", b)
	}
	if b := nextBackoff(0, 300*time.Millisecond, true); b != 300*time.Millisecond {
		t.Errorf("interval below a second: %s, want the interval", b)
	}
}
