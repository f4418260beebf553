package main

import (
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opendist/odi/internal/dhtnode"
)

// dhtOff as dht.listen turns a DHT node off.
const dhtOff = "off"

// directoryDHTDefaults are dhtnode's, listening on the HTTP listener's host.
func directoryDHTDefaults() dhtnode.Config {
	c := dhtnode.DefaultConfig()
	c.Listen = ""
	return c
}

// newDirectoryDHT opens the directory's DHT node (BEP 5), the rendezvous of its
// network: relays bootstrap from it and torrents name it. It answers get_peers for the
// catalog's infohashes with the tracker's peers (peers), so that clients that find
// peers only through the DHT find the same. nil when dht.listen is off. Its listen
// address defaults to the HTTP listener's host, on a port the system picks: an
// operator sets a fixed one (dht.listen) so that torrents saved before a restart still
// name it.
func newDirectoryDHT(cfg DirectoryConfig, httpAddr net.Addr, peers func(ih metainfo.Hash) []netip.AddrPort,
	reg prometheus.Registerer, log *slog.Logger) (*dhtnode.Node, error) {
	dc := cfg.DHT
	switch dc.Listen {
	case dhtOff:
		return nil, nil
	case "":
		dc.Listen = net.JoinHostPort(httpAddr.(*net.TCPAddr).IP.String(), "0")
	}
	if err := dc.Validate(); err != nil {
		return nil, usageError("dht.%v", err)
	}
	return dhtnode.New(dc, dhtnode.Deps{Peers: peers, Metrics: reg, Subsystem: "directory"}, log)
}

// publicDHTNode is node's address as clients reach it: publicURL's host and the node's
// port.
func publicDHTNode(publicURL string, node *dhtnode.Node) string {
	u, err := url.Parse(publicURL)
	if err != nil || node == nil {
		return ""
	}
	return net.JoinHostPort(u.Hostname(), strconv.Itoa(int(node.Addr().Port())))
}
