package analyze

import (
	"fmt"
	"strings"
)

// Metrics are the named figures of a Summary that --fail-if checks and
// --compare lists, so both speak the same language:
//
//	p50(X) p90(X) p99(X) p999(X) max(X) mean(X)   X: a phase (connect, ttfb, total, lag),
//	                                               a component (backlog, processing, syn_retry,
//	                                               network, transfer), or app / queue (server-reported); in ms
//	share(C)     fraction of all client time spent in component C (0..1)
//	rate(O)      fraction of requests with outcome O, or "errors" (0..1)
//	count(O)     number of requests with outcome O, or "errors"
//	requests, achieved_rate, errors, not_sent
type metricKind int

const (
	kindDuration metricKind = iota // milliseconds
	kindFraction                   // 0..1
	kindCount
	kindRate // requests per second
)

// MetricValue evaluates a metric name against s.
func MetricValue(s *Summary, name string) (float64, metricKind, error) {
	name = strings.ReplaceAll(strings.TrimSpace(name), " ", "")
	fn, arg, hasArg := strings.Cut(name, "(")
	if hasArg {
		if !strings.HasSuffix(arg, ")") {
			return 0, 0, fmt.Errorf("metric %q: missing ')'", name)
		}
		arg = strings.TrimSuffix(arg, ")")
	}
	fn = strings.ToLower(fn)
	if !hasArg {
		switch fn {
		case "requests":
			return float64(s.Requests), kindCount, nil
		case "achieved_rate":
			return s.AchievedRate, kindRate, nil
		case "errors":
			return float64(s.Errors), kindCount, nil
		case "not_sent":
			return float64(s.Generator.NotSent), kindCount, nil
		}
		return 0, 0, fmt.Errorf("unknown metric %q (want e.g. p99(total), rate(proxy_refused), share(backlog), achieved_rate)", name)
	}
	switch fn {
	case "p50", "p90", "p99", "p999", "max", "mean":
		ps, ok := s.distribution(arg)
		if !ok {
			return 0, 0, fmt.Errorf("metric %q: unknown distribution %q (want a phase: %s; a component: %s; or app, queue)", name, arg, strings.Join(Phases, ", "), strings.Join(Components, ", "))
		}
		v := map[string]float64{"p50": ps.P50, "p90": ps.P90, "p99": ps.P99, "p999": ps.P999, "max": ps.Max, "mean": ps.Mean}[fn]
		return v, kindDuration, nil
	case "share":
		cs, ok := s.Attribution[arg]
		if !ok || !validComponent(arg) {
			return 0, 0, fmt.Errorf("metric %q: unknown component %q (want one of %s)", name, arg, strings.Join(Components, ", "))
		}
		return cs.Share, kindFraction, nil
	case "rate", "count":
		n, err := s.outcomeCount(arg)
		if err != nil {
			return 0, 0, fmt.Errorf("metric %q: %w", name, err)
		}
		if fn == "count" {
			return float64(n), kindCount, nil
		}
		if s.Requests == 0 {
			return 0, kindFraction, nil
		}
		return float64(n) / float64(s.Requests), kindFraction, nil
	}
	return 0, 0, fmt.Errorf("unknown function %q in %q (want p50, p90, p99, p999, max, mean, share, rate or count)", fn, name)
}

func validComponent(c string) bool {
	for _, x := range Components {
		if x == c {
			return true
		}
	}
	return false
}

// distribution finds a phase, component or server-reported distribution.
// A phase wins over the component of the same name (connect).
func (s *Summary) distribution(name string) (PhaseStats, bool) {
	if ps, ok := s.Phases[name]; ok {
		return ps, true
	}
	if cs, ok := s.Attribution[name]; ok && validComponent(name) {
		return cs.PhaseStats, true
	}
	switch name {
	case "app":
		return s.Server.App, true
	case "queue":
		return s.Server.Queue, true
	}
	for _, p := range Phases {
		if p == name {
			return PhaseStats{}, true // a phase with no data yet
		}
	}
	return PhaseStats{}, false
}

func (s *Summary) outcomeCount(o string) (int64, error) {
	if o == "errors" {
		return s.Errors, nil
	}
	for _, known := range Outcomes() {
		if known == o {
			return s.Outcomes[o], nil
		}
	}
	return 0, fmt.Errorf("unknown outcome %q (want errors or one of %s)", o, strings.Join(Outcomes(), ", "))
}

// formatMetric renders a metric value for humans.
func formatMetric(v float64, k metricKind) string {
	switch k {
	case kindDuration:
		return fmtMs(v)
	case kindFraction:
		return fmt.Sprintf("%.2f%%", v*100)
	case kindRate:
		return fmt.Sprintf("%.1f/s", v)
	}
	return fmt.Sprintf("%.0f", v)
}
