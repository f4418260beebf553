//go:build unix

package fsutil

import "golang.org/x/sys/unix"

// FreeBytes is the space an unprivileged writer may still use on dir's file system.
func FreeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
