package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/queuegap/queuegap/analyze"
)

// Chart size in points; the page scales each SVG to its column's width.
const (
	chartW = 560
	chartH = 250
)

// sans is the face text is measured with. The SVG names the family
// and falls back to the metric-compatible Arial/Helvetica and then to any
// sans-serif: no font file is embedded or fetched.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

func rgb(hex uint32) color.RGBA {
	return color.RGBA{R: uint8(hex >> 16), G: uint8(hex >> 8), B: uint8(hex), A: 255}
}

// palette is Tableau 10: distinct for the common colour-vision
// deficiencies in its first few entries, which is where most charts stay.
var palette = []color.RGBA{rgb(0x4e79a7), rgb(0xf28e2b), rgb(0x59a14f), rgb(0xe15759), rgb(0x76b7b2),
	rgb(0xedc948), rgb(0xb07aa1), rgb(0xff9da7), rgb(0x9c755f), rgb(0xbab0ac)}

// componentColors keep each attribution component's colour fixed across
// charts and runs.
var componentColors = map[string]color.RGBA{
	analyze.CompLag: rgb(0xbab0ac), analyze.CompClientQueue: rgb(0x9c755f), analyze.CompConnect: rgb(0x76b7b2),
	analyze.CompSynRetry: rgb(0xe15759), analyze.CompBacklog: rgb(0xf28e2b), analyze.CompProcessing: rgb(0x4e79a7),
	analyze.CompNetwork: rgb(0x59a14f), analyze.CompUnanswered: rgb(0xb07aa1), analyze.CompTransfer: rgb(0xedc948),
}

// outcomeColors: ok in blue, failures in warm colours, the rest from the
// palette in analyze.Outcomes order.
var outcomeColors = func() map[string]color.RGBA {
	m := map[string]color.RGBA{
		analyze.OutcomeOK: rgb(0x4e79a7), analyze.OutcomeHTTP4xx: rgb(0xedc948), analyze.OutcomeHTTP5xx: rgb(0xe15759),
		analyze.OutcomeProxyRefused: rgb(0xf28e2b), analyze.OutcomeGatewayTimeout: rgb(0xb07aa1), analyze.OutcomeWorkerKilled: rgb(0x9c755f),
		"connect_timeout": rgb(0xff9da7), "timeout": rgb(0x8b0000), "refused": rgb(0x59a14f), "reset": rgb(0x76b7b2),
	}
	i := 0
	for _, o := range analyze.Outcomes() {
		if _, ok := m[o]; !ok {
			m[o] = palette[i%len(palette)]
			i++
		}
	}
	return m
}()

func outcomeColor(o string) color.RGBA {
	if c, ok := outcomeColors[o]; ok {
		return c
	}
	return rgb(0x444444)
}

// phaseColors and the dash of p99 lines. ttfb is drawn wide and pale
// under total: for small responses the two coincide, and a halo keeps
// both visible.
var (
	phaseColors = [3]color.Color{rgb(0x4e79a7), color.NRGBA{R: 0xf2, G: 0x8e, B: 0x2b, A: 150}, rgb(0x59a14f)}
	phaseWidths = [3]float64{1.5, 4, 1.5}
	phaseOrder  = []int{phTTFB, phConnect, phTotal}
)

var p99Dash = []vg.Length{vg.Points(5), vg.Points(2.5)}

func newPlot(xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 11)
		a.Tick.Label.Font = font.From(sans, 10)
		a.Tick.Length = vg.Points(4)
		a.Padding = vg.Points(2)
	}
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	p.X.Tick.Marker, p.Y.Tick.Marker = cleanTicks{}, cleanTicks{}
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = rgb(0xe6e6e6), rgb(0xe6e6e6)
	p.Add(g)
	return p
}

