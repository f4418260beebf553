package accesslog

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"
)

// Stderr is the path that names standard error rather than a file.
const Stderr = "-"

// flushDelay bounds how long a line waits in the buffer: `tail -f` shows a request
// within it, and a busy server writes whole buffers in between.
const flushDelay = time.Second

// bufferSize holds a few hundred lines, written out in one write(2) when it fills.
const bufferSize = 64 << 10

// Log is an open access log. The nil *Log logs nothing: Handler returns its handler
// unchanged, and Reopen and Close do nothing.
type Log struct {
	path   string // a file's path; Stderr for standard error
	errLog *slog.Logger

	mu      sync.Mutex
	out     io.Writer // the file, or standard error
	file    *os.File  // nil for standard error
	w       *bufio.Writer
	timer   *time.Timer // the pending flush; nil when the buffer is empty
	failing bool        // the last write failed (reported once until one succeeds)
	closed  bool
}

// Open opens the access log at path: "" for none (a nil *Log), Stderr for stderr, or a
// file, created (mode 0640) or appended to. errLog hears of writes that fail.
func Open(path string, stderr io.Writer, errLog *slog.Logger) (*Log, error) {
	if path == "" {
		return nil, nil
	}
	l := &Log{path: path, errLog: errLog}
	switch path {
	case Stderr:
		l.out = stderr
	default:
		f, err := openFile(path)
		if err != nil {
			return nil, err
		}
		l.out, l.file = f, f
	}
	l.w = bufio.NewWriterSize(l.out, bufferSize)
	return l, nil
}

func openFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open access log: %w", err)
	}
	return f, nil
}

// IsFile reports whether l writes to a file, which Reopen opens again.
func (l *Log) IsFile() bool { return l != nil && l.path != Stderr }

// Reopen flushes what is buffered and opens the file again by its path: after logrotate
// renamed it, lines go to a new file at the path. If the path cannot be opened, lines
// keep going to the file in use and the error says why.
func (l *Log) Reopen() error {
	if !l.IsFile() {
		return nil
	}
	f, err := openFile(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return f.Close()
	}
	l.flushLocked()
	old := l.file
	l.out, l.file = f, f
	l.w.Reset(f)
	return old.Close()
}

// Close flushes the buffer and closes the file; lines logged after it are dropped.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.flushLocked()
	if l.file != nil {
		return l.file.Close()
	}
	return nil
}

// Options shape what Handler logs.
type Options struct {
	// ClientAddr is the client's address as the server believes it (behind a trusted
	// proxy, X-Forwarded-For's); nil takes the connection's peer.
	ClientAddr func(*http.Request) netip.Addr
	// URI rewrites the request's URI before it is logged, e.g. to hide a capability in
	// its path; nil logs it as sent.
	URI func(string) string
}

// Handler logs every request next answers, when next returns (a handler that panics is
// logged as it unwinds). The line's date is when the request arrived.
func (l *Log) Handler(next http.Handler, opts Options) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() { l.write(lineOf(r, rec, start, opts)) }()
		next.ServeHTTP(rec, r)
	})
}

// lineOf gathers what a line shows of a request and its answer.
func lineOf(r *http.Request, rec *recorder, start time.Time, opts Options) line {
	var addr netip.Addr
	if opts.ClientAddr != nil {
		addr = opts.ClientAddr(r)
	} else if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		addr = ap.Addr().Unmap()
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	if opts.URI != nil {
		uri = opts.URI(uri)
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK // what net/http sends for a handler that wrote nothing
	}
	return line{addr: addr, time: start, method: r.Method, uri: uri, proto: r.Proto, status: status,
		bytes: rec.bytes, referer: r.Header.Get("Referer"), userAgent: r.Header.Get("User-Agent")}
}

// bufPool holds line buffers, so that a request formats its line without allocating
// and outside the lock.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (l *Log) write(ln line) {
	bp := bufPool.Get().(*[]byte)
	b := ln.appendTo((*bp)[:0])
	l.mu.Lock()
	if !l.closed {
		if l.timer == nil { // the buffer is empty: flushLocked ended the last timer
			l.timer = time.AfterFunc(flushDelay, l.flush)
		}
		if _, err := l.w.Write(b); err != nil {
			l.failed(err)
		}
	}
	l.mu.Unlock()
	*bp = b
	bufPool.Put(bp)
}

func (l *Log) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.flushLocked()
	}
}

func (l *Log) flushLocked() {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if err := l.w.Flush(); err != nil {
		l.failed(err)
		return
	}
	if l.failing {
		l.failing = false
		l.errLog.Info("access log: writing again", "path", l.path)
	}
}

// failed reports a write that failed (a full disk), once until a flush succeeds, and
// empties the buffer, whose error would otherwise stick: those lines are lost.
func (l *Log) failed(err error) {
	if !l.failing {
		l.failing = true
		l.errLog.Error("access log: write failed; its lines are lost until it works again", "path", l.path, "err", err)
	}
	l.w.Reset(l.out)
}

// recorder notes the status and the body bytes of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 { // 1xx answers come before the final one
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the kernel's sendfile path for http.ServeContent.
func (w *recorder) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, src)
	w.bytes += n
	return n, err
}

func (w *recorder) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// line is what one log line shows.
type line struct {
	addr               netip.Addr // invalid: unknown, shown as "-"
	time               time.Time
	method, uri, proto string
	status             int
	bytes              int64
	referer, userAgent string
}

// clfTime is the date format of the Common Log Format: [10/Oct/2000:13:55:36 -0700].
const clfTime = "02/Jan/2006:15:04:05 -0700"

// appendTo appends the line in the Combined Log Format, with its newline.
func (ln line) appendTo(b []byte) []byte {
	if ln.addr.IsValid() {
		b = ln.addr.AppendTo(b)
	} else {
		b = append(b, '-')
	}
	b = append(b, " - - ["...)
	b = ln.time.AppendFormat(b, clfTime)
	b = append(b, "] \""...)
	b = appendEscaped(b, ln.method)
	b = append(b, ' ')
	b = appendEscaped(b, ln.uri)
	b = append(b, ' ')
	b = appendEscaped(b, ln.proto)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(ln.status), 10)
	b = append(b, ' ')
	if ln.bytes == 0 {
		b = append(b, '-') // %b: no body bytes
	} else {
		b = strconv.AppendInt(b, ln.bytes, 10)
	}
	b = append(b, " \""...)
	b = appendQuotedField(b, ln.referer)
	b = append(b, "\" \""...)
	b = appendQuotedField(b, ln.userAgent)
	return append(b, "\"\n"...)
}

// appendQuotedField appends a header's value, "-" when it is absent.
func appendQuotedField(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return appendEscaped(b, s)
}

// maxField bounds the bytes of one field a line shows: a header may be as long as
// net/http's limit of all headers (1 MiB), which would let each request write a
// megabyte of log.
const maxField = 4096

// appendEscaped appends s as Apache's ap_escape_logitem does: '"' and '\' behind a
// backslash, control characters as \n, \r, \t or \xHH, and bytes outside printable
// ASCII as \xHH; a field longer than maxField ends in "...".
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	truncated := len(s) > maxField
	if truncated {
		s = s[:maxField]
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	if truncated {
		b = append(b, "..."...)
	}
	return b
}
