package webui

import (
	"log/slog"
	"net/http"
	"time"
)

// RelayStatus is what a relay's page shows.
type RelayStatus struct {
	PublicURL   string
	Directories []string
	// NotReady says why the relay cannot serve, or why directories refused it for good;
	// "" when it serves.
	NotReady           string
	Holdings, Servable int
	Reserved, Quota    int64
	// ServedHTTP is the bytes its web seed served over HTTP since it started.
	ServedHTTP int64
	// FromPeers and FromWebSeeds are what it downloaded since it started, by source
	// (holdings since removed included).
	FromPeers, FromWebSeeds int64
	Started                 time.Time
}

// MountRelay serves a relay's page on mux, with what status says at each request, and
// the stylesheet: GET and HEAD on / and StylePath.
func MountRelay(mux *http.ServeMux, status func() RelayStatus, log *slog.Logger) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		render(w, log, http.StatusOK, relayTmpl, "Relay", status())
	})
	mux.HandleFunc("GET "+StylePath, style.serve)
}
