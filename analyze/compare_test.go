package analyze

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	a := sampleSummary()
	b := sampleSummary()
	b.Phases[PhaseTotal] = PhaseStats{Count: 200, P50: 450, P90: 750, P99: 1250, P999: 1300, Max: 1350, Mean: 500}
	b.Outcomes = map[string]int64{OutcomeOK: 200}
	b.Errors = 0
	c := Compare(a, b)
	byName := map[string]Change{}
	for _, ch := range c.Changes {
		byName[ch.Metric] = ch
	}
	p99 := byName["p99(total)"]
	if p99.A != 2500 || p99.B != 1250 || p99.DeltaPct != -50 {
		t.Fatalf("p99(total) change %+v", p99)
	}
	if ch := byName["rate(proxy_refused)"]; ch.A != 0.05 || ch.B != 0 || ch.DeltaPct != -100 {
		t.Fatalf("rate(proxy_refused) change %+v", ch)
	}
	if ch := byName["requests"]; ch.Delta != 0 {
		t.Fatalf("requests change %+v", ch)
	}
	var out strings.Builder
	if err := c.WriteText(&out, "before", "after"); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"p99(total)", "2.50s", "1.25s", "-50.0%", "A: before", "B: after"} {
		if !strings.Contains(text, want) {
			t.Errorf("comparison text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "rate(gateway_timeout)") {
		t.Errorf("metrics that are zero in both runs should be skipped:\n%s", text)
	}
}

// B3: a metric one side has no data for shows n/a and no change, never a
// −100 % improvement; a metric neither side has is left out.
func TestCompareNoData(t *testing.T) {
	a := sampleSummary()
	hdr := SummaryFromHDR(mustReadHDR(t, writeTestLog(t, hdrRunStart, steadyResults(300)), HDRLogOptions{}))
	c := Compare(a, &hdr)
	byName := map[string]Change{}
	for _, ch := range c.Changes {
		byName[ch.Metric] = ch
	}
	tests := []struct {
		metric             string
		aNoData, bNoData   bool
		aDisplay, bDisplay string
	}{
		{"rate(proxy_refused)", false, true, "5.00%", "n/a"},
		{"rate(errors)", false, true, "5.00%", "n/a"},
		{"achieved_rate", false, true, "99.5/s", "n/a"},
		{"share(backlog)", false, true, "70.00%", "n/a"},
		{"p99(app)", false, true, "250.0ms", "n/a"}, // the HDR log has no server timing
		{"p99(total)", false, false, "2.50s", "5.0ms"},
	}
	for _, tt := range tests {
		ch, ok := byName[tt.metric]
		if !ok {
			t.Errorf("%s: not compared", tt.metric)
			continue
		}
		if ch.ANoData != tt.aNoData || ch.BNoData != tt.bNoData || ch.ADisplay != tt.aDisplay || ch.BDisplay != tt.bDisplay {
			t.Errorf("%s: %+v, want no data %v/%v, display %q/%q", tt.metric, ch, tt.aNoData, tt.bNoData, tt.aDisplay, tt.bDisplay)
		}
		if (tt.aNoData || tt.bNoData) && (ch.DeltaPct != 0 || ch.Delta != 0) {
			t.Errorf("%s: change %+v computed against a side without data", tt.metric, ch)
		}
	}
	if ch := byName["p99(total)"]; ch.DeltaPct > -99 || ch.DeltaPct < -100 {
		t.Errorf("p99(total) change %+v: both sides have data, want ≈ −99.8 %%", ch)
	}

	var out strings.Builder
	if err := c.WriteText(&out, "run", "log"); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	rows := 0
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || !strings.HasPrefix(f[0], "rate(") && !strings.HasPrefix(f[0], "share(") {
			continue
		}
		rows++
		if f[2] != "n/a" || f[3] != "n/a" {
			t.Errorf("row %q: the HDR log has no outcomes or shares; want B and change n/a", line)
		}
	}
	if rows != 4 || strings.Contains(text, "rate(gateway_timeout)") { // rate(errors), share(backlog), rate(ok), rate(proxy_refused): non-zero in A
		t.Errorf("%d rate and share rows, want those A has a non-zero value for:\n%s", rows, text)
	}
	js, err := json.Marshal(byName["rate(errors)"])
	if err != nil || !strings.Contains(string(js), `"b_no_data":true`) || !strings.Contains(string(js), `"a_no_data":false`) {
		t.Errorf("JSON %s %v", js, err)
	}

	// Neither side has app timing: the row is left out.
	b := deadTargetSummary()
	if c := Compare(b, deadTargetSummary()); hasChange(c, "p99(app)") {
		t.Errorf("p99(app) compared though neither side has it: %+v", c.Changes)
	} else {
		out.Reset()
		if err := c.WriteText(&out, "a", "b"); err != nil || strings.Contains(out.String(), "p99(app)") {
			t.Errorf("text lists a metric neither side has:\n%s", out.String())
		}
	}
}

