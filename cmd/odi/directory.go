package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/labstack/echo-contrib/echoprometheus"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/opendist/odi/catalog"
	"github.com/opendist/odi/catalog/links"
	"github.com/opendist/odi/catalog/originpull"
	"github.com/opendist/odi/catalog/references"
	"github.com/opendist/odi/internal/accesslog"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/dhtnode"
	"github.com/opendist/odi/internal/geo"
	"github.com/opendist/odi/internal/history"
	"github.com/opendist/odi/internal/httpcount"
	"github.com/opendist/odi/internal/limit"
	"github.com/opendist/odi/internal/problem"
	"github.com/opendist/odi/internal/webui"
	"github.com/opendist/odi/tracker"
	"github.com/opendist/odi/webseed"
)

func newDirectoryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "directory",
		Short: "Run a directory: catalog, tracker, origin web seed and API",
		Long: `Run a directory: the catalog of artifacts (SQLite under --data), their torrents,
the origin copy of their bytes served as a BEP 19 web seed, and the HTTP API that
publishers, admins, relays and users talk to.

Publishers must be admitted: list their public keys with --publisher-key (or publishers:
in the config file), or add them at run time with 'odi admin publishers add', signed by
a key given with --admin-key.

Indexers (people or projects who vouch for artifacts in signed indexes) are admitted the
same way: --indexer-key, or 'odi admin indexers add'; the directory then hosts their
indexes at /indexes/<key id>/index.json. With --index-key, a private key made by
odi keygen, the directory signs an index of its own catalog too, after every publish
and expunge and daily.`,
		Example: `  odi keygen --out admin.key && odi keygen --out publisher.key
  odi directory --data /var/lib/odi --listen 0.0.0.0:8080 \
      --public-url https://dir.example.org --admin-key admin.key.pub \
      --publisher-key debian=publisher.key.pub
  odi keygen --out index.key
  odi directory --data /var/lib/odi --public-url https://dir.example.org \
      --index-key index.key --indexer-key reviewers=reviewers.key.pub`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadRole(cmd, g, flagKeys{
				"data": "directory.data", "listen": "directory.listen", "public-url": "directory.public_url",
				"publisher-key": "directory.publishers", "admin-key": "directory.admin_keys",
				"indexer-key": "directory.indexers", "index-key": "directory.index_key",
				"max-artifact-size": "directory.max_artifact_size", "udp-listen": "directory.tracker.udp_listen",
				"relay-policy": "directory.relays.policy", "allow-private-relay-urls": "directory.relays.allow_private_urls",
				"geoip": "directory.geoip", "tls-cert": "directory.tls.cert", "tls-key": "directory.tls.key",
				"access-log": "directory.access_log",
			})
			if err != nil {
				return err
			}
			if err := requireSetting(cfg.Directory.DataDir, "data", "directory.data"); err != nil {
				return err
			}
			d, err := startDirectory(cmd.Context(), cfg.Directory, log)
			if err != nil {
				return err
			}
			printf(g.stdout, "odi directory listening on %s (public URL %s)\n", d.addrs(), d.cfg.PublicURL)
			return d.Wait()
		},
	}
	def := defaultConfig().Directory
	f := cmd.Flags()
	f.String("data", "", withKey("folder for the catalog database and origin copies", "directory.data"))
	f.String("listen", def.Listen, withKey("HTTP listen address; port 0 picks one", "directory.listen"))
	f.String("public-url", "", withKey("URL clients reach this directory at (default http://<listen address>)", "directory.public_url"))
	f.StringArray("publisher-key", nil, withKey("trusted publisher key, [NAME[:SCOPE]=]KEY.pub: publishes into catalog NAME, or SCOPE (comma-separated catalogs, * for any); repeatable", "directory.publishers"))
	f.StringArray("admin-key", nil, withKey("trusted admin key, KEY.pub; repeatable", "directory.admin_keys"))
	f.StringArray("indexer-key", nil, withKey("indexer key whose signed index this directory hosts, [NAME=]KEY.pub; repeatable", "directory.indexers"))
	f.String("index-key", "", withKey("private key (odi keygen) to sign this directory's own index of its catalog with", "directory.index_key"))
	f.String("udp-listen", "", withKey("BEP 15 UDP tracker address (default: the HTTP address over UDP; off to disable)", "directory.tracker.udp_listen"))
	f.String("relay-policy", def.Relays.Policy, withKey("relay admission: approve (an operator approves each relay) or open", "directory.relays.policy"))
	f.String("geoip", "", withKey("GeoIP country database (.mmdb) to send users to relays near them", "directory.geoip"))
	f.String("tls-cert", "", withKey("serve HTTPS with this PEM certificate chain (reloaded on SIGHUP)", "directory.tls.cert"))
	f.String("tls-key", "", withKey("the PEM private key of --tls-cert", "directory.tls.key"))
	f.String("access-log", "", withKey("access log in Combined Log Format: a file (reopened on SIGHUP), - for stderr (default: none)", "directory.access_log"))
	f.Bool("allow-private-relay-urls", false, withKey("accept relays on loopback and private addresses (tests, demos, closed networks)", "directory.relays.allow_private_urls"))
	size := def.MaxArtifactSize
	f.Var(&size, "max-artifact-size", withKey("largest artifact accepted, e.g. 64GiB", "directory.max_artifact_size"))
	return cmd
}

