package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	trclient "github.com/anacrolix/torrent/tracker"
)

// A publish, a relay filling, announces over HTTP and UDP, a scrape and a redirect move
// the counters that say so, and every metric the Grafana dashboard queries is on the
// directory's or the relay's /metrics.
func TestMetricsMoveAndDashboardNamesExist(t *testing.T) {
	tn := startTestDirectory(t, relayDirectory)
	const size = 300_000
	art := publishSmall(t, tn, "1", size)
	rel := startTestRelay(t, tn)
	waitServes(t, tn, 60*time.Second, rel.id, art.InfoHash)

	for _, u := range []string{tn.base + "/announce", tn.udpTracker} {
		an := newAnnouncer(t, u, infoHash(t, art.InfoHash))
		an.mustAnnounce(1001, 0, trclient.Started, 0)
		an.scrape()
	}
	resp, body := get(t, tn.base+"/r/test/art/1") // followed to the relay's /ws/
	if resp.StatusCode != http.StatusOK || len(body) != size || !strings.HasPrefix(resp.Request.URL.String(), rel.url) {
		t.Fatalf("/r/ gave %s from %s, %d bytes; want 200 from the relay %s, %d bytes", resp.Status, resp.Request.URL, len(body), rel.url, size)
	}

	// Each wants a sample (its name and labels, as exposed) at least this large.
	dirWant := map[string]float64{
		`odi_directory_publishes_total`:                                  1,
		`odi_directory_published_bytes_total`:                            size,
		`odi_directory_publish_duration_seconds_count`:                   1,
		`odi_directory_placement_plan_moves_sum{move="fetch"}`:           1, // the relay's first plan
		`odi_directory_placement_plan_moves_count{move="drop"}`:          1,
		`odi_directory_redirects_total`:                                  1, // flushed every second
		`odi_directory_relay_redirects_total{relay="` + rel.id + `"}`:    1,
		`odi_directory_origin_bytes_sent_total{path="/ws/"}`:             size, // the relay's fill
		`odi_directory_relays{status="up"}`:                              1,
		`odi_directory_relay_audits_total{kind="holding",result="pass"}`: 1,
		`odi_tracker_announces_total{result="ok",transport="http"}`:      1,
		`odi_tracker_announces_total{result="ok",transport="udp"}`:       1,
		`odi_tracker_scrapes_total{transport="http"}`:                    1,
		`odi_tracker_scrapes_total{transport="udp"}`:                     1,
		`odi_directory_relay_bytes_served_total`:                         size, // by the relay's heartbeats
		`odi_directory_relay_suspensions_total{cause="audit"}`:           0,
		`odi_directory_origin_bytes_sent_total{path="/dl/"}`:             0,
		`odi_directory_origin_rationed_total`:                            0,
		`odi_directory_relay_quarantines_total`:                          0,
		`odi_tracker_swarms`:                                             0,
		`odi_tracker_reported_downloaded_bytes_total`:                    0,
	}
	relayWant := map[string]float64{
		`odi_relay_bytes_served_total{protocol="http"}`:       size,
		`odi_relay_bytes_served_total{protocol="bittorrent"}`: 0,
		`odi_relay_quota_bytes`:                               1 << 30,
		`odi_relay_reserved_bytes`:                            size,
		`odi_relay_servable_holdings`:                         1,
		`odi_relay_fetched_bytes_total{source="webseeds"}`:    size, // warm start's from the origin
		`odi_relay_fetched_bytes_total{source="peers"}`:       0,
		`odi_relay_audits_total{result="fetched"}`:            0, // no other relay to audit
	}
	var dir, relay map[string]float64
	moved := func() bool {
		dir, relay = scrapeMetrics(t, tn.base), scrapeMetrics(t, rel.url)
		return reached(dir, dirWant) == "" && reached(relay, relayWant) == ""
	}
	if !poll(20*time.Second, moved) {
		t.Fatalf("after 20s: directory %s; relay %s", reached(dir, dirWant), reached(relay, relayWant))
	}

	names := map[string]bool{}
	for series := range dir {
		names[metricName(series)] = true
	}
	for series := range relay {
		names[metricName(series)] = true
	}
	used := dashboardMetrics(t, "../../deploy/grafana/odi.json")
	if len(used) < 10 {
		t.Fatalf("the dashboard queries only %v", used)
	}
	for _, n := range used {
		if !names[n] {
			t.Errorf("deploy/grafana/odi.json queries %s, which neither /metrics has", n)
		}
	}
}

// reached says which of want's series are missing or below their value, "" when none.
func reached(got, want map[string]float64) string {
	var short []string
	for series, min := range want {
		if v, ok := got[series]; !ok || v < min {
			short = append(short, series+" = "+strconv.FormatFloat(v, 'g', -1, 64)+" (want ≥ "+strconv.FormatFloat(min, 'g', -1, 64)+")")
		}
	}
	return strings.Join(short, ", ")
}

// scrapeMetrics reads base's /metrics as series (name and labels, as written) to values.
func scrapeMetrics(t *testing.T, base string) map[string]float64 {
	t.Helper()
	_, body := get(t, base+"/metrics")
	out := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[i+1:]), 64)
		if err != nil {
			t.Fatalf("%s/metrics: %q: %v", base, line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// metricName is a series' name without its labels.
func metricName(series string) string {
	name, _, _ := strings.Cut(series, "{")
	return name
}

// dashboardMetrics lists the odi_ metric names the dashboard's queries use.
func dashboardMetrics(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	seen := map[string]bool{}
	var out []string
	name := regexp.MustCompile(`\bodi_[a-z0-9_]+`)
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("panel %q has a target without a query", p.Title)
			}
			for _, n := range name.FindAllString(tg.Expr, -1) {
				if !seen[n] {
					seen[n] = true
					out = append(out, n)
				}
			}
		}
	}
	return out
}
