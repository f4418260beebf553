package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAccessLogs runs a directory behind a trusted proxy and a relay, each with an
// access log file: lines name the client the tracker believes, hide upload ids, and go
// to a new file after logrotate's move and SIGHUP.
func TestAccessLogs(t *testing.T) {
	logs := t.TempDir()
	dirLog, relayLog := filepath.Join(logs, "directory.log"), filepath.Join(logs, "relay.log")
	tn := startTestDirectory(t, relayDirectory, func(c *DirectoryConfig) {
		c.AccessLog = dirLog
		c.Tracker.TrustedProxies = []string{"127.0.0.1/32"}
	})
	r := startTestRelay(t, tn, func(c *RelayConfig) { c.AccessLog = relayLog })

	send := func(url string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Forwarded-For", "203.0.113.5")
		req.Header.Set("User-Agent", `test "agent"`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send(tn.base + "/healthz")
	send(tn.base + "/api/v1/uploads/capability-of-the-uploader/commit")
	send(r.url + "/healthz")

	if err := os.Rename(dirLog, dirLog+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the directory opens its access log again after SIGHUP", func() bool {
		_, err := os.Stat(dirLog)
		return err == nil
	})
	send(tn.base + "/readyz")
	r.stop()
	tn.stop() // flushes the logs

	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before, after, relay := read(dirLog+".1"), read(dirLog), read(relayLog)
	for _, want := range []string{
		`203.0.113.5 - - [`,
		`] "GET /healthz HTTP/1.1" 200 3 "-" "test \"agent\""`,
		`"GET /api/v1/uploads/`,
	} {
		if !strings.Contains(before, want) {
			t.Errorf("directory's log lacks %q:\n%s", want, before)
		}
	}
	if strings.Contains(before, "capability-of-the-uploader") || strings.Contains(before, "/readyz") {
		t.Errorf("directory's log before rotation shows an upload id, or a later request:\n%s", before)
	}
	if !strings.Contains(after, `203.0.113.5 - - [`) || !strings.Contains(after, `"GET /readyz HTTP/1.1" 200`) || strings.Contains(after, "/healthz") {
		t.Errorf("directory's log after SIGHUP:\n%s", after)
	}
	// A relay trusts no proxy: the line names the connection's address.
	if !strings.Contains(relay, `127.0.0.1 - - [`) || !strings.Contains(relay, `"GET /healthz HTTP/1.1" 200 3 "-" "test \"agent\""`) {
		t.Errorf("relay's log:\n%s", relay)
	}
}

func TestAccessLogInAMissingFolderRefused(t *testing.T) {
	cfg := defaultConfig().Directory
	cfg.DataDir, cfg.Listen, cfg.MinFreeSpace = t.TempDir(), "127.0.0.1:0", 0
	cfg.AccessLog = filepath.Join(t.TempDir(), "missing", "access.log")
	_, err := startDirectory(t.Context(), cfg, testLogger(t, "directory"))
	if err == nil || !strings.Contains(err.Error(), "access_log") {
		t.Fatalf("a directory with an access log in a missing folder: %v, want an error naming access_log", err)
	}
}