// svgOf renders a plot as an SVG fragment fit to be inlined in HTML.
func svgOf(p *plot.Plot) (string, error) {
	c := vgsvg.New(chartW, chartH)
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", fmt.Errorf("drawing a chart: %w", err)
	}
	return inlineSVG(b.String()), nil
}

var (
	svgProlog  = regexp.MustCompile(`(?s)^.*?<svg `)
	svgSize    = regexp.MustCompile(`^<svg width="[^"]*" height="[^"]*"`)
	svgXMLNS   = regexp.MustCompile(`\s+xmlns(:xlink)?="[^"]*"`)
	fontFamily = regexp.MustCompile(`font-family:([^;"]+)`)
)

// inlineSVG turns vgsvg's standalone document into an inline <svg>: no XML
// prolog, no namespace declarations (HTML parsers put <svg> in the SVG
// namespace themselves, and the file then holds no URL at all), a size the
// page's CSS sets from the viewBox, and generic font fallbacks.
func inlineSVG(s string) string {
	s = svgProlog.ReplaceAllString(s, "<svg ")
	s = svgSize.ReplaceAllString(s, `<svg class="chart" role="img"`)
	s = svgXMLNS.ReplaceAllString(s, "")
	s = fontFamily.ReplaceAllString(s, `font-family:'$1',Arimo,Arial,Helvetica,sans-serif`)
	// Text drawn in a chart is data (run names): keep the file free of
	// anything a reader could take for a URL.
	return strings.ReplaceAll(s, "://", "&#58;//")
}

// axisRange is a shared axis range.
type axisRange struct{ lo, hi float64 }

func (a *axisRange) include(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if a.lo == 0 && a.hi == 0 {
		a.lo, a.hi = v, v
		return
	}
	a.lo, a.hi = min(a.lo, v), max(a.hi, v)
}

// logRange widens a latency range (ms) to whole decades; floor keeps log
// scales away from zero.
func logRange(a axisRange) axisRange {
	lo, hi := max(a.lo, 0.001), max(a.hi, 0.001)
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = niceCeil(hi * 1.05) // a 10 s max ends the axis at 12 s, not 100 s
	if hi <= lo {
		hi = lo * 10
	}
	return axisRange{lo, hi}
}

// msTicks labels a log latency axis at every decade, in ms. The axis is
// linear in log10(ms): gonum's LogScale places a vertical axis label by
// the arithmetic mean of the range, which on a log axis pushes the plot
// down by a third of its height.
func msTicks(r axisRange) plot.ConstantTicks {
	var ticks []plot.Tick
	top := false
	for d := r.lo; d <= r.hi*1.0001; d *= 10 {
		ticks = append(ticks, plot.Tick{Value: math.Log10(d), Label: fmtTickMs(d)})
		top = top || math.Abs(d-r.hi) < r.hi*1e-6
		for k := 2; k < 10 && d*float64(k) < r.hi*0.9999; k++ {
			ticks = append(ticks, plot.Tick{Value: math.Log10(d * float64(k))})
		}
	}
	if !top {
		ticks = append(ticks, plot.Tick{Value: math.Log10(r.hi), Label: fmtTickMs(r.hi)})
	}
	return ticks
}

func fmtTickMs(v float64) string {
	if v < 1 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return thousands(int64(math.Round(v)))
}

// cleanTicks are gonum's default ticks labelled without trailing zeros
// ("2500", not "2500.00") and with thousands grouped.
type cleanTicks struct{}

func (cleanTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label == "" {
			continue
		}
		v := ticks[i].Value
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			ticks[i].Label = thousands(int64(v))
		} else {
			ticks[i].Label = strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	return ticks
}

// thousands writes 5000 as "5 000" (a thin space would not survive
// every SVG renderer; a plain one does).
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func setLogY(p *plot.Plot, r axisRange) {
	p.Y.Tick.Marker = msTicks(r)
	p.Y.Min, p.Y.Max = math.Log10(r.lo), math.Log10(r.hi)
}

