package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/manifest"
)

// declareUpload declares a single-file artifact of size bytes and returns the upload id.
func declareUpload(t *testing.T, c *apiclient.Client, version string, size int64) string {
	t.Helper()
	m := ident(version)
	m.Root = "big.bin"
	m.Files = []manifest.File{{Size: size}}
	var up catalogapi.Upload
	if err := c.CallJSON(context.Background(), http.MethodPost, "/api/v1/uploads", m, &up); err != nil {
		t.Fatal(err)
	}
	return up.ID
}

// sendPartialBody opens a raw connection, sends a PUT declaring size bytes, sends only
// sent bytes, and drops the connection as a crashed client would.
func sendPartialBody(t *testing.T, base, id string, size, sent int64) {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /api/v1/uploads/%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", id, u.Host, size)
	if _, err := conn.Write(make([]byte, sent)); err != nil {
		t.Fatal(err)
	}
}

func listArtifacts(t *testing.T, base string) []catalogapi.Artifact {
	t.Helper()
	_, body := get(t, base+"/api/v1/artifacts")
	var out struct{ Artifacts []catalogapi.Artifact }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out.Artifacts
}

// waitEmpty waits (bounded) for a folder to be empty.
func waitEmpty(t *testing.T, dir string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still holds %d entries", dir, len(entries))
		}
	}
}

func TestTruncatedUploadLeavesNothing(t *testing.T) {
	tn := startTestDirectory(t)
	id := declareUpload(t, tn.publisher, "1", 8<<20)
	sendPartialBody(t, tn.base, id, 8<<20, 3<<20)
	waitEmpty(t, filepath.Join(tn.data, "staging"))
	if arts := listArtifacts(t, tn.base); len(arts) != 0 {
		t.Fatalf("catalog lists %v after a truncated upload", arts)
	}
	// The upload is gone and the name is free for a complete publish.
	req, _ := http.NewRequest(http.MethodPut, tn.base+"/api/v1/uploads/"+id, nil)
	if err := tn.publisher.Do(req, nil); apiclient.StatusOf(err) != 404 {
		t.Fatalf("PUT to the failed upload: %v, want 404", err)
	}
	src := filepath.Join(t.TempDir(), "big.bin")
	writeFiles(t, filepath.Dir(src), 7, map[string]int{"big.bin": 1 << 20})
	if _, err := client.Publish(context.Background(), tn.publisher, ident("1"), src, io.Discard); err != nil {
		t.Fatal(err)
	}
}

// TestCrashDuringPublish kills the directory process (SIGKILL) in the middle of an
// upload, and again between upload and commit, then restarts it on the same data and
// checks that no partial artifact is visible and the leftovers are gone.
func TestCrashDuringPublish(t *testing.T) {
	keys := newKeys(t, "publisher")
	data := t.TempDir()
	args := []string{"directory", "--data", data, "--listen", "127.0.0.1:0", "--publisher-key", "tester:test=" + keys[0] + ".pub"}

	for _, stage := range []string{"mid-upload", "before commit"} {
		t.Run(stage, func(t *testing.T) {
			p := startOdiProcess(t, args...)
			c, err := newClient(ClientConfig{Directory: p.url, Key: keys[0]})
			if err != nil {
				t.Fatal(err)
			}
			const size = 32 << 20
			id := declareUpload(t, c, "v1", size)
			if stage == "mid-upload" {
				u, _ := url.Parse(p.url)
				conn, err := net.Dial("tcp", u.Host)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				fmt.Fprintf(conn, "PUT /api/v1/uploads/%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", id, u.Host, size)
				conn.Write(make([]byte, size/2))
				// Wait until the directory has written part of it to staging (in a
				// folder not named by the id, which is a secret).
				waitNonEmpty(t, filepath.Join(data, "staging"))
			} else {
				req, _ := http.NewRequest(http.MethodPut, p.url+"/api/v1/uploads/"+id, io.LimitReader(zeros{}, size))
				req.ContentLength = size
				if err := c.Do(req, nil); err != nil {
					t.Fatal(err)
				}
			}
			p.kill()

			p2 := startOdiProcess(t, args...)
			if arts := listArtifacts(t, p2.url); len(arts) != 0 {
				t.Fatalf("after a crash %s the catalog lists %d artifacts", stage, len(arts))
			}
			for _, d := range []string{"staging", "origin"} {
				entries, _ := os.ReadDir(filepath.Join(data, d))
				if len(entries) != 0 {
					t.Fatalf("after restart %s holds %d leftovers", d, len(entries))
				}
			}
			p2.kill()
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func waitNonEmpty(t *testing.T, dir string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var size int64
		filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				size += fi.Size()
			}
			return nil
		})
		if size > 0 {
			return
		}
	}
	t.Fatalf("nothing was written under %s", dir)
}
