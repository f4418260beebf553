package catalog

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/catalogapi"
)

// AnnounceURL is the directory's HTTP tracker.
func (c *Catalog) AnnounceURL() string { return c.cfg.base() + "/announce" }

// Trackers are the directory's trackers, HTTP first: BEP 12 tiers of one each, so
// clients fall back to UDP when HTTP fails (and the other way round where they announce
// to every tier).
func (c *Catalog) Trackers() []string {
	if c.cfg.UDPTracker == "" {
		return []string{c.AnnounceURL()}
	}
	return []string{c.AnnounceURL(), c.cfg.UDPTracker}
}

// TorrentURL is where the artifact's .torrent is served.
func (c *Catalog) TorrentURL(a *Artifact) string {
	return c.cfg.base() + "/t/" + a.ID() + ".torrent"
}

// WebSeeds lists the BEP 19 url-list of an artifact: the relays that serve url-lists
// (up, or suspect of one failed check) and hold it complete, verified and range-checked,
// then the directory's origin copy. Every entry
// ends in "/", so clients append the torrent's name (and, for packages, the file's path)
// themselves; anacrolix ignores multi-file web seeds without it.
func (c *Catalog) WebSeeds(a *Artifact) []string {
	seeds := c.ownWebSeeds(a)
	_, linked := c.linkedSources(a)
	for _, s := range linked {
		if !slices.Contains(seeds, s) {
			seeds = append(seeds, s)
		}
	}
	return seeds
}

// ownWebSeeds are a's web seeds of this directory: its relays, then its origin copy.
func (c *Catalog) ownWebSeeds(a *Artifact) []string {
	var seeds []string
	for _, m := range c.mirrors(a.InfoHash, true) {
		seeds = append(seeds, m.Base)
	}
	return append(seeds, c.OriginSeed(a))
}

// Sources are this directory's own trackers and web seeds for each published artifact
// of catalog (catalogapi.FederationSources): what a directory linked with it lists.
func (c *Catalog) Sources(catalog string) catalogapi.FederationSources {
	out := catalogapi.FederationSources{Catalog: catalog, Trackers: c.Trackers(), Artifacts: []catalogapi.ArtifactSources{}}
	for _, a := range c.Artifacts(catalog, "") {
		if a.State == catalogapi.Published {
			out.Artifacts = append(out.Artifacts, catalogapi.ArtifactSources{InfoHash: a.InfoHash.HexString(), WebSeeds: c.ownWebSeeds(a)})
		}
	}
	return out
}

// linkedSources are the trackers and web seeds the directories this one is linked with
// list for a (the one it links a's catalog from, those that link it from here); none
// when none is.
func (c *Catalog) linkedSources(a *Artifact) (trackers, webSeeds []string) {
	if c.deps.Linked == nil {
		return nil, nil
	}
	return c.deps.Linked.Sources(a.InfoHash)
}

