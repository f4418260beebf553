package ingest

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// directAlign is the block size O_DIRECT buffers, lengths and offsets must align to.
const directAlign = 4096

// openDirect creates name for writing with O_DIRECT, or without it where the file
// system does not support it (tmpfs, some FUSE).
func openDirect(root *os.Root, name string) (*os.File, bool, error) {
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	f, err := root.OpenFile(name, flags|syscall.O_DIRECT, 0o644)
	if err == nil {
		return f, true, nil
	}
	if !isDirectRefused(err) {
		return nil, false, err
	}
	// The refused open may have created the file already.
	f, err = root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	return f, false, err
}

// endDirect turns O_DIRECT off, so that unaligned writes can follow.
func endDirect(f *os.File) error {
	fd := int(f.Fd())
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags&^unix.O_DIRECT)
	return err
}

func isDirectRefused(err error) bool { return errors.Is(err, syscall.EINVAL) }
