package catalogapi

import "time"

// FederationStatus is GET /api/v1/federation: how each link, reference and origin of
// this directory's federation config is doing (issue 16). Each list is in config order.
type FederationStatus struct {
	Links      []LinkStatus      `json:"links"`
	References []ReferenceStatus `json:"references"`
	Origins    []OriginStatus    `json:"origins"`
	// LinkedBy are the directories that serve a catalog of this one through a link of
	// theirs, as they told this one (LinkerNotice) and it checked.
	LinkedBy []LinkerStatus `json:"linked_by"`
}

// LinkStatus is one federation.links entry: this directory serves Catalog of Directory
// as its own, following Directory's signed index of it.
type LinkStatus struct {
	Directory string `json:"directory"`
	Catalog   string `json:"catalog"`
	KeyID     string `json:"key_id"`
	// State is the index's: "current", "expired", or "missing" (none accepted yet).
	State        string    `json:"state"`
	IndexVersion uint64    `json:"index_version,omitempty"`
	IndexIssued  time.Time `json:"index_issued,omitzero"`
	IndexExpires time.Time `json:"index_expires,omitzero"`
	// Stale says why this directory does not vouch for the catalog now, if it does not.
	Stale string `json:"stale,omitempty"`
	// Artifacts are the index's published artifacts held here, Pending those not yet;
	// LagSeconds is how long the index listing them has been out (0 with none pending).
	Artifacts  int       `json:"artifacts"`
	Pending    int       `json:"pending"`
	LagSeconds float64   `json:"lag_seconds"`
	LastPoll   time.Time `json:"last_poll,omitzero"`
	// Error is the last poll's; Failures name artifacts not taken, and why.
	Error    string   `json:"error,omitempty"`
	Failures []string `json:"failures,omitempty"`
	// ListedThere is whether the other directory accepted this one's LinkerNotice at
	// the last poll, and so lists this one's trackers and web seeds in its torrents
	// too; NoticeError is why not.
	ListedThere bool   `json:"listed_there"`
	NoticeError string `json:"notice_error,omitempty"`
}

// ReferenceStatus is one federation.references entry: users asking for Catalog are
// sent on to one of Directories.
type ReferenceStatus struct {
	Catalog     string                `json:"catalog"`
	Directories []ReferencedDirectory `json:"directories"`
}

// ReferencedDirectory is one directory a reference sends users to, and its last check.
type ReferencedDirectory struct {
	URL       string    `json:"url"`
	Regions   []string  `json:"regions"`
	Healthy   bool      `json:"healthy"`
	LastCheck time.Time `json:"last_check"`
	Error     string    `json:"error,omitempty"`
}

// OriginStatus is one federation.origins entry: Catalog pulled from the static upstream
// URL.
type OriginStatus struct {
	Catalog  string    `json:"catalog"`
	URL      string    `json:"url"`
	LastPoll time.Time `json:"last_poll"`
	Error    string    `json:"error,omitempty"`
	KeyID    string    `json:"key_id"`    // the project's key that must sign the listing
	NextPoll time.Time `json:"next_poll"` // sooner than the interval after an error (backoff)
	Pulled   int       `json:"pulled"`    // artifacts published from it since the directory started
}

// LinkerNotice is POST /api/v1/federation/linkers: the directory at URL tells this one
// that it serves Catalog, a catalog of this one, through a federation link. This one
// checks it at URL (FederationSources.LinkedFrom must name it) and then lists that
// directory's trackers and web seeds in its own torrents of the catalog. A linking
// directory sends it at each poll of the index: it needs no key, since the check asks
// the linking directory itself.
type LinkerNotice struct {
	Catalog string `json:"catalog"`
	URL     string `json:"url"`
}

// LinkerStatus is a directory that links a catalog of this one (LinkerNotice), and
// what this one took from it at its last refresh.
type LinkerStatus struct {
	URL         string    `json:"url"`
	Catalog     string    `json:"catalog"`
	Since       time.Time `json:"since"`
	LastRefresh time.Time `json:"last_refresh"`
	// Artifacts are the artifacts it lists sources for; Trackers its trackers.
	Artifacts int      `json:"artifacts"`
	Trackers  []string `json:"trackers"`
	// SeedHosts are its web seed hosts (its origin, its relays) listed in torrents: a
	// piece from each checked out; SeedsRefused those whose last check failed, and why.
	SeedHosts    []string `json:"seed_hosts"`
	SeedsRefused []string `json:"seeds_refused,omitempty"`
	// Error is the last refresh's; Failures how many refreshes in a row failed.
	Error    string `json:"error,omitempty"`
	Failures int    `json:"failures,omitempty"`
}

// FederationSources is GET /api/v1/federation/sources?catalog=C: this directory's own
// trackers and, for each published artifact of C, its own web seeds (its relays and
// origin copy), without those it lists from directories it is linked with. Linked
// directories take each other's sources from here: were they to take each other's
// whole url-lists, a relay one of them dropped would come back through the other.
// LinkedFrom is the directory whose catalog C this one serves through a link, if any.
type FederationSources struct {
	Catalog    string            `json:"catalog"`
	LinkedFrom string            `json:"linked_from,omitempty"`
	Trackers   []string          `json:"trackers"`
	Artifacts  []ArtifactSources `json:"artifacts"`
}

// ArtifactSources are a directory's own web seeds for the artifact with InfoHash.
type ArtifactSources struct {
	InfoHash string   `json:"infohash"`
	WebSeeds []string `json:"web_seeds"`
}
