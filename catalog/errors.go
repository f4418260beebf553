package catalog

import "errors"

// Errors of the catalog. The HTTP API maps each to one status code (see api.go).
var (
	// ErrNotFound is returned when an artifact, publisher or upload does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists is returned when an artifact's name and version, or a publisher's name or
	// key, is already taken (also by a tombstone: names are never reused).
	ErrExists = errors.New("already exists")
	// ErrDuplicateContent is returned when an artifact's content (its infohash) is already
	// published under another name or version.
	ErrDuplicateContent = errors.New("same content already in the catalog")
	// ErrExpunged is returned when an artifact was expunged: it is a tombstone.
	ErrExpunged = errors.New("expunged")
	// ErrUnauthorized is returned when a request is unsigned, badly signed, stale,
	// replayed, or signed by an unknown key.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden is returned when a known key may not do what it asks (revoked, not an
	// admin, catalog outside its scope).
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid is returned for a request whose content is malformed.
	ErrInvalid = errors.New("invalid request")
	// ErrDigestMismatch is returned when uploaded bytes differ from the signed manifest.
	ErrDigestMismatch = errors.New("uploaded bytes differ from the signed manifest")
	// ErrTooLarge is returned when an artifact exceeds the directory's size limit.
	ErrTooLarge = errors.New("artifact too large")
	// ErrNoSpace is returned when the directory's disk cannot hold an artifact.
	ErrNoSpace = errors.New("not enough disk space")
	// ErrBusy is returned when the directory runs as many uploads as it allows.
	ErrBusy = errors.New("too many uploads in progress")
)
