package limit

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/opendist/odi/internal/problem"
)

// Handler answers a request whose address (from addr) has no token left in rs with 429,
// Retry-After and a problem+json body, and passes the others to next. A nil rs passes all.
func Handler(rs *Rates, addr func(*http.Request) netip.Addr, next http.Handler) http.Handler {
	if rs == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := rs.Allow(addr(r), time.Now()); !ok {
			TooMany(w, wait)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TooMany writes a 429 asking the client to come back after wait.
func TooMany(w http.ResponseWriter, wait time.Duration) {
	secs := RetryAfterSeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	problem.Write(w, http.StatusTooManyRequests, fmt.Sprintf("too many requests from your address; retry in %d s", secs))
}

// StallBodies gives every request body a stall deadline: a read that brings nothing for
// stall fails (and the handler answers or drops the request), so a client cannot hold a
// handler by sending its body a byte at a time. The deadline goes when the body ends,
// before net/http's own read for the next request. Requests without a body cost nothing.
func StallBodies(stall time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			r.Body = &stallBody{ReadCloser: r.Body, rc: http.NewResponseController(w), stall: stall}
		}
		next.ServeHTTP(w, r)
	})
}

type stallBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	stall time.Duration
}

func (b *stallBody) Read(p []byte) (int, error) {
	_ = b.rc.SetReadDeadline(time.Now().Add(b.stall)) // ErrNotSupported: no deadline, as before
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