// directory is a running directory: its catalog, tracker and servers.
type directory struct {
	cfg DirectoryConfig
	log *slog.Logger
	cat *catalog.Catalog
	tr  *tracker.Tracker
	// redirects resolves /r/ and counts its redirects for the tracker.
	redirects *redirectTargets
	geo       *geo.Locator // nil without a GeoIP database
	reg       *prometheus.Registry
	srv       *http.Server
	ln        net.Listener
	certs     *certReloader         // nil without TLS
	access    *accesslog.Log        // nil without an access log
	hup       func(context.Context) // answers SIGHUP (catchHUP)
	udp       *net.UDPConn          // nil when the UDP tracker is off
	done      chan error
	// originSent and originDL count the bytes the origin copy served on /ws/ and /dl/:
	// what relays and peers are there to save.
	originSent atomic.Int64
	originDL   atomic.Int64
	rationed   atomic.Int64           // 503s of the origin's /ws/ in a crowd
	pull       *originpull.Puller     // federation.origins (federation_origins.go)
	refs       *references.References // federation.references (federation_references.go)
	links      *links.Links           // federation.links (federation_links.go)
	dht        *dhtnode.Node          // nil with dht.listen off (dht.go)
	pages      *webui.Pages           // the web pages for people (pages.go)
	hist       *history.History       // the charts' history (history.go)
}

// listenUDP opens the BEP 15 socket: cfg.UDPListen, or the HTTP listener's address over
// UDP when empty; nil when "off".
func listenUDP(cfg tracker.Config, httpAddr net.Addr) (*net.UDPConn, error) {
	switch cfg.UDPListen {
	case "off":
		return nil, nil
	case "":
		tcp := httpAddr.(*net.TCPAddr)
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: tcp.IP, Port: tcp.Port})
		if err != nil {
			return nil, fmt.Errorf("UDP tracker on the HTTP port: %w (set --udp-listen, or off)", err)
		}
		return conn, nil
	}
	addr, err := net.ResolveUDPAddr("udp", cfg.UDPListen)
	if err != nil {
		return nil, usageError("--udp-listen %q: %v", cfg.UDPListen, err)
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("UDP tracker: %w", err)
	}
	return conn, nil
}

// listenPair opens the HTTP listener and the UDP tracker's socket. When the system
// picks the HTTP port (port 0) and its UDP twin is taken, it picks again: the pair is
// what was asked for, and another process's socket on the twin says nothing against it.
func listenPair(cfg DirectoryConfig) (net.Listener, *net.UDPConn, error) {
	for attempt := 1; ; attempt++ {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, nil, fmt.Errorf("listen: %w", err)
		}
		udp, err := listenUDP(cfg.Tracker, ln.Addr())
		if err == nil {
			return ln, udp, nil
		}
		ln.Close()
		_, port, _ := net.SplitHostPort(cfg.Listen)
		if port != "0" || cfg.Tracker.UDPListen != "" || !errors.Is(err, syscall.EADDRINUSE) || attempt == 10 {
			return nil, nil, err
		}
	}
}

