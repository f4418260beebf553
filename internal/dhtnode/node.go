package dhtnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/krpc"
	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Deps are optional.
type Deps struct {
	// Peers, if not nil, adds peers a node knows from elsewhere to its get_peers replies for
	// an infohash (the directory: its tracker's swarms), before those announced to it;
	// nil/empty for an infohash it does not serve. It is called with anacrolix's server lock
	// held, for every get_peers query: it must be quick and must not use the Node.
	Peers func(ih metainfo.Hash) []netip.AddrPort
	// Metrics, if not nil, registers the node's counters (queries answered, dropped by rate,
	// dropped as not allowed, peers stored) under the given Subsystem.
	Metrics   prometheus.Registerer
	Subsystem string // e.g. "directory" or "relay": metric names odi_<subsystem>_dht_...
}

// Node is a DHT node: an anacrolix dht.Server behind a guarded socket and a bounded peer
// store. New binds it; Run runs it until its context ends, and must be called.
type Node struct {
	cfg   Config
	log   *slog.Logger
	conn  *guard
	srv   *dht.Server
	store *store
	addr  netip.AddrPort
	// family is Listen's IP (listenFamily): the family of the nodes the socket reaches.
	family netip.Addr
	n      counters

	// ctx ends when Run stops; pings started by AddNodes use it.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	stopping bool           // set by Run before it waits for wg: no goroutine starts after
	wg       sync.WaitGroup // goroutines the node started (Run's and AddNodes' pings)
	extra    []string       // nodes added by AddNodes, bootstrapped from too
}

// Timing of the node's upkeep. anacrolix's own TableMaintainer pings questionable nodes and
// refreshes buckets every minute but bootstraps only every 30 min; a closed network of a few
// nodes needs its bootstrap nodes sooner when they were down at start.
const (
	rebootstrapEvery = 3 * time.Minute
	// fewGoodNodes is "few": less than one full k-bucket (BEP 5's K = 8).
	fewGoodNodes = 8
	// resolveTimeout bounds the DNS lookups of one bootstrap.
	resolveTimeout = 10 * time.Second
	// maxExtraNodes bounds the nodes AddNodes keeps (a torrent's "nodes" list is untrusted).
	maxExtraNodes = 64
)

// New validates cfg, binds the UDP socket to cfg.Listen exactly and builds the dht.Server.
func New(cfg Config, deps Deps, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// A specific IP is bound exactly, in its family; a wildcard gets Go's dual-stack socket
	// (a relay listening on "[::]:6881" for BitTorrent is reached over IPv4 too).
	network := "udp"
	switch ip := listenFamily(cfg.Listen); {
	case ip.Is4():
		network = "udp4"
	case ip.Is6():
		network = "udp6"
	}
	pc, err := net.ListenPacket(network, cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("dht listen %s: %w", cfg.Listen, err)
	}
	n, err := newNode(cfg, deps, log, pc)
	if err != nil {
		pc.Close()
		return nil, err
	}
	return n, nil
}

