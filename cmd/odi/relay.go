package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/opendist/odi/internal/accesslog"
	"github.com/opendist/odi/internal/httpcount"
	"github.com/opendist/odi/internal/limit"
	"github.com/opendist/odi/internal/problem"
	"github.com/opendist/odi/internal/sign"
	"github.com/opendist/odi/seeder"
	"github.com/opendist/odi/webseed"
)

// RelayConfig is `odi relay`'s configuration.
type RelayConfig struct {
	// Listen is the HTTP listen address (web seeds, health, metrics).
	Listen string `mapstructure:"listen"`
	// Limits bound the HTTP server's connections (web seeds are bytes: no request rate).
	Limits limit.Config `mapstructure:"limits"`
	// TLS serves HTTPS on Listen.
	TLS TLSConfig `mapstructure:"tls"`
	// AccessLog is the access log, as the directory's.
	AccessLog     string `mapstructure:"access_log"`
	seeder.Config `mapstructure:",squash"`
}

func newRelayCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Run a relay: donate disk and bandwidth to one or more directories",
		Long: `Run a relay, the seeder a volunteer donates to a distribution network.

The relay registers with each --directory (requests signed with --key), fills --quota
with the artifacts the directories' plans rank highest (by swarm popularity), downloads
them over BitTorrent from peers and web seeds, verifies every piece, seeds them, and
serves them over plain HTTP at /ws/ as a BEP 19 web seed. It evicts what the plans let go
when it needs room, deletes expunged artifacts at once, and never holds more than --quota.
After a restart it re-hashes what it has before serving it, and downloads only what is
missing. If a directory is down it keeps seeding and serving, and retries. If a directory
refuses the relay for a reason that retrying cannot change (its public URL, its key), the
relay stops asking it, says why, and is not ready (/readyz); refused by every directory,
it exits with status 4, which restarting will not change.

A directory may need its operator to approve the relay: odi admin relays approve ID, where
ID is the "relay id" the relay prints when it starts (its key's fingerprint).

Without --follow the relay trusts its directories for what to carry: it checks each torrent
against the plan and every piece against the torrent, but whoever controls a directory (or
the path to it) chooses what the plans name. With --follow KEY.pub (repeatable; indexer
keys obtained out of band), it carries only artifacts that a current signed index of one
of those keys lists as published, with the infohash and files it names. It polls each
directory's /indexes/<key id>/index.json every relay.follow_interval, follows a successor
key an index announces (next_key), refuses rollbacks, equivocation, expired indexes,
indexes signed by other keys and oversized documents (keeping the index accepted before,
and saying why in its log), remembers the highest version per key in its data folder, and
drops what an index expunges or no longer lists, and what only an expired index listed
("index of key X expired at T"). odi_relay_follow_indexes{state} on /metrics counts the
followed keys whose index is current, expired or missing.`,
		Example: `  odi keygen --out relay.key
  odi relay --data /var/lib/odi-relay --listen 0.0.0.0:8081 --public-url https://relay.example.org \
      --directory https://dir.example.org --key relay.key --quota 500GiB --bt-listen 0.0.0.0:6881 \
      --upload-limit 50MiB`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadRole(cmd, g, flagKeys{
				"data": "relay.data", "listen": "relay.listen", "public-url": "relay.public_url",
				"directory": "relay.directories", "key": "relay.key", "quota": "relay.quota",
				"bt-listen": "relay.bt_listen", "upload-limit": "relay.upload_limit",
				"download-limit": "relay.download_limit", "catalog": "relay.catalogs",
				"tls-cert": "relay.tls.cert", "tls-key": "relay.tls.key", "follow": "relay.follow",
				"dht-listen": "relay.dht.listen", "dht-bootstrap": "relay.dht.bootstrap",
				"access-log": "relay.access_log",
			})
			if err != nil {
				return err
			}
			r, err := startRelay(cmd.Context(), cfg.Relay, log)
			if err != nil {
				return err
			}
			printf(g.stdout, "odi relay listening on %s://%s and bittorrent %s (public URL %s)\n", r.cfg.TLS.scheme(), r.ln.Addr(), r.relay.BTAddr(), r.cfg.PublicURL)
			// A directory's operator names the relay by this id (odi admin relays approve).
			if key, err := sign.LoadPrivateKey(cfg.Relay.KeyFile); err == nil {
				printf(g.stdout, "relay id %s\n", sign.Fingerprint(sign.NewSigner(key, nil).PublicKey()))
			}
			return r.Wait()
		},
	}
	def := defaultConfig().Relay
	f := cmd.Flags()
	f.String("data", "", withKey("folder for the relay's state and artifacts", "relay.data"))
	f.String("listen", def.Listen, withKey("HTTP listen address (web seeds, /healthz, /metrics)", "relay.listen"))
	f.String("public-url", "", withKey("URL users and directories reach this relay at (default http://<listen address>)", "relay.public_url"))
	f.StringArray("directory", nil, withKey("directory base URL; repeatable", "relay.directories"))
	f.String("key", "", withKey("the relay's private key (odi keygen)", "relay.key"))
	quota, up, down := def.Quota, def.UploadLimit, def.DownloadLimit
	f.Var(&quota, "quota", withKey("disk space for artifacts, e.g. 500GiB", "relay.quota"))
	f.String("bt-listen", def.BTListen, withKey("BitTorrent TCP listen address", "relay.bt_listen"))
	f.Var(&up, "upload-limit", withKey("upload bytes per second, HTTP and BitTorrent together, e.g. 20MiB (0 = unlimited)", "relay.upload_limit"))
	f.Var(&down, "download-limit", withKey("download bytes per second (0 = unlimited)", "relay.download_limit"))
	f.String("tls-cert", "", withKey("serve HTTPS with this PEM certificate chain (reloaded on SIGHUP)", "relay.tls.cert"))
	f.String("tls-key", "", withKey("the PEM private key of --tls-cert", "relay.tls.key"))
	f.String("access-log", "", withKey("access log in Combined Log Format: a file (reopened on SIGHUP), - for stderr (default: none)", "relay.access_log"))
	f.StringArray("catalog", nil, withKey("carry only this catalog; repeatable (default: any)", "relay.catalogs"))
	f.StringArray("follow", nil, withKey("carry only what indexes signed by this indexer key list: a .pub file or key line; repeatable (default: what the directories' plans say)", "relay.follow"))
	f.String("dht-listen", "", withKey("DHT (BEP 5) UDP listen address (default: the --bt-listen address over UDP; off to disable)", "relay.dht.listen"))
	f.StringArray("dht-bootstrap", nil, withKey("DHT node (host:port) to start from besides the directories'; repeatable", "relay.dht.bootstrap"))
	return cmd
}