// startDirectory listens, opens the catalog and the tracker, and serves until ctx ends;
// Wait returns when it has stopped. PublicURL defaults to the bound HTTP address.
func startDirectory(ctx context.Context, cfg DirectoryConfig, log *slog.Logger) (_ *directory, err error) {
	ln, udp, err := listenPair(cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			ln.Close()
			if udp != nil {
				udp.Close()
			}
		}
	}()
	if cfg.PublicURL == "" {
		cfg.PublicURL = cfg.TLS.scheme() + "://" + ln.Addr().String()
	}
	if udp != nil {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil {
			return nil, usageError("public_url: %v", err)
		}
		port := udp.LocalAddr().(*net.UDPAddr).Port
		cfg.UDPTracker = "udp://" + net.JoinHostPort(u.Hostname(), strconv.Itoa(port)) + "/announce"
	}
	if err := cfg.Origin.Validate(); err != nil {
		return nil, usageError("origin: %v", err)
	}
	if err := cfg.Limits.Validate(); err != nil {
		return nil, usageError("limits: %v", err)
	}
	certs, err := loadTLS(cfg.TLS, log)
	if err != nil {
		return nil, err
	}
	access, err := openAccessLog(cfg.AccessLog, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			access.Close()
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	pop := &popularity{}
	deps := catalog.Deps{Metrics: reg, Popularity: pop}
	var loc *geo.Locator
	if cfg.GeoIP != "" {
		if loc, err = geo.Open(cfg.GeoIP); err != nil {
			return nil, fmt.Errorf("geoip: %w", err)
		}
		deps.Locator = loc
		defer func() {
			if err != nil {
				loc.Close()
			}
		}()
	}
	refs, err := newReferences(ctx, cfg, loc, reg, log)
	if err != nil {
		return nil, err
	}
	deps.References = refs
	linked := &linkCatalog{}
	ls, err := newLinks(cfg, linked, log)
	if err != nil {
		return nil, err
	}
	deps.Linked, deps.LinkedIndexes = ls, ls
	cfg.Foreign = cfg.Federation.foreign()
	var trackerOfDHT atomic.Pointer[tracker.Tracker] // set once the tracker is up
	node, err := newDirectoryDHT(cfg, ln.Addr(), func(ih metainfo.Hash) []netip.AddrPort {
		if tr := trackerOfDHT.Load(); tr != nil {
			return tr.Peers(ih, cfg.DHT.MaxValues)
		}
		return nil
	}, reg, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && node != nil {
			node.Close()
		}
	}()
	if node != nil {
		cfg.DHTNode, deps.DHT = publicDHTNode(cfg.PublicURL, node), node
	}
	cat, err := catalog.New(ctx, cfg.Config, deps, log)
	if err != nil {
		return nil, err
	}
	linked.cat = cat
	tr, err := tracker.New(ctx, cfg.Tracker, cat, counterStore{cat}, reg, log)
	if err != nil {
		cat.Close()
		return nil, err
	}
	pop.tr = tr
	trackerOfDHT.Store(tr)
	proxies, _ := cfg.Tracker.Proxies() // checked by tracker.New
	limited := limit.NewListener(ln, cfg.Limits.Config, proxies)
	registerLimitMetrics(reg, "directory", limited)
	d := &directory{cfg: cfg, log: log, cat: cat, tr: tr, redirects: newRedirectTargets(cat, tr), geo: loc, reg: reg,
		ln: certs.listener(limited), certs: certs, access: access, udp: udp, done: make(chan error, 1), links: ls, dht: node}
	if d.pull, err = newOrigins(ctx, cfg, cat, reg, log); err != nil {
		cat.Close()
		return nil, err
	}
	if d.refs, err = refs, checkReferencesUnserved(cat, cfg); err != nil {
		cat.Close()
		return nil, err
	}
	if d.hist, err = openHistory(cfg, log); err != nil {
		cat.Close()
		return nil, err
	}
	if d.pages, err = webui.New(webui.Config{PublicURL: cfg.PublicURL}, catalogPages{cat, d.hist}, log); err != nil {
		cat.Close()
		return nil, err
	}
	d.registerMetrics()
	d.srv = &http.Server{
		Handler:           limit.StallBodies(cfg.Limits.StallTimeout, d.access.Handler(d.handler(), accesslog.Options{ClientAddr: tr.ClientAddr, URI: loggedURI})),
		ReadHeaderTimeout: cfg.Limits.HeaderTimeout,
		IdleTimeout:       cfg.Limits.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if certs != nil {
		certs.notifyHUP()
	}
	d.hup = catchHUP(access, certs != nil, log)
	go func() { d.done <- d.run(ctx) }()
	return d, nil
}

// addrs describes where the directory listens, for the start-up line.
func (d *directory) addrs() string {
	s := d.cfg.TLS.scheme() + "://" + d.ln.Addr().String()
	if d.udp != nil {
		s += " and udp://" + d.udp.LocalAddr().String()
	}
	return s
}

func (d *directory) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	// The tracker saves its counters last, once the HTTP server has answered its last
	// request and the redirect counts are in.
	trackerCtx, stopTracker := context.WithCancel(context.WithoutCancel(ctx))
	defer stopTracker()
	g.Go(func() error { return d.cat.Run(ctx) })
	g.Go(func() error { return d.tr.Run(trackerCtx) })
	g.Go(func() error { return d.redirects.Run(ctx) })
	g.Go(func() error { return d.pull.Run(ctx) })
	g.Go(func() error { return d.refs.Run(ctx) })
	g.Go(func() error { return d.links.Run(ctx) })
	g.Go(func() error { d.hist.Run(ctx, historySource{d}, d.historyPath(), d.log); return nil })
	if d.dht != nil {
		d.log.Info("DHT node listening", "addr", d.dht.Addr().String(), "torrents name", d.cfg.DHTNode)
		g.Go(func() error { return d.dht.Run(ctx) })
	}
	if d.certs != nil {
		g.Go(func() error { d.certs.watch(ctx); return nil })
	}
	g.Go(func() error { d.hup(ctx); return nil })
	if d.udp != nil {
		udpRates := limit.NewRates(d.cfg.Limits.Tracker, maxRateAddrs)
		allow := func(a netip.Addr) bool { ok, _ := udpRates.Allow(a, time.Now()); return ok }
		g.Go(func() error { return d.tr.ServeUDP(ctx, d.udp, allow) })
	}
	g.Go(func() error {
		if err := d.srv.Serve(d.ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		defer stopTracker()
		d.log.Info("directory stopping")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := d.srv.Shutdown(shutdownCtx)
		d.redirects.flush()
		return err
	})
	err := g.Wait()
	if d.geo != nil {
		err = errors.Join(err, d.geo.Close())
	}
	return errors.Join(err, d.cat.Close(), d.access.Close())
}

// Wait blocks until the directory has stopped and returns why.
func (d *directory) Wait() error { return <-d.done }

// handler routes the directory's HTTP surface. The tracker and web-seed bytes bypass
// echo: both are hot paths, and http.ServeContent can then hand files to the kernel.
func (d *directory) handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = problemHandler(d.log)
	// Handlers that count clients (bad-piece reports) see them as the tracker does.
	e.IPExtractor = func(r *http.Request) string { return d.tr.ClientAddr(r).String() }
	e.Use(middleware.Recover())
	e.Use(echoprometheus.NewMiddlewareWithConfig(echoprometheus.MiddlewareConfig{Namespace: "odi", Subsystem: "directory", Registerer: d.reg,
		LabelFuncs: boundedLabels}))
	e.Use(requestLogger(d.log))
	d.cat.RegisterRoutes(e)
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", func(c echo.Context) error {
		if err := d.cat.Ready(c.Request().Context()); err != nil {
			return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
		}
		return c.String(http.StatusOK, "ready\n")
	})
	e.GET("/api/v1/federation", d.handleFederation)
	e.GET(links.SourcesPath, d.handleSources)
	e.POST(links.LinkersPath, d.handleLinkerNotice)
	e.GET("/metrics", echoprometheus.NewHandlerWithConfig(echoprometheus.HandlerConfig{Gatherer: d.reg}))

	mux := http.NewServeMux()
	origin := webseed.New(originStore{d.cat}, d.log).DeflectTo(d.relayHolding)
	opts := webseed.RedirectorOptions{Prefix: "/r", ClientAddr: d.tr.ClientAddr, Blobs: d.redirects}
	if d.cfg.Origin.Serves > 0 {
		ledger := webseed.NewLedger(d.cfg.Origin).Reclaim(func(who string, ih metainfo.Hash, since time.Time) bool {
			id, ok := strings.CutPrefix(who, relayKeyPrefix)
			return ok && d.cat.RelayLetGo(id, ih, since)
		})
		// Relays about to take the artifact: so new that relays may not have heard of it
		// yet (a release's crowd arrives with its publication, before the tracker has
		// counted it, and is rationed from the first request), or filling it.
		relaysDue := func(ih metainfo.Hash) bool { return d.cat.AwaitingRelays(ih, webseed.RelayQuiet) }
		relaysComing := func(ih metainfo.Hash) bool {
			return ledger.RelaysFilling(ih) || relaysDue(ih) || d.cat.RelaysFetching(ih)
		}
		origin.Ration(webseed.Rationing{
			Ledger:    ledger,
			Crowded:   func(ih metainfo.Hash) bool { return d.crowded(ih) || relaysDue(ih) },
			Who:       d.requester,
			RelaysDue: relaysDue,
			Refused:   &d.rationed,
		})
		if d.cfg.Origin.RelayFirst > 0 {
			// Plain HTTP users wait for the relays too, rather than take a copy each from
			// the origin (which /dl/ does not ration).
			opts.Hold, opts.MaxHold = relaysComing, d.cfg.Origin.RelayFirst
		}
	}
	mux.Handle("/ws/", httpcount.Count(http.StripPrefix("/ws", origin), &d.originSent))
	// The same copy for plain HTTP users, whom /r/ sends here when no relay can take
	// them: they have no peers, so they are never rationed, nor sent on (/r/ chose).
	download := webseed.New(originStore{d.cat}, d.log)
	mux.Handle("/dl/", httpcount.Count(http.StripPrefix("/dl", download), &d.originDL))
	// Users are placed by the address the tracker believes: behind a trusted reverse
	// proxy, X-Forwarded-For's.
	if d.geo != nil {
		opts.Locator = d.geo
	}
	rd := webseed.NewRedirector(d.redirects, opts, d.log)
	// Rates per client address; a bucket set is shared by the paths it names.
	requests := limit.NewRates(d.cfg.Limits.Requests, maxRateAddrs)
	limited := func(rs *limit.Rates, h http.Handler) http.Handler { return limit.Handler(rs, d.tr.ClientAddr, h) }
	mux.Handle("/m/", limited(requests, http.StripPrefix("/m", rd.Metalink())))
	mux.Handle(webseed.BlobPrefix, limited(requests, http.StripPrefix("/blob", rd.Blob())))
	trackerHandler := limited(limit.NewRates(d.cfg.Limits.Tracker, maxRateAddrs), d.tr.HTTPHandler())
	mux.Handle("/announce", trackerHandler)
	mux.Handle("/scrape", trackerHandler)
	api := limited(requests, e)
	mux.Handle("/", api)
	// Pages for people: GET / and a few paths no API route has.
	d.pages.Mount(mux, func(h http.Handler) http.Handler { return limited(requests, h) })
	mux.Handle("POST /api/v1/relays/register", limited(limit.NewRates(d.cfg.Limits.Registrations, maxRateAddrs), api))
	// An upload's own requests need no bucket: only the holder of a declared upload's id
	// gets past its lookup, and uploads are bounded by their slots. A 429 there would
	// fail a publish halfway and hold its slot until upload_ttl.
	for _, p := range []string{"PUT /api/v1/uploads/{id}", "DELETE /api/v1/uploads/{id}", "POST /api/v1/uploads/{id}/commit"} {
		mux.Handle(p, e)
	}
	return d.staleLinksFirst(d.referencesFirst(redirectsFirst{rd: problem.Guard(d.log, limited(requests, rd)), mux: mux, guarded: problem.Guard(d.log, mux)},
		func(h http.Handler) http.Handler { return limited(requests, h) }))
}

