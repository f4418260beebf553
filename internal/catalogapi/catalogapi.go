// Package catalogapi holds the wire types of the directory's catalog API, which the
// directory (catalog) serves and users' machines (client, odi admin) call.
//
//	GET  /api/v1/artifacts[?catalog=C&name=N]   ArtifactList
//	GET  /api/v1/artifacts/C/N/V                 Artifact, with its files
//	POST /api/v1/uploads                         manifest.Manifest -> Upload (signed)
//	PUT  /api/v1/uploads/ID                      the files' bytes, in order -> Upload
//	POST /api/v1/uploads/ID/commit               -> Artifact
//	GET  /api/v1/relays[?after=ID&limit=N]       RelayPage
//
// and, signed with an admin key:
//
//	GET  /api/v1/admin/publishers                {"publishers": [Publisher]}
//	POST /api/v1/admin/publishers                AddPublisherRequest -> Publisher
//	POST /api/v1/admin/publishers/NAME/revoke    -> 204
//	POST /api/v1/admin/expunge                   ExpungeRequest -> Artifact
//	POST /api/v1/admin/relays/ID/approve         -> Relay (also .../revoke, .../clear)
package catalogapi

import (
	"time"

	"github.com/opendist/odi/internal/manifest"
)

// State is an artifact's life stage.
type State string

// The states: published artifacts are served; expunged ones are tombstones, whose name
// is never reused.
const (
	Published State = "published"
	Expunged  State = "expunged"
)

// Artifact is an artifact as the API shows it. An expunged one carries no way to its
// bytes (torrent, magnet, web seeds), only when and why it went.
type Artifact struct {
	ID            string          `json:"id"`
	Catalog       string          `json:"catalog"`
	Name          string          `json:"name"`
	Version       string          `json:"version"`
	Root          string          `json:"root"`
	State         State           `json:"state"`
	InfoHash      string          `json:"infohash"`
	Size          int64           `json:"size"`
	PieceLength   int64           `json:"piece_length"`
	FileCount     int             `json:"file_count"`
	Publisher     string          `json:"publisher"`
	PublishedAt   time.Time       `json:"published_at"`
	ExpungedAt    *time.Time      `json:"expunged_at,omitempty"`
	ExpungeReason string          `json:"expunge_reason,omitempty"`
	Files         []manifest.File `json:"files,omitempty"`
	TorrentURL    string          `json:"torrent_url,omitempty"`
	Magnet        string          `json:"magnet,omitempty"`
	SHA256SumsURL string          `json:"sha256sums_url,omitempty"`
	WebSeeds      []string        `json:"web_seeds,omitempty"`
	Swarm         *Popularity     `json:"swarm,omitempty"`
}

// ArtifactList is GET /api/v1/artifacts. Unfiltered, it also names the catalogs this
// directory sends users on for (directory.federation.references), whose artifacts are
// listed by the directories that serve them, not here.
type ArtifactList struct {
	Artifacts  []Artifact          `json:"artifacts"`
	Referenced []ReferencedCatalog `json:"referenced,omitempty"`
}

// ReferencedCatalog is a catalog other directories serve, and which: /r/, /t/, /m/ and
// /api/v1/artifacts/CATALOG/... here redirect to one of them.
type ReferencedCatalog struct {
	Catalog     string               `json:"catalog"`
	Directories []ReferencedLocation `json:"directories"`
}

// ReferencedLocation is a directory serving a referenced catalog, the regions whose
// users it takes (ISO 3166-1 country codes, continent codes, "default"), and whether its
// last health checks passed.
type ReferencedLocation struct {
	URL     string   `json:"url"`
	Regions []string `json:"regions"`
	Healthy bool     `json:"healthy"`
}

// Popularity is an artifact's swarm as the directory's tracker counts it.
type Popularity struct {
	Seeders   int   `json:"seeders"`
	Leechers  int   `json:"leechers"`
	Completed int64 `json:"completed"`
	Redirects int64 `json:"redirects"` // plain HTTP downloads the redirector sent to a copy
	// Demand is leecher announces, completions and redirects, each decayed by the same
	// half-life: what the placement planner ranks by.
	Demand float64 `json:"demand"`
}

// Upload is a publish in progress: declared, then its bytes received, then committed.
type Upload struct {
	ID       string          `json:"id"`
	Expires  time.Time       `json:"expires_at"`
	Files    []manifest.File `json:"files,omitempty"`    // with sha256, once received
	InfoHash string          `json:"infohash,omitempty"` // once received
}

