package webui

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/opendist/odi/internal/catalogapi"
)

// relaysPerPage is how many relays a page of /relays lists.
const relaysPerPage = 100

// relaysPage is the relays page's data.
type relaysPage struct {
	Relays   []relayRow
	After    string
	NextURL  string
	FirstURL string // "" on the first page
}

// relayRow is a relay with what the page derives from it.
type relayRow struct {
	Relay    catalogapi.Relay
	Holdings int
	Used     int64 // quota not free: reserved by holdings, or wanting disk room
}

func (p *Pages) serveRelays(w http.ResponseWriter, r *http.Request) {
	after := r.URL.Query().Get("after")
	if len(after) > maxQuery {
		p.fail(w, http.StatusBadRequest, fmt.Sprintf("after is %d bytes long; relay ids are far shorter", len(after)))
		return
	}
	pg := p.cat.Relays(after, relaysPerPage)
	rp := relaysPage{After: after}
	for _, rel := range pg.Relays {
		rp.Relays = append(rp.Relays, relayRow{Relay: rel, Holdings: len(rel.Holdings), Used: max(0, rel.Quota-rel.Free)})
	}
	if pg.Next != "" {
		rp.NextURL = "/relays?" + url.Values{"after": {pg.Next}}.Encode()
	}
	if after != "" {
		rp.FirstURL = "/relays"
	}
	render(w, p.log, http.StatusOK, relaysTmpl, "Relays", rp)
}
