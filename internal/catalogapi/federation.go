package catalogapi

import "time"

// FederationStatus is GET /api/v1/federation: how each link, reference and origin of
// this directory's federation config is doing (issue 16). Each list is in config order.
type FederationStatus struct {
	Links      []LinkStatus      `json:"links"`
	References []ReferenceStatus `json:"references"`
	Origins    []OriginStatus    `json:"origins"`
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
