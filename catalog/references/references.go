package references

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"aead.dev/minisign"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opendist/odi/internal/boundedget"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/netcheck"
	"github.com/opendist/odi/internal/sign"
)

// Locator places a user's address; internal/geo's Locator is one.
type Locator interface {
	Locate(addr netip.Addr) (country, continent string)
}

// Deps is what References needs from the directory.
type Deps struct {
	// Locator places users; nil sends every user by the default and any-healthy tiers.
	Locator Locator
	// Metrics, if not nil, registers the healthy-directories gauge.
	Metrics prometheus.Registerer
	// AllowPrivateURLs admits directories on loopback and private addresses, as
	// directory.relays.allow_private_urls does for relays (tests, closed networks).
	AllowPrivateURLs bool
	// Now is the clock indexes expire by; nil for time.Now.
	Now func() time.Time
}

// References checks the referenced directories and answers for their catalogs.
type References struct {
	byCatalog map[string]*reference
	list      []*reference // config order
	loc       Locator
	now       func() time.Time
	log       *slog.Logger
}

// reference is one referenced catalog and its directories.
type reference struct {
	catalog  string
	interval time.Duration
	timeout  time.Duration
	client   *http.Client
	dirs     []*directory
	// choices is what requests choose from: rebuilt whenever a directory's health
	// changes, so that the request path reads it without a lock.
	choices atomic.Pointer[[]Choice]
	healthy prometheus.Gauge // nil without metrics
	mu      sync.Mutex       // serializes rebuilding choices and setting healthy
}

// directory is one directory serving a referenced catalog, and its last checks.
type directory struct {
	url     string // without a trailing slash
	regions []string
	choice  Choice // Healthy unset: kept in state
	key     *minisign.PublicKey

	mu      sync.Mutex
	healthy bool
	passes  int // checks passed in a row
	checked time.Time
	err     string
	etag    string    // of the last index fetched, for If-None-Match
	expires time.Time // of that index, when accepted
	refused error     // why that index was refused; nil when accepted
}

// passesToReturn is how many checks in a row a directory must pass to come back into
// rotation after a failure.
const passesToReturn = 2

// New reads the keys, checks each directory's address by the rules relay URLs follow
// (netcheck; private ones only with deps.AllowPrivateURLs) and returns References that
// send users nowhere until Run's first checks pass. A host that does not resolve yet is
// logged and left to the checks, which refuse private addresses again when they dial.
func New(ctx context.Context, cfgs []Config, deps Deps, log *slog.Logger) (*References, error) {
	rs := &References{byCatalog: map[string]*reference{}, loc: deps.Locator, now: deps.Now, log: log}
	if rs.now == nil {
		rs.now = time.Now
	}
	for i, cfg := range cfgs {
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("references[%d]: %w", i, err)
		}
		cfg = cfg.withDefaults()
		if rs.byCatalog[cfg.Catalog] != nil {
			return nil, fmt.Errorf("references[%d].catalog: %w: %s is referenced twice", i, ErrInvalidConfig, cfg.Catalog)
		}
		ref := &reference{catalog: cfg.Catalog, interval: cfg.CheckInterval, timeout: cfg.CheckTimeout,
			client: netcheck.Client(cfg.CheckTimeout, deps.AllowPrivateURLs)}
		for j, dc := range cfg.Directories {
			d, err := newDirectory(ctx, dc, cfg.CheckTimeout, deps.AllowPrivateURLs, log)
			if err != nil {
				return nil, fmt.Errorf("references[%d].directories[%d].%w", i, j, err)
			}
			ref.dirs = append(ref.dirs, d)
		}
		rs.byCatalog[cfg.Catalog] = ref
		rs.list = append(rs.list, ref)
	}
	if deps.Metrics != nil && len(rs.list) > 0 {
		healthy := prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "odi_directory_referenced_directories_healthy",
			Help: "Directories serving a referenced catalog (directory.federation.references) that pass their health checks.",
		}, []string{"catalog"})
		if err := deps.Metrics.Register(healthy); err != nil {
			return nil, fmt.Errorf("references: %w", err)
		}
		for _, ref := range rs.list {
			ref.healthy = healthy.WithLabelValues(ref.catalog)
		}
	}
	for _, ref := range rs.list {
		ref.rebuild()
	}
	return rs, nil
}

