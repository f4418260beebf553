package seeder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/anacrolix/torrent/tracker"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/bind"
	"github.com/opendist/odi/internal/dhtnode"
	"github.com/opendist/odi/internal/follow"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/sign"
	"github.com/opendist/odi/internal/warmfill"
)

// Relay is a running relay.
type Relay struct {
	cfg     Config
	log     *slog.Logger
	version string
	signer  *sign.Signer
	db      *store

	cl       *torrent.Client
	pc       storage.PieceCompletion
	storage  storage.ClientImplCloser
	up, down *rate.Limiter
	btLn     net.Listener

	// Warm start (warmstart.go): its HTTP client, its worker slots, and what it did.
	warmHTTP                 *http.Client
	warmSlots                chan struct{}
	warmPieces, warmRejected atomic.Int64
	// origins are the tokens the directories' origins are shown (origintoken.go).
	origins originTokens
	// Audits and bad pieces (audit.go): who runs the audits, and what each directory's
	// next heartbeat carries, by directory URL.
	auditor  *auditor
	outboxes map[string]*outbox
	// follow has a follower per directory when the relay follows keys (follow.go), and
	// skipTold the artifacts a plan named that no followed index lists, logged once.
	follow   []*follow.Follower
	skipTold map[string]bool

	mu    sync.Mutex
	held  map[metainfo.Hash]*holding
	plans map[string]*relayapi.Plan // by directory URL
	// refused holds, by directory URL, why a directory refused the relay's registration
	// for good (see refusedForGood); the relay no longer talks to it.
	refused map[string]error

	// removedPeers and removedWebSeeds (under mu) are what the holdings removed since
	// start had downloaded: Downloaded adds the current ones', so it never goes down.
	removedPeers, removedWebSeeds int64

	servedHTTP   atomic.Int64 // bytes since the last heartbeat
	lastUploaded atomic.Int64 // BitTorrent bytes uploaded as of the last heartbeat
	space        space        // the disk's shortfalls (space.go)
	reconcile    chan struct{}
	// nudge asks every directory loop for an early heartbeat (a holding became servable).
	nudge []chan struct{}
	// dht is the relay's DHT node, nil with the DHT off (dht.go); dhtKick asks for the
	// holdings to be announced to it now.
	dht     *dhtnode.Node
	dhtKick chan struct{}
}

const relayChunkSize = 256 << 10

// holding is one artifact on the relay's disk.
type holding struct {
	item  relayapi.Item
	t     *torrent.Torrent
	seeds []string // web seeds, from the torrent's url-list (see webSeeds)
	// servable: every piece hash-checked since this process started; only then are
	// files served. Cleared the moment a removal starts.
	servable  atomic.Bool
	warmBytes atomic.Int64 // read by warm start from web seeds
	// stopWork ends the relay's own work on the torrent (the resume check, warm start,
	// await's check before serving), and worked is closed once it has: a removal or
	// shutdown waits for it before it drops or closes the torrent, because anacrolix
	// v1.61.0 leaves its client locked for good when a piece check is asked of a closed
	// torrent (Piece.VerifyDataContext returns early without unlocking, piece.go:229).
	stopWork context.CancelFunc
	worked   chan struct{}
	// done is closed when await returns: after the torrent is closed, nothing of this
	// process writes to the holding's files any more.
	done chan struct{}
}

// downloaded is what h's torrent read since it was added, from BitTorrent peers and from
// web seeds, warm start's included.
func (h *holding) downloaded() (fromPeers, fromWebSeeds int64) {
	s := h.t.Stats()
	return s.PeerConns.BytesReadData.Int64(), s.WebSeeds.BytesReadData.Int64() + h.warmBytes.Load()
}

// stop ends the relay's own work on h and waits for it; h's torrent may then be closed.
func (h *holding) stop() {
	h.stopWork()
	<-h.worked
}

