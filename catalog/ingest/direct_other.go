//go:build !linux

package ingest

import "os"

const directAlign = 4096

// openDirect creates name for writing; direct I/O is used on Linux only.
func openDirect(root *os.Root, name string) (*os.File, bool, error) {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	return f, false, err
}

func endDirect(*os.File) error { return nil }

func isDirectRefused(error) bool { return false }