// newDirectory reads one directory's config; its errors start with the key at fault.
func newDirectory(ctx context.Context, dc Directory, timeout time.Duration, allowPrivate bool, log *slog.Logger) (*directory, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := netcheck.CheckBaseURL(ctx, dc.URL, allowPrivate)
	if errors.Is(err, netcheck.ErrNotPublic) {
		return nil, fmt.Errorf("url: %w: %w; loopback and private directories need directory.relays.allow_private_urls: true", ErrInvalidConfig, err)
	}
	if err != nil {
		log.Warn("a referenced directory's host does not resolve now; its checks will try again", "url", dc.URL, "err", err)
	}
	d := &directory{url: baseURL(dc.URL), regions: []string{}, passes: passesToReturn - 1}
	d.choice.Hash = hashBytes([]byte(d.url))
	for _, r := range dc.Regions {
		code, kind, _ := parseRegion(r) // checked by Validate
		d.regions = append(d.regions, code)
		switch kind {
		case country:
			d.choice.Countries = append(d.choice.Countries, code)
		case continent:
			d.choice.Continents = append(d.choice.Continents, code)
		case fallback:
			d.choice.Default = true
		}
	}
	if dc.IndexKey != "" {
		k, err := sign.ParsePublicKey(dc.IndexKey)
		if err != nil {
			return nil, fmt.Errorf("index_key: %w: %w", ErrInvalidConfig, err)
		}
		d.key = &k
	}
	return d, nil
}

// rebuild publishes the directories' health to requests and the gauge, and returns how
// many are healthy. Checks of two directories may end at once: the lock keeps the last
// rebuild's count in the gauge.
func (ref *reference) rebuild() int {
	ref.mu.Lock()
	defer ref.mu.Unlock()
	choices := make([]Choice, len(ref.dirs))
	n := 0
	for i, d := range ref.dirs {
		choices[i] = d.choice
		d.mu.Lock()
		choices[i].Healthy = d.healthy
		d.mu.Unlock()
		if choices[i].Healthy {
			n++
		}
	}
	ref.choices.Store(&choices)
	if ref.healthy != nil {
		ref.healthy.Set(float64(n))
	}
	return n
}

// Run checks every referenced directory, each on its own every CheckInterval (so one
// that hangs delays no other), until ctx ends, and returns once every check has stopped.
func (rs *References) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, ref := range rs.list {
		for _, d := range ref.dirs {
			wg.Go(func() { rs.watch(ctx, ref, d) })
		}
	}
	wg.Wait()
	return nil
}

