package limit

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"
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
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusTooManyRequests)
	fmt.Fprintf(w, `{"type":"about:blank","title":"Too Many Requests","status":429,"detail":"too many requests from your address; retry in %d s"}`+"\n", secs)
}
