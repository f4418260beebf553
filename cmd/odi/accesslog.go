package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/opendist/odi/internal/accesslog"
)

// openAccessLog opens a daemon's access log (access_log): "" for none, "-" for stderr,
// or a file.
func openAccessLog(path string, log *slog.Logger) (*accesslog.Log, error) {
	l, err := accesslog.Open(path, os.Stderr, log)
	if err != nil {
		return nil, fmt.Errorf("access_log: %w", err)
	}
	return l, nil
}

// catchHUP starts catching SIGHUP and returns the loop that answers it until ctx ends:
// it reopens the access log when it is a file (logrotate has moved it). Every daemon
// catches SIGHUP, so that one (`systemctl reload`, ExecReload=kill -HUP) never kills it;
// the TLS pair is reloaded by certReloader.watch, which catches it too. A daemon calls
// this before it says it listens, as notifyHUP.
func catchHUP(access *accesslog.Log, tls bool, log *slog.Logger) func(context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return func(ctx context.Context) {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			switch {
			case access.IsFile():
				if err := access.Reopen(); err != nil {
					log.Error("access log not reopened; writing to the file open before", "err", err)
					continue
				}
				log.Info("access log reopened")
			case !tls:
				log.Warn("SIGHUP: nothing to reload (it reloads the TLS certificate and reopens the access log file; other settings take a restart)")
			}
		}
	}
}
