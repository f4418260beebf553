package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/fsutil"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/seeder"
)

// diskFullEnv marks the test binary re-executed in a mount namespace of its own, where
// TestDiskFull may mount small tmpfs file systems without touching the machine's.
const diskFullEnv = "ODI_TEST_DISKFULL_NS"

// TestDiskFull runs the full-disk cases against real small file systems: a 64 MiB tmpfs
// each, mounted in a private mount namespace that the test makes by re-executing itself
// under unshare(1) (util-linux).
func TestDiskFull(t *testing.T) {
	if os.Getenv(diskFullEnv) == "" {
		reexecInMountNamespace(t)
		return
	}
	t.Run("publish", testDiskFullPublish)
	t.Run("relay plan larger than disk", testDiskFullRelayPlan)
	t.Run("relay disk fills during fetch", testDiskFullRelayFill)
}

// reexecInMountNamespace runs TestDiskFull again in a new mount namespace, or skips with
// the reason when this machine does not let it make one and mount a tmpfs there.
func reexecInMountNamespace(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is not installed: cannot make a mount namespace for a small tmpfs")
	}
	probe := t.TempDir()
	if out, err := exec.Command("unshare", "--mount", "--propagation", "private",
		"mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs in a new mount namespace here (needs root or CAP_SYS_ADMIN; CI runs as root): %v: %s",
			err, bytes.TrimSpace(out))
	}
	args := []string{"--mount", "--propagation", "private", os.Args[0], "-test.run", "^TestDiskFull$", "-test.count", "1"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Env = append(os.Environ(), diskFullEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a mount namespace of its own:\n%s", out)
	if err != nil {
		t.Fatalf("TestDiskFull in its mount namespace: %v", err)
	}
}

// mountTmpfs mounts a tmpfs of size bytes for the test (in this process's namespace).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a file at path that leaves about leave bytes free on its file system
// (0: until the disk refuses), and returns its size.
func fillDisk(t *testing.T, path string, leave int64) int64 {
	t.Helper()
	free, err := fsutil.FreeBytes(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := bytes.Repeat([]byte{0xa5}, 1<<20)
	var n int64
	for n < free-leave {
		w, err := f.Write(buf[:min(int64(len(buf)), free-leave-n)])
		n += int64(w)
		if err != nil {
			if leave == 0 && fsutil.IsNoSpace(err) {
				return n
			}
			t.Fatalf("filling the disk: %v", err)
		}
	}
	return n
}

// status returns the status and body of a GET.
func status(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, body := get(t, url)
	return resp.StatusCode, string(body)
}

func testDiskFullPublish(t *testing.T) {
	disk := mountTmpfs(t, 64<<20)
	tn := startTestDirectory(t, func(c *DirectoryConfig) {
		c.DataDir = filepath.Join(disk, "directory")
		c.MinFreeSpace = 8 << 20
	})
	staging := filepath.Join(tn.data, "staging")
	if code, body := status(t, tn.base+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz on an empty disk: %d %s", code, body)
	}

	// Larger than the disk: refused before a byte moves, saying why.
	m := ident("1")
	m.Root = "big.bin"
	m.Files = []manifest.File{{Size: 80 << 20}}
	err := tn.publisher.CallJSON(context.Background(), http.MethodPost, "/api/v1/uploads", m, nil)
	var refusal *apiclient.Error
	if !errors.As(err, &refusal) || refusal.Status != http.StatusInsufficientStorage {
		t.Fatalf("declaring 80 MiB on a 64 MiB disk: %v, want 507", err)
	}
	for _, want := range []string{"needs 80 MiB", "free", "directory.min_free_space keeps 8.0 MiB"} {
		if !strings.Contains(refusal.Detail, want) {
			t.Errorf("507 detail %q does not say %q", refusal.Detail, want)
		}
	}

	// Room when declared, filled by something else while the bytes come: the write
	// fails with ENOSPC, which is a 507 too, and the upload leaves nothing.
	id := declareUpload(t, tn.publisher, "2", 20<<20)
	filler := filepath.Join(disk, "filler")
	fillDisk(t, filler, 4<<20)
	waitFor(t, 10*time.Second, "readyz says not ready below min_free_space", func() bool {
		code, body := status(t, tn.base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "min_free_space")
	})
	req, _ := http.NewRequest(http.MethodPut, tn.base+"/api/v1/uploads/"+id, io.LimitReader(zeros{}, 20<<20))
	req.ContentLength = 20 << 20
	err = tn.publisher.Do(req, nil)
	if !errors.As(err, &refusal) || refusal.Status != http.StatusInsufficientStorage {
		t.Fatalf("an upload the disk cannot hold: %v, want 507", err)
	}
	if !strings.Contains(refusal.Detail, "needs 20 MiB") || !strings.Contains(refusal.Detail, "no space left on device") {
		t.Errorf("507 detail %q does not say what was needed and why", refusal.Detail)
	}
	waitEmpty(t, staging)
	if arts := listArtifacts(t, tn.base); len(arts) != 0 {
		t.Fatalf("catalog lists %v after a failed upload", arts)
	}
	again, _ := http.NewRequest(http.MethodPut, tn.base+"/api/v1/uploads/"+id, nil)
	if err := tn.publisher.Do(again, nil); apiclient.StatusOf(err) != http.StatusNotFound {
		t.Fatalf("PUT to the failed upload: %v, want 404 (its slot freed)", err)
	}

	// Space freed: ready again, and the same name publishes.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "readyz says ready once space is freed", func() bool {
		code, _ := status(t, tn.base+"/readyz")
		return code == http.StatusOK
	})
	a := publishSmall(t, tn, "2", 20<<20)
	if a.Size != 20<<20 {
		t.Fatalf("published %d bytes", a.Size)
	}
}

