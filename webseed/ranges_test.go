package webseed

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeHostileRanges sends ranges net/http's parser gets wrong or that cost more than
// the file: each gets 416 with "bytes */SIZE", never a 206 with an inverted range.
func TestServeHostileRanges(t *testing.T) {
	srv := newTestServer(t)
	file, empty := srv.URL+"/ws/"+ih1+"/disk.iso", srv.URL+"/ws/"+ih1+"/empty"
	tests := []struct {
		url, rng, ifRange string
		status            int
		contentRange      string
		body              string
	}{
		{file, "bytes=-0", "", 416, "bytes */20", ""},
		{file, "bytes=5-4", "", 416, "bytes */20", ""},
		{file, "bytes=20-", "", 416, "bytes */20", ""},
		{file, "bytes=99999999999999999999-", "", 416, "bytes */20", ""},
		{file, "bytes=0-99999999999999999999", "", 206, "bytes 0-19/20", "0123456789abcdefghij"},
		{file, "bytes=-99999999999999999999", "", 206, "bytes 0-19/20", "0123456789abcdefghij"},
		{file, "bytes=" + strings.Repeat("1-1,", 100), "", 416, "bytes */20", ""},
		{file, "bytes=0-1,-0", "", 206, "bytes 0-1/20", "01"},
		{file, "bytes=-0", `"other"`, 200, "", "0123456789abcdefghij"},
		{empty, "bytes=0-", "", 416, "bytes */0", ""},
		{empty, "bytes=-1", "", 416, "bytes */0", ""},
		{empty, "bytes=-0", "", 416, "bytes */0", ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
		req.Header.Set("Range", tt.rng)
		if tt.ifRange != "" {
			req.Header.Set("If-Range", tt.ifRange)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		name := tt.url[strings.LastIndex(tt.url, "/"):] + " " + tt.rng
		if len(name) > 60 {
			name = name[:60] + "..."
		}
		if resp.StatusCode != tt.status || resp.Header.Get("Content-Range") != tt.contentRange {
			t.Errorf("%s: %d Content-Range %q, want %d %q (body %q)", name, resp.StatusCode,
				resp.Header.Get("Content-Range"), tt.status, tt.contentRange, body)
			continue
		}
		if tt.status == 416 {
			assertProblem(t, resp, body)
		} else if string(body) != tt.body {
			t.Errorf("%s: body %q, want %q", name, body, tt.body)
		}
	}
}