// New opens the relay's state, starts its BitTorrent client (not yet announcing: Run does
// the rest), and re-adds what it held, verifying it before serving.
func New(ctx context.Context, cfg Config, version string, log *slog.Logger) (_ *Relay, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("relay config: %w", err)
	}
	key, err := sign.LoadPrivateKey(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	r := &Relay{
		cfg: cfg, log: log, version: version,
		signer: sign.NewSigner(key, nil),
		up:     newLimiter(int64(cfg.UploadLimit)), down: newLimiter(int64(cfg.DownloadLimit)),
		held: map[metainfo.Hash]*holding{}, plans: map[string]*relayapi.Plan{}, refused: map[string]error{},
		reconcile: make(chan struct{}, 1),
		dhtKick:   make(chan struct{}, 1),
		warmSlots: make(chan struct{}, warmWorkers),
		skipTold:  map[string]bool{},
		outboxes:  newOutboxes(cfg.Directories),
	}
	r.warmHTTP = r.newWarmClient()
	r.auditor = newAuditor(r.limitBody(), log)
	keys, _ := cfg.followKeys() // Validate checked them
	if len(keys) > 0 {
		for _, dir := range cfg.Directories {
			f, err := follow.New(follow.Config{Directory: dir, Keys: keys, Path: follow.Path(cfg.DataDir, dir), Role: "relay"}, log)
			if err != nil {
				return nil, err
			}
			r.follow = append(r.follow, f)
		}
	}
	dataDir := filepath.Join(cfg.DataDir, "torrents")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("relay data: %w", err)
	}
	defer func() {
		if err != nil {
			r.close()
			if r.dht != nil {
				r.dht.Close()
			}
		}
	}()
	if r.db, err = openStore(ctx, filepath.Join(cfg.DataDir, "relay.db")); err != nil {
		return nil, err
	}
	if r.pc, err = storage.NewBoltPieceCompletion(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("piece completion: %w", err)
	}
	// Warm start writes into it: files keep their final names while incomplete.
	r.storage = warmfill.NewStorage(storage.NewFileClientOpts{
		ClientBaseDir: dataDir,
		TorrentDirMaker: func(base string, _ *metainfo.Info, ih metainfo.Hash) string {
			return filepath.Join(base, ih.HexString())
		},
		PieceCompletion: r.pc,
	})
	if r.btLn, err = net.Listen("tcp", cfg.BTListen); err != nil {
		return nil, fmt.Errorf("bt_listen: %w", err)
	}
	tc := torrent.NewDefaultClientConfig()
	tc.DataDir = dataDir
	tc.DefaultStorage = r.storage
	// anacrolix's own web-seed requests, as its default transport makes them.
	tc.WebTransport = r.origins.transport(&http.Transport{Proxy: http.ProxyFromEnvironment, MaxConnsPerHost: 10})
	tc.Seed = true
	tc.Bep20 = relayapi.PeerIDPrefix
	// The relay announces its holdings to the DHT itself (dht.go).
	tc.PeriodicallyAnnounceTorrentsToDht = false
	// Sockets are ours (shaped, see ratelimit.go): no built-in TCP, uTP or DHT sockets,
	// and never UPnP, which would send packets off the machine.
	tc.DisableTCP, tc.DisableUTP, tc.NoDHT = true, true, true
	tc.NoDefaultPortForwarding = true
	// The UDP tracker sockets would otherwise listen on 0.0.0.0 and [::] for the client's
	// life; these bind where the route to the tracker leaves from (127.0.0.1 for a
	// directory on loopback).
	tc.TrackerListenPacket = bind.Host{}.ListenPacket
	// A rationing origin answers 503 all through a flash crowd: not a warning each time.
	tc.Slogger = slog.New(quietBusyWebSeeds{log.Handler()}).With("part", "torrent")
	if r.cl, err = torrent.NewClient(tc); err != nil {
		return nil, fmt.Errorf("bittorrent client: %w", err)
	}
	r.cl.AddListener(&limitedListener{Listener: r.btLn, up: r.up, down: r.down})
	r.cl.AddDialer(&limitedDialer{up: r.up, down: r.down})
	// Before any torrent is added: the client announces a torrent to the DHT servers it
	// has when the torrent comes.
	if err := r.startDHT(cfg.DHT); err != nil {
		return nil, err
	}

	recs, err := r.db.load(ctx)
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if err := r.start(rec, true); err != nil {
			log.Error("relay: cannot resume a holding; dropping it", "artifact", rec.item.ID, "err", err)
			r.remove(ctx, rec.item.InfoHash, "unresumable")
		}
	}
	return r, nil
}

