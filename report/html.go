package report

import (
	"bufio"
	"errors"
	"fmt"
	"html"
	"image/color"
	"io"
	"sort"
	"strings"

	"github.com/queuegap/queuegap/analyze"
)

// Options shape the page.
type Options struct {
	// Title heads the page ("" gives "queuegap report").
	Title string
	// Compare adds a table of each figure's change from the first run to
	// the second (--compare A B); it needs exactly two runs.
	Compare bool
	// Version is queuegap's version, for the footer.
	Version string
}

// Write writes the self-contained HTML report of runs, side by side on
// shared axes. Every run must be Finished.
func Write(w io.Writer, runs []*Run, opt Options) error {
	if len(runs) == 0 {
		return errors.New("report: no runs")
	}
	for _, r := range runs {
		if r.Summary == nil {
			return fmt.Errorf("report: run %q has no summary (Finish it)", r.Name)
		}
	}
	if opt.Compare && len(runs) != 2 {
		return fmt.Errorf("report: compare needs two runs, got %d", len(runs))
	}
	pg := &page{runs: runs, sh: computeShared(runs), opt: opt}
	bw := bufio.NewWriterSize(w, 1<<16)
	if err := pg.write(bw); err != nil {
		return err
	}
	return bw.Flush()
}

type page struct {
	runs []*Run
	sh   *shared
	opt  Options
	b    *bufio.Writer
	err  error
}

// dataEscaper writes, as character references, what could make data look
// like markup that loads something: a target URL in a table, a probe named
// "src=//x", a warning quoting "url(…)". The page reads the same, and the
// file holds nothing a reader (or a test) could take for a link.
var dataEscaper = strings.NewReplacer("//", "/&#47;", "=", "&#61;", "(", "&#40;", "@", "&#64;")

// esc escapes data for HTML text and attribute values.
func esc(s string) string { return dataEscaper.Replace(html.EscapeString(s)) }

func (pg *page) p(format string, a ...any) {
	if pg.err == nil {
		_, pg.err = fmt.Fprintf(pg.b, format, a...)
	}
}

func (pg *page) raw(s string) {
	if pg.err == nil {
		_, pg.err = pg.b.WriteString(s)
	}
}

func hexColor(c color.Color) string {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return fmt.Sprintf("#%02x%02x%02x", n.R, n.G, n.B)
}

const css = `body{font-family:Arimo,Arial,Helvetica,sans-serif;margin:16px 24px;color:#222;background:#fff;font-size:14px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:3px}
p.note,.note{color:#555;font-size:13px;margin:2px 0 6px}
.row{display:grid;gap:16px;align-items:start}
figure{margin:0;min-width:0}figcaption{font-weight:bold;font-size:13px;margin:2px 0}
svg.chart{width:100%;height:auto;display:block}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13px;margin:4px 0 8px}
.legend span.k{display:inline-flex;align-items:center;gap:6px}
.sw{display:inline-block;width:14px;height:10px;border-radius:2px}
.ln{display:inline-block;width:22px;height:0;border-top-width:3px;border-top-style:solid}
.ln.dash{border-top-style:dashed}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%}
table{border-collapse:collapse;font-size:13px;margin:6px 0 10px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.headline{font-size:15px;background:#f3f7fb;border-left:4px solid #4e79a7;padding:6px 10px;margin:6px 0}
.gap{font-size:14px;margin:4px 0}
.warn{background:#fff4e5;border-left:4px solid #f28e2b;padding:4px 10px;margin:4px 0;font-size:13px}
.empty{color:#777;font-style:italic;border:1px dashed #ccc;padding:40px 8px;text-align:center}
.card{min-width:0;overflow-x:auto}
footer{margin-top:30px;color:#777;font-size:12px}
`

