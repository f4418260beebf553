package limit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/opendist/odi/internal/problem"
)

// TestCannedAnswers reads the refusals as an HTTP client does: a whole answer, its
// Content-Length exact, with a problem body.
func TestCannedAnswers(t *testing.T) {
	for _, c := range []struct {
		raw    []byte
		status int
	}{{answerFull, 503}, {answerAddr, 429}} {
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(c.raw)), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var p problem.Problem
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != problem.ContentType || resp.Header.Get("Retry-After") != "5" ||
			json.Unmarshal(body, &p) != nil || p.Status != c.status || p.Detail == "" || int64(len(body)) != resp.ContentLength {
			t.Errorf("canned %d: %d %v %q", c.status, resp.StatusCode, resp.Header, body)
		}
	}
}
