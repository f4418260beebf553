package webseed

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// metalinkDoc is a whole RFC 5854 document, as a client reads it; decoding checks that the
// root element is in the metalink namespace.
type metalinkDoc struct {
	XMLName xml.Name       `xml:"urn:ietf:params:xml:ns:metalink metalink"`
	Files   []metalinkFile `xml:"file"`
}

// getMetalink fetches and decodes a metalink after checking it against RFC 5854's shape.
func getMetalink(t *testing.T, n *redirectNet, path string) (*http.Response, metalinkDoc) {
	t.Helper()
	resp, body := do(t, http.DefaultClient, http.MethodGet, n.dir.URL+path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %s %q; want 200", path, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/metalink4+xml" {
		t.Errorf("Content-Type = %q; want application/metalink4+xml", ct)
	}
	checkMetalinkShape(t, body)
	var doc metalinkDoc
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("decode %s: %v\n%s", path, err, body)
	}
	return resp, doc
}

// checkMetalinkShape walks the document and checks the structure RFC 5854 section 4 gives
// the elements used here: the root is metalink, every element is in its namespace and sits
// in the parent the RFC puts it in, each file has a name, one size and a location to get it.
func checkMetalinkShape(t *testing.T, body string) {
	t.Helper()
	parents := map[string]string{
		"file": "metalink", "identity": "file", "version": "file", "size": "file", "hash": "file|pieces",
		"pieces": "file", "url": "file", "metaurl": "file",
	}
	dec := xml.NewDecoder(strings.NewReader(body))
	var stack []string
	var sizes, sources int
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("metalink is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if el.Name.Space != metalinkNS {
				t.Errorf("<%s> is in namespace %q; want %q", el.Name.Local, el.Name.Space, metalinkNS)
			}
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			if want, ok := parents[el.Name.Local]; parent == "" && el.Name.Local != "metalink" ||
				parent != "" && (!ok || !slices.Contains(strings.Split(want, "|"), parent)) {
				t.Errorf("<%s> inside <%s>: not where RFC 5854 puts it", el.Name.Local, parent)
			}
			switch el.Name.Local {
			case "file":
				sizes, sources = 0, 0
				if !slices.ContainsFunc(el.Attr, func(a xml.Attr) bool { return a.Name.Local == "name" && a.Value != "" }) {
					t.Errorf("<file> without a name")
				}
			case "size":
				sizes++
			case "url", "metaurl":
				sources++
			}
			stack = append(stack, el.Name.Local)
		case xml.EndElement:
			if el.Name.Local == "file" && (sizes != 1 || sources == 0) {
				t.Errorf("<file> with %d sizes and %d urls; want 1 size and some urls", sizes, sources)
			}
			stack = stack[:len(stack)-1]
		}
	}
}

func TestMetalinkSingleFile(t *testing.T) {
	n := newRedirectNet(t, mapLocator{netip.MustParseAddr("127.0.0.1"): {"DE", "EU"}})
	resp, doc := getMetalink(t, n, "/m/debian/netinst/latest.meta4")
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err != nil || params["filename"] != "netinst.iso.meta4" {
		t.Errorf("Content-Disposition = %q; want an attachment named netinst.iso.meta4", resp.Header.Get("Content-Disposition"))
	}
	if len(doc.Files) != 1 {
		t.Fatalf("%d files; want 1", len(doc.Files))
	}
	f := doc.Files[0]
	if f.Name != "netinst.iso" || f.Size != int64(len(n.isoBytes)) || f.Identity != "debian/netinst" || f.Version != "12.5" {
		t.Errorf("file %q size %d identity %q version %q; want netinst.iso, %d, debian/netinst, 12.5",
			f.Name, f.Size, f.Identity, f.Version, len(n.isoBytes))
	}
	if want := []metalinkHash{{"sha-256", sha256Hex(n.isoBytes)}}; !slices.Equal(f.Hashes, want) {
		t.Errorf("hashes %v; want %v", f.Hashes, want)
	}
	if f.Pieces == nil || f.Pieces.Length != testPieceLength || f.Pieces.Type != "sha-1" {
		t.Fatalf("pieces %+v; want %d-byte sha-1 pieces", f.Pieces, testPieceLength)
	}
	if got, want := len(f.Pieces.Hashes), (len(n.isoBytes)+testPieceLength-1)/testPieceLength; got != want {
		t.Errorf("%d piece hashes; want %d", got, want)
	}
	for i, h := range f.Pieces.Hashes {
		if h != hex.EncodeToString(n.iso.Pieces[i*20:(i+1)*20]) {
			t.Errorf("piece %d hash %s; want the torrent's", i, h)
		}
	}
	file := "/ws/" + n.ihISO.HexString() + "/netinst.iso"
	wantURLs := []metalinkURL{
		{Location: "de", Priority: 1, URL: n.relays["DE"].URL + file},
		{Location: "fr", Priority: 2, URL: n.relays["FR"].URL + file},
		{Location: "us", Priority: 3, URL: n.relays["US"].URL + file},
		{Priority: 4, URL: n.origin.URL + file},
	}
	if !slices.Equal(f.URLs, wantURLs) {
		t.Errorf("urls\n%+v\nwant\n%+v", f.URLs, wantURLs)
	}
	if want := []metalinkMetaURL{{MediaType: "torrent", URL: n.iso.TorrentURL}}; !slices.Equal(f.MetaURLs, want) {
		t.Errorf("metaurls %+v; want %+v", f.MetaURLs, want)
	}
}