// hasChange says whether the comparison would show metric m.
func hasChange(c Comparison, m string) bool {
	for _, ch := range c.Changes {
		if ch.Metric == m && !ch.Unchanged {
			return true
		}
	}
	return false
}

// TestCompareEndpoints: endpoints pair by client and name; one-sided ones
// are listed as such; a side without client names pairs by name.
func TestCompareEndpoints(t *testing.T) {
	a := endpointSummary()
	b := endpointSummary()
	b.Endpoints = append([]EndpointSummary(nil), b.Endpoints...)
	b.Endpoints[2].Total = PhaseStats{Count: 60, P50: 450, P99: 1250} // checkout twice as fast
	b.Endpoints[2].Count = 60
	b.Endpoints[0] = EndpointSummary{Client: "browse", Name: "search", Count: 7, Total: PhaseStats{Count: 7, P50: 5, P99: 9}}
	c := Compare(a, b)
	got := map[string]EndpointChange{}
	for _, e := range c.Endpoints {
		got[e.Client+"/"+e.Name] = e
	}
	if len(c.Endpoints) != 4 {
		t.Fatalf("endpoints %+v", c.Endpoints)
	}
	if e := got["partner-a/checkout"]; e.Only != "" || e.ACount != 50 || e.BCount != 60 || e.P50DeltaPct != -50 || e.P99DeltaPct != -50 || e.AErrorRate != 0.18 {
		t.Errorf("checkout %+v", e)
	}
	if e := got["browse/GET /users/:id"]; e.Only != "a" || e.ACount != 100 || e.BCount != 0 {
		t.Errorf("users in A only: %+v", e)
	}
	if e := got["browse/search"]; e.Only != "b" || e.BCount != 7 {
		t.Errorf("search in B only: %+v", e)
	}
	if e := got["partner-a/GET /users/:id"]; e.Only != "" || e.P99DeltaPct != 0 {
		t.Errorf("users of partner-a unchanged: %+v", e)
	}
	var out strings.Builder
	if err := c.WriteText(&out, "before", "after"); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"per endpoint", "checkout", "-50.0%", "only in A", "only in B"} {
		if !strings.Contains(text, want) {
			t.Errorf("comparison text lacks %q:\n%s", want, text)
		}
	}
	var js strings.Builder
	if err := c.WriteJSON(&js); err != nil || !strings.Contains(js.String(), `"endpoints":[{"client":"browse","name":"GET /users/:id","only":"a"`) {
		t.Errorf("JSON (%v): %s", err, js.String())
	}
	// A production log (no client names) beside a replay: by name.
	prod := &Summary{Endpoints: []EndpointSummary{{Name: "GET /users/:id", Count: 140, Total: PhaseStats{P50: 10, P99: 55}}, {Name: "checkout", Count: 40, Total: PhaseStats{P50: 900, P99: 2500}}}}
	c = Compare(prod, endpointSummary())
	if len(c.Endpoints) != 2 || c.Endpoints[0].Name != "GET /users/:id" || c.Endpoints[0].BCount != 150 || c.Endpoints[0].P99DeltaPct != 100 || c.Endpoints[1].Only != "" {
		t.Errorf("by name: %+v", c.Endpoints)
	}
	if c := Compare(sampleSummary(), endpointSummary()); c.Endpoints != nil {
		t.Errorf("one side without endpoints: %+v", c.Endpoints)
	}
}