// newNode builds a node on pc, a bound UDP socket it takes over.
func newNode(cfg Config, deps Deps, log *slog.Logger, pc net.PacketConn) (*Node, error) {
	n := &Node{cfg: cfg, log: log.With("part", "dht")}
	n.addr = addrOf(pc.LocalAddr())
	n.family = listenFamily(cfg.Listen)
	n.conn = newGuard(pc, cfg, &n.n)
	n.store = newStore(cfg, deps.Peers, time.Now)
	alogger := alog.NewLogger("dht")
	alogger.Handlers = []alog.Handler{anacrolixLog{n.log.Handler()}}
	sc := dht.ServerConfig{
		Conn:          n.conn,
		StartingNodes: n.startingNodes,
		// BEP 42 (node IDs derived from the node's IP) is not enforced: it makes choosing an ID
		// near a target costly on the public DHT, but enforcing it would drop our own relays
		// from every table whenever they bind every interface or sit behind NAT (they cannot
		// know the IP others see, so their IDs cannot match it). On loopback and private
		// addresses it changes nothing either way: anacrolix (as BEP 42 says) exempts
		// them. Our own ID is made BEP 42-conformant when Listen names a public IP (PublicIP
		// below; anacrolix then derives the ID from the address, so it survives restarts), so
		// enforcing nodes of the public DHT keep us when Public is set.
		NoSecurity: true,
		PublicIP:   publicIP(n.addr.Addr()),
		PeerStore:  n.store,
		// BEP 32: nodes of the families the querier asks for; anacrolix's default.
		DefaultWant: []krpc.Want{krpc.WantNodes, krpc.WantNodes6},
		// anacrolix's default limiter (25/s) is one variable shared by every server of the
		// process; each node gets its own.
		SendLimiter: rate.NewLimiter(rate.Limit(cfg.SendRate), cfg.SendRate),
		Logger:      alogger.WithFilterLevel(alog.Info),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	srv, err := dht.NewServer(&sc)
	if err != nil {
		n.cancel()
		return nil, fmt.Errorf("dht server: %w", err)
	}
	n.srv = srv
	if deps.Metrics != nil {
		if err := n.Register(deps.Metrics, deps.Subsystem); err != nil {
			srv.Close()
			n.conn.Close()
			n.cancel()
			return nil, err
		}
	}
	return n, nil
}

// anacrolixLog passes anacrolix's messages on at debug level, its level as an attribute:
// it logs as errors what is routine here (its table maintenance bootstraps every minute,
// failing, while a network's first node has no other to start from); what an operator needs
// the node logs itself.
type anacrolixLog struct{ h slog.Handler }

func (l anacrolixLog) Handle(r alog.Record) {
	ctx := context.Background()
	if !l.h.Enabled(ctx, slog.LevelDebug) {
		return
	}
	rec := slog.NewRecord(time.Now(), slog.LevelDebug, "dht: "+r.Msg.String(), 0)
	rec.AddAttrs(slog.String("anacrolix_level", r.Level.LogString()))
	_ = l.h.Handle(ctx, rec)
}

// listenFamily is listen's IP, or the zero Addr (both families) for every interface
// (an empty host, 0.0.0.0 or ::).
func listenFamily(listen string) netip.Addr {
	ap, _ := parseListen(listen)
	if ap.Addr().IsUnspecified() {
		return netip.Addr{}
	}
	return ap.Addr()
}

// publicIP is ip if others on the internet would see it as ours (so our ID can be derived
// from it), else nil.
func publicIP(ip netip.Addr) net.IP {
	if !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return nil
	}
	return ip.AsSlice()
}

// Server is the anacrolix server, for torrent.AnacrolixDhtServerWrapper{Server: n.Server()}
// and Client.AddDhtServer.
func (n *Node) Server() *dht.Server { return n.srv }

// Addr is the bound UDP address.
func (n *Node) Addr() netip.AddrPort { return n.addr }

// AddNodes adds bootstrap nodes (host:port), e.g. a torrent's BEP 5 "nodes", and pings them
// (a node that answers joins the routing table). Malformed entries, duplicates and any beyond
// maxExtraNodes are skipped; after Run has returned it does nothing.
func (n *Node) AddNodes(addrs []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopping {
		return
	}
	for _, hp := range addrs {
		if checkHostPort(hp) != nil || slices.Contains(n.cfg.Bootstrap, hp) || slices.Contains(n.extra, hp) {
			continue
		}
		if len(n.extra) >= maxExtraNodes {
			n.log.Debug("dht: more nodes added than kept", "max", maxExtraNodes)
			return
		}
		n.extra = append(n.extra, hp)
		n.wg.Go(func() { n.ping(hp) })
	}
}

// ping resolves hp and pings it; the reply adds it to the routing table.
func (n *Node) ping(hp string) {
	addrs, err := n.resolve(n.ctx, []string{hp})
	if err != nil {
		n.log.Debug("dht: node not resolved", "node", hp, "err", err)
		return
	}
	for _, a := range addrs {
		res := n.srv.Query(n.ctx, a, "ping", dht.QueryInput{})
		if err := res.ToError(); err != nil {
			n.log.Debug("dht: node did not answer a ping", "node", a, "err", err)
		}
	}
}

// startingNodes are the nodes a bootstrap starts from: the configured ones, those added by
// AddNodes, and the public routers only if Public. anacrolix calls it only while its
// routing table is empty.
func (n *Node) startingNodes() ([]dht.Addr, error) {
	ctx, cancel := context.WithTimeout(n.ctx, resolveTimeout)
	defer cancel()
	return n.resolve(ctx, n.bootstrapHostPorts())
}

// bootstrapHostPorts lists the host:ports startingNodes resolves.
func (n *Node) bootstrapHostPorts() []string {
	n.mu.Lock()
	hps := slices.Concat(n.cfg.Bootstrap, n.extra)
	n.mu.Unlock()
	if n.cfg.Public {
		hps = append(hps, dht.DefaultGlobalBootstrapHostPorts...)
	}
	return hps
}

