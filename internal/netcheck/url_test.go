package netcheck

import (
	"context"
	"errors"
	"testing"
)

func TestCheckBaseURL(t *testing.T) {
	for _, raw := range []string{"", "ftp://x.example", "http://", "http://u:p@x.example", "http://x.example/?a=b",
		"http://x.example/#f", "x.example", "//x.example", "http://[::1"} {
		if err := CheckBaseURL(context.Background(), raw, true); !errors.Is(err, ErrNotBaseURL) {
			t.Errorf("CheckBaseURL(%q) = %v, want ErrNotBaseURL", raw, err)
		}
	}
	for _, raw := range []string{"http://127.0.0.1:8080", "https://[::1]/base/", "http://10.1.2.3"} {
		if err := CheckBaseURL(context.Background(), raw, true); err != nil {
			t.Errorf("CheckBaseURL(%q) with private allowed = %v", raw, err)
		}
		if err := CheckBaseURL(context.Background(), raw, false); !errors.Is(err, ErrNotPublic) {
			t.Errorf("CheckBaseURL(%q) = %v, want ErrNotPublic", raw, err)
		}
	}
	if err := CheckBaseURL(context.Background(), "https://8.8.8.8/x/", false); err != nil {
		t.Errorf("a public address refused: %v", err)
	}
}
