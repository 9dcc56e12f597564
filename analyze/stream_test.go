package analyze

import (
	"time"

	"github.com/queuegap/queuegap/loadgen"
)

// streamAnalyzer analyzes records one at a time the way a live run does:
// the request's facts, then the run-wide estimates so far, then the
// attribution against them. Tests of single requests use it; the
// order-independence tests compare it with attribution against the final
// estimates.
type streamAnalyzer struct {
	an    *Analyzer
	est   Estimator
	start time.Time
}

func newStreamAnalyzer(tc TimingConfig, start time.Time, runID string) *streamAnalyzer {
	return &streamAnalyzer{an: NewAnalyzer(tc, runID), start: start}
}

func (s *streamAnalyzer) Analyze(rec *loadgen.Record, res *Result) {
	s.an.Analyze(rec, res)
	s.est.Observe(s.start, res)
	e := s.est.Estimates()
	Attribute(res, &e, s.start)
}

func (s *streamAnalyzer) estimates() *Estimates {
	e := s.est.Estimates()
	return &e
}
