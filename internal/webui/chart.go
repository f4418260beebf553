package webui

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// The charts' geometry, in SVG user units: a plot of chartW×chartH with room for the
// axes' labels at the left and bottom. The stylesheet scales the whole to the page.
const (
	chartLeft, chartTop = 72, 12
	chartW, chartH      = 720, 180
	chartWidth          = chartLeft + chartW + 12
	chartHeight         = chartTop + chartH + 28
)

// series is one line of a chart.
type series struct {
	Name string
	// Stroke and Dash (a stroke-dasharray, "" for solid) tell the lines apart by more
	// than colour.
	Stroke, Dash string
	Values       []float64
}

// chart is a line chart over time: each series has a value per interval, the last in
// the interval that ends now.
type chart struct {
	ID          string // unique on its page: names its title and description
	Title, Desc string
	Interval    time.Duration
	Series      []series
	Label       func(float64) string // a value, on the y axis
	// MinTop is the least top of the y axis: a scale of bytes that an idle network
	// would put at 1 B reads 1000 B, not 0.5 B rounded to 0 B.
	MinTop float64
}

// svg renders the chart as an inline SVG element, drawn with presentation attributes
// only: the Content-Security-Policy forbids style attributes. Assistive technology
// reads its title and description; the page beside it gives the figures.
func (c chart) svg() template.HTML {
	n := 0
	top := 0.0
	for _, s := range c.Series {
		n = max(n, len(s.Values))
		for _, v := range s.Values {
			top = max(top, v)
		}
	}
	top = niceCeil(max(top, c.MinTop))
	esc := template.HTMLEscapeString
	var b strings.Builder
	b.Grow(n*len(c.Series)*14 + 2048)
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-title %s-desc">`,
		chartWidth, chartHeight, esc(c.ID), esc(c.ID))
	fmt.Fprintf(&b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, esc(c.ID), esc(c.Title), esc(c.ID), esc(c.Desc))
	// Grid and y labels: zero, half and the top.
	b.WriteString(`<g fill="currentColor" font-size="12" text-anchor="end">`)
	for _, f := range []float64{0, 0.5, 1} {
		y := chartTop + chartH*(1-f)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%g" y2="%g" stroke="currentColor" stroke-opacity="0.25"/>`, chartLeft, chartLeft+chartW, y, y)
		fmt.Fprintf(&b, `<text x="%d" y="%g">%s</text>`, chartLeft-6, y+4, esc(c.Label(top*f)))
	}
	b.WriteString(`</g><g fill="currentColor" font-size="12" text-anchor="middle">`)
	span := time.Duration(n) * c.Interval
	for _, f := range []float64{0, 0.5, 1} {
		x := chartLeft + chartW*f
		label := "now"
		if ago := time.Duration(float64(span) * (1 - f)); ago > 0 {
			label = "−" + shortDuration(ago)
		}
		fmt.Fprintf(&b, `<text x="%g" y="%d">%s</text>`, x, chartTop+chartH+18, label)
	}
	b.WriteString(`</g>`)
	for _, s := range c.Series {
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5"`, esc(s.Stroke))
		if s.Dash != "" {
			fmt.Fprintf(&b, ` stroke-dasharray="%s"`, esc(s.Dash))
		}
		fmt.Fprintf(&b, ` data-series="%s" points="`, esc(s.Name))
		var num []byte
		for i, v := range s.Values {
			x, y := float64(chartLeft), float64(chartTop+chartH)
			if n > 1 {
				x += chartW * float64(i) / float64(n-1)
			}
			if top > 0 {
				y -= chartH * v / top
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			num = strconv.AppendFloat(num[:0], math.Round(x*10)/10, 'f', -1, 64)
			num = append(num, ',')
			num = strconv.AppendFloat(num, math.Round(y*10)/10, 'f', -1, 64)
			b.Write(num)
		}
		b.WriteString(`"/>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every name in it is escaped above
}

// niceCeil is the smallest 1, 2 or 5 times a power of ten at or above v: the top of a
// chart's axis. 1 for v ≤ 0, so that an empty chart has a scale.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// shortDuration writes d as hours, or minutes, or seconds: an axis label.
func shortDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + " h"
	case d >= time.Minute:
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s"
}

// per names an interval for a rate: "minute", or the duration.
func per(iv time.Duration) string {
	if iv == time.Minute {
		return "minute"
	}
	return iv.String()
}
