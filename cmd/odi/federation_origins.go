package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opendist/odi/catalog"
	"github.com/opendist/odi/catalog/originpull"
	"github.com/opendist/odi/internal/manifest"
)

// newOrigins makes the puller of directory.federation.origins, refusing a bad entry as a
// usage error naming its key.
func newOrigins(ctx context.Context, cfg DirectoryConfig, cat *catalog.Catalog, reg prometheus.Registerer, log *slog.Logger) (*originpull.Puller, error) {
	p, err := originpull.New(ctx, cfg.Federation.Origins, originpull.Deps{
		Catalog: originCatalog{cat}, DataDir: cfg.DataDir, Metrics: reg,
		AllowPrivateURLs: cfg.Relays.AllowPrivateURLs, MaxArtifactSize: int64(cfg.MaxArtifactSize),
	}, log)
	if err != nil {
		return nil, usageError("federation.%v", err)
	}
	return p, nil
}

// originCatalog is the catalog as origin-pull sees it.
type originCatalog struct{ cat *catalog.Catalog }

var _ originpull.Catalog = originCatalog{}

func (c originCatalog) Known(catalogName, name, version string) bool {
	_, err := c.cat.Artifact(catalogName, name, version)
	return err == nil
}

// PublishLocal keeps the signed listing as the artifact's signed manifest: its bytes,
// the project's key id, the listing's URL and the minisig (which carries its trusted
// comment), so the row proves what the project vouched for as an upload's does.
func (c originCatalog) PublishLocal(ctx context.Context, m *manifest.Manifest, paths []string, ev originpull.Evidence) error {
	_, err := c.cat.PublishLocal(ctx, m, paths, ev.Publisher, catalog.SignedManifest{
		Manifest: ev.Listing, KeyID: ev.KeyID, Date: ev.Date.UTC().Format(time.RFC3339), URI: ev.URL, Signature: ev.Signature,
	})
	if errors.Is(err, catalog.ErrExists) && !c.Known(m.Catalog, m.Name, m.Version) {
		return err // an upload of the same name in progress: it may yet fail
	}
	for _, never := range []error{catalog.ErrExists, catalog.ErrDuplicateContent, catalog.ErrTooLarge, catalog.ErrInvalid} {
		if errors.Is(err, never) {
			return fmt.Errorf("%w: %w", originpull.ErrRefused, err)
		}
	}
	return err
}
