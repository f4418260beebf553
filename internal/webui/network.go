package webui

import (
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/history"
)

// rowIntervals is how many intervals a row of the network page's table sums: an hour
// of minutes.
const rowIntervals = 60

// The series' colours (Okabe-Ito, told apart with colour blindness) and dashes.
var (
	originLine    = series{Name: "origin", Stroke: "#d55e00", Dash: "6 3"}
	relayLine     = series{Name: "relays", Stroke: "#0072b2"}
	peerLine      = series{Name: "peers", Stroke: "#e69f00", Dash: "2 2"}
	redirectsLine = series{Name: "redirects", Stroke: "#009e73"}
	announcesLine = series{Name: "announces", Stroke: "#cc79a7", Dash: "2 2"}
	demandLine    = series{Name: "demand", Stroke: "#0072b2"}
)

// networkPage is the network page's data.
type networkPage struct {
	Per, Span string
	Traffic   template.HTML
	// Redirects and Announces are charted apart, each on its own scale: every peer
	// announces again and again, a redirect is one download, and on one scale the
	// smaller rate was a flat line.
	Redirects, Announces template.HTML
	Total                history.Counters
	// RelayShare is the percentage of the bytes that relays served rather than the
	// origin; -1 when neither served any. Peer bytes are not in it: they are what
	// clients say they downloaded, from the origin and relays too.
	RelayShare int
	Rows       []networkRow // newest first
}

// networkRow is the traffic of rowIntervals intervals.
type networkRow struct {
	From, To time.Time
	history.Counters
}

func (p *Pages) serveNetwork(w http.ResponseWriter, _ *http.Request) {
	render(w, p.log, http.StatusOK, networkTmpl, "Network", newNetworkPage(p.cat.Network()))
}

func newNetworkPage(win history.Window[history.Counters]) networkPage {
	n := len(win.Values)
	np := networkPage{Per: per(win.Interval), Span: shortDuration(time.Duration(n) * win.Interval), RelayShare: -1}
	origin, relay, peer := make([]float64, n), make([]float64, n), make([]float64, n)
	redirects, announces := make([]float64, n), make([]float64, n)
	for i, c := range win.Values {
		origin[i], relay[i], peer[i] = float64(c.OriginBytes), float64(c.RelayBytes), float64(c.PeerBytes)
		redirects[i], announces[i] = float64(c.Redirects), float64(c.Announces)
		np.Total = np.Total.Add(c)
	}
	if bytes := np.Total.OriginBytes + np.Total.RelayBytes; bytes > 0 {
		np.RelayShare = int(100 * float64(np.Total.RelayBytes) / float64(bytes))
	}
	o, r, pe := originLine, relayLine, peerLine
	o.Values, r.Values, pe.Values = origin, relay, peer
	np.Traffic = chart{ID: "traffic", Title: "Bytes per " + np.Per + ": origin, relays, and peers' reports",
		Desc: "Over the last " + np.Span + ": the origin sent " + bytesize.Size(np.Total.OriginBytes).String() + ", relays served " + bytesize.Size(np.Total.RelayBytes).String() +
			", and BitTorrent clients reported downloading " + bytesize.Size(np.Total.PeerBytes).String() + " from every source. The table below gives the figures by hour.",
		Interval: win.Interval, Series: []series{o, r, pe}, MinTop: 1000,
		Label: func(v float64) string { return bytesize.Size(int64(v)).String() }}.svg()
	rd, an := redirectsLine, announcesLine
	rd.Values, an.Values = redirects, announces
	count := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	rateChart := func(s series, title string, total int64) template.HTML {
		return chart{ID: s.Name, Title: title + " per " + np.Per,
			Desc:     "Over the last " + np.Span + ": " + strconv.FormatInt(total, 10) + " " + s.Name + ". The table below gives the figures by hour.",
			Interval: win.Interval, Series: []series{s}, Label: count}.svg()
	}
	np.Redirects, np.Announces = rateChart(rd, "Redirects", np.Total.Redirects), rateChart(an, "Tracker announces", np.Total.Announces)
	for end := n; end > 0; end -= rowIntervals {
		row := networkRow{To: win.End.Add(-time.Duration(n-end) * win.Interval)}
		from := max(0, end-rowIntervals)
		row.From = row.To.Add(-time.Duration(end-from) * win.Interval)
		for _, c := range win.Values[from:end] {
			row.Counters = row.Counters.Add(c)
		}
		np.Rows = append(np.Rows, row)
	}
	return np
}

// demandChart is an artifact's demand over the history's window.
type demandChart struct {
	SVG       template.HTML
	Now, Peak string
	Span      string
}

// newDemandChart charts win; nil when the history keeps no demand of the artifact.
func newDemandChart(win history.Window[float64]) *demandChart {
	if win.Values == nil {
		return nil
	}
	peak := 0.0
	for _, v := range win.Values {
		peak = max(peak, v)
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	dc := &demandChart{Now: num(win.Values[len(win.Values)-1]), Peak: num(peak),
		Span: shortDuration(time.Duration(len(win.Values)) * win.Interval)}
	l := demandLine
	l.Values = win.Values
	dc.SVG = chart{ID: "demand-chart", Title: "Demand over the last " + dc.Span,
		Desc:     "Demand is " + dc.Now + " now and was at most " + dc.Peak + " over the last " + dc.Span + ".",
		Interval: win.Interval, Series: []series{l}, Label: num}.svg()
	return dc
}
