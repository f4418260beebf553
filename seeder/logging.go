package seeder

import (
	"context"
	"errors"
	"log/slog"

	"github.com/anacrolix/torrent/webseed"
)

// quietBusyWebSeeds demotes to debug the records that carry a web seed's 503 ("making
// requests too fast", as anacrolix logs it at warn level): a rationing origin answers so
// to relays throughout a flash crowd, as designed, and a warning each time would bury
// the relay's real ones.
type quietBusyWebSeeds struct{ slog.Handler }

func (h quietBusyWebSeeds) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelDebug && busyWebSeed(r) {
		r.Level = slog.LevelDebug
		if !h.Handler.Enabled(ctx, r.Level) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietBusyWebSeeds) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietBusyWebSeeds{h.Handler.WithAttrs(attrs)}
}

func (h quietBusyWebSeeds) WithGroup(name string) slog.Handler {
	return quietBusyWebSeeds{h.Handler.WithGroup(name)}
}

// busyWebSeed reports whether one of r's attributes is an error from a web seed's 503.
func busyWebSeed(r slog.Record) bool {
	busy := false
	r.Attrs(func(a slog.Attr) bool {
		err, ok := a.Value.Any().(error)
		busy = ok && errors.Is(err, webseed.ErrTooFast)
		return !busy
	})
	return busy
}
