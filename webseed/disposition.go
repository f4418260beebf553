package webseed

import (
	"io"
	"net/http"
	"path"

	"github.com/opendist/odi/internal/disposition"
)

// dispositionWriter adds a Content-Disposition to the file answers (200 and 206) of a
// response, and to no other: a 304, 412 or 416 names no file to save.
type dispositionWriter struct {
	http.ResponseWriter
	value       []string
	wroteHeader bool
}

// withDisposition names the file at the torrent path p (its last component) in w's file
// answers.
func withDisposition(w http.ResponseWriter, p string) *dispositionWriter {
	return &dispositionWriter{ResponseWriter: w, value: []string{disposition.Attachment(path.Base(p))}}
}

func (w *dispositionWriter) WriteHeader(code int) {
	if !w.wroteHeader && (code == http.StatusOK || code == http.StatusPartialContent) {
		w.Header()["Content-Disposition"] = w.value
	}
	// 1xx answers come before the final one.
	if code >= 200 {
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *dispositionWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps sendfile: io.Copy reaches the connection's own ReadFrom.
func (w *dispositionWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return io.Copy(w.ResponseWriter, src)
}

func (w *dispositionWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
