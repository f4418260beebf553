package catalog

import (
	"fmt"
	"sync"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/catalog/placement"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/relayapi"
)

// plans caches the placement of the whole catalog on every relay. Placement is global
// (one relay's share depends on what the others hold), so it is computed for all relays
// at once and reused by the heartbeats that follow, until the catalog changes, a relay
// the cache does not know asks, or it is older than half a heartbeat interval.
type plans struct {
	mu      sync.Mutex
	at      time.Time
	view    *view
	byRelay map[string]placement.RelayPlan
}

// planFor returns the relay's share of the current placement.
func (c *Catalog) planFor(id string) (placement.RelayPlan, error) {
	now := c.now()
	v := c.view.Load()
	c.plans.mu.Lock()
	defer c.plans.mu.Unlock()
	p, known := c.plans.byRelay[id]
	if known && c.plans.view == v && now.Sub(c.plans.at) < c.cfg.Relays.HeartbeatInterval/2 {
		return p, nil
	}
	all, err := placement.Plan(c.cfg.Placement.planner(), c.placementRelays(now), c.placementArtifacts(v))
	if err != nil {
		return placement.RelayPlan{}, fmt.Errorf("placement: %w", err)
	}
	c.plans.at, c.plans.view, c.plans.byRelay = now, v, all
	c.pubMetrics.planned(all)
	return all[id], nil
}

// placementRelays describes the active relays to the planner. A relay still in its
// first self-test counts as healthy, so it gets work at its first heartbeat instead of
// one interval later; users only reach it once it is up. A degraded relay (its disk
// cannot hold what it was asked) gets no new work, keeps what it holds and still serves
// users, until a heartbeat says it has room again.
func (c *Catalog) placementRelays(now time.Time) []placement.Relay {
	c.relays.mu.RLock()
	defer c.relays.mu.RUnlock()
	out := make([]placement.Relay, 0, len(c.relays.byID))
	for _, r := range c.relays.byID {
		if r.State != relayapi.StateActive {
			continue
		}
		status, _ := c.status(r, now)
		pr := placement.Relay{
			ID: r.ID, QuotaBytes: r.Quota, Catalogs: r.Catalogs, Region: r.Country,
			// A suspect relay (one failed health check) too: a blip must not move copies.
			Healthy: (status == StatusUp || status == StatusTesting || status == StatusSuspect) && r.Degraded == "",
		}
		// What a relay is still fetching counts as held: replanning must not move it.
		for ih := range r.held {
			pr.Held = append(pr.Held, placement.Key(ih))
		}
		out = append(out, pr)
	}
	return out
}

func (c *Catalog) placementArtifacts(v *view) []placement.Artifact {
	out := make([]placement.Artifact, 0, len(v.sorted))
	for _, a := range v.sorted {
		out = append(out, placement.Artifact{
			Key: placement.Key(a.InfoHash), Catalog: a.Catalog, SizeBytes: a.Size,
			Demand: c.demand(a.InfoHash), Expunged: a.State == catalogapi.Expunged,
		})
	}
	return out
}

// wirePlan turns a relay's placement into the plan its heartbeat answers with.
func (c *Catalog) wirePlan(p placement.RelayPlan, plan *relayapi.Plan) {
	byHash := c.view.Load().byHash
	items := func(keys []placement.Key) []relayapi.Item {
		out := []relayapi.Item{}
		for _, k := range keys {
			if a := byHash[metainfo.Hash(k)]; a != nil && a.State == catalogapi.Published {
				out = append(out, c.planItem(a))
			}
		}
		return out
	}
	hexes := func(keys []placement.Key) []string {
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = k.String()
		}
		return out
	}
	plan.Fetch, plan.Keep, plan.Drop, plan.Expunged = items(p.Fetch), items(p.Keep), hexes(p.Drop), hexes(p.Expunged)
}
