package analyze

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// CompareMetrics are the figures --compare lists, in order; the names are
// the --fail-if metric names.
var CompareMetrics = []string{
	"requests", "achieved_rate", "rate(errors)",
	"p50(total)", "p90(total)", "p99(total)", "p999(total)", "max(total)",
	"p50(ttfb)", "p99(ttfb)", "p99(connect)", "p99(lag)",
	"p99(app)", "p99(backlog)", "p99(syn_retry)",
	"share(backlog)", "share(syn_retry)", "share(processing)", "share(network)",
	"rate(ok)", "rate(proxy_refused)", "rate(gateway_timeout)", "rate(worker_killed)", "rate(http_5xx)", "rate(connect_timeout)", "rate(refused)",
}

// Change is one metric in a comparison. A side without data for the metric
// (see Metric) shows "n/a" and the change is not computed: a metric one side
// lacks is not a −100 % improvement.
type Change struct {
	Metric    string  `json:"metric"`
	A         float64 `json:"a"`
	B         float64 `json:"b"`
	Delta     float64 `json:"delta"`     // 0 when a side has no data
	DeltaPct  float64 `json:"delta_pct"` // relative to A; 0 when A is 0 or a side has no data
	ADisplay  string  `json:"a_display"`
	BDisplay  string  `json:"b_display"`
	ANoData   bool    `json:"a_no_data"`
	BNoData   bool    `json:"b_no_data"`
	Unchanged bool    `json:"-"`
}

// Comparison is a before/after report of two runs.
type Comparison struct {
	A       *Summary `json:"a"`
	B       *Summary `json:"b"`
	Changes []Change `json:"changes"`
}

// Compare lists every CompareMetrics figure of a and b with its change.
func Compare(a, b *Summary) Comparison {
	c := Comparison{A: a, B: b}
	for _, m := range CompareMetrics {
		ma, err := MetricValue(a, m)
		if err != nil {
			continue
		}
		mb, err := MetricValue(b, m)
		if err != nil {
			continue
		}
		ch := Change{Metric: m, A: ma.Value, B: mb.Value, ADisplay: compareDisplay(ma), BDisplay: compareDisplay(mb), ANoData: ma.NoData, BNoData: mb.NoData}
		switch {
		case ma.NoData || mb.NoData:
			// Nothing to compare. The row is worth showing only when the
			// side with data has something (a 0 % beside an n/a says nothing).
			ch.Unchanged = (ma.NoData || ma.Value == 0) && (mb.NoData || mb.Value == 0)
		default:
			ch.Delta = round3(mb.Value - ma.Value)
			ch.Unchanged = ma.Value == 0 && mb.Value == 0
			if ma.Value != 0 {
				ch.DeltaPct = round3((mb.Value - ma.Value) / ma.Value * 100)
			}
		}
		c.Changes = append(c.Changes, ch)
	}
	return c
}

// WriteText prints the comparison side by side, skipping metrics that are
// zero (or have no data) in both runs.
func (c *Comparison) WriteText(w io.Writer, nameA, nameB string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "A: %s (%d requests)\nB: %s (%d requests)\n\n", nameA, c.A.Requests, nameB, c.B.Requests)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tA\tB\tchange\t")
	for _, ch := range c.Changes {
		if ch.Unchanged {
			continue
		}
		change := "="
		switch {
		case ch.ANoData || ch.BNoData:
			change = "n/a"
		case ch.A == ch.B:
		case ch.A == 0:
			change = "new"
		default:
			change = fmt.Sprintf("%+.1f%%", ch.DeltaPct)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", ch.Metric, ch.ADisplay, ch.BDisplay, change)
	}
	tw.Flush()
	fmt.Fprintf(&b, "\nA: %s\nB: %s\n", c.A.Headline, c.B.Headline)
	_, err := io.WriteString(w, b.String())
	return err
}

// compareDisplay is a side's cell: "n/a" without data (the table has no
// room for the reason; --fail-if says it).
func compareDisplay(m Metric) string {
	if m.NoData {
		return "n/a"
	}
	return m.Display()
}

// WriteJSON prints the comparison as one JSON object.
func (c *Comparison) WriteJSON(w io.Writer) error { return json.NewEncoder(w).Encode(c) }
