//go:build !unix

package fsutil

import (
	"errors"
	"fmt"
	"syscall"
)

// FreeBytes is unknown off Unix; uploads then run until the disk says no.
func FreeBytes(dir string) (int64, error) {
	free, _, err := Space(dir)
	return free, err
}

// Space is unknown off Unix: it returns an error that is errors.ErrUnsupported.
func Space(string) (free, size int64, err error) {
	return 0, 0, fmt.Errorf("free space on this system: %w", errors.ErrUnsupported)
}

// IsNoSpace tells a write refused because the disk is full from other errors.
func IsNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }
