package analyze

import (
	"strings"
	"testing"
)

func sampleSummary() *Summary {
	s := &Summary{
		Requests:     200,
		AchievedRate: 99.5,
		Errors:       10,
		Outcomes:     map[string]int64{OutcomeOK: 190, OutcomeProxyRefused: 10},
		Phases: map[string]PhaseStats{
			PhaseTotal:   {Count: 200, P50: 900, P90: 1500, P99: 2500, P999: 2600, Max: 2700, Mean: 1000},
			PhaseTTFB:    {Count: 200, P99: 2400},
			PhaseConnect: {Count: 200, P99: 1000},
			PhaseLag:     {Count: 200, P99: 0.3},
		},
		Attribution: map[string]ComponentStats{},
		Server:      ServerStats{App: PhaseStats{Count: 190, P99: 250}},
	}
	for _, c := range Components {
		s.Attribution[c] = ComponentStats{}
	}
	s.Attribution[CompBacklog] = ComponentStats{PhaseStats: PhaseStats{P99: 1800}, Share: 0.7}
	return s
}

func TestChecks(t *testing.T) {
	s := sampleSummary()
	tests := []struct {
		expr     string
		fail     bool
		measured float64
	}{
		{"p99(total) > 2s", true, 2500},
		{"p99(total) > 3s", false, 2500},
		{"p99(total)>=2500ms", true, 2500},
		{"p99(total) < 2500", false, 2500},
		{"p50(total) <= 900", true, 900},
		{"max(total) != 2700ms", false, 2700},
		{"mean(total) == 1s", true, 1000},
		{"rate(proxy_refused) > 0.01", true, 0.05},
		{"rate(proxy_refused) > 10%", false, 0.05},
		{"rate(errors) >= 5%", true, 0.05},
		{"count(ok) < 190", false, 190},
		{"share(backlog) > 50%", true, 0.7},
		{"p99(backlog) > 2s", false, 1800},
		{"p99(connect) >= 1s", true, 1000}, // the phase, not the component
		{"p99(app) > 200ms", true, 250},
		{"achieved_rate < 100", true, 99.5},
		{"requests < 100", false, 200},
		{"errors > 0", true, 10},
		{"  p99( total )  >  2s ", true, 2500},
	}
	for _, tt := range tests {
		c, err := ParseCheck(tt.expr)
		if err != nil {
			t.Errorf("ParseCheck(%q): %v", tt.expr, err)
			continue
		}
		r, err := c.Eval(s)
		if err != nil {
			t.Errorf("%q: %v", tt.expr, err)
			continue
		}
		if r.Failed != tt.fail || r.Measured != tt.measured {
			t.Errorf("%q: failed=%v measured=%v, want %v %v", tt.expr, r.Failed, r.Measured, tt.fail, tt.measured)
		}
	}
	results, failed, err := EvalChecks([]Check{mustCheck(t, "p99(total) > 2s"), mustCheck(t, "errors > 100")}, s)
	if err != nil || !failed || len(results) != 2 || results[1].Failed {
		t.Fatalf("EvalChecks: %+v %v %v", results, failed, err)
	}
}

func mustCheck(t *testing.T, e string) Check {
	t.Helper()
	c, err := ParseCheck(e)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMalformedChecks(t *testing.T) {
	bad := map[string]string{
		"":                       "want METRIC OP VALUE",
		"p99(total)":             "want METRIC OP VALUE",
		"> 2s":                   "want METRIC OP VALUE",
		"p99(total) > ":          "missing value",
		"p99(total) > fast":      "duration",
		"p99(total > 2s":         "missing ')'",
		"p98(total) > 2s":        "unknown function",
		"p99(latency) > 2s":      "unknown distribution",
		"rate(teapot) > 1%":      "unknown outcome",
		"share(app) > 1%":        "unknown component",
		"rate(errors) > lots%":   "not a percentage",
		"throughput > 5":         "unknown metric",
		"p99(total) > NaN":       "duration",
		"rate(errors) > Inf":     "not a number",
		"achieved_rate > 10/s":   "not a number",
		"count(ok) > 1e400":      "not a number",
		"p99(total) > 2s > 1s":   "duration",
		"share(backlog) >> 0.5":  "not a number",
		"rate(proxy_refused) =1": "want METRIC OP VALUE",
	}
	for expr, want := range bad {
		_, err := ParseCheck(expr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCheck(%q) = %v, want an error mentioning %q", expr, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseCheck(%q): multi-line error", expr)
		}
	}
}

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
