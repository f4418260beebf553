package fsutil

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	for _, content := range []string{"first", "second, longer than the first"} {
		if err := WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read back %q, %v; want %q", got, err, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only the file (no temp left)", len(entries))
	}
}

func TestWriteFileMissingFolder(t *testing.T) {
	if err := WriteFile(filepath.Join(t.TempDir(), "no", "such"), []byte("x"), 0o600); err == nil {
		t.Fatal("WriteFile into a missing folder succeeded")
	}
}

func TestSpace(t *testing.T) {
	free, size, err := Space(t.TempDir())
	if err != nil {
		t.Skipf("free space unknown here: %v", err)
	}
	if free < 0 || size <= 0 || free > size {
		t.Fatalf("Space: %d free of %d", free, size)
	}
}

func TestIsNoSpace(t *testing.T) {
	full := &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	if !IsNoSpace(fmt.Errorf("ingest: %w", full)) {
		t.Error("a wrapped ENOSPC is not taken for a full disk")
	}
	if IsNoSpace(&os.PathError{Op: "write", Path: "x", Err: syscall.EIO}) || IsNoSpace(nil) {
		t.Error("EIO or nil taken for a full disk")
	}
}