// diskRelay runs a relay whose data is on a 64 MiB tmpfs, with the default floor (1 GiB,
// which the disk's size caps to a tenth of it).
func diskRelay(t *testing.T, tn *testNet, adjust func(*RelayConfig)) (*testRelay, string) {
	t.Helper()
	disk := mountTmpfs(t, 64<<20)
	r := startTestRelay(t, tn, func(c *RelayConfig) {
		c.DataDir = filepath.Join(disk, "relay")
		c.MinFreeSpace = seeder.DefaultConfig().MinFreeSpace
		if adjust != nil {
			adjust(c)
		}
	})
	return r, disk
}

const diskFloor = (64 << 20) / 10 // a tenth of the 64 MiB disk

func testDiskFullRelayPlan(t *testing.T) {
	tn := startTestDirectory(t, relayDirectory)
	publishSmall(t, tn, "1", 20<<20)
	publishSmall(t, tn, "2", 20<<20)

	// The filler leaves room for one artifact, not two: the plan asks for both.
	disk := mountTmpfs(t, 64<<20)
	filler := filepath.Join(disk, "filler")
	fillDisk(t, filler, 36<<20)
	free, err := fsutil.FreeBytes(disk)
	if err != nil {
		t.Fatal(err)
	}
	r := startTestRelay(t, tn, func(c *RelayConfig) {
		c.DataDir = filepath.Join(disk, "relay")
		c.MinFreeSpace = seeder.DefaultConfig().MinFreeSpace
	})
	reservedWithin := func(limit int64) {
		t.Helper()
		if _, _, reserved := r.relay.Usage(); reserved > limit {
			t.Fatalf("the relay reserved %d bytes, more than the %d its disk can take", reserved, limit)
		}
	}
	waitFor(t, 60*time.Second, "the relay holds one artifact, verified, and reports itself degraded", func() bool {
		reservedWithin(free - diskFloor)
		v := relayView(t, tn, r.id)
		return len(v.Holdings) == 1 && v.Holdings[0].Verified && strings.Contains(v.Degraded, "disk nearly full")
	})
	if code, body := status(t, r.url+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "needs 20 MiB") {
		t.Fatalf("readyz of a relay whose disk cannot hold its plan: %d %s, want 503 with the reason", code, body)
	}
	reservedWithin(free - diskFloor)

	// Space freed by someone: the relay resumes by itself and fetches the other one.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the relay holds both artifacts, verified, and is no longer degraded", func() bool {
		reservedWithin(64<<20 - diskFloor)
		v := relayView(t, tn, r.id)
		return len(v.Holdings) == 2 && v.Holdings[0].Verified && v.Holdings[1].Verified && v.Degraded == ""
	})
	if code, body := status(t, r.url+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz once the disk has room: %d %s", code, body)
	}
}

func testDiskFullRelayFill(t *testing.T) {
	tn := startTestDirectory(t, relayDirectory)
	publishSmall(t, tn, "1", 16<<20)
	// Slow enough that the disk fills while the artifact comes.
	r, disk := diskRelay(t, tn, func(c *RelayConfig) { c.DownloadLimit = 2 << 20 })
	waitFor(t, 60*time.Second, "the relay starts fetching", func() bool {
		_, fromWebSeeds := r.relay.Downloaded()
		return fromWebSeeds > 0
	})
	filler := filepath.Join(disk, "filler")
	fillDisk(t, filler, 0)
	waitFor(t, 60*time.Second, "the relay drops the artifact it cannot write and reports itself degraded", func() bool {
		holdings, _, _ := r.relay.Usage()
		return holdings == 0 && strings.Contains(relayView(t, tn, r.id).Degraded, "disk nearly full")
	})
	if code, _ := status(t, r.url+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz of a relay on a full disk: %d, want 503", code)
	}
	// The disk grows (a quota raised), the filler stays: the relay resumes by itself.
	if err := unix.Mount("tmpfs", disk, "tmpfs", unix.MS_REMOUNT, "size="+strconv.Itoa(128<<20)); err != nil {
		t.Fatalf("grow the tmpfs: %v", err)
	}
	waitFor(t, 60*time.Second, "the relay fetches the artifact again, completes it, and is no longer degraded", func() bool {
		v := relayView(t, tn, r.id)
		return len(v.Holdings) == 1 && v.Holdings[0].Verified && v.Degraded == ""
	})
}