// TestMetalinkPackage downloads every file by the metalink's URLs and checks it against the
// metalink's own size and sha256.
func TestMetalinkPackage(t *testing.T) {
	n := newRedirectNet(t, nil)
	_, doc := getMetalink(t, n, "/m/debian/docs/1.0.meta4")
	var names []string
	for _, f := range doc.Files {
		names = append(names, f.Name)
		if f.Pieces != nil {
			t.Errorf("%s has pieces; a package's pieces span its files", f.Name)
		}
		if want := []metalinkMetaURL{{MediaType: "torrent", Name: f.Name, URL: n.pkg.TorrentURL}}; !slices.Equal(f.MetaURLs, want) {
			t.Errorf("%s metaurls %+v; want %+v", f.Name, f.MetaURLs, want)
		}
		if len(f.URLs) != 2 || f.URLs[0].Priority >= f.URLs[1].Priority || !strings.HasPrefix(f.URLs[1].URL, n.origin.URL) {
			t.Errorf("%s urls %+v; want the relay, then the origin", f.Name, f.URLs)
		}
		for _, u := range f.URLs {
			resp, body := do(t, http.DefaultClient, http.MethodGet, u.URL)
			sum := sha256.Sum256([]byte(body))
			if resp.StatusCode != http.StatusOK || int64(len(body)) != f.Size || hex.EncodeToString(sum[:]) != f.Hashes[0].Value {
				t.Errorf("GET %s = %s, %d bytes, sha256 %x; want the %d bytes the metalink describes", u.URL, resp.Status, len(body), sum, f.Size)
			}
		}
	}
	if want := []string{"docs/a b.txt", "docs/sub/c#d.txt"}; !slices.Equal(names, want) {
		t.Errorf("files %q; want %q", names, want)
	}
}

func TestMetalinkErrors(t *testing.T) {
	n := newRedirectNet(t, nil)
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/m/debian/netinst/12.5", 404, "/m/<catalog>/<name>/<version or latest>.meta4"},
		{"GET", "/m/debian/docs/1.0/a.meta4", 404, ".meta4"},
		{"GET", "/m/debian/netinst.meta4", 404, ".meta4"},
		{"GET", "/m/debian/netinst/9.9.meta4", 404, "no artifact"},
		{"GET", "/m/debian/old/1.0.meta4", 410, "license withdrawn"},
		{"GET", "/m/debian/%2e%2e/1.0.meta4", 400, `".."`},
		{"GET", "/m/debian/netinst/-1.meta4", 400, "must start with"},
		{"DELETE", "/m/debian/netinst/12.5.meta4", 405, "is not allowed"},
		{"HEAD", "/m/debian/netinst/12.5.meta4", 200, ""},
	}
	for _, tt := range tests {
		resp, body := doRaw(t, n.dir, tt.method, tt.path)
		if resp.StatusCode >= 400 && tt.body != "" {
			assertProblem(t, resp, []byte(body))
			body = problemDetail(body)
		}
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("%s %s = %s %q; want %d containing %q", tt.method, tt.path, resp.Status, body, tt.status, tt.body)
		}
	}
}
