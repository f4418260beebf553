package main

import (
	"os"
	"syscall"
)

// allocated is the space a file takes on disk: sparse files count what is written.
func allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}
