package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/history"
)

//go:embed templates/*.html static/odi.css
var files embed.FS

// ContentSecurityPolicy is sent with every page: nothing but the page itself, its
// stylesheet and inline images, and forms that submit here. No script may run, so a
// name that slipped past escaping still could not act.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// StylePath is where the pages' stylesheet is served, on directories and relays alike.
const StylePath = "/static/odi.css"

// Config is the directory pages' settings.
type Config struct {
	// PublicURL is the directory's base URL, for the absolute links and commands an
	// artifact's page gives (/r/, /m/, odi fetch --directory).
	PublicURL string
	// PageSize is how many artifacts a page of the list shows; 0 is DefaultPageSize.
	PageSize int
}

// DefaultPageSize is the artifacts a page lists: a screen or two, and a page renders in
// well under a millisecond (BenchmarkList).
const DefaultPageSize = 50

// maxPageSize bounds PageSize: a page is rendered whole in memory.
const maxPageSize = 1000

// Validate says what is wrong with c, if anything.
func (c Config) Validate() error {
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("public URL %q is not an http(s) URL", c.PublicURL)
	}
	if c.PageSize < 0 || c.PageSize > maxPageSize {
		return fmt.Errorf("page size %d is not 0 (the default) to %d", c.PageSize, maxPageSize)
	}
	return nil
}

// Catalog is what the directory's pages show. Every method answers from memory: pages
// are read by anyone, as often as they like.
type Catalog interface {
	// Generation changes whenever Summaries would list other artifacts, or other states.
	Generation() uint64
	// Summaries lists every artifact, tombstones included, in any order. The pages keep
	// what they derive from it until Generation changes, and never change it.
	Summaries() []Summary
	// Artifact describes one artifact as GET /api/v1/artifacts/C/N/V does (files,
	// links, swarm; a tombstone with its reason), ok false when there is none.
	Artifact(catalog, name, version string) (a catalogapi.Artifact, ok bool)
	// Holders lists the relays that report holding the artifact with infohash ih (hex),
	// each with its status and that one holding.
	Holders(ih string) []catalogapi.Relay
	// Relays is a page of the relay registry, as GET /api/v1/relays?after=&limit= is.
	Relays(after string, limit int) catalogapi.RelayPage
	// Network is the directory's traffic per interval over the last day.
	Network() history.Window[history.Counters]
	// Demand is the demand of the artifact with infohash ih (hex) per interval over the
	// last day; no values when none is kept.
	Demand(ih string) history.Window[float64]
}

// Summary is an artifact as the list shows it.
type Summary struct {
	Catalog, Name, Version string
	Size                   int64
	Files                  int
	Expunged               bool
	PublishedAt            time.Time
}

// Pages serves a directory's pages.
type Pages struct {
	cfg Config
	cat Catalog
	log *slog.Logger
	idx indexCache
}

// New returns the pages of the directory whose catalog is cat.
func New(cfg Config, cat Catalog, log *slog.Logger) (*Pages, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("web pages: %w", err)
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	return &Pages{cfg: cfg, cat: cat, log: log}, nil
}

// Mount serves the pages on mux, the directory's, each through wrap (its rate limits):
// GET and HEAD on /, /a/C/N/V, /relays, /network and StylePath, paths no API route uses, so that
// every other request keeps its handler.
func (p *Pages) Mount(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /{$}":                          p.serveList,
		"GET /a/{catalog}/{name}/{version}": p.serveArtifact,
		"GET /relays":                       p.serveRelays,
		"GET /network":                      p.serveNetwork,
		"GET " + StylePath:                  style.serve,
	} {
		mux.Handle(pattern, wrap(h))
	}
}

var funcs = template.FuncMap{
	"size": func(n int64) string { return bytesize.Size(n).String() },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"iso":         func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"artifactURL": artifactURL,
	"statusText":  http.StatusText,
}

// The pages' templates and stylesheet are part of the binary: parsed once, and a
// mistake in them fails every test at start.
var (
	listTmpl     = parse("list.html")
	artifactTmpl = parse("artifact.html")
	relaysTmpl   = parse("relays.html")
	networkTmpl  = parse("network.html")
	problemTmpl  = parse("problem.html")
	relayTmpl    = parse("relay.html")
	style        = loadStyle()
)

// parse reads a page's template with the layout it fills.
func parse(page string) *template.Template {
	return template.Must(template.New(page).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+page))
}

// artifactURL is the path of an artifact's page.
func artifactURL(catalog, name, version string) string {
	return "/a/" + url.PathEscape(catalog) + "/" + url.PathEscape(name) + "/" + url.PathEscape(version)
}

// render writes the page t fills with data, with the headers every page carries. It
// renders into memory first, so that a template error is a 500 and not half a page.
func render(w http.ResponseWriter, log *slog.Logger, status int, t *template.Template, title string, data any) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", page{Title: title, Data: data}); err != nil {
		log.Error("web page failed", "page", t.Name(), "err", err)
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString("<!doctype html><title>Internal error</title><p>The page failed; the server's log says why.\n")
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// page is what the layout gets: the page's title and its own data.
type page struct {
	Title string
	Data  any
}

// problemPage is an error as a page: the status's text and what to do about it.
type problemPage struct {
	Status int
	Detail string
}

// fail answers with an error page.
func (p *Pages) fail(w http.ResponseWriter, status int, detail string) {
	render(w, p.log, status, problemTmpl, http.StatusText(status), problemPage{Status: status, Detail: detail})
}

// stylesheet is the pages' CSS, with its ETag.
type stylesheet struct {
	body []byte
	etag string
}

func loadStyle() stylesheet {
	b, err := fs.ReadFile(files, "static/odi.css")
	if err != nil {
		panic(err) // embedded above
	}
	return stylesheet{body: b, etag: fmt.Sprintf(`"%x"`, sha256.Sum256(b))}
}

// serve answers GET and HEAD with the stylesheet, validated by its content (If-None-Match).
func (s stylesheet) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", s.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.body))
}
