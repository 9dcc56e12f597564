package analyze

import (
	"math"
	"strings"
	"testing"
)

// FuzzParseCheck: an accepted --fail-if has a known operator and a finite value, and
// evaluates against an empty summary without error (so it cannot fail only at the end of a
// long run).
func FuzzParseCheck(f *testing.F) {
	for _, s := range []string{"p99(total) > 2s", "rate(proxy_refused) > 0.01", "share(backlog) > 50%",
		"achieved_rate < 100", "p50(lag)>=1ms", "count(errors) != 0", "max(ttfb) == 1e308", "> 1", "p99(total) >",
		"p99(total{name=checkout}) > 2s", `error_rate{client="partner-a"} > 1%`, `p99(ttfb){name='GET /users/:id',client=b} < 1s`,
		`p99(total{name="a>b\"}"}) > 1s`, "requests{name=x,name=y} > 1", "p99(total{name=x) > 1s", "{name=x} > 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCheck(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
			t.Fatalf("%q: value %v", s, c.Value)
		}
		empty := Summary{Phases: map[string]PhaseStats{}, Attribution: map[string]ComponentStats{}, Outcomes: map[string]int64{}}
		for _, comp := range Components {
			empty.Attribution[comp] = ComponentStats{} // as a run's summary has
		}
		if _, err := c.Eval(&empty); err != nil {
			t.Fatalf("%q parses but does not evaluate: %v", s, err)
		}
		if _, err := c.Eval(endpointSummary()); err != nil {
			t.Fatalf("%q parses but does not evaluate on a run with endpoints: %v", s, err)
		}
	})
}

// FuzzSelector: any name and client, rendered by Selector.String, parse
// back to themselves and select their endpoint.
func FuzzSelector(f *testing.F) {
	for _, s := range [][2]string{{"checkout", ""}, {"GET /users/:id", "partner-a"}, {`a"b\\`, "}{,="}, {"", "x y"}, {" sp ", "'"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, client string) {
		if name == "" && client == "" {
			return
		}
		want := Selector{Name: name, Client: client, HasName: name != "", HasClient: client != ""}
		expr := "count(ok" + want.String() + ") > 0"
		c, err := ParseCheck(expr)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		_, got, err := cutSelector(c.Metric)
		if err != nil || got == nil || *got != want {
			t.Fatalf("%q: selector %+v (%v), want %+v", expr, got, err, want)
		}
		s := Summary{Requests: 3, Outcomes: map[string]int64{OutcomeOK: 3}, Endpoints: []EndpointSummary{
			{Client: client, Name: name, Count: 2, Outcomes: map[string]int64{OutcomeOK: 2}},
			{Client: client + "~", Name: name + "~", Count: 1, Outcomes: map[string]int64{OutcomeOK: 1}}}}
		s.Clients = []EndpointSummary{{Client: client, Count: 2, Outcomes: map[string]int64{OutcomeOK: 2}}, {Client: client + "~", Count: 1}}
		r, err := c.Eval(&s)
		if err != nil || r.NoData || r.Measured != 2 {
			t.Fatalf("%q: %+v %v", expr, r, err)
		}
	})
}