// maxRateAddrs bounds the addresses a set of rate buckets tracks at once; more share one.
const maxRateAddrs = 1 << 16

// redirectsFirst hands /r/ to the redirector before ServeMux, whose pattern matching was
// 2-3% of the directory's CPU time under scripts/bench/redirect.sh (its busiest path).
// The redirector checks every segment itself, so it needs none of ServeMux's cleaning.
// Every answer but the tracker's goes through problem.Guard (rd is guarded too):
// BitTorrent clients read failures as a bencoded "failure reason" (BEP 3), which the
// tracker writes itself.
type redirectsFirst struct {
	rd      http.Handler
	mux     *http.ServeMux
	guarded http.Handler // mux
}

func (h redirectsFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/r/"):
		h.rd.ServeHTTP(w, r)
	case p == "/announce" || p == "/scrape":
		h.mux.ServeHTTP(w, r)
	default:
		h.guarded.ServeHTTP(w, r)
	}
}

// relayHolding picks, at random, an up relay holding the published artifact ih, checked:
// the origin's web seed sends its clients there. It needs two such relays, so that a
// relay serving bad bytes before the probes catch it is never a client's only web seed
// (its url-list names that relay and the origin). "" when there are fewer.
func (d *directory) relayHolding(ih metainfo.Hash) string {
	a, err := d.cat.ByInfoHash(ih)
	if err != nil || a.State != catalogapi.Published {
		return ""
	}
	ms := d.cat.Mirrors(ih)
	if len(ms) < 2 {
		return ""
	}
	return ms[rand.IntN(len(ms))].Base
}

