package webui

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/opendist/odi/internal/catalogapi"
)

// maxFiles bounds the files an artifact's page lists (a package may have 100,000):
// SHA256SUMS, linked from the page, lists them all.
const maxFiles = 1000

// maxCurlFiles bounds the per-file curl commands of a package; past it, the page points
// to odi fetch and aria2c, which take the whole package at once.
const maxCurlFiles = 20

// artifactPage is an artifact's page's data.
type artifactPage struct {
	A         catalogapi.Artifact
	Files     []fileRow
	MoreFiles int // files not listed (maxFiles)
	Holders   []catalogapi.Relay
	Get       *ways // nil for a tombstone
	Demand    *demandChart
}

// fileRow is one file: its path in a download folder, and where /r/ serves it.
type fileRow struct {
	Path, SHA256, Download string
	Size                   int64
}

// ways are the ways to get a published artifact.
type ways struct {
	Torrent, Metalink, Sums string
	// Magnet is trusted as a URL: html/template lets only http(s) and mailto through
	// unless told, and ways checks its scheme.
	Magnet       template.URL
	Download     string // /r/ of a single file; "" for a package
	Commands     []command
	MoreCommands bool // a package with more files than maxCurlFiles
}

// command is a shell command line to copy, and the tool it runs.
type command struct{ Tool, Line string }

func (p *Pages) serveArtifact(w http.ResponseWriter, r *http.Request) {
	c, n, v := r.PathValue("catalog"), r.PathValue("name"), r.PathValue("version")
	a, ok := p.cat.Artifact(c, n, v)
	if !ok {
		p.fail(w, http.StatusNotFound, "This directory has no artifact "+truncate(c+"/"+n+"/"+v, 200)+".")
		return
	}
	ap := artifactPage{A: a, Holders: p.cat.Holders(a.InfoHash), Demand: newDemandChart(p.cat.Demand(a.InfoHash))}
	id := url.PathEscape(a.Catalog) + "/" + url.PathEscape(a.Name) + "/" + url.PathEscape(a.Version)
	redirect := p.cfg.PublicURL + "/r/" + id + "/"
	for i, f := range a.Files {
		if i == maxFiles {
			ap.MoreFiles = len(a.Files) - maxFiles
			break
		}
		row := fileRow{Path: a.Root, SHA256: f.SHA256, Size: f.Size, Download: redirect + escapePath(a.Root)}
		if f.Path != "" {
			row.Path, row.Download = a.Root+"/"+f.Path, redirect+escapePath(f.Path)
		}
		ap.Files = append(ap.Files, row)
	}
	status := http.StatusOK
	if a.State == catalogapi.Published {
		ap.Get = p.ways(a, id, ap.Files)
	} else {
		// Gone, as its torrent and bytes are; the page stays to say why.
		status = http.StatusGone
	}
	render(w, p.log, status, artifactTmpl, a.ID, ap)
}

// ways lists the links and commands that get a, whose escaped id is id.
func (p *Pages) ways(a catalogapi.Artifact, id string, files []fileRow) *ways {
	g := &ways{Torrent: a.TorrentURL, Metalink: p.cfg.PublicURL + "/m/" + id + ".meta4", Sums: a.SHA256SumsURL}
	if strings.HasPrefix(a.Magnet, "magnet:?") {
		g.Magnet = template.URL(a.Magnet)
	}
	add := func(tool string, args ...string) {
		g.Commands = append(g.Commands, command{tool, strings.Join(args, " ")})
	}
	add("odi", "odi fetch --directory", shellQuote(p.cfg.PublicURL), shellQuote(a.Catalog+"/"+a.Name+"@"+a.Version))
	add("aria2c", "aria2c --seed-time=0", shellQuote(g.Metalink))
	if len(a.Files) == 1 && a.Files[0].Path == "" {
		g.Download = files[0].Download
		add("curl", "curl -LO", shellQuote(g.Download))
		add("wget", "wget", shellQuote(g.Download))
	} else {
		for i, f := range files {
			if i == maxCurlFiles {
				g.MoreCommands = true
				break
			}
			add("curl", "curl -L --create-dirs -o", shellQuote(f.Path), shellQuote(f.Download))
		}
	}
	add("sha256sum", "curl -s", shellQuote(g.Sums), ">SHA256SUMS && sha256sum -c SHA256SUMS")
	return g
}

// escapePath escapes each segment of a slash-separated path for a URL.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// shellQuote quotes s for a POSIX shell: between single quotes, each of its own
// single quotes closed, escaped and reopened.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
