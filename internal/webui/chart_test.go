package webui

import (
	"encoding/hex"
	"html/template"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/opendist/odi/internal/history"
)

// fullDay is a history with a sample every minute of a day, and every artifact of the
// fake catalog (infohash 1) in demand.
var fullDay = sync.OnceValue(func() *history.History {
	h, err := history.New(history.Config{})
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var total history.Counters
	for i := range history.DefaultSamples + 1 {
		wave := int64(1000 + 1000*math.Sin(float64(i)/100))
		total = total.Add(history.Counters{OriginBytes: wave << 10, RelayBytes: int64(i) << 20, Redirects: int64(i % 17), Announces: wave, PeerBytes: wave << 12})
		h.Record(start.Add(time.Duration(i)*time.Minute), total, []history.Demand{{InfoHash: [20]byte{19: 1}, Demand: float64(i) / 10}})
	}
	return h
})

func (f *fakeCatalog) Network() history.Window[history.Counters] { return fullDay().Network() }

func (f *fakeCatalog) Demand(ih string) history.Window[float64] {
	b, err := hex.DecodeString(ih)
	if err != nil || len(b) != 20 {
		return history.Window[float64]{}
	}
	return fullDay().Demand([20]byte(b))
}

// TestCharts renders the network page and an artifact's page from a full day and checks
// their charts: an svg with a title and description, a line per series with a point per
// minute, no style attribute (the Content-Security-Policy drops them), and the figures
// beside.
func TestCharts(t *testing.T) {
	f := newFakeCatalog(10, 1)
	p, err := New(Config{PublicURL: "https://dir.example.org"}, f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	p.Mount(mux, func(h http.Handler) http.Handler { return h })
	a := f.arts[0]
	for _, tt := range []struct {
		path   string
		series []string
		texts  []string
	}{
		{"/network", []string{"origin", "relays", "peers", "redirects", "announces"}, []string{"Relays served", "The figures by hour", "Bytes per minute: origin, relays, and peers&#39; reports",
			"Redirects per minute", "Tracker announces per minute", `<span class="key peers">peers</span>`, "BitTorrent clients reported downloading", "Peer bytes (reported)"}},
		{artifactURL(a.Catalog, a.Name, a.Version), []string{"demand"}, []string{"Demand is 144 now and was at most 144 over the last 24 h."}},
	} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.path, nil))
		body := w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", tt.path, w.Code)
		}
		doc, err := html.Parse(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		var svgs, titled int
		var walk func(*html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode {
				for _, a := range n.Attr {
					if a.Key == "style" {
						t.Errorf("GET %s: <%s style=%q>", tt.path, n.Data, a.Val)
					}
				}
				switch n.Data {
				case "svg":
					svgs++
				case "title", "desc":
					if n.Parent != nil && n.Parent.Data == "svg" {
						titled++
					}
				case "polyline":
					for _, a := range n.Attr {
						if a.Key == "data-series" {
							for _, at := range n.Attr {
								if at.Key == "points" {
									got[a.Val] = len(strings.Fields(at.Val))
								}
							}
						}
					}
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(doc)
		if titled != 2*svgs || svgs == 0 {
			t.Errorf("GET %s: %d svg, %d titles and descriptions", tt.path, svgs, titled)
		}
		for _, s := range tt.series {
			if got[s] != history.DefaultSamples {
				t.Errorf("GET %s: series %q has %d points, want %d", tt.path, s, got[s], history.DefaultSamples)
			}
		}
		for _, s := range tt.texts {
			if !strings.Contains(body, s) {
				t.Errorf("GET %s: no %q", tt.path, s)
			}
		}
	}
}

func TestNewNetworkPage(t *testing.T) {
	end := time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)
	vals := make([]history.Counters, 90)
	vals[0] = history.Counters{OriginBytes: 300}
	vals[89] = history.Counters{OriginBytes: 100, RelayBytes: 600, Redirects: 2, Announces: 5000, PeerBytes: 2000}
	np := newNetworkPage(history.Window[history.Counters]{End: end, Interval: time.Minute, Values: vals})
	// Peer bytes are charted and totalled, but are no part of the relays' share: they
	// are what clients say they downloaded, the origin's and relays' bytes among them.
	if np.Total != (history.Counters{OriginBytes: 400, RelayBytes: 600, Redirects: 2, Announces: 5000, PeerBytes: 2000}) || np.RelayShare != 60 {
		t.Errorf("total %+v, relay share %d%%", np.Total, np.RelayShare)
	}
	// The bytes chart has the three lines on one scale: the peers' 2000 B is its peak.
	traffic := chartPeaks(t, np.Traffic)
	if y, ok := traffic["peers"]; !ok || y != chartTop {
		t.Errorf("the peers' peak is at y=%g (found: %v), want the top of the plot, %d", y, ok, chartTop)
	}
	if _, ok := traffic["origin"]; !ok || len(traffic) != 3 {
		t.Errorf("the bytes chart has the lines %v, want origin, relays and peers", traffic)
	}
	if desc := string(np.Traffic); !strings.Contains(desc, "BitTorrent clients reported downloading 2.0 KiB from every source") {
		t.Errorf("the bytes chart's description does not give the peers' total:\n%s", desc)
	}
	// Redirects and announces each on their own scale: both peaks reach the top of their
	// plot, where one scale would have kept 2 redirects at the bottom of 5000 announces'.
	peaks := chartPeaks(t, np.Redirects+np.Announces)
	for _, s := range []string{"redirects", "announces"} {
		if y, ok := peaks[s]; !ok || y != chartTop {
			t.Errorf("the %s' peak is at y=%g (found: %v), want the top of its plot, %d", s, y, ok, chartTop)
		}
	}
	// Rows of an hour, newest first; the oldest has what is left, 30 minutes.
	if len(np.Rows) != 2 || !np.Rows[0].To.Equal(end) || !np.Rows[0].From.Equal(end.Add(-time.Hour)) ||
		!np.Rows[1].From.Equal(end.Add(-90*time.Minute)) || np.Rows[0].RelayBytes != 600 || np.Rows[0].PeerBytes != 2000 || np.Rows[1].OriginBytes != 300 {
		t.Errorf("rows %+v", np.Rows)
	}
	empty := newNetworkPage(history.Window[history.Counters]{End: end, Interval: time.Minute, Values: make([]history.Counters, 3)})
	if empty.RelayShare != -1 {
		t.Errorf("no traffic: relay share %d", empty.RelayShare)
	}
	// An idle network's byte axis has readable steps, not 1 B, 0 B, 0 B.
	for _, label := range []string{">1000 B<", ">500 B<", ">0 B<"} {
		if !strings.Contains(string(empty.Traffic), label) {
			t.Errorf("no traffic: the byte axis has no label %s:\n%s", label, empty.Traffic)
		}
	}
}

// chartPeaks returns the y of each series' highest point in the charts of h, by name.
func chartPeaks(t *testing.T, h template.HTML) map[string]float64 {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(string(h)))
	if err != nil {
		t.Fatal(err)
	}
	peaks := map[string]float64{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "polyline" {
			var name, points string
			for _, a := range n.Attr {
				switch a.Key {
				case "data-series":
					name = a.Val
				case "points":
					points = a.Val
				}
			}
			peak := math.Inf(1)
			for _, p := range strings.Fields(points) {
				_, ys, _ := strings.Cut(p, ",")
				y, err := strconv.ParseFloat(ys, 64)
				if err != nil {
					t.Fatalf("series %s: point %q: %v", name, p, err)
				}
				peak = min(peak, y)
			}
			peaks[name] = peak
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return peaks
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, -3: 1, 0.3: 0.5, 1: 1, 1.1: 2, 3: 5, 7: 10, 999: 1000, 1234: 2000, math.Inf(1): 1} {
		if got := niceCeil(in); math.Abs(got-want) > 1e-9 {
			t.Errorf("niceCeil(%g) = %g, want %g", in, got, want)
		}
	}
}

// BenchmarkNetwork renders the network page from a full day of minutes: four lines of
// 1,440 points and the table by hour.
func BenchmarkNetwork(b *testing.B) {
	f := newFakeCatalog(10, 1)
	p, err := New(Config{PublicURL: "https://dir.example.org"}, f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	p.Mount(mux, func(h http.Handler) http.Handler { return h })
	fullDay()
	for b.Loop() {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/network", nil))
		if w.Code != http.StatusOK {
			b.Fatalf("GET /network: %d", w.Code)
		}
	}
}
