package session

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/queuegap/queuegap/analyze"
)

// ReadOptions shape how results are read back.
type ReadOptions struct {
	// Merge allows files (or a file) holding several different runs to be
	// reported as one; otherwise that is an error, since their clocks,
	// targets and schedules differ.
	Merge bool
	// Timeline adds the per-interval timeline to the summary.
	Timeline bool
	// Checks are evaluated into Summary.Checks.
	Checks []analyze.Check
	// Final, if set, sees every result, attributed, in file order.
	Final func(run *analyze.RunInfo, r *analyze.Result)
	// Probe, if set, sees every probe sample the files hold.
	Probe func(run *analyze.RunInfo, s *analyze.ProbeSample)
}

// Read reports one or more results files: the one entry point behind
// `queuegap analyze`. It reads in two passes — run-wide estimates first,
// then attribution and aggregation against them — so the answer does not
// depend on the order of the lines or of the files. An access log (nginx
// combined or JSON, ALB; gzipped or not) is read as results too, one per
// logged request (accesslog.go). HDR logs are read by ReadHDR.
func Read(paths []string, opt ReadOptions) (*analyze.Summary, error) {
	if len(paths) == 0 {
		return nil, usagef("no results file given")
	}
	// Pass 1: what runs there are, and their estimates.
	ests := map[string]*analyze.Estimator{}
	var runs []analyze.RunInfo
	var warnings []string
	for _, path := range paths {
		st, err := readFile(path, func(run *analyze.RunInfo, r *analyze.Result) {
			e := ests[run.RunID]
			if e == nil {
				e = &analyze.Estimator{}
				ests[run.RunID] = e
			}
			e.Observe(run.Start, r)
		})
		if err != nil {
			return nil, err
		}
		runs = append(runs, st.Runs...)
		for _, w := range st.Warnings {
			warnings = append(warnings, path+": "+w)
		}
	}
	ids := map[string]bool{}
	for _, r := range runs {
		ids[r.RunID] = true
	}
	if len(ids) > 1 && !opt.Merge {
		return nil, usagef("the input holds %d different runs (%s); pass --merge to report them together", len(ids), runList(runs))
	}
	est := map[string]analyze.Estimates{}
	var all analyze.Estimator
	for id, e := range ests {
		est[id] = e.Estimates()
		all.Merge(e)
	}
	// Pass 2: attribute and aggregate.
	var tl *analyze.Timeline
	if opt.Timeline {
		tl = analyze.NewTimeline(0, 0)
	}
	agg := analyze.NewAggregator(tl)
	pagg := analyze.NewProbeAggregator()
	onProbe := func(run *analyze.RunInfo, s *analyze.ProbeSample) {
		pagg.Add(s)
		if opt.Probe != nil {
			opt.Probe(run, s)
		}
	}
	for _, path := range paths {
		if _, err := readFileWith(path, func(run *analyze.RunInfo, r *analyze.Result) {
			e := est[run.RunID]
			analyze.Attribute(r, &e, run.Start)
			agg.Add(r)
			if opt.Final != nil {
				opt.Final(run, r)
			}
		}, onProbe); err != nil {
			return nil, err
		}
	}
	merged := all.Estimates()
	sum := agg.Summarize(combineRuns(runs), &merged)
	sum.Warnings = append(sum.Warnings, warnings...)
	pagg.Apply(&sum)
	if err := evalChecks(&sum, opt.Checks); err != nil {
		return nil, err
	}
	return &sum, nil
}

// fileStats is what reading one input found: its runs and what is wrong.
type fileStats struct {
	Runs     []analyze.RunInfo
	Results  int64
	Warnings []string
}

// readFile reads a results file, or an access log (accesslog.go).
func readFile(path string, fn func(*analyze.RunInfo, *analyze.Result)) (fileStats, error) {
	return readFileWith(path, fn, nil)
}