// logY is where a latency (ms) goes on a log axis of range r: log10 of
// it, clamped into the range (a 0 sits on the floor).
func logY(v float64, r axisRange) float64 { return math.Log10(min(max(v, r.lo), r.hi)) }

// line adds xys as a line, with dots when there are too few points to
// make a line visible (a burst falls into one time bucket).
func line(p *plot.Plot, xys plotter.XYs, c color.Color, dashes []vg.Length, width float64) error {
	if len(xys) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.LineStyle.Color, l.LineStyle.Width, l.LineStyle.Dashes = c, vg.Points(width), dashes
	p.Add(l)
	if len(xys) <= 3 {
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		s.GlyphStyle.Color, s.GlyphStyle.Radius = c, vg.Points(3)
		if dashes != nil {
			s.GlyphStyle.Shape = draw.RingGlyph{}
		} else {
			s.GlyphStyle.Shape = draw.CircleGlyph{}
		}
		p.Add(s)
	}
	return nil
}

// shared holds the axis ranges every run's charts use.
type shared struct {
	timeHi    float64   // s
	latency   axisRange // ms, log decades
	stackHi   float64   // ms
	ninesHi   float64
	probeHi   map[string]float64 // by probe row key
	probeRows []probeRow
	comps     []string // components with any time in any run
	outcomes  []string // outcomes seen in any run's sample, in analyze.Outcomes order
}

// view is a run's buckets as charted: neighbours merged until each
// bucket holds enough requests for its percentiles to mean something.
type view struct {
	buckets []*bucket
	width   time.Duration
}

const (
	maxShown      = 60 // buckets drawn at most
	minShown      = 10 // merging stops here, however few requests each holds
	wantPerBucket = 20 // requests a bucket should hold for a p99 to be more than its max
)

func (r *Run) view() view {
	if r.shown == nil {
		v := r.makeView()
		r.shown = &v
	}
	return *r.shown
}

func (r *Run) makeView() view {
	n, k := len(r.buckets), 1
	for n > 0 && (ceilDiv(n, k) > maxShown || ceilDiv(n, k) > minShown && r.seen/int64(ceilDiv(n, k)) < wantPerBucket) {
		k *= 2
	}
	if k == 1 {
		return view{r.buckets, r.width}
	}
	out := make([]*bucket, ceilDiv(n, k))
	for i, b := range r.buckets {
		if b == nil {
			continue
		}
		m := out[i/k]
		if m == nil {
			m = &bucket{}
			out[i/k] = m
		}
		m.n += b.n
		for j := range m.parts {
			m.parts[j] += b.parts[j]
		}
		for j, h := range b.hist {
			if h == nil {
				continue
			}
			if m.hist[j] == nil {
				m.hist[j] = newHist(2)
			}
			m.hist[j].Merge(h)
		}
	}
	return view{out, r.width * time.Duration(k)}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func (v view) mid(i int) float64 { return (float64(i) + 0.5) * v.width.Seconds() }

func quantileMs(h interface{ ValueAtQuantile(float64) int64 }, q float64) float64 {
	return float64(h.ValueAtQuantile(q)) / 1000
}

func computeShared(runs []*Run) *shared {
	sh := &shared{probeHi: map[string]float64{}}
	var lat axisRange
	compUsed := map[string]bool{}
	outUsed := map[string]bool{}
	for _, r := range runs {
		sh.timeHi = max(sh.timeHi, r.end.Seconds(), float64(len(r.buckets))*r.width.Seconds())
		for _, h := range r.phases {
			if h.TotalCount() > 0 {
				lat.include(float64(max(h.Min(), 1)) / 1000)
				lat.include(float64(h.Max()) / 1000)
			}
		}
		for _, b := range r.view().buckets {
			if b == nil || b.n == 0 {
				continue
			}
			var sum float64
			for k, d := range b.parts {
				if d > 0 {
					compUsed[analyze.Components[k]] = true
				}
				sum += float64(d) / float64(time.Millisecond) / float64(b.n)
			}
			sh.stackHi = max(sh.stackHi, sum)
		}
		if n := r.phases[phTotal].TotalCount(); n > 1 {
			sh.ninesHi = max(sh.ninesHi, math.Min(math.Log10(float64(n)), 6))
		}
		for _, p := range r.points {
			outUsed[r.outcomes[p.outcome]] = true
		}
	}
	sh.latency = logRange(lat)
	sh.timeHi = niceCeil(max(sh.timeHi, 0.1))
	sh.stackHi = max(sh.stackHi*1.05, 1)
	sh.ninesHi = max(math.Ceil(sh.ninesHi), 2)
	for _, c := range analyze.Components {
		if compUsed[c] {
			sh.comps = append(sh.comps, c)
		}
	}
	for _, o := range analyze.Outcomes() {
		if outUsed[o] {
			sh.outcomes = append(sh.outcomes, o)
			delete(outUsed, o)
		}
	}
	rest := make([]string, 0, len(outUsed))
	for o := range outUsed {
		rest = append(rest, o)
	}
	sort.Strings(rest)
	sh.outcomes = append(sh.outcomes, rest...)
	sh.probeRows = probeRows(runs)
	for _, row := range sh.probeRows {
		hi := 0.0
		for _, r := range runs {
			for _, ps := range row.series(r) {
				for _, pt := range ps.pts {
					hi = max(hi, row.unit.scale(pt.v))
				}
			}
		}
		sh.probeHi[row.key()] = max(hi*1.1, row.unit.minTop)
	}
	return sh
}

// niceCeil rounds a positive value up to a round number (1, 1.2, 1.5, 2,
// 2.5, 3, 4, 5, 6 or 8 times a power of ten): the time axis ends near the
// run's end, not up to twice past it.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if v <= m*p*1.0001 {
			return m * p
		}
	}
	return 10 * p
}

