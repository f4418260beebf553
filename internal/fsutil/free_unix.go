//go:build unix

package fsutil

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// FreeBytes is the space an unprivileged writer may still use on dir's file system.
func FreeBytes(dir string) (int64, error) {
	free, _, err := Space(dir)
	return free, err
}

// Space is the space an unprivileged writer may still use on dir's file system, and the
// file system's size.
func Space(dir string) (free, size int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}

// IsNoSpace tells a write refused because the disk, or the writer's quota, is full
// (ENOSPC, EDQUOT) from other errors.
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
