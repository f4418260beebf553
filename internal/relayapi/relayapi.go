// Package relayapi holds the wire types of the directory's relay API, which the
// directory (catalog) serves and relays (seeder) call; both sign and verify with
// internal/sign.
//
//	POST /api/v1/relays/register   Register -> Registered   (signed by the relay's key)
//	POST /api/v1/relays/heartbeat  Heartbeat -> Plan         (signed by the relay's key)
//	POST /api/v1/reports           Reports -> 202            (anyone: odi fetch, relays)
//
// A relay is the key that signs: the signature headers carry its whole public key, and
// the directory names the relay by the key's fingerprint (internal/sign), so that its
// checks need no body. Bodies are capped: a registration at 64 KiB, a heartbeat by the
// holdings a directory takes (its relays.max_holdings).
package relayapi

import (
	"time"

	"github.com/opendist/odi/internal/manifest"
)

// PeerIDPrefix begins the BEP 20 peer ID of every relay's BitTorrent client, so that the
// directory's tracker counts a relay's announces as supply, not demand: a relay filling
// its disk follows the placement, and counting it would feed the placement its own
// choices. A user's client that took the prefix would only lose its own vote.
const PeerIDPrefix = "-OR0001-"

// Relay states, as the directory sees a relay.
const (
	StatePending = "pending" // waiting for an operator's approval
	StateActive  = "active"  // admitted; serves users once its self-tests pass
	StateRevoked = "revoked" // refused for good
)

// Register is what a relay tells a directory when it joins (and again after restarts).
type Register struct {
	PublicURL     string   `json:"public_url"` // where users and the directory reach its /ws/ and /healthz
	QuotaBytes    int64    `json:"quota_bytes"`
	FreeBytes     int64    `json:"free_bytes"`
	UploadLimit   int64    `json:"upload_limit"`   // bytes/s, 0 = unlimited
	DownloadLimit int64    `json:"download_limit"` // bytes/s, 0 = unlimited
	Catalogs      []string `json:"catalogs,omitempty"`
	Version       string   `json:"version"`
}

// Registered is the directory's answer to Register.
type Registered struct {
	RelayID           string        `json:"relay_id"` // the fingerprint of the relay's key
	State             string        `json:"state"`
	HeartbeatInterval time.Duration `json:"heartbeat_interval"`
	Message           string        `json:"message,omitempty"`
	// DHTNodes are the directory's DHT nodes (host:port): the relay's node starts from
	// them. None when the directory runs none.
	DHTNodes []string `json:"dht_nodes,omitempty"`
}

// Holding is one artifact a relay has, fully or in part.
type Holding struct {
	InfoHash      string `json:"infohash"`
	BytesComplete int64  `json:"bytes_complete"`
	// Verified: every piece was checked against its hash since the relay last started,
	// and the relay serves the files.
	Verified bool `json:"verified"`
}

// Heartbeat is what a relay reports every interval.
type Heartbeat struct {
	Holdings    []Holding `json:"holdings"`
	FreeBytes   int64     `json:"free_bytes"`
	BytesServed int64     `json:"bytes_served"` // HTTP and BitTorrent, since the last heartbeat
	Degraded    string    `json:"degraded,omitempty"`
	// Audits are the outcomes of the previous plan's Audits.
	Audits []AuditResult `json:"audits,omitempty"`
	// BadPieces are pieces that failed their hash when this relay took them from another
	// relay's web seed since the last heartbeat (at most MaxReports).
	BadPieces []BadPiece `json:"bad_pieces,omitempty"`
	// DHTPort is the UDP port of the relay's DHT node (BEP 5) on its public URL's host;
	// 0 without one. Torrents name a few relays' nodes, so that clients holding one find
	// peers through the DHT while the directory is gone.
	DHTPort int `json:"dht_port,omitempty"`
}

