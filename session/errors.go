package session

import "fmt"

// UsageError is a problem with what the user asked for: a value, a
// combination, a path. Nothing was touched.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, a ...any) error { return &UsageError{fmt.Errorf(format, a...)} }

// OutputError is a failure to write an output (a full disk, say). The run
// stopped within a second of it; what was written before is whole.
type OutputError struct {
	Output string // e.g. "--out results.jsonl"
	Err    error
}

func (e *OutputError) Error() string { return e.Output + ": " + e.Err.Error() }
func (e *OutputError) Unwrap() error { return e.Err }

// TargetError is a failure to start the embedded target.
type TargetError struct{ Err error }

func (e *TargetError) Error() string { return "embedded target: " + e.Err.Error() }
func (e *TargetError) Unwrap() error { return e.Err }

// InputError is a results file or HDR log that cannot be read.
type InputError struct {
	Path string
	Err  error
}

func (e *InputError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// SummarySkippedError says the run ended and its results were written, but
// its summary was skipped on request (SkipSummary).
type SummarySkippedError struct {
	Results string // the results file to analyze instead ("" without --out)
}

func (e *SummarySkippedError) Error() string {
	if e.Results == "" {
		return "summary skipped; the run's results were not kept (no --out)"
	}
	return "summary skipped; the results are complete: queuegap analyze " + e.Results
}
