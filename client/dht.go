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
// directory's tracker does not answer. None without DHTListen, or a torrent without
// nodes.
func (f *fetcher) startDHT(ctx context.Context) (*fetchDHT, error) {
	none := &fetchDHT{stop: func() {}}
	nodes := make([]string, 0, len(f.mi.Nodes))
	for _, n := range f.mi.Nodes {
		nodes = append(nodes, string(n))
	}
	if f.opts.DHTListen == "" || len(nodes) == 0 {
		return none, nil
	}
	cfg := dhtnode.DefaultConfig()
	cfg.Listen = f.opts.DHTListen
	if host, port, err := net.SplitHostPort(cfg.Listen); err == nil && host == "" {
		// No address given: the one the route to the torrent's first node leaves from,
		// as the UDP tracker sockets do (internal/bind).
		src, err := routeSource(nodes[0])
		if err != nil {
			f.rep.Note("no DHT: %v", err)
			return none, nil
		}
		cfg.Listen = net.JoinHostPort(src, port)
	}
	node, err := dhtnode.New(cfg, dhtnode.Deps{}, f.tlog)
	if err != nil {
		return nil, fmt.Errorf("dht: %w", err)
	}
	// Added, not configured: a torrent's nodes are its author's word, and one that does
	// not parse is skipped, not the fetch's failure.
	node.AddNodes(nodes)
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

// routeSource is the local address packets to node (host:port) leave from; connecting a
// UDP socket sends nothing.
func routeSource(node string) (string, error) {
	c, err := net.Dial("udp", node)
	if err != nil {
		return "", fmt.Errorf("route to the torrent's DHT node %s: %w", node, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

// attach has cl announce to and look up peers in the DHT through the node.
func (d *fetchDHT) attach(cl *torrent.Client) {
	if d.node != nil {
		cl.AddDhtServer(torrent.AnacrolixDhtServerWrapper{Server: d.node.Server()})
	}
}
