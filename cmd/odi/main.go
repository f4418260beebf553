// Command odi distributes large open-source artifacts through BitTorrent swarms backed
// by volunteer HTTP relays. See `odi --help` and docs/architecture.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	os.Exit(exitCode(err))
}
