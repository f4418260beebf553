package catalog

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/names"
)

// Locator tells where an address is: ISO country and continent codes, "" when unknown.
// internal/geo reads them from a GeoIP database.
type Locator interface {
	Locate(addr netip.Addr) (country, continent string)
}

// Deps are what a catalog uses but does not own; all are optional.
type Deps struct {
	// Locator places relays, so hot artifacts spread across regions and users are sent
	// to a relay near them.
	Locator Locator
	// Metrics, if not nil, registers the catalog's metrics (relay audits, reports,
	// suspensions, quarantines).
	Metrics prometheus.Registerer
	// Popularity is the swarms' live counts (the tracker): what placement ranks by and
	// the API shows. Without it every artifact has no demand.
	Popularity PopularitySource
	// References, if not nil, names the catalogs that other directories serve for this
	// one (directory.federation.references): the unfiltered artifact list shows them.
	References ReferenceLister
	// Linked, if not nil, gives the trackers and web seeds the directories this one is
	// linked with list for an artifact both serve (catalog/links: the one whose catalog
	// this one links, and those that link a catalog of this one), which its torrents and
	// magnets then list too: one swarm across the directories.
	Linked LinkedSources
	// LinkedIndexes, if not nil, are the other directories' signed indexes that the
	// links follow, served at /indexes/ beside this directory's (never re-signed).
	LinkedIndexes LinkedIndexes
	// DHT, if not nil, is told each relay's DHT node when a heartbeat first names it:
	// the directory's node pings it, and then counts it good at once.
	DHT interface{ AddNodes(hostPorts []string) }
}

// LinkedIndexes are indexes this directory serves as another directory's key signed
// them: doc is the document's file, sig its signature.
type LinkedIndexes interface {
	LinkedIndex(key string) (info catalogapi.IndexInfo, doc string, sig []byte, ok bool)
	LinkedIndexes() []catalogapi.IndexInfo
}

// LinkedSources are what the directories linked with this one list for an artifact
// they serve too.
type LinkedSources interface {
	Sources(ih metainfo.Hash) (trackers, webSeeds []string)
}

// ReferenceLister lists the catalogs this directory sends users on for, and where to.
type ReferenceLister interface {
	Referenced() []catalogapi.ReferencedCatalog
}

// Mirror is a relay that may be sent users for an artifact: up, and holding it complete,
// verified and range-checked.
type Mirror struct {
	Relay              string // the relay's id
	Base               string // BEP 19 base: <relay>/ws/<infohash>/
	Country, Continent string
	CapacityBytes      float64 // upload bytes/s the relay allows; 0 = unlimited or unknown
	Load               float64 // share of that capacity in use, by its last heartbeat
}

// Mirrors lists the relays /r/ may send users to for ih, sorted by URL so answers stay
// the same between requests: up relays only (see Catalog.serving).
func (c *Catalog) Mirrors(ih metainfo.Hash) []Mirror { return c.mirrors(ih, false) }

// mirrors lists the relays holding ih checked that serve users: in url-lists (seeds),
// or in /r/ answers.
func (c *Catalog) mirrors(ih metainfo.Hash, seeds bool) []Mirror {
	now := c.now()
	c.relays.mu.RLock()
	defer c.relays.mu.RUnlock()
	var out []Mirror
	for _, r := range c.relays.byID {
		h := r.held[ih]
		if h == nil || !h.Verified || !h.Checked {
			continue
		}
		if inSeeds, inRedirects := c.serving(r, now); !inRedirects && !(seeds && inSeeds) {
			continue
		}
		m := Mirror{Relay: r.ID, Base: h.seed, Country: r.Country, Continent: r.Continent}
		if r.UploadLimit > 0 {
			m.CapacityBytes = float64(r.UploadLimit)
			m.Load = r.serveRate / m.CapacityBytes
		}
		out = append(out, m)
	}
	if len(out) > 1 {
		slices.SortFunc(out, func(a, b Mirror) int { return strings.Compare(a.Base, b.Base) })
	}
	return out
}

// AwaitingRelays reports whether relays may be about to take artifact ih: the directory
// has a relay up (or in its first tests), and ih was published less than three heartbeat
// intervals and start ago. A relay hears of a new artifact at its next heartbeat (an
// interval), in a plan that may be half an interval old and places it only once it has
// demand (another interval), and then needs start to begin fetching.
func (c *Catalog) AwaitingRelays(ih metainfo.Hash, start time.Duration) bool {
	a := c.view.Load().byHash[ih]
	now := c.now()
	if a == nil || a.State != catalogapi.Published || now.Sub(a.PublishedAt) >= 3*c.cfg.Relays.HeartbeatInterval+start {
		return false
	}
	c.relays.mu.RLock()
	defer c.relays.mu.RUnlock()
	for _, r := range c.relays.byID {
		if st, _ := c.status(r, now); st == StatusUp || st == StatusTesting {
			return true
		}
	}
	return false
}

// RelaysFetching reports whether a relay users could be sent to is on its way to serving
// ih: its heartbeats show the artifact growing (within the last three intervals), or
// complete and waiting for the directory's range check. Unlike AwaitingRelays it needs no
// guess at how long a relay takes to start: a relay slowed down (a busy machine, a slow
// link) still counts while it makes progress, and one stuck no longer does.
func (c *Catalog) RelaysFetching(ih metainfo.Hash) bool {
	now := c.now()
	c.relays.mu.RLock()
	defer c.relays.mu.RUnlock()
	for _, r := range c.relays.byID {
		h := r.held[ih]
		if h == nil || h.Checked || (!h.Verified && now.Sub(h.grewAt) > 3*c.cfg.Relays.HeartbeatInterval) {
			continue
		}
		if st, _ := c.status(r, now); st == StatusUp || st == StatusTesting {
			return true
		}
	}
	return false
}

// Latest returns the newest published version of catalog/name.
func (c *Catalog) Latest(catalog, name string) (*Artifact, error) {
	a := c.view.Load().latest[catalog+"/"+name]
	if a == nil {
		return nil, fmt.Errorf("artifact %s/%s/%s: %w (no published version)", catalog, name, names.Latest, ErrNotFound)
	}
	return a, nil
}

// locate places a relay by its URL's host (caller does not hold the lock): the first
// address it resolves to that the database knows.
func (c *Catalog) locate(ctx context.Context, publicURL string) (country, continent string) {
	if c.deps.Locator == nil {
		return "", ""
	}
	u, err := url.Parse(publicURL)
	if err != nil {
		return "", ""
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Relays.ProbeTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil {
		return "", ""
	}
	for _, a := range addrs {
		if country, continent = c.deps.Locator.Locate(a); country != "" || continent != "" {
			return country, continent
		}
	}
	return "", ""
}

// noteServed turns the bytes a relay served since its last heartbeat into a rate
// (caller holds the lock), the load the redirector weighs relays by.
func (r *relay) noteServed(bytes int64, now time.Time) {
	if since := now.Sub(r.LastSeen).Seconds(); since > 0 && bytes >= 0 {
		r.serveRate = float64(bytes) / since
	}
}
