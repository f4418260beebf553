package originpull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"aead.dev/minisign"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/fsutil"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/netcheck"
	"github.com/opendist/odi/internal/sign"
)

// Catalog is where pulled releases go: the directory's catalog.
type Catalog interface {
	// Known reports whether catalog holds name/version, published or expunged: either
	// way it is never pulled again (an expunge is for good).
	Known(catalog, name, version string) bool
	// PublishLocal publishes m from the verified files at paths (paths[i] holds
	// m.Files[i]) as if uploaded, keeping ev as the proof of who vouched for them. It
	// returns an error wrapping ErrRefused when the catalog will never take m.
	PublishLocal(ctx context.Context, m *manifest.Manifest, paths []string, ev Evidence) error
}

// Evidence is what an artifact pulled from an origin was published on: the listing and
// its signature exactly as fetched, so anyone with the project's key can check again.
type Evidence struct {
	Publisher string // "origin:<catalog>"
	Listing   []byte // SHA256SUMS
	Signature []byte // SHA256SUMS.minisig
	KeyID     string // the project's key, as sign.KeyID prints it
	URL       string // where the listing was fetched
	Date      time.Time
}

// ErrRefused is returned (wrapped) by Catalog.PublishLocal when the catalog will never
// take a release (a name taken by an upload, the same content under another version,
// too large): the puller records why and stops trying it.
var ErrRefused = errors.New("refused by the catalog")

// Errors of a poll, in the origin's status and logs.
var (
	// ErrSignature is returned when SHA256SUMS.minisig is missing, malformed, by
	// another key, or does not verify: nothing of the listing is used.
	ErrSignature = errors.New("SHA256SUMS signature refused")
	// ErrDigest is returned when a downloaded file's sha256 is not the signed one.
	ErrDigest = errors.New("sha256 differs from the signed listing")
	// ErrUpstream is returned for an upstream answer that is not the file asked for.
	ErrUpstream = errors.New("upstream answer refused")
)

// Deps are what a Puller needs from the directory.
type Deps struct {
	Catalog Catalog
	// DataDir is the directory's data folder; each origin works in DataDir/pull/<catalog>.
	DataDir string
	Metrics prometheus.Registerer
	// AllowPrivateURLs admits upstreams on loopback and private addresses
	// (directory.relays.allow_private_urls), as for relay URLs.
	AllowPrivateURLs bool
	// MaxArtifactSize bounds a release's bytes (the catalog's max_artifact_size): a
	// download that would pass it is stopped.
	MaxArtifactSize int64
}

// Time bounds of the upstream's requests: a listing or signature comes within a minute,
// and a download that sends no byte for a minute is cut (and resumed at the next poll).
const (
	requestTimeout = time.Minute
	idleTimeout    = time.Minute
	minBackoff     = time.Second
)

// Puller polls every configured origin.
type Puller struct {
	origins []*origin
	log     *slog.Logger
}

type metrics struct {
	artifacts, bytes, errors *prometheus.CounterVec
}

// origin is one upstream and its state.
type origin struct {
	cfg      Config
	key      minisign.PublicKey
	base     *url.URL
	dir      string
	cat      Catalog
	maxSize  int64
	list     *http.Client // bounded in time
	files    *http.Client // bounded by idleTimeout instead
	limiter  *rate.Limiter
	log      *slog.Logger
	m        metrics
	listETag string // validators of the last listing fully handled, for the next poll
	listMod  string

	mu     sync.Mutex
	status catalogapi.OriginStatus
}

