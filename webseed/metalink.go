package webseed

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/opendist/odi/internal/disposition"
)

// metalinkNS is the RFC 5854 namespace; every element of a metalink document is in it.
const metalinkNS = "urn:ietf:params:xml:ns:metalink"

// metalinkFile is RFC 5854's file element (section 4.1.2). Its name is the file's path as
// a torrent client lays it out: the torrent's name, then the path inside a package.
type metalinkFile struct {
	XMLName  xml.Name          `xml:"file"`
	Name     string            `xml:"name,attr"`
	Identity string            `xml:"identity"`
	Version  string            `xml:"version"`
	Size     int64             `xml:"size"`
	Hashes   []metalinkHash    `xml:"hash"`
	Pieces   *metalinkPieces   `xml:"pieces"`
	URLs     []metalinkURL     `xml:"url"`
	MetaURLs []metalinkMetaURL `xml:"metaurl"`
}

type metalinkHash struct {
	Type  string `xml:"type,attr"` // an IANA hash name: "sha-256", "sha-1"
	Value string `xml:",chardata"` // hex
}

// metalinkPieces lets a client check a file piece by piece (RFC 5854 section 4.2.7).
type metalinkPieces struct {
	Length int64    `xml:"length,attr"`
	Type   string   `xml:"type,attr"`
	Hashes []string `xml:"hash"`
}

type metalinkURL struct {
	// Location is the mirror's ISO 3166-1 alpha-2 country code.
	Location string `xml:"location,attr,omitempty"`
	// Priority runs from 1, the most preferred.
	Priority int    `xml:"priority,attr"`
	URL      string `xml:",chardata"`
}

type metalinkMetaURL struct {
	MediaType string `xml:"mediatype,attr"`
	// Name is the file's path inside a multi-file torrent.
	Name string `xml:"name,attr,omitempty"`
	URL  string `xml:",chardata"`
}

// Metalink returns the handler of RFC 5854 metalinks: GET and HEAD on
// /<catalog>/<name>/<version>.meta4, listing every file of the artifact with its size,
// sha256, mirrors (nearest first, as the redirector prefers them), origin, and torrent.
// Mount it with its prefix stripped: http.StripPrefix("/m", rd.Metalink()).
func (rd *Redirector) Metalink() http.Handler {
	return http.HandlerFunc(rd.serveMetalink)
}

func (rd *Redirector) serveMetalink(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	p, ok := strings.CutSuffix(r.URL.Path, ".meta4")
	ref, err := parseRef(p)
	if !ok || err == nil && ref.path != "" {
		err = errRefShape
	}
	if err != nil {
		refError(w, err, "metalinks are /m/<catalog>/<name>/<version or latest>.meta4")
		return
	}
	t, ok := rd.resolve(w, ref)
	if !ok {
		return
	}
	country, continent := rd.locate(r)
	rk := newRanker(t.Mirrors, country, continent)
	h := w.Header()
	h.Set("Content-Type", "application/metalink4+xml")
	h.Set("Content-Disposition", disposition.Attachment(t.Root+".meta4"))
	// Mirrors come and go, and their order is the client's own.
	h.Set("Cache-Control", "no-store")

	// Files stream out one by one: a package may hold a hundred thousand.
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	root := xml.StartElement{Name: xml.Name{Space: metalinkNS, Local: "metalink"}}
	err = enc.EncodeToken(xml.ProcInst{Target: "xml", Inst: []byte(`version="1.0" encoding="UTF-8"`)})
	if err == nil {
		err = enc.EncodeToken(xml.CharData("\n"))
	}
	if err == nil {
		err = enc.EncodeToken(root)
	}
	for i := 0; i < len(t.Files) && err == nil; i++ {
		err = enc.Encode(metalinkFor(t, i, &rk))
	}
	if err == nil {
		err = enc.EncodeToken(root.End())
	}
	if err == nil {
		err = enc.Close()
	}
	if err != nil {
		// The status is sent; the client went away or will see a truncated document.
		rd.log.Debug("metalink: write", "artifact", t.ID(), "err", err)
	}
}

// metalinkFor describes file i of t.
func metalinkFor(t *Target, i int, rk *ranker) *metalinkFile {
	f := &t.Files[i]
	mf := &metalinkFile{
		Name:     t.LocalPath(i),
		Identity: t.Catalog + "/" + t.Name,
		Version:  t.Version,
		Size:     f.Size,
	}
	if f.SHA256 != "" {
		mf.Hashes = []metalinkHash{{Type: "sha-256", Value: f.SHA256}}
	}
	// Pieces span file boundaries in a multi-file torrent, so only a single file's pieces
	// are its own.
	if t.SingleFile() && t.PieceLength > 0 && len(t.Pieces) > 0 && len(t.Pieces)%sha1.Size == 0 {
		ps := &metalinkPieces{Length: t.PieceLength, Type: "sha-1", Hashes: make([]string, 0, len(t.Pieces)/sha1.Size)}
		for p := t.Pieces; len(p) > 0; p = p[sha1.Size:] {
			ps.Hashes = append(ps.Hashes, hex.EncodeToString(p[:sha1.Size]))
		}
		mf.Pieces = ps
	}
	suffix := fileSuffix(t.Root, f.Path)
	mf.URLs = make([]metalinkURL, 0, len(t.Mirrors)+1)
	rk.eachMirror(t.Mirrors, func(j, pri int) bool {
		m := &t.Mirrors[j]
		u := metalinkURL{Priority: pri, URL: m.Base + suffix}
		if isCountry(m.Country) {
			u.Location = strings.ToLower(m.Country)
		}
		mf.URLs = append(mf.URLs, u)
		return true
	})
	if t.Origin != "" {
		mf.URLs = append(mf.URLs, metalinkURL{Priority: rk.originPriority(), URL: t.Origin + suffix})
	}
	if t.TorrentURL != "" {
		mu := metalinkMetaURL{MediaType: "torrent", URL: t.TorrentURL}
		if !t.SingleFile() {
			mu.Name = mf.Name
		}
		mf.MetaURLs = []metalinkMetaURL{mu}
	}
	return mf
}
