package main

import (
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/catalog"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/history"
	"github.com/opendist/odi/internal/webui"
	"github.com/opendist/odi/seeder"
)

// catalogPages shows the catalog to the web pages; its artifacts' swarms come with
// Describe, from the tracker (catalog.Deps.Popularity).
type catalogPages struct {
	cat  *catalog.Catalog
	hist *history.History // the charts' (history.go)
}

var _ webui.Catalog = catalogPages{}

func (p catalogPages) Generation() uint64 { return p.cat.Generation() }

func (p catalogPages) Summaries() []webui.Summary {
	arts := p.cat.Artifacts("", "")
	out := make([]webui.Summary, len(arts))
	for i, a := range arts {
		out[i] = webui.Summary{Catalog: a.Catalog, Name: a.Name, Version: a.Version, Size: a.Size, Files: len(a.Files),
			Expunged: a.State == catalogapi.Expunged, PublishedAt: a.PublishedAt}
	}
	return out
}

func (p catalogPages) Artifact(c, name, version string) (catalogapi.Artifact, bool) {
	a, err := p.cat.Artifact(c, name, version)
	if err != nil {
		return catalogapi.Artifact{}, false
	}
	return p.cat.Describe(a), true
}

func (p catalogPages) Holders(ih string) []catalogapi.Relay {
	var h metainfo.Hash
	if h.FromHexString(ih) != nil {
		return nil
	}
	return p.cat.Holders(h)
}

func (p catalogPages) Relays(after string, limit int) catalogapi.RelayPage {
	return p.cat.Relays(after, limit)
}

// mountRelayPage serves the relay's page on mux; served counts the bytes its web seed
// and blobs sent since start.
func mountRelayPage(mux *http.ServeMux, cfg RelayConfig, r *seeder.Relay, served *atomic.Int64, log *slog.Logger) {
	started := time.Now()
	webui.MountRelay(mux, func() webui.RelayStatus {
		s := webui.RelayStatus{PublicURL: cfg.PublicURL, Directories: cfg.Directories, Quota: int64(cfg.Quota),
			ServedHTTP: served.Load(), Started: started}
		s.Holdings, s.Servable, s.Reserved = r.Usage()
		s.FromPeers, s.FromWebSeeds = r.Downloaded()
		if err := errors.Join(r.Ready(), r.Refused()); err != nil {
			s.NotReady = err.Error()
		}
		return s
	}, log)
}
