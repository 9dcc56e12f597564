package analyze

import (
	"errors"
	"fmt"
	"strings"
)

// Selector picks one endpoint group, a client's total or a name's total:
// the {name=…,client=…} of a --fail-if metric.
type Selector struct {
	Name, Client       string
	HasName, HasClient bool
}

// String renders the selector so that it parses back to itself: values
// in double quotes, '"' and '\' escaped by a backslash.
func (sel *Selector) String() string {
	var parts []string
	if sel.HasName {
		parts = append(parts, "name="+quoteLabel(sel.Name))
	}
	if sel.HasClient {
		parts = append(parts, "client="+quoteLabel(sel.Client))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func quoteLabel(v string) string { return `"` + labelEscaper.Replace(v) + `"` }

// cutSelector takes the label selector out of a metric: the metric with
// it removed, and the selector (nil without one). The selector ends the
// metric or its argument: "p99(total{name=x})", "p99(total){name=x}",
// "error_rate{client=a}". Values are bare (up to ',' or '}', spaces
// trimmed) or quoted with " or ' (a backslash escapes the next character),
// so "GET /users/:id" and names with ',' or '}' can be selected.
func cutSelector(metric string) (string, *Selector, error) {
	open := strings.IndexByte(metric, '{')
	if open < 0 {
		if strings.ContainsRune(metric, '}') {
			return "", nil, errors.New("'}' without '{'")
		}
		return metric, nil, nil
	}
	sel := &Selector{}
	i := open + 1
	for {
		i = skipSpaces(metric, i)
		if i < len(metric) && metric[i] == '}' && !sel.HasName && !sel.HasClient {
			return "", nil, errors.New("empty selector {}: want {name=…} or {client=…}")
		}
		j := i
		for j < len(metric) && (metric[j] >= 'a' && metric[j] <= 'z' || metric[j] >= 'A' && metric[j] <= 'Z' || metric[j] == '_') {
			j++
		}
		key := metric[i:j]
		i = skipSpaces(metric, j)
		if key == "" || i >= len(metric) || metric[i] != '=' {
			return "", nil, fmt.Errorf("selector: want label=value at %q", clip(metric[j:]))
		}
		i = skipSpaces(metric, i+1)
		val, next, err := selectorValue(metric, i)
		if err != nil {
			return "", nil, fmt.Errorf("selector label %s: %v", key, err)
		}
		if val == "" {
			return "", nil, fmt.Errorf("selector label %s: empty value", key)
		}
		switch key {
		case "name":
			if sel.HasName {
				return "", nil, errors.New("selector: label name given twice")
			}
			sel.Name, sel.HasName = val, true
		case "client":
			if sel.HasClient {
				return "", nil, errors.New("selector: label client given twice")
			}
			sel.Client, sel.HasClient = val, true
		default:
			return "", nil, fmt.Errorf("unknown label %q in selector (want name or client)", key)
		}
		i = skipSpaces(metric, next)
		if i >= len(metric) {
			return "", nil, errors.New("selector: missing '}'")
		}
		if metric[i] == ',' {
			i++
			continue
		}
		if metric[i] != '}' {
			return "", nil, fmt.Errorf("selector: want ',' or '}' at %q", clip(metric[i:]))
		}
		i++
		break
	}
	rest := strings.TrimSpace(metric[i:])
	if strings.HasPrefix(strings.TrimPrefix(rest, ")"), "{") {
		return "", nil, errors.New("more than one selector: put every label in one {…}")
	}
	if rest != "" && rest != ")" {
		return "", nil, fmt.Errorf("selector: must end the metric or its argument, not be followed by %q", clip(rest))
	}
	base := metric[:open] + rest
	if strings.ContainsAny(base, "{}") {
		return "", nil, errors.New("more than one selector: put every label in one {…}")
	}
	if strings.TrimSpace(base) == "" {
		return "", nil, errors.New("a selector needs a metric before it, e.g. requests{name=checkout} or p99(total{name=checkout})")
	}
	return base, sel, nil
}

// selectorValue reads a bare or quoted value at i; next is past it.
func selectorValue(s string, i int) (val string, next int, err error) {
	if i < len(s) && (s[i] == '"' || s[i] == '\'') {
		q := s[i]
		var b strings.Builder
		for j := i + 1; j < len(s); j++ {
			switch c := s[j]; {
			case c == '\\' && j+1 < len(s):
				j++
				b.WriteByte(s[j])
			case c == q:
				return b.String(), j + 1, nil
			default:
				b.WriteByte(c)
			}
		}
		return "", 0, errors.New("unterminated quote")
	}
	j := i
	for j < len(s) && s[j] != ',' && s[j] != '}' {
		if s[j] == '"' || s[j] == '\'' || s[j] == '{' || s[j] == '=' {
			return "", 0, fmt.Errorf("quote a value holding quotes, '=', ',' or braces, and the whole value (at %q)", clip(s[i:]))
		}
		j++
	}
	return strings.TrimSpace(s[i:j]), j, nil
}

func skipSpaces(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// perEndpointMetric says whether base (a metric without its selector) has
// a per-endpoint figure: the groups keep total, ttfb and connect
// distributions, outcomes, shares and counts, not the run-wide rest.
func perEndpointMetric(base string) error {
	name := strings.ToLower(strings.ReplaceAll(base, " ", ""))
	fn, arg, hasArg := strings.Cut(name, "(")
	arg = strings.TrimSuffix(arg, ")")
	ok := false
	switch {
	case !hasArg:
		ok = fn == "requests" || fn == "errors" || fn == "error_rate" || fn == "retries"
	case fn == "share" || fn == "rate" || fn == "count":
		ok = true
	default:
		ok = arg == PhaseTotal || arg == PhaseTTFB || arg == PhaseConnect
	}
	if !ok {
		return fmt.Errorf("metric %q has no per-endpoint figure (per endpoint: p50…max and mean of total, ttfb, connect; share(); rate(); count(); requests; errors; error_rate; retries)", base)
	}
	return nil
}

// endpointView is a summary holding only an endpoint's figures, for the
// metrics perEndpointMetric allows.
func endpointView(e *EndpointSummary) *Summary {
	v := &Summary{Requests: e.Count, Errors: e.Errors, Retries: e.Retries, Outcomes: e.Outcomes,
		Phases:      map[string]PhaseStats{PhaseTotal: e.Total, PhaseTTFB: e.TTFB, PhaseConnect: e.Connect},
		Attribution: make(map[string]ComponentStats, numComponents)}
	if v.Outcomes == nil {
		v.Outcomes = map[string]int64{}
	}
	for _, c := range Components {
		v.Attribution[c] = ComponentStats{Share: e.Shares[c]}
	}
	return v
}

// selectGroup finds the figures sel picks: an endpoint, a client's or a
// name's total, or the whole run when it had one client and sel names it.
// nil and why when nothing matches.
func (s *Summary) selectGroup(sel *Selector) (*Summary, string) {
	match := func(e *EndpointSummary) bool {
		return (!sel.HasName || e.Name == sel.Name) && (!sel.HasClient || e.Client == sel.Client)
	}
	var found []*EndpointSummary
	for i := range s.Endpoints {
		if match(&s.Endpoints[i]) {
			found = append(found, &s.Endpoints[i])
		}
	}
	switch {
	case len(found) == 1:
		return endpointView(found[0]), ""
	case len(found) > 1 && !sel.HasClient:
		for i := range s.Names {
			if s.Names[i].Name == sel.Name {
				return endpointView(&s.Names[i]), ""
			}
		}
	case len(found) > 1 && !sel.HasName:
		for i := range s.Clients {
			if s.Clients[i].Client == sel.Client {
				return endpointView(&s.Clients[i]), ""
			}
		}
		if len(found) == len(s.Endpoints) {
			return s, "" // the run's one client: its total is the run's
		}
	}
	if s.Source == SourceHDRLog {
		return nil, "an HDR log holds no endpoints"
	}
	if len(found) > 1 {
		return nil, "no total for " + sel.String() // cannot happen with a summary from Summarize
	}
	return nil, "no requests with " + strings.Trim(sel.String(), "{}")
}