func (r *Relay) close() {
	if r.cl != nil {
		r.mu.Lock()
		held := slices.Collect(maps.Values(r.held))
		r.mu.Unlock()
		swarms := make([]swarm, 0, len(held))
		for _, h := range held {
			mi := h.t.Metainfo()
			swarms = append(swarms, swarm{h.t.InfoHash(), mi.UpvertedAnnounceList().DistinctValues(), h.t.BytesMissing()})
		}
		peerID, port := r.cl.PeerID(), r.cl.LocalPort()
		for _, h := range held {
			h.stop()
		}
		r.cl.Close() // closes every torrent
		for _, h := range held {
			<-h.done // before the storage and piece completion close under warm start
		}
		r.leaveSwarms(swarms, peerID, port)
	}
	if r.btLn != nil {
		r.btLn.Close()
	}
	if r.storage != nil {
		r.storage.Close()
	}
	if r.pc != nil {
		r.pc.Close()
	}
	if r.db != nil {
		r.db.close()
	}
}

// swarm is a holding's infohash, the trackers it is announced to, and the bytes it still
// lacked (a leecher that leaves with none left would count as a completion).
type swarm struct {
	ih       metainfo.Hash
	trackers []string
	left     int64
}

// leaveTimeout bounds the "stopped" announces of a relay shutting down.
const leaveTimeout = 5 * time.Second

// leaveSwarms tells the trackers that the relay (its peer ID and BitTorrent port) left
// the swarms, all within leaveTimeout. anacrolix announces "stopped" from a timer after
// Close and does not wait for it, so a relay process that exits at once could stay
// listed as a seeder, and be dialled by users' clients, until the tracker expired it. A
// second "stopped" (anacrolix's, if it got out) is a no-op.
func (r *Relay) leaveSwarms(swarms []swarm, peerID [20]byte, port int) {
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	var g errgroup.Group
	g.SetLimit(8)
	for _, s := range swarms {
		for _, u := range s.trackers {
			g.Go(func() error {
				_, err := tracker.Announce{
					TrackerUrl: u, Context: ctx, UserAgent: "odi/" + r.version, ListenPacket: bind.Host{}.ListenPacket,
					Request: tracker.AnnounceRequest{InfoHash: s.ih, PeerId: peerID, Port: uint16(port), Left: s.left, Event: tracker.Stopped},
				}.Do()
				if err != nil {
					r.log.Info("relay: telling a tracker it left", "tracker", u, "infohash", s.ih.HexString(), "err", err)
				}
				return nil
			})
		}
	}
	g.Wait()
}

// BTAddr is the address the BitTorrent listener is bound to.
func (r *Relay) BTAddr() net.Addr { return r.btLn.Addr() }

// ErrRefused is returned by Run when every directory refused the relay's registration
// for a reason that will not change by itself: there is no one left to serve.
var ErrRefused = errors.New("every directory refused this relay")

// Run talks to the directories and reconciles until ctx ends, then closes the client
// (announcing "stopped") and the state. A directory that refuses the relay for good is
// left alone; once all have, Run returns ErrRefused with their reasons.
func (r *Relay) Run(ctx context.Context) error {
	// The DHT node outlives the client, which announces "stopped" and may still use it
	// while it closes.
	dhtCtx, stopDHT := context.WithCancel(context.WithoutCancel(ctx))
	dhtDone := make(chan struct{})
	go func() {
		defer close(dhtDone)
		r.runDHT(dhtCtx)
	}()
	defer func() {
		stopDHT()
		<-dhtDone
	}()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { r.announceDHT(ctx); return nil })
	if len(r.follow) > 0 {
		// Before any plan is applied: what to carry is what the indexes list.
		r.pollFollowed(ctx)
		g.Go(func() error {
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(r.cfg.FollowInterval):
					r.pollFollowed(ctx)
				}
			}
		})
	}
	for _, dir := range r.cfg.Directories {
		nudge := make(chan struct{}, 1)
		r.mu.Lock()
		r.nudge = append(r.nudge, nudge)
		r.mu.Unlock()
		g.Go(func() error {
			err := r.directoryLoop(ctx, dir, nudge)
			if err == nil {
				return nil
			}
			r.mu.Lock()
			r.refused[dir] = err
			all := len(r.refused) == len(r.cfg.Directories)
			r.mu.Unlock()
			if all {
				return fmt.Errorf("%w: %w", ErrRefused, r.Refused())
			}
			return nil
		})
	}
	g.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-r.reconcile:
				r.reconcilePlans(ctx)
			}
		}
	})
	err := g.Wait()
	r.close()
	return err
}

