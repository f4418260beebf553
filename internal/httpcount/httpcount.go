// Package httpcount counts the body bytes an HTTP handler sends: what a relay reports as
// served and what a directory's origin gives away.
package httpcount

import (
	"io"
	"net/http"
	"sync/atomic"
)

// Count wraps h to add the body bytes it writes to n. The counting writer passes
// ReadFrom through, so files served with http.ServeContent still go out by sendfile.
func Count(h http.Handler, n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.ServeHTTP(&writer{ResponseWriter: w, n: n}, req)
	})
}

type writer struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *writer) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n.Add(int64(n))
	return n, err
}

// ReadFrom lets http.ServeContent's copy reach the real ResponseWriter's ReadFrom.
func (w *writer) ReadFrom(src io.Reader) (int64, error) {
	n, err := io.Copy(w.ResponseWriter, src)
	w.n.Add(n)
	return n, err
}

func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