// trackersOf are the trackers a's torrent and magnet list: this directory's, then the
// linked directory's.
func (c *Catalog) trackersOf(a *Artifact) []string {
	out := c.Trackers()
	linked, _ := c.linkedSources(a)
	for _, t := range linked {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// OriginSeed is the BEP 19 base URL of the directory's own copy of a.
func (c *Catalog) OriginSeed(a *Artifact) string {
	return c.cfg.base() + "/ws/" + a.InfoHash.HexString() + "/"
}

// OriginDownload is the base URL, laid out as OriginSeed's, where the redirector sends
// plain HTTP users to the directory's own copy of a: the same bytes, never rationed,
// since such users have no peers to take pieces from.
func (c *Catalog) OriginDownload(a *Artifact) string {
	return c.cfg.base() + "/dl/" + a.InfoHash.HexString() + "/"
}

// Torrent encodes the artifact's .torrent with the current trackers, DHT nodes and web
// seeds. The info dict is the one stored at publish, so the infohash never changes.
func (c *Catalog) Torrent(a *Artifact) ([]byte, error) {
	tf := torrentFile{
		InfoBytes:    a.Info,
		Announce:     c.AnnounceURL(),
		AnnounceList: c.announceList(a),
		Nodes:        c.dhtNodes(a),
		CreationDate: a.PublishedAt.Unix(),
		CreatedBy:    c.cfg.CreatedBy,
		Comment:      a.ID(),
		UrlList:      c.WebSeeds(a),
	}
	b, err := bencode.Marshal(tf)
	if err != nil {
		return nil, fmt.Errorf("encode torrent of %s: %w", a.ID(), err)
	}
	return b, nil
}

// torrentFile is a .torrent as the directory writes it: the fields of metainfo.MetaInfo
// it fills, but BEP 5 nodes as the [host, port] pairs clients read, where
// metainfo.Node would write "host:port" strings.
type torrentFile struct {
	InfoBytes    bencode.Bytes         `bencode:"info"`
	Announce     string                `bencode:"announce,omitempty"`
	AnnounceList metainfo.AnnounceList `bencode:"announce-list,omitempty"`
	Nodes        []dhtNode             `bencode:"nodes,omitempty"`
	CreationDate int64                 `bencode:"creation date,omitempty"`
	Comment      string                `bencode:"comment,omitempty"`
	CreatedBy    string                `bencode:"created by,omitempty"`
	UrlList      metainfo.UrlList      `bencode:"url-list,omitempty"`
}

// dhtNode is a BEP 5 node of a torrent: ["host", port].
type dhtNode struct {
	host string
	port int
}

func (n dhtNode) MarshalBencode() ([]byte, error) { return bencode.Marshal([]any{n.host, n.port}) }

// maxRelayNodes bounds the relays' DHT nodes a torrent names besides the directory's:
// a client needs one that answers to find the rest of the network.
const maxRelayNodes = 4

// dhtNodes are the DHT nodes a's torrent names: the directory's, then those of up to
// maxRelayNodes relays that serve a's web seeds, so that a client that kept the
// torrent finds the relays' peers while the directory is gone.
func (c *Catalog) dhtNodes(a *Artifact) []dhtNode {
	var nodes []string
	if c.cfg.DHTNode != "" {
		nodes = append(nodes, c.cfg.DHTNode)
	}
	most := len(nodes) + maxRelayNodes
	now := c.now()
	c.relays.mu.RLock()
	for _, r := range c.relays.byID {
		if len(nodes) == most {
			break
		}
		h := r.held[a.InfoHash]
		if inSeeds, _ := c.serving(r, now); inSeeds && r.DHTNode != "" && h != nil && h.Verified && h.Checked {
			nodes = append(nodes, r.DHTNode)
		}
	}
	c.relays.mu.RUnlock()
	out := make([]dhtNode, 0, len(nodes))
	for _, n := range nodes {
		host, port, err := net.SplitHostPort(n)
		if p, perr := strconv.Atoi(port); err == nil && perr == nil {
			out = append(out, dhtNode{host, p})
		}
	}
	return out
}

// announceList puts each of a's trackers in a BEP 12 tier of its own, in order.
func (c *Catalog) announceList(a *Artifact) metainfo.AnnounceList {
	var l metainfo.AnnounceList
	for _, t := range c.trackersOf(a) {
		l = append(l, []string{t})
	}
	return l
}

// Magnet is the artifact's magnet link: BEP 9 xt, dn and tr, with ws (BEP 19 web seeds)
// and xl (exact length).
func (c *Catalog) Magnet(a *Artifact) string {
	m := metainfo.Magnet{
		InfoHash:    a.InfoHash,
		DisplayName: a.Root,
		Trackers:    c.trackersOf(a),
		Params: url.Values{
			"ws": c.WebSeeds(a),
			"xl": {strconv.FormatInt(a.Size, 10)},
		},
	}
	return m.String()
}

// SHA256Sums is the artifact's SHA256SUMS, in the form `sha256sum -c` reads, with paths
// as a torrent client lays them out in its download folder.
func SHA256Sums(a *Artifact) []byte {
	var b bytes.Buffer
	for i, f := range a.Files {
		fmt.Fprintf(&b, "%s  %s\n", f.SHA256, a.LocalPath(i))
	}
	return b.Bytes()
}
