// Package webui renders the pages people read in a browser: on a directory, its
// artifacts newest first with search and paging (GET /), one artifact with its files,
// the ways to get it, its mirrors, its swarm and its demand over the last day
// (GET /a/C/N/V), its relays (GET /relays), and its traffic over the last day, origin
// against relays (GET /network), charted as SVG drawn on the server; on a relay, what it
// holds and serves (GET /).
//
// Pages are rendered on the server with html/template (which escapes every name,
// reason and URL it is given) from templates and a stylesheet embedded in the binary:
// no JavaScript, no external assets, and a Content-Security-Policy that allows none.
// The package reads the directory through the small Catalog interface it declares, so
// it knows neither the catalog nor the tracker; cmd/odi wires them.
package webui
