package analyze

import (
	"encoding/json"
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
	// Every request has every component (most are 0), so each counts all 200.
	for _, c := range Components {
		s.Attribution[c] = ComponentStats{PhaseStats: PhaseStats{Count: 200}}
	}
	s.Attribution[CompBacklog] = ComponentStats{PhaseStats: PhaseStats{Count: 200, P99: 1800}, Share: 0.7}
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

// deadTargetSummary is a run against a port nobody listens on: every
// request refused at connect, no response byte, no server timing.
func deadTargetSummary() *Summary {
	s := &Summary{
		Requests: 50, AchievedRate: 10, Errors: 50,
		Outcomes:    map[string]int64{"refused": 50},
		Phases:      map[string]PhaseStats{PhaseTotal: {Count: 50, P50: 0.2, P99: 0.4, Max: 0.5, Mean: 0.2}, PhaseLag: {Count: 50}, PhaseTTFB: {}, PhaseConnect: {}},
		Attribution: map[string]ComponentStats{},
	}
	for _, c := range Components {
		s.Attribution[c] = ComponentStats{PhaseStats: PhaseStats{Count: 50}}
	}
	s.Attribution[CompConnect] = ComponentStats{PhaseStats: PhaseStats{Count: 50, P99: 0.4}, Share: 1}
	return s
}

// B1, B2: a check the summary cannot tell fails and says "no data", whatever
// its operator; a known 0 is still a measurement.
func TestChecksNoData(t *testing.T) {
	empty := &Summary{Phases: map[string]PhaseStats{}, Attribution: map[string]ComponentStats{}, Outcomes: map[string]int64{}}
	for _, c := range Components {
		empty.Attribution[c] = ComponentStats{}
	}
	idle := deadTargetSummary() // requests that took no time at all
	idle.Phases[PhaseTotal] = PhaseStats{Count: 50}
	hdr := &Summary{Source: SourceHDRLog, Requests: 200, Outcomes: map[string]int64{},
		Phases:      map[string]PhaseStats{PhaseTotal: {Count: 200, P99: 2500, Mean: 1000}, PhaseLag: {Count: 200}},
		Attribution: map[string]ComponentStats{CompBacklog: {PhaseStats: PhaseStats{Count: 200, P99: 1800}}}}
	hdrNoTotal := &Summary{Source: SourceHDRLog, Outcomes: map[string]int64{},
		Phases:      map[string]PhaseStats{PhaseTTFB: {Count: 10, P99: 3}},
		Attribution: map[string]ComponentStats{}}
	tests := []struct {
		name    string
		s       *Summary
		expr    string
		noData  bool
		fail    bool
		display string
	}{
		{"dead target ttfb", deadTargetSummary(), "p99(ttfb) > 100ms", true, true, "no data (no ttfb samples)"},
		{"dead target ttfb, other op", deadTargetSummary(), "p99(ttfb) <= 100ms", true, true, "no data (no ttfb samples)"},
		{"dead target connect", deadTargetSummary(), "max(connect) > 1s", true, true, "no data (no connect samples)"},
		{"dead target app", deadTargetSummary(), "p50(app) > 200ms", true, true, "no data (no app samples)"},
		{"dead target queue", deadTargetSummary(), "mean(queue) > 200ms", true, true, "no data (no queue samples)"},
		{"dead target total is measured", deadTargetSummary(), "p99(total) > 100ms", false, false, "0.40ms"},
		{"dead target errors are measured", deadTargetSummary(), "rate(errors) > 1%", false, true, "100.00%"},
		{"dead target share is measured", deadTargetSummary(), "share(backlog) > 50%", false, false, "0.00%"},
		{"no requests: rate", empty, "rate(errors) > 1%", true, true, "no data (no requests)"},
		{"no requests: rate of an outcome", empty, "rate(ok) < 99%", true, true, "no data (no requests)"},
		{"no requests: share", empty, "share(backlog) > 50%", true, true, "no data (no client time)"},
		{"no requests: total", empty, "p99(total) > 2s", true, true, "no data (no total samples)"},
		{"no requests: backlog", empty, "p99(backlog) > 2s", true, true, "no data (no backlog samples)"},
		{"no requests: count is a known 0", empty, "count(errors) > 0", false, false, "0"},
		{"no requests: requests is a known 0", empty, "requests < 1", false, true, "0"},
		{"no client time: share", idle, "share(connect) > 50%", true, true, "no data (no client time)"},
		{"hdr: rate", hdr, "rate(errors) > 0", true, true, "no data (an HDR log holds no outcomes)"},
		{"hdr: count", hdr, "count(ok) < 1", true, true, "no data (an HDR log holds no outcomes)"},
		{"hdr: errors", hdr, "errors > 0", true, true, "no data (an HDR log holds no outcomes)"},
		{"hdr: share", hdr, "share(backlog) > 50%", true, true, "no data (an HDR log holds no shares of client time)"},
		{"hdr: share of a component it lacks", hdr, "share(network) > 50%", true, true, "no data (an HDR log holds no shares of client time)"},
		{"hdr: achieved_rate", hdr, "achieved_rate < 10", true, true, "no data (an HDR log holds no send rate)"},
		{"hdr: not_sent", hdr, "not_sent > 0", true, true, "no data (an HDR log holds no schedule)"},
		{"hdr: percentile is measured", hdr, "p99(total) > 2s", false, true, "2.50s"},
		{"hdr: component percentile is measured", hdr, "p99(backlog) > 2s", false, false, "1.80s"},
		{"hdr: zero lag is measured", hdr, "p99(lag) > 1ms", false, false, "0"},
		{"hdr: requests", hdr, "requests < 100", false, false, "200"},
		{"hdr without total: requests", hdrNoTotal, "requests < 100", true, true, "no data (the HDR log holds no total-latency histogram)"},
		{"hdr without total: total", hdrNoTotal, "p99(total) > 1s", true, true, "no data (no total samples)"},
		{"hdr without total: ttfb", hdrNoTotal, "p99(ttfb) > 1s", false, false, "3.0ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := mustCheck(t, tt.expr).Eval(tt.s)
			if err != nil {
				t.Fatal(err)
			}
			if r.NoData != tt.noData || r.Failed != tt.fail || r.Display != tt.display {
				t.Errorf("%q: no_data=%v failed=%v display %q; want %v %v %q", tt.expr, r.NoData, r.Failed, r.Display, tt.noData, tt.fail, tt.display)
			}
			if r.NoData && r.Measured != 0 {
				t.Errorf("%q: measured %v without data", tt.expr, r.Measured)
			}
		})
	}

	results, failed, err := EvalChecks([]Check{mustCheck(t, "p99(ttfb) > 100ms")}, deadTargetSummary())
	if err != nil || !failed {
		t.Fatalf("EvalChecks on a dead target: failed=%v err=%v", failed, err)
	}
	js, _ := json.Marshal(results[0])
	if !strings.Contains(string(js), `"no_data":true`) || !strings.Contains(string(js), `"failed":true`) {
		t.Fatalf("JSON %s", js)
	}
	var out strings.Builder
	if err := WriteChecks(&out, results); err != nil || !strings.Contains(out.String(), "FAIL: p99(ttfb) > 100ms") || !strings.Contains(out.String(), "no data (no ttfb samples)") {
		t.Fatalf("WriteChecks: %q %v", out.String(), err)
	}
}

// Every metric evaluates against an HDR-log summary read from a real log,
// and the outcome-based ones say no data (B2 end to end).
func TestChecksOnHDRLog(t *testing.T) {
	s := SummaryFromHDR(mustReadHDR(t, writeTestLog(t, hdrRunStart, steadyResults(300)), HDRLogOptions{}))
	for expr, noData := range map[string]bool{
		"rate(errors) > 0": true, "count(proxy_refused) > 0": true, "share(backlog) > 0.5": true, "achieved_rate < 1": true,
		"p99(total) > 1s": false, "p99(ttfb) > 1s": false, "p99(processing) > 1s": false, "requests < 1": false,
	} {
		r, err := mustCheck(t, expr).Eval(&s)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		if r.NoData != noData || (noData && !r.Failed) || (!noData && r.Failed) {
			t.Errorf("%q on an HDR log: no_data=%v failed=%v (%s)", expr, r.NoData, r.Failed, r.Display)
		}
	}
}