// Refused says why directories refused the relay for good, one line each, or nil if
// none did: the relay is then not ready (its operator must act).
func (r *Relay) Refused() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, dir := range slices.Sorted(maps.Keys(r.refused)) {
		errs = append(errs, r.refused[dir])
	}
	return errors.Join(errs...)
}

// refusedForGood tells a refusal that retrying cannot change (a bad request, a key the
// directory does not accept, a registration too large) from one that may pass later
// (busy, unavailable, unreachable).
func refusedForGood(err error) bool {
	switch apiclient.StatusOf(err) {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestEntityTooLarge:
		return true
	}
	return false
}

// directoryLoop registers with one directory and sends heartbeats, backing off while it
// cannot be reached; everything held keeps being seeded and served meanwhile. It returns
// an error only when the directory refuses the registration for good.
func (r *Relay) directoryLoop(ctx context.Context, dir string, nudge <-chan struct{}) error {
	api, err := apiclient.New(dir, r.signer)
	if err != nil {
		r.log.Error("relay: bad directory URL", "directory", dir, "err", err)
		return fmt.Errorf("directory %s: %w", dir, err)
	}
	api.HTTP.Timeout = time.Minute
	// A busy directory's Retry-After is waited out within a minute at most: past that, this
	// loop's own retry comes round, and a relay must not sit for apiclient's default five
	// minutes without a heartbeat (its audit results and degraded state ride in them).
	api.RetryFor = time.Minute
	log := r.log.With("directory", dir)
	backoff, interval := time.Second, 30*time.Second
	registered := false
	out := r.outboxes[dir]
	var audits sync.WaitGroup
	defer audits.Wait()
	for {
		wait := interval
		if !registered {
			var reg relayapi.Registered
			err = api.CallJSON(ctx, http.MethodPost, "/api/v1/relays/register", r.registration(), &reg)
			if err == nil {
				registered, interval = true, reg.HeartbeatInterval
				log.Info("relay registered", "state", reg.State, "message", reg.Message)
				if r.dht != nil && len(reg.DHTNodes) > 0 {
					r.dht.AddNodes(reg.DHTNodes)
					r.kickDHT()
				}
				continue
			}
			if refusedForGood(err) {
				log.Error("relay: the directory refused the registration; not retrying: fix what it says and restart the relay", "err", err)
				return fmt.Errorf("directory %s refused the registration: %w", dir, err)
			}
		} else {
			var plan relayapi.Plan
			hb := r.heartbeat()
			out.fill(&hb)
			err = api.CallJSON(ctx, http.MethodPost, "/api/v1/relays/heartbeat", hb, &plan)
			if err != nil && apiclient.StatusOf(err) != http.StatusBadRequest {
				out.restore(hb) // unless what it carried may be why it was refused
			}
			switch {
			case err == nil:
				interval, backoff = plan.Interval, time.Second
				r.setPlan(dir, &plan)
				r.audit(ctx, out, &audits, plan.Audits)
			case apiclient.StatusOf(err) == http.StatusNotFound:
				registered = false // the directory forgot us: register again
				continue
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("relay: directory unreachable or refusing; retrying", "err", err, "in", backoff)
			wait, backoff = backoff, min(backoff*2, r.cfg.RetryMax)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-nudge:
		case <-time.After(wait):
		}
	}
}

// beatSoon asks for an early heartbeat to every directory.
func (r *Relay) beatSoon() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.nudge {
		select {
		case n <- struct{}{}:
		default:
		}
	}
}

