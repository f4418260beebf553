package filestore

import (
	"os"

	"golang.org/x/sys/unix"
)

// DropCache asks the kernel to let go of the cached pages of n bytes of f from off
// (POSIX_FADV_DONTNEED). Only clean pages go: sync what was written first.
func DropCache(f *os.File, off, n int64) error {
	return unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED)
}
