package analyze

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Check is one --fail-if expression: METRIC OP VALUE, e.g.
// "p99(total) > 2s" or "rate(proxy_refused) > 0.01". The check fails when
// the expression is true.
type Check struct {
	Expr   string
	Metric string
	Op     string
	Value  float64 // in the metric's unit: ms for durations, 0..1 for fractions
}

var checkOps = []string{">=", "<=", "==", "!=", ">", "<"}

// CheckSyntax is shown in --help.
const CheckSyntax = `METRIC OP VALUE; fails the run when true. OP: > >= < <= == !=
  METRIC: p50|p90|p99|p999|max|mean(total|ttfb|connect|lag|client_queue|backlog|processing|syn_retry|network|unanswered|transfer|app|queue)
          rate(OUTCOME|errors)  count(OUTCOME|errors)  share(COMPONENT)  achieved_rate  requests  errors  error_rate  retries  not_sent
  per endpoint: add {name=N}, {client=C} or {name=N,client=C} to the metric or its argument; quote values
          with spaces or , } (name="GET /users/:id"); a selector matching no requests fails the check (no data)
  VALUE:  durations with a unit (2s, 150ms; bare numbers are ms), fractions as 0.01 or 1%
  e.g. --fail-if 'p99(total) > 2s' --fail-if 'rate(proxy_refused) > 0.01' --fail-if 'share(backlog) > 50%'
       --fail-if 'p99(total{name=checkout}) > 2s' --fail-if 'error_rate{client=partner-a} > 1%'`

// ParseCheck parses and validates an expression (against an empty
// summary, so unknown metrics are caught before the run starts).
func ParseCheck(expr string) (Check, error) {
	c := Check{Expr: strings.TrimSpace(expr)}
	idx, op := findOp(c.Expr)
	if idx < 0 && strings.ContainsAny(c.Expr, "{}") {
		// An unclosed brace or quote hides the operator: say what is wrong.
		if _, _, err := cutSelector(c.Expr); err != nil {
			return c, fmt.Errorf("--fail-if %q: %v", expr, err)
		}
	}
	if idx <= 0 {
		return c, fmt.Errorf("--fail-if %q: want METRIC OP VALUE, e.g. 'p99(total) > 2s'", expr)
	}
	c.Metric = strings.TrimSpace(c.Expr[:idx])
	c.Op = op
	valStr := strings.TrimSpace(c.Expr[idx+len(op):])
	empty := Summary{Phases: map[string]PhaseStats{}, Attribution: map[string]ComponentStats{}, Outcomes: map[string]int64{}}
	for _, comp := range Components {
		empty.Attribution[comp] = ComponentStats{}
	}
	// Only the name is checked here: the empty summary has no data for most
	// metrics, which is fine — the kind is still known.
	m, err := MetricValue(&empty, c.Metric)
	if err != nil {
		return c, fmt.Errorf("--fail-if %q: %v", expr, err)
	}
	v, err := parseCheckValue(valStr, m.Kind)
	if err != nil {
		return c, fmt.Errorf("--fail-if %q: %v", expr, err)
	}
	c.Value = v
	return c, nil
}

// findOp finds the first operator outside a selector's braces (a quoted
// name may hold '>' or '='): its index, or -1.
func findOp(expr string) (int, string) {
	depth := 0
	var quote byte
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
			continue
		case depth > 0 && (c == '"' || c == '\''):
			quote = c
			continue
		case c == '{':
			depth++
			continue
		case c == '}':
			depth = max(0, depth-1)
			continue
		case depth > 0:
			continue
		}
		for _, o := range checkOps { // two-character operators first
			if strings.HasPrefix(expr[i:], o) {
				return i, o
			}
		}
	}
	return -1, ""
}

func parseCheckValue(s string, kind metricKind) (float64, error) {
	if s == "" {
		return 0, fmt.Errorf("missing value")
	}
	switch kind {
	case kindDuration:
		if d, err := time.ParseDuration(s); err == nil {
			return float64(d) / float64(time.Millisecond), nil
		}
	case kindFraction:
		if strings.HasSuffix(s, "%") {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("value %q is not a percentage", s)
			}
			return v / 100, nil
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		if kind == kindDuration {
			return 0, fmt.Errorf("value %q: want a duration like 2s or 150ms", s)
		}
		return 0, fmt.Errorf("value %q is not a number", s)
	}
	return v, nil
}

// CheckResult is one evaluated check.
type CheckResult struct {
	Check    Check   `json:"-"`
	Expr     string  `json:"expr"`
	Measured float64 `json:"measured"`
	Failed   bool    `json:"failed"`
	// NoData: the summary cannot tell the metric (see Metric); the check
	// fails, since a gate that passes on nothing measured guards nothing.
	NoData  bool   `json:"no_data"`
	Display string `json:"display"` // the measured value for humans, or "no data (why)"
}

// Eval evaluates the check against s. A metric without data fails the
// check whatever the operator: Measured is 0 and Display says why.
func (c Check) Eval(s *Summary) (CheckResult, error) {
	m, err := MetricValue(s, c.Metric)
	if err != nil {
		return CheckResult{}, err
	}
	if m.NoData {
		return CheckResult{Check: c, Expr: c.Expr, Failed: true, NoData: true, Display: m.Display()}, nil
	}
	v := m.Value
	var fail bool
	switch c.Op {
	case ">":
		fail = v > c.Value
	case ">=":
		fail = v >= c.Value
	case "<":
		fail = v < c.Value
	case "<=":
		fail = v <= c.Value
	case "==":
		fail = v == c.Value
	case "!=":
		fail = v != c.Value
	}
	return CheckResult{Check: c, Expr: c.Expr, Measured: v, Failed: fail, Display: m.Display()}, nil
}

// EvalChecks evaluates every check; failed says whether any failed.
func EvalChecks(checks []Check, s *Summary) (results []CheckResult, failed bool, err error) {
	for _, c := range checks {
		r, err := c.Eval(s)
		if err != nil {
			return nil, false, err
		}
		results = append(results, r)
		failed = failed || r.Failed
	}
	return results, failed, nil
}
