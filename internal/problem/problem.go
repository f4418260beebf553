package problem

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// ContentType is the media type of problem details (RFC 9457 section 3).
const ContentType = "application/problem+json"

// Problem is an RFC 9457 problem details object. Type is always "about:blank": the
// status and its Title say what kind of problem it is, Detail says what happened.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Body is the problem+json body, newline-terminated, of status with detail.
// Details keep <, > and & as they are: they are read by people with curl.
func Body(status int, detail string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail})
	return b.Bytes()
}

// Write answers status with a problem body saying detail. Headers set before (Allow,
// Retry-After, Content-Range) are kept, but not those of content that is not sent. The
// body of an answer to HEAD is dropped by net/http.
func Write(w http.ResponseWriter, status int, detail string) {
	h := w.Header()
	for _, k := range []string{"Content-Length", "Content-Encoding", "ETag", "Last-Modified"} {
		h.Del(k)
	}
	h.Set("Content-Type", ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(Body(status, detail))
}

// Guard is the last line of an HTTP server: it turns the plain-text errors net/http
// writes itself (ServeMux's 404 and 405, StripPrefix's 404, ServeContent's 416,
// MaxBytesReader's 413, anything written with http.Error) into problem answers with the
// same status and sentence, and a handler's panic into a logged 500. Answers that are
// not errors pass through untouched, sendfile included.
func Guard(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gw := &guardWriter{ResponseWriter: w, r: r}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
				if !gw.wrote {
					Write(w, http.StatusInternalServerError, "internal error")
					return
				}
				panic(http.ErrAbortHandler) // headers are out: cut the connection
			}
			gw.finish()
		}()
		next.ServeHTTP(gw, r)
	})
}

// maxDetail bounds the plain-text error a guardWriter keeps: http.Error sentences are
// one line.
const maxDetail = 1 << 10

type guardWriter struct {
	http.ResponseWriter
	r         *http.Request
	wrote     bool
	capturing bool // an error in text/plain: its body becomes the detail
	status    int
	detail    bytes.Buffer
}

func (g *guardWriter) WriteHeader(status int) {
	if g.wrote {
		g.ResponseWriter.WriteHeader(status)
		return
	}
	g.wrote = true
	// Only plain text or nothing: an error a handler chose to send in another form is its own.
	if ct := g.Header().Get("Content-Type"); status >= 400 && (ct == "" || strings.HasPrefix(ct, "text/plain")) {
		g.capturing, g.status = true, status
		return
	}
	g.ResponseWriter.WriteHeader(status)
}

func (g *guardWriter) Write(b []byte) (int, error) {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	if g.capturing {
		g.detail.Write(b[:min(len(b), max(0, maxDetail-g.detail.Len()))])
		return len(b), nil
	}
	return g.ResponseWriter.Write(b)
}

// ReadFrom keeps the kernel's sendfile path for http.ServeContent.
func (g *guardWriter) ReadFrom(src io.Reader) (int64, error) {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	if g.capturing {
		return io.Copy(struct{ io.Writer }{g}, src)
	}
	return io.Copy(g.ResponseWriter, src)
}

func (g *guardWriter) Flush() {
	if !g.capturing {
		_ = http.NewResponseController(g.ResponseWriter).Flush()
	}
}

func (g *guardWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

func (g *guardWriter) finish() {
	if !g.capturing {
		return
	}
	detail := strings.TrimSpace(g.detail.String())
	// ServeMux's sentences name neither the path nor the methods there are.
	switch {
	case g.status == http.StatusNotFound && detail == "404 page not found":
		detail = fmt.Sprintf("nothing at %s", g.r.URL.Path)
	case g.status == http.StatusMethodNotAllowed && g.Header().Get("Allow") != "":
		detail = fmt.Sprintf("%s is not allowed on %s; use %s", g.r.Method, g.r.URL.Path, g.Header().Get("Allow"))
	case detail == "":
		detail = http.StatusText(g.status)
	}
	Write(g.ResponseWriter, g.status, detail)
}