// readFileWith is readFile passing probe samples to probeFn (if set).
func readFileWith(path string, fn func(*analyze.RunInfo, *analyze.Result), probeFn func(*analyze.RunInfo, *analyze.ProbeSample)) (fileStats, error) {
	if format, ok := sniffAccessLog(path); ok {
		return readAccessLog(path, format, fn)
	}
	f, err := os.Open(path)
	if err != nil {
		return fileStats{}, &InputError{Path: path, Err: err}
	}
	defer f.Close()
	cb := analyze.ReadCallbacks{Result: func(run *analyze.RunInfo, r *analyze.Result) error {
		fn(run, r)
		return nil
	}}
	if probeFn != nil {
		cb.Probe = func(run *analyze.RunInfo, s *analyze.ProbeSample) error {
			probeFn(run, s)
			return nil
		}
	}
	st, err := analyze.ReadResultsWith(f, cb)
	if err != nil {
		return fileStats{}, &InputError{Path: path, Err: err}
	}
	return fileStats{Runs: st.Runs, Results: st.Results, Warnings: st.Warnings()}, nil
}

func runList(runs []analyze.RunInfo) string {
	seen := map[string]bool{}
	s := ""
	for _, r := range runs {
		if seen[r.RunID] {
			continue
		}
		seen[r.RunID] = true
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s at %s", runName(r.RunID), r.Start.Format(time.RFC3339))
	}
	return s
}

func runName(id string) string {
	if id == "" {
		return "(no id)"
	}
	return id
}

// combineRuns is the run info a summary of several runs (or one run in
// several files) reports: the first run's description, counts added up.
func combineRuns(runs []analyze.RunInfo) analyze.RunInfo {
	if len(runs) == 0 {
		return analyze.RunInfo{}
	}
	info := runs[0]
	for _, r := range runs[1:] {
		info.Started += r.Started
		info.NotSent += r.NotSent
		if info.Planned >= 0 && r.Planned >= 0 {
			info.Planned += r.Planned
		} else {
			info.Planned = -1
		}
		info.SendWindow = max(info.SendWindow, r.SendWindow)
		info.Elapsed = max(info.Elapsed, r.Elapsed)
		info.Interrupted = info.Interrupted || r.Interrupted
		// Shards and parts of one run sent the same bursts, each its
		// share: count them once. Different runs' bursts add up.
		if r.RunID == runs[0].RunID {
			info.Bursts = max(info.Bursts, r.Bursts)
		} else {
			info.Bursts += r.Bursts
		}
		info.BurstSpread = max(info.BurstSpread, r.BurstSpread)
		info.Complete = info.Complete && r.Complete
		if r.RunID != info.RunID {
			info.RunID, info.URL, info.Schedule = "", "", "(several runs)"
		}
	}
	return info
}

// IsHDRLog says whether the file at path is an HDR histogram log rather
// than a results file.
func IsHDRLog(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, &InputError{Path: path, Err: err}
	}
	defer f.Close()
	head, err := bufio.NewReader(f).Peek(64)
	if err != nil && err != io.EOF && len(head) == 0 {
		return false, &InputError{Path: path, Err: err}
	}
	return analyze.LooksLikeHDRLog(head), nil
}

// ReadHDR reports an HDR interval log: percentiles only. unit is the
// log's value unit (0: from its unit comment, else ns with a warning).
func ReadHDR(path string, unit time.Duration, checks []analyze.Check) (*analyze.Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &InputError{Path: path, Err: err}
	}
	defer f.Close()
	l, err := analyze.ReadHDRLog(bufio.NewReaderSize(f, 1<<20), analyze.HDRLogOptions{Unit: unit})
	if err != nil {
		return nil, &InputError{Path: path, Err: err}
	}
	sum := analyze.SummaryFromHDR(l)
	for _, w := range l.Warnings {
		sum.Warnings = append(sum.Warnings, path+": "+w)
	}
	if err := evalChecks(&sum, checks); err != nil {
		return nil, err
	}
	return &sum, nil
}
