package catalog

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opendist/odi/internal/bytesize"
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
	// ErrIndexVersion is returned when an uploaded index's version is below the one the
	// directory holds for its key (a rollback), or equals it with other bytes
	// (equivocation: an indexer signs one document per version).
	ErrIndexVersion = errors.New("index version refused")
	// ErrIndexMismatch is returned when an uploaded index lists an artifact other than
	// the catalog holds it: unknown, another infohash, other files, sizes or sha256, or
	// published where the catalog expunged it.
	ErrIndexMismatch = errors.New("index does not match the catalog")
	// ErrTooLarge is returned when an artifact, a signed request's body (an index's
	// included) or a heartbeat's holdings exceed the directory's limits.
	ErrTooLarge = errors.New("too large")
	// ErrNoSpace is returned when the directory's data disk cannot hold an upload or a
	// database write (the disk or quota is full, or it would fall below
	// min_free_space). It comes as a *NoSpaceError that says how much was needed and free.
	ErrNoSpace = errors.New("not enough disk space")
	// ErrBusy is returned when the directory is at a limit that frees up with time:
	// uploads in progress, memory for request bodies, relays waiting for approval. It
	// comes as a *RetryLater when the directory knows when to try again.
	ErrBusy = errors.New("busy")
	// ErrCorruptPiece marks a piece a web seed (a relay's, another directory's) served
	// whole that does not match its hash: it serves bad bytes, not merely fails.
	ErrCorruptPiece = errors.New("corrupt")
)

// NoSpaceError is an ErrNoSpace that says what did not fit on the data disk; the API
// sends its message as the problem's detail.
type NoSpaceError struct {
	What     string // what was written: an artifact's id, the catalog database
	Need     int64  // bytes it needed; 0 when unknown (a database write)
	Free     int64  // bytes free on the data disk when it failed; -1 when unknown
	Reserved int64  // bytes that uploads in progress still need
	Floor    int64  // bytes min_free_space keeps free
	Err      error  // the write's own error (ENOSPC, EDQUOT, SQLITE_FULL), if a write failed
}

func (e *NoSpaceError) Error() string {
	var b strings.Builder
	b.WriteString(ErrNoSpace.Error() + ": ")
	if e.Need > 0 {
		fmt.Fprintf(&b, "%s needs %s", e.What, bytesize.Size(e.Need))
	} else {
		fmt.Fprintf(&b, "%s could not grow", e.What)
	}
	if e.Free >= 0 {
		fmt.Fprintf(&b, "; the data disk has %s free", bytesize.Size(e.Free))
	}
	if e.Reserved > 0 {
		fmt.Fprintf(&b, ", uploads in progress need %s of it", bytesize.Size(e.Reserved))
	}
	fmt.Fprintf(&b, ", and directory.min_free_space keeps %s free", bytesize.Size(e.Floor))
	if e.Err != nil {
		fmt.Fprintf(&b, " (%v)", e.Err)
	}
	return b.String()
}

func (e *NoSpaceError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrNoSpace} // errors.As would call a method of a nil error
	}
	return []error{ErrNoSpace, e.Err}
}

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