func (pg *page) write(b *bufio.Writer) error {
	pg.b = b
	title := pg.opt.Title
	if title == "" {
		title = "queuegap report"
	}
	pg.p("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>%s</title>\n<style>\n%s</style>\n</head>\n<body>\n", esc(title), css)
	pg.p("<h1>%s</h1>\n", esc(title))
	names := make([]string, len(pg.runs))
	for i, r := range pg.runs {
		names[i] = r.Name
	}
	pg.p("<p class=\"note\">%s. Charts of several runs share their axes.</p>\n", esc(strings.Join(names, " · ")))

	pg.summaries()
	if pg.opt.Compare {
		pg.comparison()
	}
	pg.charts()
	pg.endpoints()
	v := pg.opt.Version
	if v == "" {
		v = "dev"
	}
	pg.p("<footer>Written by queuegap %s. Self-contained: nothing on this page is fetched from anywhere (no scripts, fonts, style sheets or images).</footer>\n</body>\n</html>\n", esc(v))
	return pg.err
}

// grid opens a row of one cell per run.
func (pg *page) grid() {
	pg.p("<div class=\"row\" style=\"grid-template-columns:repeat(%d,minmax(0,860px))\">\n", len(pg.runs))
}

func (pg *page) summaries() {
	pg.raw("<h2>Summary</h2>\n")
	pg.grid()
	for _, r := range pg.runs {
		s := r.Summary
		pg.raw("<div class=\"card\">\n")
		pg.p("<figcaption>%s</figcaption>\n", esc(r.Name))
		pg.p("<div class=\"headline\">%s</div>\n", esc(s.Headline))
		pg.gap(s)
		pg.raw("<table>\n")
		row := func(k, v string) { pg.p("<tr><th class=\"l\">%s</th><td class=\"l\">%s</td></tr>\n", esc(k), esc(v)) }
		if s.RunID != "" {
			row("run", s.RunID)
		}
		if s.URL != "" {
			row("target", s.URL)
		}
		if s.Schedule != "" {
			row("schedule", s.Schedule)
		}
		row("requests", fmt.Sprintf("%d in %.2f s (%.1f/s achieved%s)", s.Requests, s.DurationS, s.AchievedRate, targetRate(s)))
		row("errors", fmt.Sprintf("%d", s.Errors))
		pg.raw("</table>\n")
		for _, w := range s.Warnings {
			pg.p("<div class=\"warn\">%s</div>\n", esc(w))
		}
		for _, c := range s.Checks {
			verdict, cls := "passed", "note"
			if c.Failed {
				verdict, cls = "FAILED", "warn"
			}
			pg.p("<div class=\"%s\">--fail-if %s: %s (measured %s)</div>\n", cls, esc(c.Expr), verdict, esc(c.Display))
		}
		pg.outcomes(s)
		pg.phases(s)
		pg.attribution(s)
		pg.raw("</div>\n")
	}
	pg.raw("</div>\n")
}

func targetRate(s *analyze.Summary) string {
	if s.TargetRate > 0 {
		return fmt.Sprintf(" of %.1f/s scheduled", s.TargetRate)
	}
	return ""
}

// gap states the gap: what clients saw against what the app said it took.
func (pg *page) gap(s *analyze.Summary) {
	client := s.Phases[analyze.PhaseTotal]
	if client.Count == 0 {
		return
	}
	if s.Server.App.Count == 0 {
		pg.p("<div class=\"gap\">Clients p50 <b>%s</b>, p99 <b>%s</b>; the server reported no processing time, so the gap cannot be measured.</div>\n",
			fmtMs(client.P50), fmtMs(client.P99))
		return
	}
	app := s.Server.App
	pg.p("<div class=\"gap\">Clients p50 <b>%s</b> vs app p50 <b>%s</b>: gap <b>%s</b>; p99 <b>%s</b> vs <b>%s</b>: gap <b>%s</b>.</div>\n",
		fmtMs(client.P50), fmtMs(app.P50), fmtMs(max(client.P50-app.P50, 0)), fmtMs(client.P99), fmtMs(app.P99), fmtMs(max(client.P99-app.P99, 0)))
}