// crowded reports whether two or more peers are downloading ih: then the origin sends
// each piece once in a while and lets them pass it on. Seeders do not count: one leecher
// costs the origin a copy at most, and a seeder that serves bad bytes (a relay not yet
// quarantined) must not leave its leechers without the origin's.
func (d *directory) crowded(ih metainfo.Hash) bool {
	return d.tr.Stats(ih).Leechers >= 2
}

// requester tells the origin's requesters apart: a relay by its origin token, anyone else
// by address (the tracker's rule: behind a trusted reverse proxy, X-Forwarded-For's), an
// IPv6 one by its /64, which is what one user is given. Clients behind one address share
// its pieces; a client with many addresses gets no more than as many clients would.
func (d *directory) requester(r *http.Request) webseed.Requester {
	if id, ok := d.cat.RelayOfOrigin(r.Header.Get("Authorization")); ok {
		return webseed.Requester{Key: relayKeyPrefix + id, Relay: true}
	}
	return webseed.Requester{Key: limit.AddrKey(d.tr.ClientAddr(r)).String()}
}

// relayKeyPrefix begins a relay's requester key; an address, every other key, has no
// space.
const relayKeyPrefix = "relay "

// counterStore keeps the tracker's counters in the catalog's database.
type counterStore struct{ cat *catalog.Catalog }