func (r *Relay) registration() relayapi.Register {
	return relayapi.Register{
		PublicURL:  r.cfg.PublicURL,
		QuotaBytes: int64(r.cfg.Quota), FreeBytes: r.free(),
		UploadLimit: int64(r.cfg.UploadLimit), DownloadLimit: int64(r.cfg.DownloadLimit),
		Catalogs: r.cfg.Catalogs, Version: r.version,
	}
}

// heartbeat reports holdings and what was served since the last one.
func (r *Relay) heartbeat() relayapi.Heartbeat {
	hb := relayapi.Heartbeat{Holdings: []relayapi.Holding{}, FreeBytes: r.free()}
	r.mu.Lock()
	for ih, h := range r.held {
		hb.Holdings = append(hb.Holdings, relayapi.Holding{InfoHash: ih.HexString(), BytesComplete: h.t.BytesCompleted(), Verified: h.servable.Load()})
	}
	r.mu.Unlock()
	stats := r.cl.ConnStats()
	uploaded := stats.BytesWrittenData.Int64()
	hb.BytesServed = r.servedHTTP.Swap(0) + uploaded - r.lastUploaded.Swap(uploaded)
	hb.Degraded = r.degradedReason()
	hb.DHTPort = r.dhtPort()
	return hb
}

// used is the bytes reserved by holdings: whole artifacts, even while they download.
func (r *Relay) used() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, h := range r.held {
		n += h.item.Size
	}
	return n
}

// free is what the relay may still reserve: within its quota and its disk's room.
func (r *Relay) free() int64 {
	n := max(int64(r.cfg.Quota)-r.used(), 0)
	if room, ok := r.diskRoom(); ok {
		n = min(n, room)
	}
	return n
}

func (r *Relay) setPlan(dir string, p *relayapi.Plan) {
	r.mu.Lock()
	r.plans[dir] = p
	r.mu.Unlock()
	r.origins.set(p.Origin, p.OriginToken)
	select {
	case r.reconcile <- struct{}{}:
	default:
	}
}

// reconcilePlans brings the holdings in line with the directories' plans: delete what
// was expunged, then fetch the wanted artifacts in rank order, evicting what the plans let
// go (least wanted first) to make room, and skipping what cannot fit.
func (r *Relay) reconcilePlans(ctx context.Context) {
	r.mu.Lock()
	var fetch []relayapi.Item
	wanted := map[string]relayapi.Item{}
	expunged := map[string]bool{}
	var dropOrder []string
	for _, p := range r.plans {
		for _, it := range append(slices.Clone(p.Keep), p.Fetch...) {
			wanted[it.InfoHash] = it
		}
		for _, ih := range p.Expunged {
			expunged[ih] = true
		}
		dropOrder = append(dropOrder, p.Drop...)
	}
	for _, p := range r.plans { // interleave the directories' rankings
		fetch = append(fetch, p.Fetch...)
	}
	held := map[string]bool{}
	var heldItems []relayapi.Item
	for ih, h := range r.held {
		held[ih.HexString()] = true
		heldItems = append(heldItems, h.item)
		if it, ok := wanted[ih.HexString()]; ok && it.Demand != h.item.Demand {
			h.item.Demand = it.Demand
			r.db.setDemand(ctx, ih.HexString(), it.Demand)
		}
	}
	r.mu.Unlock()

	v := r.vouchers()
	fetch, skip, drop := carry(v, fetch, heldItems)
	for _, d := range drop {
		r.remove(ctx, d.item.InfoHash, d.why)
		delete(held, d.item.InfoHash)
	}
	r.tellSkipped(skip)
	retryLater := r.dropFailed(ctx)
	for ih := range retryLater {
		delete(held, ih)
	}
	for ih := range expunged {
		if held[ih] {
			r.remove(ctx, ih, "expunged")
			delete(held, ih)
		}
	}
	for _, it := range fetch {
		if held[it.InfoHash] || expunged[it.InfoHash] || retryLater[it.InfoHash] {
			continue
		}
		if !r.makeRoom(ctx, it, wanted, dropOrder) {
			r.log.Info("relay: skipping an artifact that does not fit", "artifact", it.ID, "size", it.Size, "free", r.free())
			r.noteSkipped(it)
			continue
		}
		if err := r.fetch(ctx, it, v.entry(it)); err != nil {
			r.log.Warn("relay: cannot fetch", "artifact", it.ID, "err", err)
			continue
		}
		held[it.InfoHash] = true
	}
}

