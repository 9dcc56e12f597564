package analyze

import (
	"strings"
	"testing"
)

// endpointSummary is a run of two clients: partner-a sends checkout and
// "GET /users/:id", browse sends "GET /users/:id" too.
func endpointSummary() *Summary {
	s := sampleSummary()
	s.Endpoints = []EndpointSummary{
		{Client: "browse", Name: "GET /users/:id", Count: 100, Errors: 0, Outcomes: map[string]int64{OutcomeOK: 100},
			Total: PhaseStats{Count: 100, P50: 20, P99: 80, Max: 90}, TTFB: PhaseStats{Count: 100, P99: 70},
			Shares: map[string]float64{CompProcessing: 0.9, CompNetwork: 0.1}},
		{Client: "partner-a", Name: "GET /users/:id", Count: 50, Errors: 1, Outcomes: map[string]int64{OutcomeOK: 49, OutcomeGatewayTimeout: 1},
			Total: PhaseStats{Count: 50, P50: 30, P99: 120, Max: 130}},
		{Client: "partner-a", Name: "checkout", Count: 50, Errors: 9, Retries: 4, Outcomes: map[string]int64{OutcomeOK: 41, OutcomeProxyRefused: 9},
			Total: PhaseStats{Count: 50, P50: 900, P99: 2500, Max: 2700, Mean: 1000}, Connect: PhaseStats{Count: 10, P99: 3},
			Shares: map[string]float64{CompBacklog: 0.8}},
	}
	s.Clients = []EndpointSummary{
		{Client: "browse", Count: 100, Outcomes: map[string]int64{OutcomeOK: 100}, Total: PhaseStats{Count: 100, P99: 80}},
		{Client: "partner-a", Count: 100, Errors: 10, Retries: 4, Outcomes: map[string]int64{OutcomeOK: 90, OutcomeProxyRefused: 9, OutcomeGatewayTimeout: 1},
			Total: PhaseStats{Count: 100, P99: 2400}},
	}
	s.Names = []EndpointSummary{
		{Name: "GET /users/:id", Count: 150, Errors: 1, Outcomes: map[string]int64{OutcomeOK: 149, OutcomeGatewayTimeout: 1}, Total: PhaseStats{Count: 150, P99: 110}},
	}
	return s
}

func TestSelectorChecks(t *testing.T) {
	s := endpointSummary()
	tests := []struct {
		expr     string
		fail     bool
		measured float64
		noData   string // the reason, when there is no data
	}{
		{"p99(total{name=checkout}) > 2s", true, 2500, ""},
		{"p99(total){name=checkout} > 2s", true, 2500, ""},
		{"p99( total { name = checkout } ) > 3s", false, 2500, ""},
		{`p99(total{name="GET /users/:id",client=browse}) > 100ms`, false, 80, ""},
		{`p99(total{client='partner-a', name='GET /users/:id'}) > 100ms`, true, 120, ""},
		{`p99(total{name="GET /users/:id"}) > 100ms`, true, 110, ""}, // the name's total over both clients
		{"error_rate{client=partner-a} > 1%", true, 0.1, ""},
		{"error_rate{client=browse} > 1%", false, 0, ""},
		{"error_rate > 1%", true, 0.05, ""},
		{"rate(proxy_refused{name=checkout}) >= 18%", true, 0.18, ""},
		{"count(gateway_timeout{client=partner-a}) > 0", true, 1, ""},
		{"requests{name=checkout} < 10", false, 50, ""},
		{"errors{name=checkout} > 5", true, 9, ""},
		{"retries{client=partner-a} > 0", true, 4, ""},
		{"share(backlog{name=checkout}) > 50%", true, 0.8, ""},
		{"p99(ttfb{client=browse}) > 50ms", true, 70, ""}, // browse has one endpoint: no Clients total needed, but there is one
		{"p99(connect{name=checkout}) > 1ms", true, 3, ""},
		{"p99(total{name=login}) < 1s", true, 0, `no requests with name="login"`},
		{"p99(total{client=partner-b}) > 1s", true, 0, `no requests with client="partner-b"`},
		{"p99(total{name=checkout,client=browse}) > 1s", true, 0, "no requests with"},
		{"p99(ttfb{name=checkout}) > 1s", true, 0, "no ttfb samples"},
		{`p99(total{name="a>b=c,}"}) > 1s`, true, 0, `no requests with name="a>b=c,}"`},
		{`p99(total{name="say \"hi\""}) > 1s`, true, 0, `no requests with name="say \"hi\""`},
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
		if r.Failed != tt.fail || r.Measured != tt.measured || r.NoData != (tt.noData != "") || !strings.Contains(r.Display, tt.noData) {
			t.Errorf("%q: failed=%v measured=%v display %q, want %v %v %q", tt.expr, r.Failed, r.Measured, r.Display, tt.fail, tt.measured, tt.noData)
		}
	}
	// One client, no Clients list: its selector is the whole run.
	one := endpointSummary()
	one.Endpoints, one.Clients, one.Names = one.Endpoints[2:], nil, nil
	if r, err := mustCheck(t, "p99(total{client=partner-a}) > 2s").Eval(one); err != nil || r.Measured != 2500 || !r.Failed {
		t.Errorf("single client: %+v %v", r, err)
	}
	// A run without endpoints has no data for any selector.
	if r, err := mustCheck(t, "p99(total{name=x}) > 2s").Eval(sampleSummary()); err != nil || !r.NoData || !r.Failed {
		t.Errorf("unnamed run: %+v %v", r, err)
	}
}

func TestMalformedSelectors(t *testing.T) {
	bad := map[string]string{
		"p99(total{path=/x}) > 1s":             `unknown label "path"`,
		"p99(total{Name=x}) > 1s":              `unknown label "Name"`,
		"p99(total{}) > 1s":                    "empty selector",
		"p99(total{name=}) > 1s":               "empty value",
		`p99(total{name=""}) > 1s`:             "empty value",
		"p99(total{name=x) > 1s":               "missing '}'",
		`p99(total{name="x}) > 1s`:             "unterminated quote",
		"p99(total{name=x,name=y}) > 1s":       "given twice",
		"p99(total{name=x}{client=y}) > 1s":    "more than one selector",
		"p99{name=x}(total) > 1s":              "must end the metric",
		"p99(total{name x}) > 1s":              "want label=value",
		"p99(total{=x}) > 1s":                  "want label=value",
		"p99(total{name=x;client=y}) > 1s":     "quote a value holding",
		`p99(total{name=a"b"}) > 1s`:           "and the whole value",
		"p99(total}) > 1s":                     "'}' without '{'",
		"p99(lag{name=x}) > 1s":                "no per-endpoint figure",
		"p99(backlog{name=x}) > 1s":            "no per-endpoint figure",
		"p99(app{name=x}) > 1s":                "no per-endpoint figure",
		"achieved_rate{client=a} > 1":          "no per-endpoint figure",
		"not_sent{client=a} > 1":               "no per-endpoint figure",
		"p99(latency{name=x}) > 1s":            "no per-endpoint figure",
		"rate(teapot{name=x}) > 1%":            "unknown outcome",
		"share(app{name=x}) > 1%":              "unknown component",
		"p99(total{name=x}) > fast":            "duration",
		"error_rate{client=a} > lots%":         "not a percentage",
		`p99(total{name="x"y}) > 1s`:           "want ',' or '}'",
		"p99(total{name=checkout} > 2s":        "missing ')'",
		"p99(total{name=checkout}) ":           "want METRIC OP VALUE",
		"{name=checkout,client=partner-a} > 1": "needs a metric before it",
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
