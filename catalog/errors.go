package catalog

import (
	"errors"
	"fmt"
	"time"
)

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
	// ErrTooLarge is returned when an artifact, a signed request's body or a heartbeat's
	// holdings exceed the directory's limits.
	ErrTooLarge = errors.New("too large")
	// ErrNoSpace is returned when the directory's disk cannot hold an artifact.
	ErrNoSpace = errors.New("not enough disk space")
	// ErrBusy is returned when the directory is at a limit that frees up with time:
	// uploads in progress, memory for request bodies, relays waiting for approval. It
	// comes as a *RetryLater when the directory knows when to try again.
	ErrBusy = errors.New("busy")
)

// RetryLater is an ErrBusy that says when to try again; the API sends it as Retry-After.
type RetryLater struct {
	After  time.Duration
	reason string
}

func (e *RetryLater) Error() string { return ErrBusy.Error() + ": " + e.reason }
func (e *RetryLater) Unwrap() error { return ErrBusy }

// busy returns an ErrBusy to retry after d.
func busy(d time.Duration, format string, args ...any) error {
	return &RetryLater{After: d, reason: fmt.Sprintf(format, args...)}
}
