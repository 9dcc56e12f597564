package analyze

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
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
	// Endpoints compare the runs endpoint by endpoint, when both have
	// endpoints: matched by client and name, or by name alone when a side
	// has no client names (a production log beside its replay).
	Endpoints []EndpointChange `json:"endpoints,omitempty"`
}

// EndpointChange is one endpoint in a comparison. Only says "a" or "b"
// when the endpoint is in one run only; its figures on the other side are
// then 0 and no change is computed.
type EndpointChange struct {
	Client      string  `json:"client"`
	Name        string  `json:"name"`
	Only        string  `json:"only,omitempty"`
	ACount      int64   `json:"a_count"`
	BCount      int64   `json:"b_count"`
	AP50        float64 `json:"a_p50_ms"`
	BP50        float64 `json:"b_p50_ms"`
	P50DeltaPct float64 `json:"p50_delta_pct"` // relative to A; 0 when A's is 0
	AP99        float64 `json:"a_p99_ms"`
	BP99        float64 `json:"b_p99_ms"`
	P99DeltaPct float64 `json:"p99_delta_pct"`
	AErrorRate  float64 `json:"a_error_rate"`
	BErrorRate  float64 `json:"b_error_rate"`
}

// compareEndpoints pairs the endpoints of a and b.
func compareEndpoints(a, b *Summary) []EndpointChange {
	if len(a.Endpoints) == 0 || len(b.Endpoints) == 0 {
		return nil
	}
	byName := !namedClients(a) || !namedClients(b)
	key := func(e *EndpointSummary) string {
		if byName {
			return e.Name
		}
		return e.Client + "\x00" + e.Name
	}
	// Per side, the figures of each key: by name, a name's total over its
	// clients where it has one.
	side := func(s *Summary) (map[string]*EndpointSummary, []string) {
		m := map[string]*EndpointSummary{}
		var order []string
		for i := range s.Endpoints {
			e := &s.Endpoints[i]
			k := key(e)
			if _, ok := m[k]; !ok {
				order = append(order, k)
			}
			m[k] = e
		}
		if byName {
			for i := range s.Names {
				m[s.Names[i].Name] = &s.Names[i]
			}
		}
		return m, order
	}
	am, aOrder := side(a)
	bm, bOrder := side(b)
	var out []EndpointChange
	add := func(k string) {
		ea, eb := am[k], bm[k]
		ch := EndpointChange{}
		ref := ea
		if ref == nil {
			ref = eb
		}
		ch.Name = ref.Name
		if !byName {
			ch.Client = ref.Client
		}
		switch {
		case ea == nil:
			ch.Only = "b"
		case eb == nil:
			ch.Only = "a"
		}
		if ea != nil {
			ch.ACount, ch.AP50, ch.AP99, ch.AErrorRate = ea.Count, ea.Total.P50, ea.Total.P99, errorRate(ea)
		}
		if eb != nil {
			ch.BCount, ch.BP50, ch.BP99, ch.BErrorRate = eb.Count, eb.Total.P50, eb.Total.P99, errorRate(eb)
		}
		if ch.Only == "" {
			ch.P50DeltaPct, ch.P99DeltaPct = deltaPct(ch.AP50, ch.BP50), deltaPct(ch.AP99, ch.BP99)
		}
		out = append(out, ch)
	}
	for _, k := range aOrder {
		add(k)
	}
	for _, k := range bOrder {
		if am[k] == nil {
			add(k)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Client != out[j].Client {
			return out[i].Client < out[j].Client
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// namedClients says whether the summary's endpoints name their clients.
func namedClients(s *Summary) bool {
	for _, e := range s.Endpoints {
		if e.Client != "" {
			return true
		}
	}
	return false
}

func errorRate(e *EndpointSummary) float64 {
	if e.Count == 0 {
		return 0
	}
	return round3(float64(e.Errors) / float64(e.Count))
}

func deltaPct(a, b float64) float64 {
	if a == 0 {
		return 0
	}
	return round3((b - a) / a * 100)
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
	c.Endpoints = compareEndpoints(a, b)
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
	c.writeEndpoints(&b)
	fmt.Fprintf(&b, "\nA: %s\nB: %s\n", c.A.Headline, c.B.Headline)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeEndpoints prints the per-endpoint rows: counts, p50 and p99 of
// the total, and their changes.
func (c *Comparison) writeEndpoints(b *strings.Builder) {
	if len(c.Endpoints) == 0 {
		return
	}
	withClient := false
	for _, e := range c.Endpoints {
		withClient = withClient || e.Client != ""
	}
	b.WriteString("\nper endpoint\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	if withClient {
		fmt.Fprint(tw, "client\t")
	}
	fmt.Fprintln(tw, "name\tA count\tB count\tA p50\tB p50\tchange\tA p99\tB p99\tchange\t")
	for _, e := range c.Endpoints {
		if withClient {
			fmt.Fprintf(tw, "%s\t", e.Client)
		}
		name := orDash(e.Name)
		switch e.Only {
		case "a":
			fmt.Fprintf(tw, "%s\t%d\t-\t%s\t-\tonly in A\t%s\t-\tonly in A\t\n", name, e.ACount, fmtMs(e.AP50), fmtMs(e.AP99))
		case "b":
			fmt.Fprintf(tw, "%s\t-\t%d\t-\t%s\tonly in B\t-\t%s\tonly in B\t\n", name, e.BCount, fmtMs(e.BP50), fmtMs(e.BP99))
		default:
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, e.ACount, e.BCount,
				fmtMs(e.AP50), fmtMs(e.BP50), fmtChange(e.AP50, e.BP50, e.P50DeltaPct), fmtMs(e.AP99), fmtMs(e.BP99), fmtChange(e.AP99, e.BP99, e.P99DeltaPct))
		}
	}
	tw.Flush()
}

func fmtChange(a, b, pct float64) string {
	switch {
	case a == b:
		return "="
	case a == 0:
		return "new"
	}
	return fmt.Sprintf("%+.1f%%", pct)
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