// New checks cfgs (each Validate, one origin per catalog, the keys, the URLs' addresses)
// and makes their work folders.
func New(ctx context.Context, cfgs []Config, deps Deps, log *slog.Logger) (*Puller, error) {
	m := metrics{
		artifacts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "odi_origin_pull_artifacts_total",
			Help: "Artifacts published from an origin's signed upstream."}, []string{"catalog"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "odi_origin_pull_bytes_total",
			Help: "Bytes downloaded from an origin's upstream."}, []string{"catalog"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "odi_origin_pull_poll_errors_total",
			Help: "Polls of an origin that failed (upstream down, refused listing or file)."}, []string{"catalog"}),
	}
	if deps.Metrics != nil && len(cfgs) > 0 {
		deps.Metrics.MustRegister(m.artifacts, m.bytes, m.errors)
	}
	p := &Puller{log: log}
	seen := map[string]int{}
	for i, cfg := range cfgs {
		cfg = cfg.withDefaults()
		if err := cfg.Validate(); err != nil {
			each := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				each = j.Unwrap()
			}
			for k, e := range each {
				each[k] = fmt.Errorf("origins[%d].%w", i, e)
			}
			return nil, errors.Join(each...)
		}
		if j, dup := seen[cfg.Catalog]; dup {
			return nil, fmt.Errorf("origins[%d].catalog: %s is already pulled by origins[%d]", i, cfg.Catalog, j)
		}
		seen[cfg.Catalog] = i
		key, err := sign.ParsePublicKey(cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("origins[%d].key: %w", i, err)
		}
		if err := netcheck.CheckBaseURL(ctx, cfg.URL, deps.AllowPrivateURLs); err != nil {
			return nil, fmt.Errorf("origins[%d].url: %w (loopback and private upstreams need directory.relays.allow_private_urls: true)", i, err)
		}
		base, _ := url.Parse(cfg.URL) // checked
		if !strings.HasSuffix(base.Path, "/") {
			base.Path += "/"
		}
		dir := filepath.Join(deps.DataDir, "pull", cfg.Catalog)
		if err := os.MkdirAll(filepath.Join(dir, "refused"), 0o755); err != nil {
			return nil, fmt.Errorf("origins[%d]: work folder: %w", i, err)
		}
		list := netcheck.Client(requestTimeout, deps.AllowPrivateURLs)
		files := *list
		files.Timeout = 0
		limit := rate.Inf
		burst := 1 << 20
		if cfg.RateLimit > 0 {
			limit, burst = rate.Limit(cfg.RateLimit), int(min(int64(cfg.RateLimit), 1<<20))
		}
		p.origins = append(p.origins, &origin{
			cfg: cfg, key: key, base: base, dir: dir, cat: deps.Catalog, maxSize: deps.MaxArtifactSize,
			list: list, files: &files, limiter: rate.NewLimiter(limit, burst), m: m,
			log:    log.With("origin", cfg.Catalog, "url", cfg.URL),
			status: catalogapi.OriginStatus{Catalog: cfg.Catalog, URL: cfg.URL, KeyID: sign.KeyID(key.ID())},
		})
	}
	return p, nil
}

// Run polls every origin until ctx ends, and returns once every poll has stopped.
func (p *Puller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, o := range p.origins {
		wg.Go(func() { o.run(ctx) })
	}
	wg.Wait()
	return nil
}

// Status is each origin's last poll, in config order.
func (p *Puller) Status() []catalogapi.OriginStatus {
	out := make([]catalogapi.OriginStatus, len(p.origins))
	for i, o := range p.origins {
		o.mu.Lock()
		out[i] = o.status
		o.mu.Unlock()
	}
	return out
}

// run polls every Interval, and after a failure again after a backoff that doubles from
// a second up to Interval.
func (o *origin) run(ctx context.Context) {
	var backoff time.Duration
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := o.poll(ctx)
		if ctx.Err() != nil {
			return
		}
		backoff = nextBackoff(backoff, o.cfg.Interval, err != nil)
		next := o.cfg.Interval
		if err != nil {
			next = backoff
			o.m.errors.WithLabelValues(o.cfg.Catalog).Inc()
			o.log.Warn("origin poll failed", "err", err, "retry_in", next)
		}
		o.mu.Lock()
		o.status.LastPoll = time.Now().UTC()
		o.status.Error = ""
		if err != nil {
			o.status.Error = err.Error()
		}
		o.status.NextPoll = o.status.LastPoll.Add(next)
		o.mu.Unlock()
		t.Reset(next)
	}
}

// nextBackoff is the wait before the poll after a failed one: a second after the first
// failure, doubling with each further one up to interval; 0 after a success.
func nextBackoff(prev, interval time.Duration, failed bool) time.Duration {
	if !failed {
		return 0
	}
	return min(max(2*prev, minBackoff), interval)
}

// poll fetches the listing and pulls every release the catalog never had. The listing's
// validators are kept for the next poll's conditional GET only once every release was
// handled, so a release that failed is tried again even if the listing does not change.
func (o *origin) poll(ctx context.Context) error {
	listing, etag, mod, err := o.fetchListing(ctx)
	if err != nil || listing == nil {
		return err
	}
	sig, err := o.fetchSmall(ctx, "SHA256SUMS.minisig", MaxSignatureBytes)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}
	if err := verify(o.key, listing, sig); err != nil {
		return err
	}
	releases, err := ParseListing(listing)
	if err != nil {
		return err
	}
	ev := Evidence{Publisher: "origin:" + o.cfg.Catalog, Listing: listing, Signature: sig,
		KeyID: sign.KeyID(o.key.ID()), URL: o.base.JoinPath("SHA256SUMS").String()}
	var errs []error
	for i := range releases {
		r := &releases[i]
		if o.cat.Known(o.cfg.Catalog, r.Name, r.Version) || o.refused(r) {
			continue
		}
		if err := o.pull(ctx, r, ev); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, fmt.Errorf("%s: %w", r.ID(o.cfg.Catalog), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	o.listETag, o.listMod = etag, mod
	o.sweep()
	return nil
}

// sweep removes what the work folder holds besides refusals after a poll that handled
// every listed release: the parts and files of versions the listing no longer names
// (each listed one is published or refused by now, and took its files with it).
func (o *origin) sweep() {
	entries, err := os.ReadDir(o.dir)
	if err != nil {
		o.log.Warn("sweeping the work folder", "err", err)
		return
	}
	for _, e := range entries {
		if e.Name() == "refused" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(o.dir, e.Name())); err != nil {
			o.log.Warn("sweeping the work folder", "err", err)
		}
	}
}