var _ tracker.CounterStore = counterStore{}

func (s counterStore) LoadSwarmCounters(ctx context.Context) ([]tracker.Counters, error) {
	saved, err := s.cat.LoadSwarmCounters(ctx)
	out := make([]tracker.Counters, len(saved))
	for i, c := range saved {
		out[i] = tracker.Counters(c)
	}
	return out, err
}

func (s counterStore) SaveSwarmCounters(ctx context.Context, cs []tracker.Counters) error {
	out := make([]catalog.SwarmCounters, len(cs))
	for i, c := range cs {
		out[i] = catalog.SwarmCounters(c)
	}
	return s.cat.SaveSwarmCounters(ctx, out)
}

// popularity gives the catalog the tracker's counters. The two need each other (the
// tracker serves the catalog's torrents and keeps its counters in the catalog's
// database), so the catalog is built with this and the tracker set in it right after,
// before either runs or serves.
type popularity struct{ tr *tracker.Tracker }

var _ catalog.PopularitySource = (*popularity)(nil)

func (p *popularity) Popularity(ih [20]byte) catalogapi.Popularity {
	return catalogapi.Popularity(p.tr.Stats(ih))
}

// originStore serves the catalog's origin copies to the web-seed handler.
type originStore struct{ cat *catalog.Catalog }