// relayProc is a running relay and its HTTP server.
type relayProc struct {
	cfg   RelayConfig
	relay *seeder.Relay
	ln    net.Listener
	certs *certReloader // nil without TLS
	srv   *http.Server
	done  chan error
}

// startRelay listens, starts the relay, and serves until ctx ends; Wait returns when it
// has stopped. PublicURL defaults to the bound HTTP address.
func startRelay(ctx context.Context, cfg RelayConfig, log *slog.Logger) (*relayProc, error) {
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
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		access.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = cfg.TLS.scheme() + "://" + ln.Addr().String()
	}
	r, err := seeder.New(ctx, cfg.Config, buildVersion(), log)
	if err != nil {
		ln.Close()
		access.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerRelayMetrics(reg, r)
	if node := r.DHT(); node != nil {
		if err := node.Register(reg, "relay"); err != nil {
			log.Error("relay: no DHT metrics", "err", err) // a fresh registry: never, short of a name clash
		}
	}
	// Inside the bandwidth shaping, so that a write's stall deadline starts once the
	// shaper lets it go.
	limited := limit.NewListener(ln, cfg.Limits, nil)
	registerLimitMetrics(reg, "relay", limited)
	mux := http.NewServeMux()
	served := new(atomic.Int64) // since start, for the relay's page (CountServed's go with heartbeats)
	registerServedMetrics(reg, r, served, int64(cfg.Quota))
	mux.Handle("/ws/", httpcount.Count(r.CountServed(http.StripPrefix("/ws", webseed.New(relayStore{r}, log))), served))
	mux.Handle(webseed.BlobPrefix, httpcount.Count(r.CountServed(http.StripPrefix("/blob", webseed.NewBlobHandler(relayStore{r}, log))), served))
	mountRelayPage(mux, cfg, r, served, log)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := errors.Join(r.Ready(), r.Refused()); err != nil {
			problem.Write(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	p := &relayProc{cfg: cfg, relay: r, ln: ln, certs: certs, done: make(chan error, 1)}
	p.srv = &http.Server{Handler: access.Handler(problem.Guard(log, mux), accesslog.Options{}), ReadHeaderTimeout: cfg.Limits.HeaderTimeout, IdleTimeout: cfg.Limits.IdleTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if certs != nil {
		certs.notifyHUP()
	}
	hup := catchHUP(access, certs != nil, log)
	go func() {
		serveErr := make(chan error, 1)
		go func() { serveErr <- p.srv.Serve(certs.listener(r.WrapListener(limited))) }()
		// The signal loops end with the relay, which stops by itself too when every
		// directory refused it.
		sigCtx, stopSignals := context.WithCancel(ctx)
		var signals sync.WaitGroup
		if certs != nil {
			signals.Go(func() { certs.watch(sigCtx) })
		}
		signals.Go(func() { hup(sigCtx) })
		runErr := r.Run(ctx) // returns once ctx ends or every directory refused, after closing the client
		stopSignals()
		signals.Wait()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := p.srv.Shutdown(shutdownCtx)
		if serr := <-serveErr; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		p.done <- errors.Join(runErr, err, access.Close())
	}()
	return p, nil
}

// Wait blocks until the relay has stopped.
func (p *relayProc) Wait() error { return <-p.done }

// relayStore serves the relay's verified holdings to the web-seed handler.
type relayStore struct{ r *seeder.Relay }

var _ webseed.Store = relayStore{}

func (s relayStore) Open(_ context.Context, ih metainfo.Hash, path string) (webseed.File, error) {
	f, sum, err := s.r.Open(ih, path)
	return servedFile(f, sum, err)
}

// servedFile is a file the relay opened (with its sha256), or why it did not, as the
// web-seed handlers take them.
func servedFile(f *os.File, sum string, err error) (webseed.File, error) {
	if errors.Is(err, seeder.ErrNotServed) {
		return webseed.File{}, classed{err, webseed.ErrNotFound}
	}
	if err != nil {
		return webseed.File{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return webseed.File{}, err
	}
	return webseed.File{Content: f, ModTime: fi.ModTime(), SHA256: sum}, nil
}

// registerRelayMetrics exposes the relay's holdings, what it fetched and the audits it ran,
// read at scrape time.
func registerRelayMetrics(reg *prometheus.Registry, r *seeder.Relay) {
	gauge := func(name, help string, labels prometheus.Labels, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "odi", Subsystem: "relay", Name: name, Help: help, ConstLabels: labels,
		}, f))
	}
	gauge("holdings", "Artifacts held, complete or not.", nil, func() float64 { n, _, _ := r.Usage(); return float64(n) })
	gauge("servable_holdings", "Artifacts verified and served.", nil, func() float64 { _, n, _ := r.Usage(); return float64(n) })
	gauge("reserved_bytes", "Quota reserved by holdings.", nil, func() float64 { _, _, n := r.Usage(); return float64(n) })
	counter := func(name, help string, labels prometheus.Labels, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "odi", Subsystem: "relay", Name: name, Help: help, ConstLabels: labels,
		}, f))
	}
	fetchedHelp := "Bytes of artifacts the relay fetched since it started, by source (peers: BitTorrent; webseeds: HTTP, warm start's included)."
	counter("fetched_bytes_total", fetchedHelp, prometheus.Labels{"source": "peers"},
		func() float64 { p, _ := r.Downloaded(); return float64(p) })
	counter("fetched_bytes_total", fetchedHelp, prometheus.Labels{"source": "webseeds"},
		func() float64 { _, w := r.Downloaded(); return float64(w) })
	for i, result := range []string{"fetched", "wrong_answer", "timeout", "error"} {
		counter("audits_total", "Audits of other relays' web seeds the directories asked for, by result: fetched (its sha256 went to the directory, which judges it), wrong_answer (another status, range or length), timeout or error.",
			prometheus.Labels{"result": result}, func() float64 {
				a := r.Audits()
				return float64([]int64{a.Fetched, a.WrongAnswer, a.Timeout, a.Error}[i])
			})
	}
	for i, state := range []string{"current", "expired", "missing"} {
		gauge("follow_indexes", "Followed indexer keys (per directory) by the state of their index: accepted and unexpired, expired, or none accepted.",
			prometheus.Labels{"state": state}, func() float64 {
				cur, exp, miss := r.FollowStatus()
				return float64([]int{cur, exp, miss}[i])
			})
	}
}

// registerLimitMetrics exposes a server's connections and the ones its caps refused.
func registerLimitMetrics(reg *prometheus.Registry, subsystem string, l *limit.Listener) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "odi", Subsystem: subsystem, Name: "http_connections_open",
		Help: "HTTP connections open now.",
	}, func() float64 { return float64(l.Open()) }))
	for _, reason := range []string{"server_full", "per_address"} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "odi", Subsystem: subsystem, Name: "http_connections_refused_total",
			Help:        "HTTP connections refused at once: the server's cap or the per-address cap was reached.",
			ConstLabels: prometheus.Labels{"reason": reason},
		}, func() float64 {
			full, perAddr := l.Refusals()
			if reason == "server_full" {
				return float64(full)
			}
			return float64(perAddr)
		}))
	}
}