// makeRoom evicts holdings no plan wants, those a plan lists as droppable first in its
// order, until it fits within the quota and the disk's free space; it reports whether
// it fits. It evicts nothing if evicting everything allowed would still not be enough.
func (r *Relay) makeRoom(ctx context.Context, it relayapi.Item, wanted map[string]relayapi.Item, dropOrder []string) bool {
	if it.Size > int64(r.cfg.Quota) {
		return false
	}
	r.mu.Lock()
	var victims []*holding
	seen := map[string]bool{}
	add := func(ih string) {
		var h metainfo.Hash
		if h.FromHexString(ih) != nil || seen[ih] {
			return
		}
		if hd := r.held[h]; hd != nil {
			if _, ok := wanted[ih]; !ok {
				victims = append(victims, hd)
				seen[ih] = true
			}
		}
	}
	for _, ih := range dropOrder {
		add(ih)
	}
	var rest []*holding // unwanted and not in any drop list: least demanded first
	for ih, h := range r.held {
		if _, ok := wanted[ih.HexString()]; !ok && !seen[ih.HexString()] {
			rest = append(rest, h)
		}
	}
	slices.SortFunc(rest, func(a, b *holding) int {
		switch {
		case a.item.Demand < b.item.Demand:
			return -1
		case a.item.Demand > b.item.Demand:
			return 1
		}
		return strings.Compare(a.item.ID, b.item.ID)
	})
	victims = append(victims, rest...)
	var freeable int64
	for _, v := range victims {
		freeable += v.item.Size
	}
	r.mu.Unlock()

	need := it.Size - r.free()
	if need > freeable {
		return false
	}
	for _, v := range victims {
		if need <= 0 {
			break
		}
		r.remove(ctx, v.item.InfoHash, "evicted for "+it.ID)
		need -= v.item.Size
	}
	return it.Size <= r.free() // the disk, after the evictions
}

// tellSkipped logs, once per artifact, the plans' artifacts no followed index lists.
func (r *Relay) tellSkipped(skip []verdict) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range skip {
		if k := s.item.ID + " " + s.item.InfoHash; !r.skipTold[k] {
			r.skipTold[k] = true
			r.log.Debug("relay: not fetching what no followed index vouches for", "artifact", s.item.ID, "infohash", s.item.InfoHash, "why", s.why)
		}
	}
}

// fetch downloads an artifact the plan assigned: its torrent from the directory, checked
// against the plan and, for a following relay, against the index entry vouching for it
// (its files' paths, sizes and sha256), recorded, then added to the client.
func (r *Relay) fetch(ctx context.Context, it relayapi.Item, vouched *index.Entry) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, it.TorrentURL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("get torrent: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get torrent: %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("get torrent: %w", err)
	}
	rec := record{item: it, torrent: b}
	mi, err := parseTorrent(rec)
	if err != nil {
		return err
	}
	if vouched != nil {
		if err := vouched.Check(it.InfoHash, indexFiles(mi, it)); err != nil {
			return fmt.Errorf("torrent of %s: %w", it.ID, err)
		}
	}
	if err := r.db.add(ctx, rec, time.Now()); err != nil {
		return err
	}
	r.log.Info("relay: fetching", "artifact", it.ID, "infohash", it.InfoHash, "size", it.Size)
	return r.start(rec, false)
}

