package main

import (
	"log/slog"
	"path/filepath"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/history"
)

// historyFile is where a directory keeps its charts' history, in its data folder: a
// JSON file replaced whole (fsutil.WriteFile). It is no part of the catalog (losing it
// loses a day of charts, nothing else), so it stays out of catalog.db, its migrations
// and its backups, and needs no schema of its own.
const historyFile = "history.json"

func (d *directory) historyPath() string { return filepath.Join(d.cfg.DataDir, historyFile) }

// openHistory restores the directory's history; one it cannot read is logged and set
// aside for a new one, as charts are not worth refusing to start for.
func openHistory(cfg DirectoryConfig, log *slog.Logger) (*history.History, error) {
	h, err := history.New(cfg.History)
	if err != nil {
		return nil, usageError("%v", err)
	}
	if err := h.Load(filepath.Join(cfg.DataDir, historyFile)); err != nil {
		log.Warn("the charts start anew", "err", err)
	}
	return h, nil
}

// historySource is what the directory's history samples: the origin's bytes
// (d.originSent and d.originDL), the relays' (their heartbeats, summed by the catalog), the redirects
// the redirector counted, the tracker's answered announces, the download bytes clients
// reported in them, and the artifacts' demand.
type historySource struct{ d *directory }

var _ history.Source = historySource{}

func (s historySource) Totals() history.Counters {
	return history.Counters{OriginBytes: s.d.originSent.Load() + s.d.originDL.Load(), RelayBytes: s.d.cat.RelayBytesServed(),
		Redirects: s.d.redirects.total.Load(), Announces: s.announces(), PeerBytes: s.d.tr.ReportedDownloaded()}
}

// announces sums the tracker's odi_tracker_announces_total{result="ok"} over transports:
// the counter is the tracker's own metric, read where Prometheus reads it.
func (s historySource) announces() int64 {
	families, err := s.d.reg.Gather()
	if err != nil {
		s.d.log.Warn("reading the tracker's announces for the charts", "err", err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "odi_tracker_announces_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == "ok" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return int64(n)
}

func (s historySource) Demand() []history.Demand {
	var out []history.Demand
	for _, ih := range s.d.cat.Trackables() {
		if st := s.d.tr.Stats(ih); st.Demand > 0 {
			out = append(out, history.Demand{InfoHash: ih, Demand: st.Demand})
		}
	}
	return out
}

func (p catalogPages) Network() history.Window[history.Counters] { return p.hist.Network() }

func (p catalogPages) Demand(ih string) history.Window[float64] {
	var h metainfo.Hash
	if h.FromHexString(ih) != nil {
		return history.Window[float64]{}
	}
	return p.hist.Demand(h)
}
