package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/limit"
	"github.com/opendist/odi/internal/sign"
)

// TestMain lets tests run the odi command in a child process (the test binary re-executed
// with ODI_TEST_MAIN=1), to kill it with SIGKILL mid-work as a crash would.
func TestMain(m *testing.M) {
	if os.Getenv("ODI_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// testNet is a directory on loopback with an admin and a publisher key.
type testNet struct {
	base         string
	data         string
	adminKey     string
	publisherKey string
	publisher    *apiclient.Client
	admin        *apiclient.Client
	udpTracker   string // udp://.../announce
	stop         func() // stops the directory before the test ends (idempotent with cleanup)
}

func newKeys(t *testing.T, names ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, n := range names {
		p := filepath.Join(dir, n+".key")
		if _, err := sign.GenerateKeyFiles(p); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// startTestDirectory runs a directory in this process until the test ends; opts adjust
// its config.
func startTestDirectory(t *testing.T, opts ...func(*DirectoryConfig)) *testNet {
	t.Helper()
	keys := newKeys(t, "admin", "publisher")
	tn := &testNet{data: t.TempDir(), adminKey: keys[0], publisherKey: keys[1]}
	cfg := defaultConfig().Directory
	cfg.DataDir = tn.data
	cfg.AdminKeys = []string{tn.adminKey + ".pub"}
	cfg.Publishers = []string{"tester:test=" + tn.publisherKey + ".pub"}
	cfg.MinFreeSpace = 0
	cfg.Listen = "127.0.0.1:0"
	// Every relay, publisher and poll of a test comes from 127.0.0.1, one address whose
	// bucket a few waitFor loops (20 requests a second each) empty in seconds; tests of
	// the limits set their own.
	cfg.Limits.Requests = limit.Rate{PerSecond: 1000, Burst: 1000}
	for _, o := range opts {
		o(&cfg)
	}
	tn.data = cfg.DataDir
	ctx, cancel := context.WithCancel(context.Background())
	d, err := startDirectory(ctx, cfg, testLogger(t, "directory"))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var stopped sync.Once
	var stopErr error
	stop := func() {
		stopped.Do(func() {
			cancel()
			stopErr = d.Wait()
		})
	}
	t.Cleanup(func() {
		stop()
		if stopErr != nil {
			t.Errorf("directory stopped with %v", stopErr)
		}
	})
	tn.base = d.cfg.PublicURL
	tn.udpTracker = d.cfg.UDPTracker
	tn.stop = stop
	if tn.publisher, err = newClient(ClientConfig{Directory: tn.base, Key: tn.publisherKey}); err != nil {
		t.Fatal(err)
	}
	if tn.admin, err = newClient(ClientConfig{Directory: tn.base, Key: tn.adminKey}); err != nil {
		t.Fatal(err)
	}
	return tn
}

// testLogger is a logger for a directory or relay that a test runs in process. Its last
// lines are printed if the test fails: why a bounded wait ran out is usually in them.
// Register it before what it logs for, so that the printing comes after that stopped.
func testLogger(t *testing.T, who string) *slog.Logger {
	tail := &logTail{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the end of %s's log:\n%s", who, tail.String())
		}
	})
	return slog.New(slog.NewTextHandler(tail, nil))
}

// logTail keeps the last logTailSize bytes or so written to it.
type logTail struct {
	mu  sync.Mutex
	buf []byte
}

const logTailSize = 32 << 10

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if len(l.buf) > 2*logTailSize {
		l.buf = append(l.buf[:0], l.buf[len(l.buf)-logTailSize:]...)
	}
	return len(p), nil
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf[max(len(l.buf)-logTailSize, 0):])
}

// odiProcess is the odi command running in a child process.
type odiProcess struct {
	cmd *exec.Cmd
	url string
}

// startOdiProcess runs `odi args...` in a child process and waits for the directory's
// "listening on" line.
func startOdiProcess(t *testing.T, args ...string) *odiProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ODI_TEST_MAIN=1")
	cmd.Stderr = io.Discard
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &odiProcess{cmd: cmd}
	t.Cleanup(func() { p.kill() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "listening on "); ok {
				lines <- strings.Fields(rest)[0]
			}
		}
		close(lines)
	}()
	select {
	case u, ok := <-lines:
		if !ok {
			t.Fatalf("odi %v exited before listening", args)
		}
		p.url = u
	case <-time.After(30 * time.Second):
		t.Fatalf("odi %v did not start listening within 30s", args)
	}
	return p
}

// kill stops the process with SIGKILL, as a crash or power cut would.
func (p *odiProcess) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// freePort returns a loopback address with a free TCP port, for servers that must come
// back on the same address.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