// indexFiles are the item's files as an index lists them: paths under the torrent's name.
// parseTorrent checked that mi and it agree.
func indexFiles(mi *metainfo.MetaInfo, it relayapi.Item) []index.File {
	info, _ := mi.UnmarshalInfo()
	return index.FilesOf(&manifest.Manifest{Root: info.Name, Files: it.Files})
}

// parseTorrent loads a stored or fetched torrent and checks it against its plan item:
// same infohash, same files, and names that stay inside the torrent's folder.
func parseTorrent(rec record) (*metainfo.MetaInfo, error) {
	mi, err := metainfo.Load(bytes.NewReader(rec.torrent))
	if err != nil {
		return nil, fmt.Errorf("torrent of %s: %w", rec.item.ID, err)
	}
	if got := mi.HashInfoBytes().HexString(); got != rec.item.InfoHash {
		return nil, fmt.Errorf("torrent of %s has infohash %s, the plan says %s", rec.item.ID, got, rec.item.InfoHash)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, fmt.Errorf("torrent of %s: %w", rec.item.ID, err)
	}
	if err := names.CheckComponent(info.Name); err != nil {
		return nil, fmt.Errorf("torrent of %s: %w", rec.item.ID, err)
	}
	files := info.UpvertedFiles()
	if len(files) != len(rec.item.Files) {
		return nil, fmt.Errorf("torrent of %s has %d files, the plan %d", rec.item.ID, len(files), len(rec.item.Files))
	}
	paths := make([]string, 0, len(files))
	for i, f := range files {
		want := rec.item.Files[i]
		if strings.Join(f.Path, "/") != want.Path || f.Length != want.Size {
			return nil, fmt.Errorf("torrent of %s: file %d differs from the plan", rec.item.ID, i)
		}
		if want.Path != "" {
			paths = append(paths, want.Path)
		}
	}
	// Each path alone and the set together: two paths that one file system would take
	// for the same file must not overwrite each other on the relay's disk.
	if err := names.CheckPaths(paths); err != nil {
		return nil, fmt.Errorf("torrent of %s: %w", rec.item.ID, err)
	}
	return mi, nil
}

// start adds a recorded holding to the client and, once every piece is verified, makes
// it servable. resumed holdings are re-hashed first: anacrolix trusts files of the right
// size on disk, a relay after a crash must not.
func (r *Relay) start(rec record, resumed bool) error {
	mi, err := parseTorrent(rec)
	if err != nil {
		return err
	}
	spec, err := torrent.TorrentSpecFromMetaInfoErr(mi)
	if err != nil {
		return err
	}
	spec.Webseeds = nil // added below, shaped, without ourselves
	// 256 KiB requests instead of 16 KiB: each chunk takes the client lock around its
	// storage write, and web-seed fills ran several times faster with fewer, larger
	// chunks (docs/architecture.md). anacrolix peers (other relays, odi fetch) accept them.
	spec.ChunkSize = relayChunkSize
	t, _, err := r.cl.AddTorrentSpec(spec)
	if err != nil {
		return err
	}
	seeds := warmfill.WebSeeds(mi.UrlList, r.cfg.PublicURL, t.Info().IsDir())
	var opts []torrent.AddWebSeedsOpt
	if r.down != nil {
		opts = append(opts, torrent.WebSeedResponseBodyRateLimiter(r.down))
	}
	t.AddWebSeeds(seeds, opts...)
	ctx, stop := context.WithCancel(context.Background())
	h := &holding{item: rec.item, t: t, seeds: seeds, stopWork: stop, worked: make(chan struct{}), done: make(chan struct{})}
	t.SetOnWriteChunkError(func(err error) { r.writeFailed(h, err) })
	var ih metainfo.Hash
	ih.FromHexString(rec.item.InfoHash)
	r.mu.Lock()
	r.held[ih] = h
	r.mu.Unlock()
	go r.await(ctx, h, resumed)
	return nil
}

