package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/catalog"
	"github.com/opendist/odi/catalog/links"
	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/bind"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/problem"
)

// newLinks builds the directory's federation links. lc's catalog is set once the
// catalog is open: the catalog lists the links' sources in its torrents, and the links
// publish into the catalog.
func newLinks(cfg DirectoryConfig, lc *linkCatalog, log *slog.Logger) (*links.Links, error) {
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, usageError("listen: %v", err)
	}
	f := &linkFetcher{btListen: net.JoinHostPort(host, "0"), log: log}
	if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
		f.bind, _ = bind.Parse(host)
	}
	for i, l := range cfg.Federation.Links {
		for _, r := range cfg.Federation.References {
			if r.Catalog == l.Catalog {
				return nil, usageError("federation.links[%d].catalog: %s is referenced too; a catalog is served here or referenced, not both", i, l.Catalog)
			}
		}
		for _, o := range cfg.Federation.Origins {
			if o.Catalog == l.Catalog {
				return nil, usageError("federation.links[%d].catalog: %s is pulled from an origin too; a catalog has one source", i, l.Catalog)
			}
		}
	}
	ls, err := links.New(cfg.Federation.Links, cfg.Federation.Linkers, links.Deps{
		Catalog: lc, Fetcher: f, DataDir: cfg.DataDir, AllowPrivate: cfg.Relays.AllowPrivateURLs,
		PublicURL: strings.TrimRight(cfg.PublicURL, "/"), Serves: lc.serves,
	}, log)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return ls, nil
}

// linkCatalog is the catalog as links use it.
type linkCatalog struct{ cat *catalog.Catalog }

var _ links.Catalog = (*linkCatalog)(nil)

// serves reports whether the catalog has artifacts of catalog, expunged ones included.
func (c *linkCatalog) serves(catalog string) bool { return len(c.cat.Artifacts(catalog, "")) > 0 }

func (c *linkCatalog) Holds(id string) (string, catalogapi.State, bool) {
	p := strings.Split(id, "/")
	if len(p) != 3 {
		return "", "", false
	}
	a, err := c.cat.Artifact(p[0], p[1], p[2])
	if err != nil {
		return "", "", false
	}
	return a.InfoHash.HexString(), a.State, true
}

// Import keeps the index entry as the artifact's signed manifest, with the index's key,
// date and URL (naming its version): the row says which signed index vouched for it.
func (c *linkCatalog) Import(ctx context.Context, m *manifest.Manifest, paths []string, info []byte, v links.Voucher) error {
	_, err := c.cat.PublishLinked(ctx, m, paths, info, v.Publisher, catalog.SignedManifest{
		Manifest: v.Entry, KeyID: v.KeyID, Date: v.Issued.UTC().Format(time.RFC3339), URI: v.IndexURL, Signature: []byte{},
	})
	return err
}

func (c *linkCatalog) CheckSeed(ctx context.Context, seed string, ih metainfo.Hash) error {
	err := c.cat.CheckSeed(ctx, seed, ih)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return fmt.Errorf("%w: %w", links.ErrNotHere, err)
	case errors.Is(err, catalog.ErrCorruptPiece):
		return fmt.Errorf("%w: %w", links.ErrCorrupt, err)
	}
	return err
}

func (c *linkCatalog) Expunge(ctx context.Context, id, reason string) error {
	_, err := c.cat.Expunge(ctx, id, reason)
	return err
}

// linkFetcher downloads artifacts for links as odi fetch does (client.Fetch): from the
// other directory's swarm and web seeds, every piece verified, bound to the directory's
// listen address.
type linkFetcher struct {
	bind     bind.Host
	btListen string
	log      *slog.Logger
}

// linkStallTimeout is how long a link's download may make no progress before it is
// given up until the next poll.
const linkStallTimeout = 2 * time.Minute

func (f *linkFetcher) Fetch(ctx context.Context, base, id string, ih metainfo.Hash, out string) ([]string, error) {
	ref, err := client.ParseRef(id)
	if err != nil {
		return nil, err
	}
	api, err := apiclient.New(base, nil)
	if err != nil {
		return nil, err
	}
	f.bind.Transport(api.HTTP.Transport.(*http.Transport))
	res, err := client.Fetch(ctx, api, ref, client.FetchOptions{
		Out: out, BTListen: f.btListen, Bind: f.bind, StallTimeout: linkStallTimeout,
		UserAgent: "odi-directory-link/" + buildVersion(),
	})
	if err != nil {
		return nil, err
	}
	if res.InfoHash != ih.HexString() {
		return nil, fmt.Errorf("%s served infohash %s, the index lists %s", base, res.InfoHash, ih.HexString())
	}
	paths := make([]string, len(res.Files))
	for i, file := range res.Files {
		paths[i] = file.Path // absolute
	}
	return paths, nil
}

// staleLinksFirst answers requests about a linked catalog whose index this directory
// holds no current version of with 503, saying why, and hands the rest to next: this
// directory cannot tell what the other has expunged since. The bytes by infohash (/ws/,
// /dl/) and the tracker go on: a client holding the torrent checks every piece.
func (d *directory) staleLinksFirst(next http.Handler) http.Handler {
	if d.links.Empty() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, _, ok := catalogapi.RequestCatalog(r); ok {
			if why := d.links.Stale(c); why != "" {
				w.Header().Set("Retry-After", strconv.Itoa(int(d.links.Interval(c).Seconds())))
				problem.Write(w, http.StatusServiceUnavailable, why)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
