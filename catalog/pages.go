package catalog

import (
	"slices"
	"strings"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/catalogapi"
)

// Describe is a as GET /api/v1/artifacts/C/N/V shows it: files, links (none for a
// tombstone, which keeps its reason) and, with Deps.Popularity, its swarm.
func (c *Catalog) Describe(a *Artifact) catalogapi.Artifact { return c.artifactJSON(a, true) }

// Holders lists the relays that report holding ih, complete or not, in id order: each
// with its status as the relay listing shows it and that one holding. It is who carries
// an artifact, for people to see; Mirrors is who users are sent to.
func (c *Catalog) Holders(ih metainfo.Hash) []catalogapi.Relay {
	now := c.now()
	c.relays.mu.RLock()
	defer c.relays.mu.RUnlock()
	var out []catalogapi.Relay
	for _, r := range c.relays.byID {
		if h := r.held[ih]; h != nil {
			v := c.relayStatus(r, now)
			v.Holdings = []catalogapi.RelayHolding{h.RelayHolding}
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b catalogapi.Relay) int { return strings.Compare(a.ID, b.ID) })
	return out
}
