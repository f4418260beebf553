package catalog

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"
)

func TestDiskSpaceCheck(t *testing.T) {
	s := newDiskSpace(t.TempDir(), 8<<20)
	other := errors.New("disk on fire")
	for _, tc := range []struct {
		name string
		err  error
		full bool
	}{
		{"ENOSPC from a write", fmt.Errorf("ingest: %w", &os.PathError{Op: "write", Path: "f", Err: syscall.ENOSPC}), true},
		{"EDQUOT from a write", &os.PathError{Op: "write", Path: "f", Err: syscall.EDQUOT}, true},
		{"SQLITE_FULL", fmt.Errorf("insert: %w", sqlite3.Error{Code: sqlite3.ErrFull}), true},
		{"SQLite I/O error of a full disk", sqlite3.Error{Code: sqlite3.ErrIoErr, SystemErrno: syscall.ENOSPC}, true},
		{"another error", other, false},
		{"another SQLite error", sqlite3.Error{Code: sqlite3.ErrBusy}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.check("test/a/1", 80<<20, tc.err)
			if !tc.full {
				if got != tc.err {
					t.Fatalf("check(%v) = %v, want it unchanged", tc.err, got)
				}
				return
			}
			var ns *NoSpaceError
			if !errors.As(got, &ns) || Status(got) != http.StatusInsufficientStorage || !errors.Is(got, tc.err) {
				t.Fatalf("check(%v) = %v (status %d), want a *NoSpaceError (507) wrapping it", tc.err, got, Status(got))
			}
			msg := got.Error()
			for _, want := range []string{"test/a/1 needs 80 MiB", "free", "directory.min_free_space keeps 8.0 MiB"} {
				if !strings.Contains(msg, want) {
					t.Errorf("%q does not say %q", msg, want)
				}
			}
			if again := s.check("test/a/1", 80<<20, got); again != got {
				t.Errorf("checking a *NoSpaceError again wrapped it: %v", again)
			}
		})
	}
	if s.check("x", 1, nil) != nil {
		t.Error("check(nil) is not nil")
	}
}

func TestNoSpaceErrorWithoutCause(t *testing.T) {
	err := error(&NoSpaceError{What: "the catalog database", Free: -1, Floor: 1 << 30})
	var pe *os.PathError
	if errors.As(err, &pe) || !errors.Is(err, ErrNoSpace) {
		t.Fatalf("errors.As/Is on a cause-less NoSpaceError: %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "could not grow") || strings.Contains(msg, "free,") {
		t.Errorf("message %q", msg)
	}
}

func TestDiskSpaceReady(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1e9, 0)
	if err := newDiskSpace(dir, 0).ready(now); err != nil {
		t.Fatalf("a disk with no floor is not ready: %v", err)
	}
	err := newDiskSpace(dir, 1<<62).ready(now)
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "min_free_space") {
		t.Fatalf("a disk below its floor: %v, want ErrNoSpace naming min_free_space", err)
	}
}