// Audit asks a relay to fetch one byte range from another relay's web seed as a plain
// user would (GET with Range, no odi headers) and report what it got; the directory
// compares it with its own copy. Audits come from many addresses, so a relay cannot
// tell them from users by the directory's address alone.
type Audit struct {
	ID     string `json:"id"`     // opaque; echoed in the result
	URL    string `json:"url"`    // a file URL under another relay's /ws/
	Offset int64  `json:"offset"` // first byte of the range, in the file
	Length int64  `json:"length"` // bytes in the range, at most MaxAuditLength
}

// MaxAuditLength bounds one audit's range (a piece of the largest size odi makes).
const MaxAuditLength = 16 << 20

// AuditResult is what a relay got for one Audit: the sha256 of the bytes when the relay
// answered 206 with exactly the range asked, else what went wrong.
type AuditResult struct {
	ID     string `json:"id"`
	SHA256 string `json:"sha256,omitempty"` // hex
	Error  string `json:"error,omitempty"`  // e.g. "answered 503", "timeout", "short body"
}

// BadPiece is a piece whose bytes from a web seed failed the torrent's piece hash.
type BadPiece struct {
	InfoHash string `json:"infohash"` // hex
	Piece    int    `json:"piece"`
	WebSeed  string `json:"web_seed"` // the url-list entry (or file URL under it) that sent it
}

// Reports is the body of POST /api/v1/reports: bad pieces a client saw from web seeds,
// and indexes a follower refused as equivocations. It needs no signature (anyone may
// report); a bad piece makes the directory audit that piece at once, from itself and
// through other relays, and only a confirmed bad piece counts against a relay; an
// equivocation is logged and counted for the operator.
type Reports struct {
	BadPieces     []BadPiece     `json:"bad_pieces,omitempty"`
	Equivocations []Equivocation `json:"equivocations,omitempty"`
}

// Equivocation is an index key seen signing two documents as one version (internal/index):
// the follower accepted the one whose sha256 is Held, and was then served Served. Either
// the key signs what it should not (it may be stolen), or a follower was fed another
// directory's document.
type Equivocation struct {
	Key     string `json:"key"` // key id (sign.KeyID)
	Version uint64 `json:"version"`
	Held    string `json:"held"`   // sha256 hex of the document accepted before
	Served  string `json:"served"` // sha256 hex of the one served now
}

// MaxReports bounds the bad pieces (and the equivocations) of one Reports body or
// heartbeat.
const MaxReports = 64

// Item is one artifact in a plan.
type Item struct {
	ID         string          `json:"id"` // <catalog>/<name>/<version>
	InfoHash   string          `json:"infohash"`
	Size       int64           `json:"size"`
	TorrentURL string          `json:"torrent_url"`
	Demand     float64         `json:"demand"`
	Files      []manifest.File `json:"files"` // with sha256, in torrent order
}

// Plan is the directory's answer to a heartbeat: what the relay should hold.
type Plan struct {
	State    string        `json:"state"`
	Interval time.Duration `json:"interval"`
	// Fetch lists artifacts to get, most wanted first; Keep those to go on holding.
	Fetch []Item `json:"fetch"`
	Keep  []Item `json:"keep"`
	// Drop lists infohashes the relay may evict (least wanted first) when it needs room.
	Drop []string `json:"drop"`
	// Expunged lists infohashes to delete at once and never serve again.
	Expunged []string `json:"expunged"`
	// Origin is the directory's own web seed (the prefix of its url-list entries), and
	// OriginToken what the relay shows it, as "Authorization: OdiRelay <token>", to be
	// served ahead of anonymous clients while it fills an artifact. The token is good
	// for a few heartbeat intervals; each plan brings a fresh one.
	Origin      string `json:"origin,omitempty"`
	OriginToken string `json:"origin_token,omitempty"`
	// Audits are ranges of other relays' web seeds to fetch before the next heartbeat,
	// and report in it.
	Audits []Audit `json:"audits,omitempty"`
}

// OriginAuthScheme is the Authorization scheme of a relay's requests to a directory's
// origin web seed (Plan.OriginToken).
const OriginAuthScheme = "OdiRelay"