const timeLabel = "time into the run (s)"

func setTime(p *plot.Plot, sh *shared) { p.X.Min, p.X.Max = 0, sh.timeHi }

// latencyOverTime: p50 and p99 of total, ttfb and connect per time bucket
// of the intended send time.
func latencyOverTime(r *Run, sh *shared) (string, error) {
	p := newPlot("send time into the run (s)", "latency (ms, log scale)")
	v := r.view()
	for _, ph := range phaseOrder {
		for _, q := range []float64{50, 99} {
			var xys plotter.XYs
			for i, b := range v.buckets {
				if b == nil || b.hist[ph] == nil || b.hist[ph].TotalCount() == 0 {
					continue
				}
				xys = append(xys, plotter.XY{X: v.mid(i), Y: logY(quantileMs(b.hist[ph], q), sh.latency)})
			}
			var dash []vg.Length
			if q == 99 {
				dash = p99Dash
			}
			if err := line(p, xys, phaseColors[ph], dash, phaseWidths[ph]); err != nil {
				return "", err
			}
		}
	}
	setTime(p, sh)
	setLogY(p, sh.latency)
	return svgOf(p)
}

// components: the mean of each attribution component per request, per
// time bucket, stacked (they add up to the mean total).
func components(r *Run, sh *shared) (string, error) {
	p := newPlot("send time into the run (s)", "mean time per request (ms)")
	v := r.view()
	w := v.width.Seconds()
	below := make([]float64, len(v.buckets))
	for _, c := range sh.comps {
		k := compIndex(c)
		top := make([]float64, len(v.buckets))
		any := false
		for i, b := range v.buckets {
			top[i] = below[i]
			if b != nil && b.n > 0 {
				v := float64(b.parts[k]) / float64(time.Millisecond) / float64(b.n)
				top[i] += v
				any = any || v > 0
			}
		}
		if any {
			// A step outline: each bucket spans its width, so a run whose
			// requests all fall into one bucket still draws an area.
			var ring plotter.XYs
			for i := range v.buckets {
				x0, x1 := float64(i)*w, float64(i+1)*w
				ring = append(ring, plotter.XY{X: x0, Y: top[i]}, plotter.XY{X: x1, Y: top[i]})
			}
			for i := len(v.buckets) - 1; i >= 0; i-- {
				x0, x1 := float64(i)*w, float64(i+1)*w
				ring = append(ring, plotter.XY{X: x1, Y: below[i]}, plotter.XY{X: x0, Y: below[i]})
			}
			poly, err := plotter.NewPolygon(ring)
			if err != nil {
				return "", err
			}
			poly.Color = componentColors[c]
			poly.LineStyle.Width = 0
			p.Add(poly)
		}
		below = top
	}
	setTime(p, sh)
	p.Y.Min, p.Y.Max = 0, sh.stackHi
	return svgOf(p)
}