// await verifies (for resumed holdings) and downloads h, warm-starting the download from
// its web seeds, then makes it servable. It returns once h is servable, stopped or closed.
func (r *Relay) await(ctx context.Context, h *holding, resumed bool) {
	defer close(h.done)
	// The check before serving below is work too: worked must not close before it is
	// over, else a removal could drop the torrent between two of its piece checks (or
	// before the first) and the next one would leave the client locked for good
	// (holding.stopWork); a relay froze this way, evicting a holding that had just
	// completed (TestRemoveDuringRecheck).
	defer close(h.worked)
	if !r.work(ctx, h, resumed) {
		return // stopped
	}
	// A resumed holding complete after work's check needs none again.
	checked := resumed && h.t.Complete().Bool()
	for {
		select {
		case <-h.t.Complete().On():
		case <-h.t.Closed():
			return
		case <-ctx.Done(): // stopped: the torrent is about to be dropped or closed
			return
		}
		if !checked {
			// anacrolix writes a peer's chunk with its lock released, so a chunk in
			// flight when warm fill completed that piece can land after the piece's
			// check: a complete torrent may hold bytes no check saw, which users would
			// get and the directory's audits would quarantine this relay for. One more
			// check of every piece before serving; a damaged one is fetched again.
			if err := h.t.VerifyDataContext(ctx); err != nil {
				return
			}
			// anacrolix counts a piece's check done before it has marked the piece, and
			// the torrent is not complete until then: judged at once, a sound holding
			// looked changed and was checked again, often several times over.
			if !settled(ctx, h.t) {
				return
			}
			checked = true
			if !h.t.Complete().Bool() {
				r.log.Warn("relay: pieces changed on disk after their check; fetching them again", "artifact", h.item.ID)
				checked = false
				continue
			}
		}
		h.servable.Store(true)
		r.log.Info("relay: holding complete and verified", "artifact", h.item.ID, "resumed", resumed)
		r.beatSoon()
		r.kickDHT()
		return
	}
}

// settled waits until the client has no piece of t to check or being marked, and reports
// false if ctx ends first.
func settled(ctx context.Context, t *torrent.Torrent) bool {
	changes := t.SubscribePieceStateChanges()
	defer changes.Close()
	for slices.ContainsFunc(t.PieceStateRuns(), func(r torrent.PieceStateRun) bool { return r.Checking || r.Marking }) {
		select {
		case <-changes.Values:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// work is the relay's own work on h until h is complete or ctx ends (holding.stop): the
// check of a resumed holding's pieces, then warm start. It reports whether it was not
// stopped first. await, its caller, closes h.worked.
func (r *Relay) work(ctx context.Context, h *holding, resumed bool) bool {
	<-h.t.GotInfo()
	if resumed {
		if err := h.t.VerifyDataContext(ctx); err != nil {
			return false
		}
	}
	h.t.DownloadAll()
	r.warmStart(ctx, h)
	return ctx.Err() == nil
}

// remove stops serving and seeding an artifact and deletes its bytes, its piece
// completion and its record, in that order, so nothing half-deleted is ever served.
func (r *Relay) remove(ctx context.Context, ihHex, why string) {
	var ih metainfo.Hash
	if ih.FromHexString(ihHex) != nil {
		return
	}
	r.mu.Lock()
	h := r.held[ih]
	if h != nil {
		peers, webSeeds := h.downloaded()
		r.removedPeers += peers
		r.removedWebSeeds += webSeeds
	}
	delete(r.held, ih)
	r.mu.Unlock()
	if h != nil {
		h.servable.Store(false)
		h.stop()
		n := h.t.NumPieces()
		h.t.Drop()
		<-h.done // nothing writes any more: the files can go
		for i := range n {
			r.pc.Set(metainfo.PieceKey{InfoHash: ih, Index: i}, false)
		}
	}
	if err := os.RemoveAll(filepath.Join(r.cfg.DataDir, "torrents", ihHex)); err != nil {
		r.log.Error("relay: deleting an artifact", "infohash", ihHex, "err", err)
	}
	if err := r.db.remove(ctx, ihHex); err != nil && h != nil {
		r.log.Error("relay: forgetting an artifact", "infohash", ihHex, "err", err)
	}
	id := ihHex
	if h != nil {
		id = h.item.ID
	}
	r.log.Info("relay: removed", "artifact", id, "why", why)
}
