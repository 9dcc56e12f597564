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
		"achieved_rate < 100", "p50(lag)>=1ms", "count(errors) != 0", "max(ttfb) == 1e308", "> 1", "p99(total) >"} {
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
	})
}