// resolve looks up each host:port, keeping the addresses of the socket's family.
func (n *Node) resolve(ctx context.Context, hostPorts []string) ([]dht.Addr, error) {
	var out []dht.Addr
	var errs []error
	for _, hp := range hostPorts {
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, ip := range ips {
			ip = ip.Unmap()
			if (n.family.Is4() && !ip.Is4()) || (n.family.Is6() && !ip.Is6()) {
				continue
			}
			ua, err := net.ResolveUDPAddr("udp", net.JoinHostPort(ip.String(), port))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, dht.NewAddr(ua))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no bootstrap node resolved: %w", errors.Join(append(errs, errors.New("none configured"))...))
	}
	return out, nil
}

// Run bootstraps at once, and again every few minutes while the routing table has fewer
// than fewGoodNodes good nodes; runs anacrolix's table maintenance; forgets expired peers.
// When ctx ends it closes the server and the socket and returns once every goroutine the
// node started has stopped and anacrolix's read loop is past its last read.
func (n *Node) Run(ctx context.Context) error {
	n.wg.Go(func() {
		n.bootstrap(ctx)
		n.mu.Lock()
		if !n.stopping {
			n.wg.Go(n.srv.TableMaintainer)
		}
		n.mu.Unlock()
		boot := time.NewTicker(rebootstrapEvery)
		defer boot.Stop()
		sweep := time.NewTicker(min(n.cfg.PeerTTL/2, time.Minute))
		defer sweep.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sweep.C:
				n.store.sweep()
			case <-boot.C:
				if n.srv.Stats().GoodNodes < fewGoodNodes {
					n.bootstrap(ctx)
				}
			}
		}
	})
	<-ctx.Done()
	n.mu.Lock()
	n.stopping = true
	n.mu.Unlock()
	n.cancel()
	n.srv.Close()
	err := n.conn.Close()
	n.wg.Wait()
	n.conn.waitReads()
	if err != nil {
		return fmt.Errorf("close dht socket: %w", err)
	}
	return nil
}

// bootstrap pings the bootstrap nodes (anacrolix starts from them only while its table is
// empty; a ping that is answered puts them back after they were down) and runs anacrolix's
// bootstrap: a find_node walk towards our own ID.
func (n *Node) bootstrap(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	addrs, err := n.resolve(rctx, n.bootstrapHostPorts())
	cancel()
	if err != nil {
		n.log.Debug("dht: bootstrap", "err", err)
	}
	var wg sync.WaitGroup
	for _, a := range addrs {
		wg.Go(func() { n.srv.Query(ctx, a, "ping", dht.QueryInput{}) })
	}
	wg.Wait()
	if _, err := n.srv.BootstrapContext(ctx); err != nil && ctx.Err() == nil {
		n.log.Debug("dht: bootstrap", "err", err)
	}
	n.log.Debug("dht: bootstrapped", "good_nodes", n.srv.Stats().GoodNodes)
}

// Stats are the node's counts since New.
type Stats struct {
	// Incoming queries answered (replies and errors sent).
	Answered int64
	// Incoming packets dropped: over a source's query rate, queries other than BEP 5's four
	// (or without arguments), larger than maxPacket, not KRPC.
	RateLimited, NotAllowed, Oversize, Malformed int64
	// Outgoing packets dropped for their destination's byte budget.
	SendsDropped int64
	// Announced peers stored now, the infohashes they are for, and announces not stored for
	// want of room for another infohash.
	Peers, InfoHashes int
	AnnouncesRefused  int64
	// Nodes in the routing table, and the good ones among them (BEP 5).
	Nodes, GoodNodes int
}

// Stats returns the node's counts.
func (n *Node) Stats() Stats {
	ihs, peers, refused := n.store.counts()
	ss := n.srv.Stats()
	return Stats{
		Answered: n.n.answered.Load(), RateLimited: n.n.rateLimited.Load(), NotAllowed: n.n.notAllowed.Load(),
		Oversize: n.n.oversize.Load(), Malformed: n.n.malformed.Load(), SendsDropped: n.n.sendsDropped.Load(),
		Peers: peers, InfoHashes: ihs, AnnouncesRefused: refused,
		Nodes: ss.Nodes, GoodNodes: ss.GoodNodes,
	}
}

// Close closes a node whose Run was never called (its owner failed to start): the server
// and the socket. A node that runs is closed by ending Run's context instead.
func (n *Node) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return n.Run(ctx)
}
