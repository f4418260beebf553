package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opendist/odi/catalog"
	"github.com/opendist/odi/catalog/references"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/geo"
	"github.com/opendist/odi/internal/problem"
)

// newReferences makes what answers for directory.federation.references, refusing a bad
// entry as a usage error naming its key. Users are placed by loc (nil without GeoIP).
func newReferences(ctx context.Context, cfg DirectoryConfig, loc *geo.Locator, reg prometheus.Registerer, log *slog.Logger) (*references.References, error) {
	deps := references.Deps{Metrics: reg, AllowPrivateURLs: cfg.Relays.AllowPrivateURLs}
	if loc != nil {
		deps.Locator = loc
	}
	refs, err := references.New(ctx, cfg.Federation.References, deps, log)
	if err != nil {
		return nil, usageError("federation.%v", err)
	}
	for i, c := range cfg.Federation.References {
		for j, o := range cfg.Federation.Origins {
			if o.Catalog == c.Catalog {
				return nil, usageError("federation.references[%d].catalog: %s is pulled here too (federation.origins[%d]); a catalog is served here or referenced, not both", i, c.Catalog, j)
			}
		}
		for j, l := range cfg.Federation.Links {
			if l.Catalog == c.Catalog {
				return nil, usageError("federation.references[%d].catalog: %s is linked here too (federation.links[%d]); a catalog is served here or referenced, not both", i, c.Catalog, j)
			}
		}
	}
	return refs, nil
}

// checkReferencesUnserved refuses to start a directory that publishes a catalog it also
// references: its redirects would hide that catalog's artifacts here. A meta-directory,
// which only references, runs with an empty catalog. Expunged artifacts do not count:
// nothing could remove them, and their tombstones hide nothing.
func checkReferencesUnserved(cat *catalog.Catalog, cfg DirectoryConfig) error {
	for i, c := range cfg.Federation.References {
		for _, a := range cat.Artifacts(c.Catalog, "") {
			if a.State == catalogapi.Published {
				return usageError("federation.references[%d].catalog: this directory publishes %s; a catalog is served here or referenced, not both", i, a.ID())
			}
		}
	}
	return nil
}

// referencesFirst answers requests about a referenced catalog before anything else routes
// them (one map lookup on the path's catalog), rate-limited by wrap as /r/ is, and hands
// the rest to next. Without references it is next itself.
func (d *directory) referencesFirst(next http.Handler, wrap func(http.Handler) http.Handler) http.Handler {
	if d.refs.Empty() {
		return next
	}
	referenced := problem.Guard(d.log, wrap(d.refs.Handler(d.tr.ClientAddr)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.refs.Owns(r) {
			referenced.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