func compIndex(c string) int {
	for i, n := range analyze.Components {
		if n == c {
			return i
		}
	}
	return 0
}

// nines maps a percentile (0–100) to the x of a percentile plot: the
// number of nines, -log10(1 − p).
func nines(pct float64) float64 { return -math.Log10(1 - pct/100) }

var ninesLabels = []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"}

// distribution: the whole run's HDR percentile plot of total, ttfb and
// connect, to the highest percentile the count supports.
func distribution(r *Run, sh *shared) (string, error) {
	p := newPlot("percentile (log scale of 1 − p)", "latency (ms, log scale)")
	for _, ph := range phaseOrder {
		h := r.phases[ph]
		n := h.TotalCount()
		if n == 0 {
			continue
		}
		top := 0.0
		if n > 1 {
			top = math.Min(math.Log10(float64(n)), 6)
		}
		var xys plotter.XYs
		for x := 0.0; x <= top+1e-9; x += 0.02 {
			pct := 100 * (1 - math.Pow(10, -x))
			xys = append(xys, plotter.XY{X: x, Y: logY(quantileMs(h, pct), sh.latency)})
		}
		xys = append(xys, plotter.XY{X: top, Y: logY(float64(h.Max())/1000, sh.latency)})
		if err := line(p, xys, phaseColors[ph], nil, phaseWidths[ph]); err != nil {
			return "", err
		}
	}
	var ticks []plot.Tick
	for i := 0; i <= int(sh.ninesHi) && i < len(ninesLabels); i++ {
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: ninesLabels[i]})
	}
	ticks = append(ticks, plot.Tick{Value: nines(50), Label: "50%"})
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = 0, sh.ninesHi
	setLogY(p, sh.latency)
	return svgOf(p)
}

// scatter: every sampled request's total against its send time, one
// colour per outcome.
func scatter(r *Run, sh *shared) (string, error) {
	p := newPlot("send time into the run (s)", "total latency (ms, log scale)")
	by := map[uint8]plotter.XYs{}
	for _, pt := range r.points {
		by[pt.outcome] = append(by[pt.outcome], plotter.XY{X: float64(pt.at), Y: logY(float64(pt.total), sh.latency)})
	}
	// ok first, so failures are drawn over it and stay visible.
	for _, o := range sh.outcomes {
		i, ok := r.outIdx[o]
		if !ok || len(by[i]) == 0 {
			continue
		}
		s, err := plotter.NewScatter(by[i])
		if err != nil {
			return "", err
		}
		oc := outcomeColor(o)
		c := color.NRGBA{R: oc.R, G: oc.G, B: oc.B, A: 200} // overlapping dots stay readable
		s.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(1.6), Shape: draw.CircleGlyph{}}
		p.Add(s)
	}
	setTime(p, sh)
	setLogY(p, sh.latency)
	return svgOf(p)
}

// A probe value's unit, from its name (analyze.ProbeSample: values are
// named in base units — a count, a ratio, bytes).
type unit struct {
	name   string  // chart y label
	factor float64 // from the stored value to the chart's
	minTop float64 // the y axis reaches at least this
}

