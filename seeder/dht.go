package seeder

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"golang.org/x/time/rate"

	"github.com/opendist/odi/internal/dhtnode"
)

// DHTOff as dht.listen turns the relay's DHT node off.
const DHTOff = "off"

// dhtListen is where the relay's DHT node listens: dht.listen, or when it is empty the
// BitTorrent listener's address over UDP, one port for peers to reach as BitTorrent
// clients have it (any free port on its host when bt_listen let the system pick one:
// the port is in the heartbeats). "" when the DHT is off.
func dhtListen(listen, btListen string, bt net.Addr) string {
	switch listen {
	case DHTOff:
		return ""
	case "":
		tcp := bt.(*net.TCPAddr)
		port := tcp.Port
		if _, p, _ := net.SplitHostPort(btListen); p == "0" {
			port = 0
		}
		return net.JoinHostPort(tcp.IP.String(), strconv.Itoa(port))
	}
	return listen
}

// startDHT opens the relay's DHT node, bootstrapping from cfg's nodes and later from the
// directories' (registration), and hands it to the BitTorrent client, which then
// announces every holding to the DHT (BEP 5 announce_peer) and looks up peers there:
// the relays of a network find each other, and clients find them, while the
// directories are down.
func (r *Relay) startDHT(cfg dhtnode.Config) error {
	if cfg.Listen = dhtListen(cfg.Listen, r.cfg.BTListen, r.btLn.Addr()); cfg.Listen == "" {
		return nil
	}
	self := r.selfPeer()
	peers := func(ih metainfo.Hash) []netip.AddrPort {
		r.mu.Lock()
		h := r.held[ih]
		r.mu.Unlock()
		if !self.IsValid() || h == nil || !h.servable.Load() {
			return nil
		}
		return []netip.AddrPort{self}
	}
	node, err := dhtnode.New(cfg, dhtnode.Deps{Peers: peers, Subsystem: "relay"}, r.log)
	if err != nil {
		return fmt.Errorf("dht: %w (dht.listen: off turns it off)", err)
	}
	r.dht = node
	r.cl.AddDhtServer(torrent.AnacrolixDhtServerWrapper{Server: node.Server()})
	return nil
}

// selfPeer is the relay's BitTorrent address as peers reach it, which its DHT node
// gives for what the relay holds, so that a client finds it through the relay's node
// alone (as with the directories down, and no other relay left to have stored its
// announces): the BitTorrent listener's IP, else its public URL's, else none.
func (r *Relay) selfPeer() netip.AddrPort {
	bt := r.btLn.Addr().(*net.TCPAddr).AddrPort()
	ip := bt.Addr().Unmap()
	if ip.IsUnspecified() {
		u, err := url.Parse(r.cfg.PublicURL)
		if err != nil {
			return netip.AddrPort{}
		}
		if ip, err = netip.ParseAddr(u.Hostname()); err != nil {
			return netip.AddrPort{}
		}
	}
	return netip.AddrPortFrom(ip, bt.Port())
}

// runDHT runs the DHT node, if any, until ctx ends.
func (r *Relay) runDHT(ctx context.Context) {
	if r.dht == nil {
		return
	}
	if err := r.dht.Run(ctx); err != nil {
		r.log.Error("relay: DHT node", "err", err)
	}
}

// How the relay announces its holdings to the DHT: each verified one every
// dhtAnnounceEvery (a node forgets a peer that stops announcing, after dhtnode's
// PeerTTL), at most dhtAnnouncers at once and dhtAnnouncesPerSecond started a second
// (each asks a few nodes twice: a relay with thousands of holdings stays within the
// query rate nodes allow one address), each lookup bounded by dhtAnnounceTimeout.
// anacrolix's own announcer is off: it announces a torrent once when it is added, when
// the relay's node may know no other node yet, and then only every 15 minutes.
const (
	dhtAnnounceEvery      = 10 * time.Minute
	dhtAnnouncers         = 4
	dhtAnnouncesPerSecond = 4
	dhtAnnounceTimeout    = 30 * time.Second
)

// kickDHT has the announcer announce every verified holding now: one became servable,
// or the node learned of the directories' nodes.
func (r *Relay) kickDHT() {
	select {
	case r.dhtKick <- struct{}{}:
	default:
	}
}

// announceDHT announces every verified holding to the DHT (BEP 5 get_peers, then
// announce_peer to the closest nodes that answered) until ctx ends: clients that find
// no tracker find the relay there.
func (r *Relay) announceDHT(ctx context.Context) {
	if r.dht == nil {
		return
	}
	t := time.NewTicker(dhtAnnounceEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.dhtKick:
		}
		r.mu.Lock()
		var ihs []metainfo.Hash
		for ih, h := range r.held {
			if h.servable.Load() {
				ihs = append(ihs, ih)
			}
		}
		r.mu.Unlock()
		work := make(chan metainfo.Hash)
		var wg sync.WaitGroup
		for range min(dhtAnnouncers, len(ihs)) {
			wg.Go(func() {
				for ih := range work {
					r.announceHolding(ctx, ih)
				}
			})
		}
		pace := rate.NewLimiter(dhtAnnouncesPerSecond, dhtAnnouncers)
		for _, ih := range ihs {
			if pace.Wait(ctx) != nil {
				break
			}
			work <- ih
		}
		close(work)
		wg.Wait()
	}
}

// announceHolding announces the relay's BitTorrent port for ih, from the node's address.
func (r *Relay) announceHolding(ctx context.Context, ih metainfo.Hash) {
	port := r.btLn.Addr().(*net.TCPAddr).Port
	a, err := r.dht.Server().AnnounceTraversal(ih, dht.AnnouncePeer(dht.AnnouncePeerOpts{Port: port}))
	if err != nil {
		r.log.Warn("relay: DHT announce", "infohash", ih.HexString(), "err", err)
		return
	}
	defer a.Close()
	timeout := time.NewTimer(dhtAnnounceTimeout)
	defer timeout.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timeout.C:
			return
		case <-a.Finished():
			return
		case <-a.Peers: // what others hold is the client's business, through trackers
		}
	}
}

// DHT is the relay's DHT node, nil with the DHT off: for its metrics.
func (r *Relay) DHT() *dhtnode.Node { return r.dht }

// dhtPort is the UDP port of the relay's DHT node, for its heartbeats; 0 without one.
func (r *Relay) dhtPort() int {
	if r.dht == nil {
		return 0
	}
	return int(r.dht.Addr().Port())
}
