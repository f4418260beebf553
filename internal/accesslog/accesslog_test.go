package accesslog

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/opendist/odi/internal/logbuf"
)

func TestLineFormat(t *testing.T) {
	at := time.Date(2026, 12, 4, 3, 4, 5, 0, time.FixedZone("", -7*3600))
	base := line{addr: netip.MustParseAddr("192.0.2.7"), time: at, method: "GET", uri: "/r/debian/12/x.iso",
		proto: "HTTP/1.1", status: 302, bytes: 0}
	tests := []struct {
		name string
		edit func(*line)
		want string
	}{
		{"no headers, no body", func(*line) {},
			`192.0.2.7 - - [04/Dec/2026:03:04:05 -0700] "GET /r/debian/12/x.iso HTTP/1.1" 302 - "-" "-"`},
		{"body and headers", func(l *line) {
			l.status, l.bytes, l.referer, l.userAgent = 200, 1234, "https://example.org/", "curl/8.5.0"
		},
			`192.0.2.7 - - [04/Dec/2026:03:04:05 -0700] "GET /r/debian/12/x.iso HTTP/1.1" 200 1234 "https://example.org/" "curl/8.5.0"`},
		{"IPv6", func(l *line) { l.addr = netip.MustParseAddr("2001:db8::1") },
			`2001:db8::1 - - [04/Dec/2026:03:04:05 -0700] "GET /r/debian/12/x.iso HTTP/1.1" 302 - "-" "-"`},
		{"unknown address", func(l *line) { l.addr = netip.Addr{} },
			`- - - [04/Dec/2026:03:04:05 -0700] "GET /r/debian/12/x.iso HTTP/1.1" 302 - "-" "-"`},
		{"quotes and backslashes", func(l *line) { l.uri, l.userAgent = `/a"b\c`, `x" 200 1 "-" "evil` },
			`192.0.2.7 - - [04/Dec/2026:03:04:05 -0700] "GET /a\"b\\c HTTP/1.1" 302 - "-" "x\" 200 1 \"-\" \"evil"`},
		{"a forged line", func(l *line) {
			l.userAgent = "a\r\n10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"b"
		},
			`192.0.2.7 - - [04/Dec/2026:03:04:05 -0700] "GET /r/debian/12/x.iso HTTP/1.1" 302 - "-" "a\r\n10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"b"`},
		{"terminal escapes and other control bytes", func(l *line) { l.referer, l.userAgent = "\x1b[31mred\x00", "tab\there\x7f" },
			`192.0.2.7 - - [04/Dec/2026:03:04:05 -0700] "GET /r/debian/12/x.iso HTTP/1.1" 302 - "\x1b[31mred\x00" "tab\there\x7f"`},
		{"bytes outside ASCII", func(l *line) { l.userAgent = "café" },
			`192.0.2.7 - - [04/Dec/2026:03:04:05 -0700] "GET /r/debian/12/x.iso HTTP/1.1" 302 - "-" "caf\xc3\xa9"`},
		{"a method of its own", func(l *line) { l.method = "GE\"T" },
			`192.0.2.7 - - [04/Dec/2026:03:04:05 -0700] "GE\"T /r/debian/12/x.iso HTTP/1.1" 302 - "-" "-"`},
		{"a field too long", func(l *line) { l.userAgent = strings.Repeat("a", maxField+10) },
			`192.0.2.7 - - [04/Dec/2026:03:04:05 -0700] "GET /r/debian/12/x.iso HTTP/1.1" 302 - "-" "` + strings.Repeat("a", maxField) + `..."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := base
			tt.edit(&ln)
			got := string(ln.appendTo(nil))
			if got != tt.want+"\n" {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if strings.Count(got, "\n") != 1 || strings.ContainsAny(strings.TrimSuffix(got, "\n"), "\r\x1b\x00") {
				t.Errorf("line %q is not one line of printable bytes", got)
			}
		})
	}
}

// serve runs h behind l on a loopback server.
func serve(t *testing.T, l *Log, opts Options, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(l.Handler(h, opts))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, method, url string, header map[string]string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// logLines closes l and returns the lines of the file at path without their dates.
func logLines(t *testing.T, l *Log, path string) []string {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		before, rest, ok1 := strings.Cut(s, " [")
		_, after, ok2 := strings.Cut(rest, "] ")
		if !ok1 || !ok2 {
			t.Fatalf("line %q has no [date]", s)
		}
		out = append(out, before+" "+after)
	}
	return out
}

func TestHandlerLogsWhatWasSent(t *testing.T) {
	dir := t.TempDir()
	content := filepath.Join(dir, "content")
	if err := os.WriteFile(content, []byte(strings.Repeat("x", 100000)), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "access.log")
	l, err := Open(path, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		ClientAddr: func(*http.Request) netip.Addr { return netip.MustParseAddr("198.51.100.9") },
		URI:        func(uri string) string { return strings.Replace(uri, "secret", "REDACTED", 1) },
	}
	url := serve(t, l, opts, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/file":
			http.ServeFile(w, r, content) // by sendfile: ReadFrom must still count
		case "/missing":
			http.NotFound(w, r)
		case "/empty":
		default:
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, "hello")
		}
	}))
	get(t, "GET", url+"/file", map[string]string{"User-Agent": "aria2/1.37.0", "Referer": "https://example.org/"})
	get(t, "GET", url+"/file", map[string]string{"User-Agent": "aria2/1.37.0", "Range": "bytes=10-19"})
	get(t, "HEAD", url+"/file", map[string]string{"User-Agent": "curl"})
	get(t, "GET", url+"/missing?q=1", map[string]string{"User-Agent": "curl"})
	get(t, "GET", url+"/empty", map[string]string{"User-Agent": "curl"})
	get(t, "PUT", url+"/uploads/secret", map[string]string{"User-Agent": "odi"})
	want := []string{
		`198.51.100.9 - - "GET /file HTTP/1.1" 200 100000 "https://example.org/" "aria2/1.37.0"`,
		`198.51.100.9 - - "GET /file HTTP/1.1" 206 10 "-" "aria2/1.37.0"`,
		`198.51.100.9 - - "HEAD /file HTTP/1.1" 200 - "-" "curl"`,
		`198.51.100.9 - - "GET /missing?q=1 HTTP/1.1" 404 19 "-" "curl"`,
		`198.51.100.9 - - "GET /empty HTTP/1.1" 200 - "-" "curl"`,
		`198.51.100.9 - - "PUT /uploads/REDACTED HTTP/1.1" 202 5 "-" "odi"`,
	}
	got := logLines(t, l, path)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHandlerEscapesWhatClientsSend sends bytes no HTTP client library would, on a raw
// connection, and finds one line with them escaped.
func TestHandlerEscapesWhatClientsSend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := Open(path, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, l, Options{}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// net/http refuses control bytes in headers (400, before any handler) but passes
	// quotes, backslashes and bytes above ASCII.
	io.WriteString(conn, "GET /a\"b\xff HTTP/1.1\r\nHost: x\r\nUser-Agent: ua\" 200 1 \"-\" \"\\\xc3\xa9\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: net/http refused the request", resp.StatusCode)
	}
	got := logLines(t, l, path)
	want := `127.0.0.1 - - "GET /a\"b\xff HTTP/1.1" 200 - "-" "ua\" 200 1 \"-\" \"\\\xc3\xa9"`
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %q\nwant one line %q", got, want)
	}
}

func TestReopenAfterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := Open(path, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, l, Options{}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	get(t, "GET", url+"/before", nil)
	if err := os.Rename(path, path+".1"); err != nil { // logrotate's move
		t.Fatal(err)
	}
	get(t, "GET", url+"/between", nil) // still to the moved file
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	get(t, "GET", url+"/after", nil)
	l.Close()
	rotated, _ := os.ReadFile(path + ".1")
	current, _ := os.ReadFile(path)
	if !strings.Contains(string(rotated), "/before") || !strings.Contains(string(rotated), "/between") ||
		strings.Contains(string(rotated), "/after") {
		t.Errorf("rotated file:\n%s", rotated)
	}
	if strings.Count(string(current), "\n") != 1 || !strings.Contains(string(current), "/after") {
		t.Errorf("file after Reopen:\n%s", current)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("new file: %v, %v; want mode 0640", fi.Mode(), err)
	}
}

func TestReopenKeepsTheFileWhenThePathFails(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "logs")
	os.Mkdir(sub, 0o755)
	path := filepath.Join(sub, "access.log")
	l, err := Open(path, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, l, Options{}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	os.Rename(sub, filepath.Join(dir, "moved"))
	if err := l.Reopen(); err == nil {
		t.Fatal("Reopen of a path whose folder is gone succeeded")
	}
	get(t, "GET", url+"/still", nil)
	l.Close()
	data, _ := os.ReadFile(filepath.Join(dir, "moved", "access.log"))
	if !strings.Contains(string(data), "/still") {
		t.Errorf("the file in use lost the line: %q", data)
	}
}

func TestOpen(t *testing.T) {
	if l, err := Open("", nil, nil); l != nil || err != nil {
		t.Errorf(`Open(""): %v, %v; want nil, nil (no log)`, l, err)
	}
	var nilLog *Log
	h := http.NotFoundHandler()
	if got := nilLog.Handler(h, Options{}); got == nil || nilLog.Reopen() != nil || nilLog.Close() != nil || nilLog.IsFile() {
		t.Error("the nil *Log is not a log that does nothing")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "no", "such", "folder", "access.log"), nil, nil); err == nil ||
		!strings.Contains(err.Error(), "open access log") {
		t.Errorf("a path in a missing folder: %v", err)
	}
}

// TestWriteFailureReportedOnce writes to /dev/full, which refuses every write (ENOSPC).
func TestWriteFailureReportedOnce(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	var errs logbuf.Buffer
	l, err := Open("/dev/full", nil, slog.New(slog.NewTextHandler(&errs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, l, Options{}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for range 3 {
		get(t, "GET", url+"/", nil)
		l.flush()
	}
	l.Close()
	if n := strings.Count(errs.String(), "access log: write failed"); n != 1 {
		t.Errorf("%d reports of the failing writes, want 1:\n%s", n, errs.String())
	}
}

// TestFlushedWithinADelay: a quiet server's line reaches its file within flushDelay, not
// when the buffer fills (synctest's clock: no waiting).
func TestFlushedWithinADelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out logbuf.Buffer
		l, err := Open(Stderr, &out, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		h := l.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), Options{})
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
		synctest.Wait()
		if out.String() != "" {
			t.Fatalf("written at once: %q", out.String())
		}
		time.Sleep(flushDelay)
		synctest.Wait()
		if !strings.Contains(out.String(), `"GET /x HTTP/1.1" 200 -`) {
			t.Fatalf("after %v: %q", flushDelay, out.String())
		}
	})
}

// BenchmarkHandler is the cost a request pays for its line: formatting, the lock, the
// buffer (to a file), with requests from every CPU at once.
func BenchmarkHandler(b *testing.B) {
	l, err := Open(filepath.Join(b.TempDir(), "access.log"), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusFound) }),
		Options{ClientAddr: func(*http.Request) netip.Addr { return netip.MustParseAddr("2001:db8::1") }})
	req := httptest.NewRequest("GET", "/r/debian/netinst/12.5.0/debian-12.5.0-amd64-netinst.iso", nil)
	req.Header.Set("User-Agent", "Wget/1.21.3")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := httptest.NewRecorder()
		for pb.Next() {
			h.ServeHTTP(w, req)
		}
	})
}
