// Package catalogapi holds the wire types of the directory's catalog API, which the
// directory (catalog) serves and users' machines (client, odi admin) call.
//
//	GET  /api/v1/artifacts[?catalog=C&name=N]   {"artifacts": [Artifact]}
//	GET  /api/v1/artifacts/C/N/V                 Artifact, with its files
//	POST /api/v1/uploads                         manifest.Manifest -> Upload (signed)
//	PUT  /api/v1/uploads/ID                      the files' bytes, in order -> Upload
//	POST /api/v1/uploads/ID/commit               -> Artifact
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