var _ webseed.Store = originStore{}

func (o originStore) Open(_ context.Context, ih metainfo.Hash, path string) (webseed.File, error) {
	f, err := o.cat.OpenOrigin(ih, path)
	switch {
	case errors.Is(err, catalog.ErrExpunged):
		return webseed.File{}, classed{err, webseed.ErrGone}
	case errors.Is(err, catalog.ErrNotFound):
		return webseed.File{}, classed{err, webseed.ErrNotFound}
	case err != nil:
		return webseed.File{}, err
	}
	a := f.Artifact
	var offset int64
	for _, prev := range a.Files[:f.Index] {
		offset += prev.Size
	}
	return webseed.File{Content: f.File, ModTime: a.PublishedAt, SHA256: a.Files[f.Index].SHA256,
		Offset: offset, TorrentLength: a.TotalSize(), PieceLength: a.PieceLength}, nil
}

// problemHandler writes every API error as application/problem+json; errors that carry
// no status are logged and shown as a bare 500.
func problemHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, detail := http.StatusInternalServerError, "internal error"
		var he *echo.HTTPError
		if errors.As(err, &he) {
			status, detail = he.Code, fmt.Sprint(he.Message)
		} else {
			log.Error("request failed", "method", c.Request().Method, "path", loggedURI(c.Request().URL.Path), "err", err)
		}
		// echo's router says only "Not Found" and "Method Not Allowed".
		switch path := loggedURI(c.Request().URL.Path); {
		case errors.Is(err, echo.ErrNotFound):
			detail = "nothing at " + path
		case errors.Is(err, echo.ErrMethodNotAllowed):
			detail = c.Request().Method + " is not allowed on " + path
			if allow := c.Response().Header().Get("Allow"); allow != "" {
				detail += "; use " + allow
			}
		}
		if status == http.StatusUnauthorized {
			c.Response().Header().Set("WWW-Authenticate", "Odi-Minisign")
		}
		problem.Write(c.Response(), status, detail)
	}
}

// boundedLabels keep the API's request metrics to a series per route, method and status:
// echoprometheus's defaults label by the Host header and, for requests no route matches,
// by the raw path, which let any scanner add series without end.
var boundedLabels = map[string]echoprometheus.LabelValueFunc{
	"host": func(echo.Context, error) string { return "" },
	"url": func(c echo.Context, _ error) string {
		if p := c.Path(); p != "" && p != "/*" {
			return p
		}
		return "unmatched"
	},
	"method": func(c echo.Context, _ error) string {
		switch m := c.Request().Method; m {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
			http.MethodDelete, http.MethodOptions:
			return m
		}
		return "other"
	},
}

// requestLogger logs each request: failures at warn, the rest at debug.
func requestLogger(log *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogMethod: true, LogURI: true, LogStatus: true, LogLatency: true, LogRemoteIP: true, LogError: true,
		HandleError: true,
		LogValuesFunc: func(_ echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelDebug
			if v.Status >= 500 {
				level = slog.LevelWarn
			}
			log.Log(context.Background(), level, "request", "method", v.Method, "uri", loggedURI(v.URI),
				"status", v.Status, "latency", v.Latency, "remote", v.RemoteIP, "err", v.Error)
			return nil
		},
	})
}

// loggedURI is a request's URI as logs show it: an upload's id, which is the capability
// to send or abandon its bytes, replaced by its catalog.UploadRef, matched route or not.
func loggedURI(uri string) string {
	const uploads = "/api/v1/uploads/"
	rest, ok := strings.CutPrefix(uri, uploads)
	if !ok || rest == "" {
		return uri
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	return uploads + catalog.UploadRef(rest[:end]) + rest[end:]
}