// Publisher is a key allowed to publish.
type Publisher struct {
	Name      string    `json:"name"`
	KeyID     string    `json:"key_id"`             // shown; keys are looked up by PublicKey
	PublicKey string    `json:"public_key"`         // minisign public key line: the identity
	Catalogs  []string  `json:"catalogs,omitempty"` // empty: any catalog
	AddedAt   time.Time `json:"added_at"`
	Revoked   bool      `json:"revoked"`
	Static    bool      `json:"static"` // from the directory's configuration
}

// AddPublisherRequest is the body of POST /api/v1/admin/publishers.
type AddPublisherRequest struct {
	Name      string   `json:"name"`
	PublicKey string   `json:"public_key"`
	Catalogs  []string `json:"catalogs,omitempty"`
}

// ExpungeRequest is the body of POST /api/v1/admin/expunge.
type ExpungeRequest struct {
	Artifact string `json:"artifact"` // "<catalog>/<name>/<version>"
	Reason   string `json:"reason"`
}

// Relay is a relay as the directory knows it. Status, Reason, Up and Holdings are
// filled in the relay listing (RelayPage) only: the answers of approve, revoke and
// clear leave them empty.
type Relay struct {
	// ID is the fingerprint of the relay's public key (sign.Fingerprint): a key made with
	// another relay's key id is another relay, and cannot displace or block it.
	ID            string   `json:"id"`
	KeyID         string   `json:"key_id"` // the key's minisign id, shown
	PublicKey     string   `json:"public_key"`
	PublicURL     string   `json:"public_url"`
	Quota         int64    `json:"quota_bytes"`
	Free          int64    `json:"free_bytes"`
	UploadLimit   int64    `json:"upload_limit"`
	DownloadLimit int64    `json:"download_limit"`
	Catalogs      []string `json:"catalogs,omitempty"`
	// Country and Continent are where the relay's address is, as the directory's GeoIP
	// database says ("" without one): hot artifacts spread across them, and users are
	// sent to a relay near them.
	Country      string    `json:"country,omitempty"`
	Continent    string    `json:"continent,omitempty"`
	State        string    `json:"state"` // relayapi.StatePending, StateActive or StateRevoked
	RegisteredAt time.Time `json:"registered_at"`
	LastSeen     time.Time `json:"last_seen"`
	BytesServed  int64     `json:"bytes_served"`
	Degraded     string    `json:"degraded,omitempty"`
	// DHTNode is the relay's DHT node (host:port) from its last heartbeat: its public
	// URL's host and the port it reports. Torrents name a few of them (BEP 5 nodes).
	DHTNode string `json:"dht_node,omitempty"`
	// SelfTest is "pending", "ok", or why the relay failed it.
	SelfTest string `json:"self_test"`
	// Up: active, self-tested, not down, suspect, suspended or quarantined, and heard
	// from within the missed-heartbeat window. Only up relays are sent users by /r/;
	// url-lists also keep suspect relays and those suspended on reports alone.
	Up bool `json:"up"`
	// Status says the same in one word: up, suspect, suspended, down, quarantined,
	// testing, pending (an operator must approve it) or revoked; Reason says why when it
	// is not up.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Quarantine names the range the relay served wrong; it stays until an operator
	// clears it (odi admin relays clear).
	Quarantine string `json:"quarantine,omitempty"`
	// Suspended says why the relay is kept from users for now, and SuspendedUntil until
	// when (zero: until audits settle it). SuspendedSeeds: out of url-lists too, not
	// only out of /r/ answers.
	Suspended      string    `json:"suspended,omitempty"`
	SuspendedUntil time.Time `json:"suspended_until,omitzero"`
	SuspendedSeeds bool      `json:"suspended_seeds,omitempty"`
	// Strikes counts the times the relay reported another's bytes bad and two other
	// relays found them good.
	Strikes int `json:"strikes,omitempty"`
	// ProbeFailures counts consecutive failed checks (health checks, audits that got no
	// answer); Down is why they marked the relay down ("" while it is not).
	ProbeFailures int            `json:"probe_failures"`
	Down          string         `json:"down,omitempty"`
	Holdings      []RelayHolding `json:"holdings"` // in infohash order
}

// RelayHolding is one artifact a relay reports.
type RelayHolding struct {
	InfoHash      string `json:"infohash"`
	BytesComplete int64  `json:"bytes_complete"`
	Verified      bool   `json:"verified"` // as the relay reports
	// Checked: the directory fetched a piece of it from the relay and its hash matched;
	// only then does the relay appear in the artifact's web seeds.
	Checked bool `json:"checked"`
}

// RelayPage is one page of the relay registry, in id order.
type RelayPage struct {
	Relays []Relay `json:"relays"`
	// Next is the id to list after for the next page (?after=); "" on the last page.
	Next string `json:"next,omitempty"`
}
