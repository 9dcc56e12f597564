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
//	requests, achieved_rate, errors, error_rate (= rate(errors)), retries, not_sent
//	any of them{name=N,client=C}   the same of one endpoint, client or name (see Selector);
//	                               not achieved_rate, not_sent, lag, components' or the server's distributions
//
// A metric the summary cannot tell is "no data", never 0: percentiles of a
// distribution without samples, share() without client time, rate() of zero
// requests, and in an HDR log (which holds latencies only) every outcome,
// share, rate and schedule figure.
type metricKind int

const (
	kindDuration metricKind = iota // milliseconds
	kindFraction                   // 0..1
	kindCount
	kindRate // requests per second
)

// Metric is the value of a metric in a summary. NoData says the summary
// cannot tell the value (a distribution without samples, a rate of zero
// requests, an outcome in an HDR log): Value is then 0 and means nothing, and
// a check or comparison must not treat it as a measured 0 — that is how a
// gate like 'p99(ttfb) > 100ms' passed against a dead target.
type Metric struct {
	Value  float64
	Kind   metricKind
	NoData bool
	Why    string // why there is no data, for humans: "no ttfb samples"
}

// Display renders the value for humans: "2.50s", "5.00%", "no data (…)".
func (m Metric) Display() string {
	if m.NoData {
		if m.Why == "" {
			return "no data"
		}
		return "no data (" + m.Why + ")"
	}
	return formatMetric(m.Value, m.Kind)
}

func noData(kind metricKind, why string) Metric { return Metric{Kind: kind, NoData: true, Why: why} }

// Why an HDR-log summary has no value for the metrics a results file gives.
const (
	hdrNoOutcomes = "an HDR log holds no outcomes"
	hdrNoShares   = "an HDR log holds no shares of client time"
	hdrNoRate     = "an HDR log holds no send rate"
	hdrNoSchedule = "an HDR log holds no schedule"
	hdrNoTotal    = "the HDR log holds no total-latency histogram"
)

// MetricValue evaluates a metric name against s. An unknown name is an
// error; a known metric the summary has no data for is not (see Metric),
// and neither is a selector that matches no endpoint.
func MetricValue(s *Summary, name string) (Metric, error) {
	base, sel, err := cutSelector(strings.TrimSpace(name))
	if err != nil {
		return Metric{}, fmt.Errorf("metric %q: %v", name, err)
	}
	if sel == nil {
		return metricValue(s, base)
	}
	if err := perEndpointMetric(base); err != nil {
		return Metric{}, err
	}
	// The kind, and any error in the metric itself, without data.
	m, err := metricValue(endpointView(&EndpointSummary{}), base)
	if err != nil {
		return Metric{}, err
	}
	view, why := s.selectGroup(sel)
	if view == nil {
		return noData(m.Kind, why), nil
	}
	return metricValue(view, base)
}

func metricValue(s *Summary, name string) (Metric, error) {
	name = strings.ReplaceAll(strings.TrimSpace(name), " ", "")
	fn, arg, hasArg := strings.Cut(name, "(")
	if hasArg {
		if !strings.HasSuffix(arg, ")") {
			return Metric{}, fmt.Errorf("metric %q: missing ')'", name)
		}
		arg = strings.TrimSuffix(arg, ")")
	}
	fn = strings.ToLower(fn)
	hdr := s.Source == SourceHDRLog
	if !hasArg {
		switch fn {
		case "requests":
			if _, ok := s.Phases[PhaseTotal]; hdr && !ok {
				return noData(kindCount, hdrNoTotal), nil
			}
			return Metric{Value: float64(s.Requests), Kind: kindCount}, nil
		case "achieved_rate":
			if hdr {
				return noData(kindRate, hdrNoRate), nil
			}
			return Metric{Value: s.AchievedRate, Kind: kindRate}, nil
		case "errors":
			if hdr {
				return noData(kindCount, hdrNoOutcomes), nil
			}
			return Metric{Value: float64(s.Errors), Kind: kindCount}, nil
		case "error_rate":
			if hdr {
				return noData(kindFraction, hdrNoOutcomes), nil
			}
			if s.Requests == 0 {
				return noData(kindFraction, "no requests"), nil
			}
			return Metric{Value: float64(s.Errors) / float64(s.Requests), Kind: kindFraction}, nil
		case "retries":
			if hdr {
				return noData(kindCount, hdrNoOutcomes), nil
			}
			return Metric{Value: float64(s.Retries), Kind: kindCount}, nil
		case "not_sent":
			if hdr {
				return noData(kindCount, hdrNoSchedule), nil
			}
			return Metric{Value: float64(s.Generator.NotSent), Kind: kindCount}, nil
		}
		return Metric{}, fmt.Errorf("unknown metric %q (want e.g. p99(total), rate(proxy_refused), share(backlog), achieved_rate)", name)
	}
	switch fn {
	case "p50", "p90", "p99", "p999", "max", "mean":
		ps, ok := s.distribution(arg)
		if !ok {
			return Metric{}, fmt.Errorf("metric %q: unknown distribution %q (want a phase: %s; a component: %s; or app, queue)", name, arg, strings.Join(Phases, ", "), strings.Join(Components, ", "))
		}
		if ps.Count == 0 {
			return noData(kindDuration, "no "+arg+" samples"), nil
		}
		v := map[string]float64{"p50": ps.P50, "p90": ps.P90, "p99": ps.P99, "p999": ps.P999, "max": ps.Max, "mean": ps.Mean}[fn]
		return Metric{Value: v, Kind: kindDuration}, nil
	case "share":
		if !validComponent(arg) {
			return Metric{}, fmt.Errorf("metric %q: unknown component %q (want one of %s)", name, arg, strings.Join(Components, ", "))
		}
		if hdr {
			return noData(kindFraction, hdrNoShares), nil
		}
		// A share is of all client time: without any there is no share
		// (not 0 %, which a 'share(backlog) > 50%' gate would pass).
		if total := s.Phases[PhaseTotal]; total.Count == 0 || total.Mean <= 0 {
			return noData(kindFraction, "no client time"), nil
		}
		cs, ok := s.Attribution[arg]
		if !ok {
			return noData(kindFraction, "no attribution of client time"), nil
		}
		return Metric{Value: cs.Share, Kind: kindFraction}, nil
	case "rate", "count":
		n, err := s.outcomeCount(arg)
		if err != nil {
			return Metric{}, fmt.Errorf("metric %q: %w", name, err)
		}
		kind := kindFraction
		if fn == "count" {
			kind = kindCount
		}
		if hdr {
			return noData(kind, hdrNoOutcomes), nil
		}
		if fn == "count" {
			return Metric{Value: float64(n), Kind: kindCount}, nil
		}
		if s.Requests == 0 {
			return noData(kindFraction, "no requests"), nil
		}
		return Metric{Value: float64(n) / float64(s.Requests), Kind: kindFraction}, nil
	}
	return Metric{}, fmt.Errorf("unknown function %q in %q (want p50, p90, p99, p999, max, mean, share, rate or count)", fn, name)
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
