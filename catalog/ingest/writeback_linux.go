package ingest

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback starts writing a written range to disk without waiting for it.
// Errors are ignored: the fsync that follows reports any that matter.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