// watch checks d at once, then every interval.
func (rs *References) watch(ctx context.Context, ref *reference, d *directory) {
	tick := time.NewTicker(ref.interval)
	defer tick.Stop()
	for {
		err := ref.check(ctx, d, rs.now)
		if ctx.Err() != nil {
			return
		}
		rs.record(ref, d, err)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// record notes a check's outcome and, when d's health changed, publishes and logs it.
func (rs *References) record(ref *reference, d *directory, err error) {
	d.mu.Lock()
	was, first := d.healthy, d.checked.IsZero()
	d.checked = rs.now()
	if err != nil {
		d.healthy, d.passes, d.err = false, 0, err.Error()
	} else {
		d.passes++
		d.healthy, d.err = d.passes >= passesToReturn, ""
	}
	now := d.healthy
	d.mu.Unlock()
	if was == now && !first { // the first outcome is logged either way
		return
	}
	n := ref.rebuild()
	if now {
		rs.log.Info("a referenced directory is healthy: sending users to it", "catalog", ref.catalog, "url", d.url, "healthy", n)
	} else {
		rs.log.Warn("a referenced directory failed its check: sending no users to it", "catalog", ref.catalog, "url", d.url, "err", err, "healthy", n)
	}
}

// maxProbeBody bounds what a check reads of a /readyz answer or an index signature.
const maxProbeBody = 16 << 10

// check asks d whether it is ready and, with an index key, whether its index of the
// catalog is current.
func (ref *reference) check(ctx context.Context, d *directory, now func() time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, ref.timeout)
	defer cancel()
	if _, _, err := boundedget.Get(ctx, ref.client, d.url+"/readyz", "", maxProbeBody); err != nil {
		return err
	}
	if d.key == nil {
		return nil
	}
	return ref.checkIndex(ctx, d, now())
}

// checkIndex fetches d's index of the catalog unless it is the one accepted last
// (If-None-Match), and checks that it verifies with d's key, is unexpired and lists the
// catalog.
func (ref *reference) checkIndex(ctx context.Context, d *directory, now time.Time) error {
	keyID := sign.KeyID(d.key.ID())
	u := d.url + "/indexes/" + keyID + "/index.json"
	d.mu.Lock()
	etag, expires, refused := d.etag, d.expires, d.refused
	d.mu.Unlock()
	doc, newTag, err := boundedget.Get(ctx, ref.client, u, etag, index.MaxBytes)
	if err != nil {
		return err
	}
	if doc == nil { // 304: the index checked last
		if refused != nil {
			return refused
		}
		if !now.Before(expires) {
			return fmt.Errorf("index of key %s expired at %s", keyID, expires.Format(time.RFC3339))
		}
		return nil
	}
	sig, _, err := boundedget.Get(ctx, ref.client, u+".minisig", "", maxProbeBody)
	if err != nil {
		return err
	}
	idx, err := index.Verify(*d.key, doc, sig, now)
	if err == nil && !lists(idx, ref.catalog) {
		err = fmt.Errorf("index of key %s, version %d, lists no published artifact of catalog %s", keyID, idx.Version, ref.catalog)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// A refused index is not fetched again while it stays the same (an index may be
	// 64 MiB, and checks come every few seconds), but a signature that does not match
	// may be the next version's, fetched as the directory replaced the document: that
	// document is fetched again.
	d.etag, d.refused = newTag, err
	if errors.Is(err, index.ErrBadSignature) {
		d.etag = ""
	}
	if err == nil {
		d.expires = idx.Expires
	}
	return err
}

// lists reports whether idx lists a published artifact of catalog.
func lists(idx *index.Index, catalog string) bool {
	for _, e := range idx.Entries {
		if e.Catalog == catalog && e.State == index.StatePublished {
			return true
		}
	}
	return false
}

// Status is each reference's directories and their last checks, in config order.
func (rs *References) Status() []catalogapi.ReferenceStatus {
	out := make([]catalogapi.ReferenceStatus, 0, len(rs.list))
	for _, ref := range rs.list {
		st := catalogapi.ReferenceStatus{Catalog: ref.catalog}
		for _, d := range ref.dirs {
			d.mu.Lock()
			st.Directories = append(st.Directories, catalogapi.ReferencedDirectory{
				URL: d.url, Regions: d.regions, Healthy: d.healthy, LastCheck: d.checked, Error: d.err,
			})
			d.mu.Unlock()
		}
		out = append(out, st)
	}
	return out
}

// Referenced lists the referenced catalogs and their directories for the artifact list
// (catalog.ReferenceLister).
func (rs *References) Referenced() []catalogapi.ReferencedCatalog {
	var out []catalogapi.ReferencedCatalog
	for _, st := range rs.Status() {
		rc := catalogapi.ReferencedCatalog{Catalog: st.Catalog}
		for _, d := range st.Directories {
			rc.Directories = append(rc.Directories, catalogapi.ReferencedLocation{URL: d.URL, Regions: d.Regions, Healthy: d.Healthy})
		}
		out = append(out, rc)
	}
	return out
}
