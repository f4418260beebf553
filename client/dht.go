package client

import (
	"context"
	"fmt"
	"net"

	"github.com/anacrolix/torrent"

	"github.com/opendist/odi/internal/dhtnode"
)

// fetchDHT is a fetch's DHT node (BEP 5), while it runs; the zero value is none.
type fetchDHT struct {
	node *dhtnode.Node
	stop func()
}

// startDHT opens the fetch's DHT node on FetchOptions.DHTListen, starting from the
// torrent's nodes (the directory's and its relays'), so that peers are found while the
// directory's tracker does not answer. None without DHTListen.
func (f *fetcher) startDHT(ctx context.Context) (*fetchDHT, error) {
	if f.opts.DHTListen == "" {
		return &fetchDHT{stop: func() {}}, nil
	}
	cfg := dhtnode.DefaultConfig()
	cfg.Listen = f.opts.DHTListen
	for _, n := range f.mi.Nodes {
		if _, _, err := net.SplitHostPort(string(n)); err == nil {
			cfg.Bootstrap = append(cfg.Bootstrap, string(n))
		}
	}
	node, err := dhtnode.New(cfg, dhtnode.Deps{}, f.tlog)
	if err != nil {
		return nil, fmt.Errorf("dht: %w", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := node.Run(ctx); err != nil {
			f.tlog.Warn("DHT node", "err", err)
		}
	}()
	return &fetchDHT{node: node, stop: func() { cancel(); <-done }}, nil
}

// attach has cl announce to and look up peers in the DHT through the node.
func (d *fetchDHT) attach(cl *torrent.Client) {
	if d.node != nil {
		cl.AddDhtServer(torrent.AnacrolixDhtServerWrapper{Server: d.node.Server()})
	}
}
