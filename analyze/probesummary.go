package analyze

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
)

// ProbeSummary is one probe over a run: each value's range and mean, its
// notes and failures, and for a listen probe the effective backlog
// against the configured one (the somaxconn trap).
type ProbeSummary struct {
	Probe    string            `json:"probe"`
	Kind     string            `json:"kind"`
	Samples  int64             `json:"samples"`
	Values   []ProbeValueStats `json:"values"`
	Notes    []string          `json:"notes,omitempty"`
	Failures int64             `json:"failures,omitempty"` // failed spells (each a line with an error)
	// FirstError is the first failure, at FirstErrorS into the run.
	FirstError  string  `json:"first_error,omitempty"`
	FirstErrorS float64 `json:"first_error_s,omitempty"`
	// Capped: the effective backlog (the smallest seen) was below the
	// expected one (the probe's expect=N). AtSomaxconn: no expectation
	// given, and the backlog equals net.core.somaxconn — capped, or asked
	// for exactly that (Go's net.Listen does).
	Capped      bool `json:"backlog_capped,omitempty"`
	AtSomaxconn bool `json:"backlog_at_somaxconn,omitempty"`
}

// ProbeValueStats is one value of a probe over its samples.
type ProbeValueStats struct {
	Name string  `json:"name"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
	Last float64 `json:"last"`
	N    int64   `json:"n"`
}

// maxProbeSummaries bounds the probes a summary keeps (a merged set of
// files could name many); later ones are counted in the warnings.
const maxProbeSummaries = 64

// ProbeAggregator gathers probe samples into ProbeSummaries. Memory is
// bounded by probes × values, not by samples.
type ProbeAggregator struct {
	byName  map[string]*probeAcc
	order   []string
	dropped int64
}

type probeAcc struct {
	ProbeSummary
	sums  map[string]float64
	index map[string]int
	notes map[string]bool
}

// NewProbeAggregator returns an empty aggregator.
func NewProbeAggregator() *ProbeAggregator {
	return &ProbeAggregator{byName: map[string]*probeAcc{}}
}

// Add takes one sample (it is not kept).
func (a *ProbeAggregator) Add(s *ProbeSample) {
	acc := a.byName[s.Probe]
	if acc == nil {
		if len(a.order) >= maxProbeSummaries {
			a.dropped++
			return
		}
		acc = &probeAcc{ProbeSummary: ProbeSummary{Probe: s.Probe, Kind: s.Kind},
			sums: map[string]float64{}, index: map[string]int{}, notes: map[string]bool{}}
		a.byName[s.Probe] = acc
		a.order = append(a.order, s.Probe)
	}
	if s.Note != "" && !acc.notes[s.Note] && len(acc.notes) < 16 {
		acc.notes[s.Note] = true
		acc.Notes = append(acc.Notes, s.Note)
	}
	if s.Error != "" {
		if acc.Failures == 0 {
			acc.FirstError, acc.FirstErrorS = s.Error, round3(s.At.Seconds())
		}
		acc.Failures++
	}
	if len(s.Values) == 0 {
		return
	}
	acc.Samples++
	for _, v := range s.Values {
		i, ok := acc.index[v.Name]
		if !ok {
			if len(acc.Values) >= maxProbeValues {
				continue
			}
			i = len(acc.Values)
			acc.index[v.Name] = i
			acc.Values = append(acc.Values, ProbeValueStats{Name: v.Name, Min: v.Value, Max: v.Value})
		}
		vs := &acc.Values[i]
		vs.Min, vs.Max, vs.Last = math.Min(vs.Min, v.Value), math.Max(vs.Max, v.Value), v.Value
		vs.N++
		acc.sums[v.Name] += v.Value
	}
}

// Summaries are the probes in the order first seen.
func (a *ProbeAggregator) Summaries() []ProbeSummary {
	out := make([]ProbeSummary, 0, len(a.order))
	for _, name := range a.order {
		acc := a.byName[name]
		ps := acc.ProbeSummary
		ps.Values = append([]ProbeValueStats(nil), acc.Values...)
		for i := range ps.Values {
			v := &ps.Values[i]
			v.Mean = round3(acc.sums[v.Name] / float64(v.N))
			v.Min, v.Max, v.Last = round3(v.Min), round3(v.Max), round3(v.Last)
		}
		if b, ok := ps.value("backlog"); ok {
			if e, ok := ps.value("expected_backlog"); ok {
				ps.Capped = b.Min < e.Max
			} else if m, ok := ps.value("somaxconn"); ok {
				ps.AtSomaxconn = b.Max == m.Min
			}
		}
		out = append(out, ps)
	}
	return out
}

func (ps *ProbeSummary) value(name string) (ProbeValueStats, bool) {
	for _, v := range ps.Values {
		if v.Name == name {
			return v, true
		}
	}
	return ProbeValueStats{}, false
}

// Apply puts the probes into s — Summary.Probes, and the warnings a
// reader must not miss: a capped backlog, the SYN retries it explains,
// probes that failed.
func (a *ProbeAggregator) Apply(s *Summary) {
	s.Probes = a.Summaries()
	s.Warnings = append(s.Warnings, ProbeWarnings(s)...)
	if a.dropped > 0 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("%d probe samples beyond the first %d probes were left out", a.dropped, maxProbeSummaries))
	}
}

// ProbeWarnings are the plain statements s's probes call for.
func ProbeWarnings(s *Summary) []string {
	var w []string
	syn := s.SynRetrans > 0 || s.Attribution[CompSynRetry].TotalS > 0
	for _, ps := range s.Probes {
		if ps.Failures > 0 {
			w = append(w, fmt.Sprintf("probe %s failed at %.1fs: %s (%d failed spells; it kept trying)", ps.Probe, ps.FirstErrorS, ps.FirstError, ps.Failures))
		}
		b, _ := ps.value("backlog")
		var msg string
		switch {
		case ps.Capped:
			e, _ := ps.value("expected_backlog")
			msg = fmt.Sprintf("probe %s: effective backlog %g < configured %g: net.core.somaxconn caps listen() (in a container: set the sysctl in its security context)", ps.Probe, b.Min, e.Max)
		case ps.AtSomaxconn && syn:
			msg = fmt.Sprintf("probe %s: effective backlog %g = net.core.somaxconn: if the server asked for more, it was capped silently (tell the probe expect=N to check)", ps.Probe, b.Max)
		default:
			continue
		}
		if syn {
			msg += fmt.Sprintf("; the run saw SYN retries (%d connections retransmitted their SYN, %.1fs of syn_retry): the accept queue is full at %g connections", s.SynRetrans, s.Attribution[CompSynRetry].TotalS, b.Min+1)
			if ps.Capped {
				msg += ", so the SYN retries are the cap's doing"
			}
		}
		w = append(w, msg)
	}
	return w
}

// writeProbes prints the probe section of the text summary.
func (s *Summary) writeProbes(b *strings.Builder) {
	if len(s.Probes) == 0 {
		return
	}
	b.WriteString("\nserver-side probes\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "probe\tvalue\tmin\tmean\tmax\tlast\t")
	for _, ps := range s.Probes {
		first := ps.Probe
		if len(ps.Values) == 0 {
			fmt.Fprintf(tw, "%s\t(no readings)\t\t\t\t\t\n", first)
		}
		vals := append([]ProbeValueStats(nil), ps.Values...)
		sort.SliceStable(vals, func(i, j int) bool { return probeValueRank(vals[i].Name) < probeValueRank(vals[j].Name) })
		for _, v := range vals {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", first, v.Name, fmtProbe(v.Name, v.Min), fmtProbe(v.Name, v.Mean), fmtProbe(v.Name, v.Max), fmtProbe(v.Name, v.Last))
			first = ""
		}
	}
	tw.Flush()
	for _, ps := range s.Probes {
		for _, n := range ps.Notes {
			fmt.Fprintf(b, "  (%s: %s)\n", ps.Probe, n)
		}
	}
}

// probeValueRank puts the values people look for first.
func probeValueRank(name string) int {
	for i, n := range []string{"queue", "backlog", "expected_backlog", "busy", "idle", "workers", "cpu", "rss", "memory"} {
		if n == name {
			return i
		}
	}
	return 100
}

func fmtProbe(name string, v float64) string {
	switch name {
	case "rss", "memory":
		return fmt.Sprintf("%.1f MB", v/1e6)
	case "cpu":
		return fmt.Sprintf("%.2f cores", v)
	}
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