// refusedPath is where the catalog's refusal of r is kept, so that a restart does not
// download it again.
func (o *origin) refusedPath(r *Release) string {
	return filepath.Join(o.dir, "refused", r.Name+"@"+r.Version) // "@" is in no name or version
}

func (o *origin) refused(r *Release) bool {
	_, err := os.Stat(o.refusedPath(r))
	return err == nil
}

// pull downloads r's files (each distinct digest once), then publishes r. A file's
// verified copy stays in the work folder until r is published, so a failure downloads
// only what is missing.
func (o *origin) pull(ctx context.Context, r *Release, ev Evidence) error {
	paths := make([]string, len(r.Files))
	sizes := make([]int64, len(r.Files))
	var total int64
	for i, f := range r.Files {
		n, err := o.download(ctx, f, o.maxSize-total)
		if err != nil {
			return err
		}
		paths[i], sizes[i] = filepath.Join(o.dir, f.SHA256), n
		total += n
	}
	m := r.Manifest(o.cfg.Catalog, sizes)
	ev.Date = time.Now().UTC()
	err := o.cat.PublishLocal(ctx, m, paths, ev)
	if errors.Is(err, ErrRefused) {
		o.log.Warn("origin release refused", "artifact", m.ID(), "err", err)
		if werr := fsutil.WriteFile(o.refusedPath(r), []byte(err.Error()+"\n"), 0o644); werr != nil {
			return errors.Join(err, werr)
		}
	}
	if err != nil && !errors.Is(err, ErrRefused) {
		return fmt.Errorf("publish: %w", err)
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			o.log.Warn("removing a pulled file", "err", err)
		}
	}
	if err != nil {
		return err
	}
	o.m.artifacts.WithLabelValues(o.cfg.Catalog).Inc()
	o.mu.Lock()
	o.status.Pulled++
	o.mu.Unlock()
	o.log.Info("origin release published", "artifact", m.ID(), "bytes", total)
	return nil
}

// fetchListing GETs SHA256SUMS, conditionally when the last listing was fully handled;
// a nil listing means it has not changed.
func (o *origin) fetchListing(ctx context.Context) (listing []byte, etag, mod string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.base.JoinPath("SHA256SUMS").String(), nil)
	if err != nil {
		return nil, "", "", err
	}
	if o.listETag != "" {
		req.Header.Set("If-None-Match", o.listETag)
	}
	if o.listMod != "" {
		req.Header.Set("If-Modified-Since", o.listMod)
	}
	resp, err := o.list.Do(req)
	if err != nil {
		return nil, "", "", fmt.Errorf("fetch SHA256SUMS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		return nil, "", "", nil
	}
	body, err := readSmall(resp, MaxListingBytes)
	if err != nil {
		return nil, "", "", fmt.Errorf("fetch SHA256SUMS: %w", err)
	}
	if resp.Header.Get("Last-Modified") != "" && strongLastModified(resp.Header) == "" {
		// Served within the second it changed: an ETag made of the modification time
		// (nginx's, Apache's) would not tell it from the next change either.
		return body, "", "", nil
	}
	return body, resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"), nil
}

// fetchSmall GETs a small file below the upstream URL, of at most max bytes.
func (o *origin) fetchSmall(ctx context.Context, name string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.base.JoinPath(name).String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.list.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	defer resp.Body.Close()
	body, err := readSmall(resp, max)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	return body, nil
}

// readSmall reads a 200 answer's body of at most max bytes.
func readSmall(resp *http.Response, max int64) ([]byte, error) {
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s", ErrUpstream, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrUpstream, max)
	}
	return body, nil
}

// verify checks the listing's minisign signature by the project's key (a trusted
// comment is allowed and not interpreted).
func verify(key minisign.PublicKey, listing, sig []byte) error {
	if _, err := sign.VerifyDetached(key, listing, sig, "SHA256SUMS"); err != nil {
		return fmt.Errorf("%w: SHA256SUMS.minisig: %w", ErrSignature, err)
	}
	return nil
}