func (pg *page) outcomes(s *analyze.Summary) {
	if len(s.Outcomes) == 0 {
		return
	}
	pg.raw("<table>\n<tr><th class=\"l\">outcome</th><th>requests</th><th>share</th><th>p50</th><th>p99</th></tr>\n")
	for _, o := range s.SortedOutcomes() {
		n := s.Outcomes[o]
		ot := s.OutcomeTotals[o]
		pg.p("<tr><td class=\"l\"><span class=\"dot\" style=\"background:%s\"></span> %s</td><td>%d</td><td>%.1f %%</td><td>%s</td><td>%s</td></tr>\n",
			hexColor(outcomeColor(o)), esc(o), n, pct(n, s.Requests), fmtMs(ot.P50), fmtMs(ot.P99))
	}
	pg.raw("</table>\n")
}

func pct(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

func (pg *page) phases(s *analyze.Summary) {
	pg.raw("<table>\n<tr><th class=\"l\">phase</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n")
	row := func(name string, ps analyze.PhaseStats) {
		pg.p("<tr><td class=\"l\">%s</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			esc(name), ps.Count, fmtMs(ps.P50), fmtMs(ps.P90), fmtMs(ps.P99), fmtMs(ps.P999), fmtMs(ps.Max))
	}
	for _, p := range analyze.Phases {
		row(p, s.Phases[p])
	}
	if s.Server.App.Count > 0 {
		row("app (reported)", s.Server.App)
	}
	if s.Server.Queue.Count > 0 {
		row("queue (reported)", s.Server.Queue)
	}
	pg.raw("</table>\n")
}

func (pg *page) attribution(s *analyze.Summary) {
	if s.Requests == 0 {
		return
	}
	pg.raw("<table>\n<tr><th class=\"l\">where the client time went</th><th>share</th><th>p50</th><th>p99</th><th>max</th></tr>\n")
	for _, c := range analyze.Components {
		cs := s.Attribution[c]
		if cs.TotalS == 0 && c != analyze.CompBacklog && c != analyze.CompProcessing {
			continue
		}
		pg.p("<tr><td class=\"l\"><span class=\"sw\" style=\"background:%s\"></span> %s</td><td>%.1f %%</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			hexColor(componentColors[c]), esc(c), cs.Share*100, fmtMs(cs.P50), fmtMs(cs.P99), fmtMs(cs.Max))
	}
	pg.raw("</table>\n")
	if s.Estimated > 0 {
		pg.p("<p class=\"note\">%d of %d requests: backlog and processing estimated (the server reported no queue time).</p>\n", s.Estimated, s.Requests)
	}
}

func (pg *page) comparison() {
	a, b := pg.runs[0], pg.runs[1]
	c := analyze.Compare(a.Summary, b.Summary)
	pg.raw("<h2>What changed</h2>\n")
	pg.p("<table>\n<tr><th class=\"l\">figure</th><th>%s</th><th>%s</th><th>change</th></tr>\n", esc(a.Name), esc(b.Name))
	for _, ch := range c.Changes {
		change := ""
		switch {
		case ch.ANoData || ch.BNoData:
			change = "n/a"
		case ch.Unchanged:
			change = "="
		case ch.A != 0:
			change = fmt.Sprintf("%+.1f %%", ch.DeltaPct)
		default:
			change = fmt.Sprintf("%+g", ch.Delta)
		}
		pg.p("<tr><td class=\"l\">%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", esc(ch.Metric), esc(ch.ADisplay), esc(ch.BDisplay), esc(change))
	}
	pg.raw("</table>\n")
}

type legendItem struct {
	label string
	c     color.Color
	kind  string // "line", "dash", "area", "dot"
}

func (pg *page) legend(items []legendItem) {
	pg.raw("<div class=\"legend\">")
	for _, it := range items {
		var mark string
		switch it.kind {
		case "line", "dash":
			cls := "ln"
			if it.kind == "dash" {
				cls += " dash"
			}
			mark = fmt.Sprintf("<span class=\"%s\" style=\"border-top-color:%s\"></span>", cls, hexColor(it.c))
		case "dot":
			mark = fmt.Sprintf("<span class=\"dot\" style=\"background:%s\"></span>", hexColor(it.c))
		default:
			mark = fmt.Sprintf("<span class=\"sw\" style=\"background:%s\"></span>", hexColor(it.c))
		}
		pg.p("<span class=\"k\">%s%s</span>", mark, esc(it.label))
	}
	pg.raw("</div>\n")
}

// chartRow draws one chart per run, each under its run's name.
func (pg *page) chartRow(draw func(r *Run) (svg string, note string, err error)) {
	pg.grid()
	for _, r := range pg.runs {
		svg, note, err := draw(r)
		if err != nil && pg.err == nil {
			pg.err = err
		}
		pg.p("<figure>\n<figcaption>%s</figcaption>\n", esc(r.Name))
		if svg == "" {
			pg.p("<div class=\"empty\">%s</div>\n", esc(note))
		} else {
			pg.raw(svg)
			if note != "" {
				pg.p("<p class=\"note\">%s</p>\n", esc(note))
			}
		}
		pg.raw("</figure>\n")
	}
	pg.raw("</div>\n")
}

func (pg *page) charts() {
	sh := pg.sh
	phaseLegend := func(withP99 bool) []legendItem {
		var items []legendItem
		for ph, name := range phaseNames {
			if name == analyze.PhaseTTFB {
				name += " (wide, under total)"
			}
			if withP99 {
				items = append(items, legendItem{name + " p50", phaseColors[ph], "line"}, legendItem{name + " p99", phaseColors[ph], "dash"})
			} else {
				items = append(items, legendItem{name, phaseColors[ph], "line"})
			}
		}
		return items
	}

	pg.raw("<h2>Latency percentiles over time</h2>\n<p class=\"note\">Each request counts at its intended send time (so a slow moment shows where it was caused); p50 solid, p99 dashed; connect only for requests that opened a connection.</p>\n")
	pg.legend(phaseLegend(true))
	pg.chartRow(func(r *Run) (string, string, error) {
		if r.seen == 0 {
			return "", "no requests", nil
		}
		s, err := latencyOverTime(r, sh)
		return s, fmt.Sprintf("time buckets of %s", r.view().width), err
	})

	pg.raw("<h2>Where the time went, over time</h2>\n<p class=\"note\">The mean of each attribution component per request, stacked: the top edge is the mean total of the requests sent in that interval.</p>\n")
	var comps []legendItem
	for _, c := range sh.comps {
		comps = append(comps, legendItem{c, componentColors[c], "area"})
	}
	pg.legend(comps)
	pg.chartRow(func(r *Run) (string, string, error) {
		if r.seen == 0 {
			return "", "no requests", nil
		}
		s, err := components(r, sh)
		return s, "", err
	})

	pg.raw("<h2>Latency distribution</h2>\n<p class=\"note\">HDR percentile plot of the whole run: each step right is one more nine.</p>\n")
	pg.legend(phaseLegend(false))
	pg.chartRow(func(r *Run) (string, string, error) {
		if r.seen == 0 {
			return "", "no requests", nil
		}
		s, err := distribution(r, sh)
		return s, fmt.Sprintf("%d requests", r.phases[phTotal].TotalCount()), err
	})

	pg.raw("<h2>Every request</h2>\n<p class=\"note\">Each request's total latency against its intended send time, coloured by outcome.</p>\n")
	var outs []legendItem
	for _, o := range sh.outcomes {
		outs = append(outs, legendItem{o, outcomeColor(o), "dot"})
	}
	pg.legend(outs)
	pg.chartRow(func(r *Run) (string, string, error) {
		if r.seen == 0 {
			return "", "no requests", nil
		}
		s, err := scatter(r, sh)
		note := fmt.Sprintf("all %s requests", thousands(r.seen))
		if r.seen > int64(len(r.points)) {
			note = fmt.Sprintf("sampled: %s of %s requests (uniformly at random)", thousands(int64(len(r.points))), thousands(r.seen))
		}
		return s, note, err
	})

	pg.raw("<h2>Server side</h2>\n")
	if len(sh.probeRows) == 0 {
		pg.raw("<p class=\"note\">No probe samples in these results: run with <code>--probe</code> (listen queue, uWSGI workers, CPU) to see the server side of the queue here.</p>\n")
		return
	}
	pg.raw("<p class=\"note\">Probe samples on the same time axis as the requests above.</p>\n")
	for _, row := range sh.probeRows {
		pg.p("<p><b>%s</b> <span class=\"note\">(%s)</span></p>\n", esc(row.probe), esc(row.kind))
		var items []legendItem
		for _, v := range row.values {
			items = append(items, legendItem{v, valueColor(row, v), "line"})
		}
		pg.legend(items)
		pg.chartRow(func(r *Run) (string, string, error) {
			s, ok, err := probeChart(r, row, sh)
			if !ok {
				return "", "no samples of this probe in this run", err
			}
			return s, probeNote(r, row), err
		})
	}
	if n := pg.droppedSeries(); n > 0 {
		pg.p("<p class=\"note\">%d probe values beyond the first %d series were not charted.</p>\n", n, maxProbeSeries)
	}
}

// probeNote says what a flat line would hide: uWSGI reads its listen queue
// through TCP_INFO, which a unix socket does not have.
func probeNote(r *Run, row probeRow) string {
	if row.kind != "uwsgi" {
		return ""
	}
	var zero []string
	for _, v := range row.values {
		if strings.Contains(v, "queue") && allZero(r, row, v) {
			zero = append(zero, v)
		}
	}
	if len(zero) == 0 {
		return ""
	}
	return strings.Join(zero, ", ") + " stayed 0: uWSGI reports its listen queue only for TCP sockets (0 on a unix socket), so 0 here may mean \"not measured\""
}

func (pg *page) droppedSeries() int64 {
	var n int64
	for _, r := range pg.runs {
		n += r.dropped
	}
	return n
}

func (pg *page) endpoints() {
	pg.raw("<h2>Per endpoint</h2>\n")
	pg.grid()
	for _, r := range pg.runs {
		s := r.Summary
		pg.p("<div class=\"card\">\n<figcaption>%s</figcaption>\n", esc(r.Name))
		pg.raw("<table>\n<tr><th class=\"l\">client</th><th class=\"l\">request</th><th>count</th><th>errors</th><th>total p50</th><th>total p99</th><th>ttfb p99</th><th>connect p99</th><th class=\"l\">most time in</th></tr>\n")
		eps := s.Endpoints
		if len(eps) == 0 {
			eps = []analyze.EndpointSummary{{Name: "(whole run)", Count: s.Requests, Errors: s.Errors,
				Total: s.Phases[analyze.PhaseTotal], TTFB: s.Phases[analyze.PhaseTTFB], Connect: s.Phases[analyze.PhaseConnect], Top: topComponent(s)}}
		}
		for _, e := range eps {
			top := e.Top
			if sh, ok := e.Shares[top]; ok {
				top = fmt.Sprintf("%s (%.0f %%)", top, sh*100)
			}
			pg.p("<tr><td class=\"l\">%s</td><td class=\"l\">%s</td><td>%d</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"l\">%s</td></tr>\n",
				esc(e.Client), esc(e.Name), e.Count, e.Errors, fmtMs(e.Total.P50), fmtMs(e.Total.P99), fmtMs(e.TTFB.P99), fmtMs(e.Connect.P99), esc(top))
		}
		pg.raw("</table>\n</div>\n")
	}
	pg.raw("</div>\n")
}

func topComponent(s *analyze.Summary) string {
	names := make([]string, 0, len(s.Attribution))
	for n := range s.Attribution {
		names = append(names, n)
	}
	sort.Strings(names)
	best, top := 0.0, ""
	for _, n := range names {
		if v := s.Attribution[n].Share; v > best {
			best, top = v, fmt.Sprintf("%s (%.0f %%)", n, v*100)
		}
	}
	return top
}

// fmtMs renders milliseconds for people: 0.42 ms, 123.4 ms, 9.81 s.
func fmtMs(ms float64) string {
	switch {
	case ms == 0:
		return "0"
	case ms < 1:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.2f s", ms/1000)
	}
}
