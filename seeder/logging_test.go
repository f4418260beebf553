package seeder

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/webseed"
)

func TestQuietBusyWebSeeds(t *testing.T) {
	// The error as anacrolix v1.61.0 wraps a 503 (webseed-peer.go, webseed/client.go).
	busy := fmt.Errorf("reading chunk: %w", webseed.ReadRequestPartError{Err: fmt.Errorf("reading %q: %w", "u", webseed.ErrTooFast)})
	other := fmt.Errorf("reading chunk: %w", errors.New("connection reset"))
	for _, tt := range []struct {
		level slog.Level
		err   error
		want  string // in the output; "" for nothing
	}{
		{slog.LevelInfo, busy, ""},
		{slog.LevelInfo, other, "level=WARN"},
		{slog.LevelDebug, busy, "level=DEBUG"},
	} {
		var buf bytes.Buffer
		log := slog.New(quietBusyWebSeeds{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level})}).With("part", "torrent")
		log.Warn("webseed request error", "err", tt.err)
		got := buf.String()
		if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("handler at %s, err %v: wrote %q, want %q", tt.level, tt.err, got, tt.want)
		}
	}
}
