package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/opendist/odi/internal/catalogapi"
)

// errNotInCatalog is what the tracker tells clients announcing a foreign infohash.
var errNotInCatalog = fmt.Errorf("%w: this tracker only tracks the artifacts of its directory's catalog", ErrNotFound)

// Trackable returns the artifact's size when ih is a published artifact, and otherwise
// an error a tracker can show its client: not in the catalog, or expunged and why. It
// reads the in-memory view, so a publish or expunge takes effect at the next announce.
func (c *Catalog) Trackable(ih [20]byte) (int64, error) {
	a := c.view.Load().byHash[metainfo.Hash(ih)]
	switch {
	case a == nil:
		return 0, errNotInCatalog
	case a.State != catalogapi.Published:
		return 0, fmt.Errorf("%w: %s", ErrExpunged, a.Reason)
	}
	return a.Size, nil
}

// Trackables lists the infohashes of all published artifacts.
func (c *Catalog) Trackables() [][20]byte {
	var out [][20]byte
	for _, a := range c.view.Load().sorted {
		if a.State == catalogapi.Published {
			out = append(out, a.InfoHash)
		}
	}
	return out
}

// SwarmCounters are a swarm's lifetime counters, as a tracker saves them.
type SwarmCounters struct {
	InfoHash  [20]byte
	Completed int64
	Redirects int64
	Demand    float64
	DemandAt  time.Time
}

// LoadSwarmCounters returns every saved swarm's counters.
func (c *Catalog) LoadSwarmCounters(ctx context.Context) ([]SwarmCounters, error) {
	rows, err := c.db.r.QueryContext(ctx, `SELECT infohash, completed, redirects, demand, demand_at FROM swarm_counters`)
	if err != nil {
		return nil, fmt.Errorf("load swarm counters: %w", err)
	}
	defer rows.Close()
	var out []SwarmCounters
	for rows.Next() {
		var (
			s  SwarmCounters
			ih string
			at int64
		)
		if err := rows.Scan(&ih, &s.Completed, &s.Redirects, &s.Demand, &at); err != nil {
			return nil, fmt.Errorf("load swarm counters: %w", err)
		}
		var h metainfo.Hash
		if err := h.FromHexString(ih); err != nil {
			return nil, fmt.Errorf("load swarm counters: %w", err)
		}
		s.InfoHash, s.DemandAt = h, time.Unix(0, at)
		out = append(out, s)
	}
	return out, rows.Err()
}

// SaveSwarmCounters upserts a batch of counters in one transaction.
func (c *Catalog) SaveSwarmCounters(ctx context.Context, cs []SwarmCounters) error {
	return c.db.withTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `
			INSERT INTO swarm_counters (infohash, completed, redirects, demand, demand_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (infohash) DO UPDATE SET completed = excluded.completed, redirects = excluded.redirects,
				demand = excluded.demand, demand_at = excluded.demand_at`)
		if err != nil {
			return fmt.Errorf("save swarm counters: %w", err)
		}
		defer stmt.Close()
		for _, s := range cs {
			if _, err := stmt.ExecContext(ctx, metainfo.Hash(s.InfoHash).HexString(), s.Completed, s.Redirects, s.Demand, s.DemandAt.UnixNano()); err != nil {
				return fmt.Errorf("save swarm counters: %w", err)
			}
		}
		return nil
	})
}

// PopularitySource reports the live popularity of an artifact's swarm (the tracker).
type PopularitySource interface {
	Popularity(ih [20]byte) catalogapi.Popularity
}
