package catalogapi

import (
	"net/http"
	"strings"
)

// ArtifactsPath is the API's artifact list; its artifacts are under ArtifactsPath/C/N/V.
const ArtifactsPath = "/api/v1/artifacts"

// RequestCatalog is the catalog a request to a directory is about, read from its path
// without allocating: /r/C/…, /t/C/… and /m/C/… (downloads), ArtifactsPath/C/… and
// ArtifactsPath?catalog=C (api). ok is false for any other request.
func RequestCatalog(r *http.Request) (catalog string, api, ok bool) {
	p := r.URL.Path
	var rest string
	switch {
	case len(p) > 3 && p[0] == '/' && p[2] == '/' && (p[1] == 'r' || p[1] == 't' || p[1] == 'm'):
		rest = p[3:]
	case len(p) > len(ArtifactsPath) && p[len(ArtifactsPath)] == '/' && strings.HasPrefix(p, ArtifactsPath):
		rest, api = p[len(ArtifactsPath)+1:], true
	case p == ArtifactsPath && r.URL.RawQuery != "":
		c := r.URL.Query().Get("catalog")
		return c, true, c != ""
	default:
		return "", false, false
	}
	c, _, _ := strings.Cut(rest, "/")
	return c, api, c != ""
}
