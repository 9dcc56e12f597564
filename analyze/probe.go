package analyze

import "time"

// ProbeSample is one reading of a server-side probe at a run offset: what
// a results file stores on a "probe" line and reports chart on the run's
// time axis. Values are named in base units (a count, a ratio, bytes).
type ProbeSample struct {
	Probe  string        // the probe's name, e.g. "listen 127.0.0.1:8080"
	Kind   string        // listen | uwsgi | process
	At     time.Duration // run offset (the same clock as Record's offsets)
	Values []ProbeValue
	// Error is set (and Values empty) when this reading failed — the
	// first failure of a spell, the probe keeps trying; Note is something
	// the probe says once (a counter that is namespace-wide, a queue the
	// server cannot know).
	Error string
	Note  string
}

// ProbeValue is one named value of a sample, e.g. {"queue", 12}.
type ProbeValue struct {
	Name  string
	Value float64
}

// Value is the named value, ok false when the sample has none.
func (s *ProbeSample) Value(name string) (v float64, ok bool) {
	for _, pv := range s.Values {
		if pv.Name == name {
			return pv.Value, true
		}
	}
	return 0, false
}
