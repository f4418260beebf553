package catalogapi

import "time"

// Signed indexes (issue 15, internal/index). The directory hosts each registered
// indexer's current index:
//
//	GET /indexes/                              IndexList
//	GET /indexes/<key>/index.json              the canonical document (ETag: "<sha256>";
//	                                           If-None-Match answers 304)
//	GET /indexes/<key>/index.json.minisig      its minisign signature
//	PUT /api/v1/indexes/<key>                  a new version: the body is the document,
//	                                           IndexSignatureHeader its signature, and the
//	                                           request is signed (internal/sign) by the
//	                                           same key; the answer is its IndexInfo
//
// where <key> is the indexer key's id (sign.KeyID, 16 upper-case hex digits).

// IndexSignatureHeader carries an uploaded index's minisign signature (the .minisig
// file's text), base64 (standard encoding) since it spans lines.
const IndexSignatureHeader = "Odi-Index-Signature"

// IndexInfo describes one index a directory hosts.
type IndexInfo struct {
	Key         string    `json:"key"`         // key id
	Name        string    `json:"name"`        // the indexer's name at this directory
	PublicKey   string    `json:"public_key"`  // minisign public key line
	Fingerprint string    `json:"fingerprint"` // sign.Fingerprint of the key
	Version     uint64    `json:"version"`
	Issued      time.Time `json:"issued"`
	Expires     time.Time `json:"expires"`
	Entries     int       `json:"entries"`
	SHA256      string    `json:"sha256"` // of the document's bytes (also its ETag)
	URL         string    `json:"url"`    // the document's path: /indexes/<key>/index.json
}

// IndexList is the body of GET /indexes/: the current index of every indexer that has
// one, the directory's own included.
type IndexList struct {
	Indexes []IndexInfo `json:"indexes"`
}

// Indexer is an indexer key as the directory knows it (GET /api/v1/admin/indexers).
type Indexer struct {
	Name        string    `json:"name"`
	Key         string    `json:"key"`         // key id, shown; keys are matched whole
	PublicKey   string    `json:"public_key"`  // minisign public key line: the identity
	Fingerprint string    `json:"fingerprint"` // sign.Fingerprint
	AddedAt     time.Time `json:"added_at"`
	Revoked     bool      `json:"revoked"`
	Static      bool      `json:"static"` // from the directory's configuration
	Own         bool      `json:"own"`    // the directory's own index key
}

// AddIndexerRequest is the body of POST /api/v1/admin/indexers.
type AddIndexerRequest struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
}