var (
	unitCount   = unit{"count", 1, 1}
	unitPercent = unit{"CPU (% of one core)", 100, 10}
	unitPct     = unit{"CPU (% of one core)", 1, 10}
	unitMiB     = unit{"memory (MiB)", 1.0 / (1 << 20), 1}
)

func (u unit) scale(v float64) float64 { return v * u.factor }

func unitOf(value string) unit {
	v := strings.ToLower(value)
	switch {
	case strings.Contains(v, "cpu") && (strings.HasSuffix(v, "percent") || strings.HasSuffix(v, "pct")):
		return unitPct
	case strings.Contains(v, "cpu"):
		return unitPercent
	case strings.Contains(v, "rss") || strings.Contains(v, "bytes") || strings.Contains(v, "memory"):
		return unitMiB
	}
	return unitCount
}

// probeRow is one row of probe charts: one probe's values of one unit.
type probeRow struct {
	probe, kind string
	unit        unit
	values      []string // value names in the row, sorted
}

func (row probeRow) key() string { return row.probe + "\x00" + row.unit.name }

func (row probeRow) series(r *Run) []*probeSeries {
	var out []*probeSeries
	for _, v := range row.values {
		if ps := r.seriesIx[seriesKey{row.probe, v}]; ps != nil {
			out = append(out, ps)
		}
	}
	return out
}

// probeRows lists the rows over every run, in first-seen order of probes,
// counts before CPU before memory.
func probeRows(runs []*Run) []probeRow {
	idx := map[string]int{}
	var rows []probeRow
	for _, r := range runs {
		for _, ps := range r.series {
			u := unitOf(ps.value)
			k := ps.probe + "\x00" + u.name
			i, ok := idx[k]
			if !ok {
				i = len(rows)
				idx[k] = i
				rows = append(rows, probeRow{probe: ps.probe, kind: ps.kind, unit: u})
			}
			if !contains(rows[i].values, ps.value) {
				rows[i].values = append(rows[i].values, ps.value)
			}
		}
	}
	order := map[string]int{unitCount.name: 0, unitPercent.name: 1, unitMiB.name: 2}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].probe != rows[j].probe {
			return false // keep first-seen order of probes
		}
		return order[rows[i].unit.name] < order[rows[j].unit.name]
	})
	for i := range rows {
		sort.Strings(rows[i].values)
	}
	return rows
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// valueColor gives each value name of a row a fixed colour.
func valueColor(row probeRow, value string) color.RGBA {
	for i, v := range row.values {
		if v == value {
			return palette[i%len(palette)]
		}
	}
	return palette[0]
}

// probeChart draws one row's values of one run on the run's time axis.
func probeChart(r *Run, row probeRow, sh *shared) (string, bool, error) {
	series := row.series(r)
	if len(series) == 0 {
		return "", false, nil
	}
	p := newPlot(timeLabel, row.unit.name)
	for _, ps := range series {
		xys := make(plotter.XYs, len(ps.pts))
		for i, pt := range ps.pts {
			xys[i] = plotter.XY{X: pt.at, Y: row.unit.scale(pt.v)}
		}
		if err := line(p, xys, valueColor(row, ps.value), nil, 1.5); err != nil {
			return "", false, err
		}
	}
	setTime(p, sh)
	p.Y.Min, p.Y.Max = 0, sh.probeHi[row.key()]
	svg, err := svgOf(p)
	return svg, true, err
}

// allZero says whether every sample of the row's values is 0 in r.
func allZero(r *Run, row probeRow, value string) bool {
	ps := r.seriesIx[seriesKey{row.probe, value}]
	if ps == nil {
		return false
	}
	for _, pt := range ps.pts {
		if pt.v != 0 {
			return false
		}
	}
	return len(ps.pts) > 0
}
