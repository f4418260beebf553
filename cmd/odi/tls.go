package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// TLSConfig makes a daemon serve HTTPS itself: a PEM certificate chain and its key, read
// again on SIGHUP (a renewal by certbot or acme.sh then needs no restart). Both empty:
// plain HTTP, e.g. behind a reverse proxy that terminates TLS (docs/tls.md).
type TLSConfig struct {
	Cert string `mapstructure:"cert"` // PEM certificate chain, leaf first
	Key  string `mapstructure:"key"`  // PEM private key of the leaf
}

// Enabled reports whether HTTPS is configured.
func (c TLSConfig) Enabled() bool { return c.Cert != "" || c.Key != "" }

// Validate refuses half a pair.
func (c TLSConfig) Validate() error {
	if (c.Cert == "") != (c.Key == "") {
		return errors.New("tls.cert and tls.key go together: set both, or neither")
	}
	return nil
}

// certReloader serves the certificate last loaded: GetCertificate reads it through an
// atomic pointer, so a reload never blocks a handshake, and a pair that fails to load
// leaves the one in use.
type certReloader struct {
	cfg TLSConfig
	log *slog.Logger
	cur atomic.Pointer[tls.Certificate]
	hup chan os.Signal
}

// newCertReloader loads cfg's pair, which must be valid.
func newCertReloader(cfg TLSConfig, log *slog.Logger) (*certReloader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, usageError("%v", err)
	}
	r := &certReloader{cfg: cfg, log: log}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// reload reads the pair again; on failure the certificate in use stays.
func (r *certReloader) reload() error {
	cert, err := tls.LoadX509KeyPair(r.cfg.Cert, r.cfg.Key)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s and key %s: %w", r.cfg.Cert, r.cfg.Key, err)
	}
	r.cur.Store(&cert)
	return nil
}

func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// listener serves TLS on ln (ln itself when r is nil). It offers HTTP/1.1 only:
// internal/limit's caps and stall deadlines count connections, which HTTP/2 would
// multiplex.
func (r *certReloader) listener(ln net.Listener) net.Listener {
	if r == nil {
		return ln
	}
	return tls.NewListener(ln, &tls.Config{
		GetCertificate: r.getCertificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
	})
}

// notifyHUP starts catching SIGHUP for watch; a daemon calls it before it says it
// listens, so that a SIGHUP from then on reloads rather than kills it.
func (r *certReloader) notifyHUP() {
	r.hup = make(chan os.Signal, 1)
	signal.Notify(r.hup, syscall.SIGHUP)
}

// watch reloads the pair on every SIGHUP caught since notifyHUP, until ctx ends.
func (r *certReloader) watch(ctx context.Context) {
	defer signal.Stop(r.hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.hup:
			if err := r.reload(); err != nil {
				r.log.Error("TLS certificate not reloaded; serving the previous one", "err", err)
				continue
			}
			r.log.Info("TLS certificate reloaded", "cert", r.cfg.Cert)
		}
	}
}

// loadTLS loads cfg's pair; nil without TLS.
func loadTLS(cfg TLSConfig, log *slog.Logger) (*certReloader, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	return newCertReloader(cfg, log)
}

// scheme is the URL scheme a server with cfg answers on.
func (c TLSConfig) scheme() string {
	if c.Enabled() {
		return "https"
	}
	return "http"
}
