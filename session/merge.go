package session

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/queuegap/queuegap/analyze"
)

// MergeOptions shape Merge.
type MergeOptions struct {
	// DifferentRuns allows inputs of different runs: each run keeps its
	// own header and trailer in the merged file. Without it, only files of
	// one run (its shards, or parts of it) are merged.
	DifferentRuns bool
	// HDRUnit is the unit of HDR logs without a unit comment (0: ns).
	HDRUnit time.Duration
}

// MergeStats is what Merge wrote.
type MergeStats struct {
	Kind       string // "results" or "hdr"
	Runs       int
	Results    int64 // results (or HDR intervals) written
	Duplicates int64 // results seen in more than one input: written once
	Warnings   []string
}

// Merge combines results files (a run's shards, say) — or HDR interval
// logs — into one file at out, exactly: every result once, each run under
// one header whose counts add up its parts and one trailer with the
// run-wide estimates re-derived from all of them (so analyze of the
// merged file equals analyze of the inputs given together); HDR logs
// interval by interval, histograms added. Everything is checked before out
// is touched, and out appears only complete (written beside it, then
// renamed).
func Merge(inputs []string, out string, opt MergeOptions) (MergeStats, error) {
	if len(inputs) == 0 {
		return MergeStats{}, usagef("no input files")
	}
	if err := CheckOutputPath(out); err != nil {
		return MergeStats{}, usagef("-o %s: %v", out, err)
	}
	hdr := 0
	for _, in := range inputs {
		if samePath(in, out) {
			return MergeStats{}, usagef("-o %s is also an input: write the merge to a new file", out)
		}
		isHDR, err := IsHDRLog(in)
		if err != nil {
			return MergeStats{}, err
		}
		if isHDR {
			hdr++
		} else if _, ok := sniffAccessLog(in); ok {
			return MergeStats{}, usagef("%s is an access log: merge takes results files or HDR logs (analyze reads logs directly)", in)
		}
	}
	if hdr != 0 && hdr != len(inputs) {
		return MergeStats{}, usagef("inputs mix HDR logs and results files: merge one kind at a time")
	}
	return writeAtomically(out, func(w io.Writer) (MergeStats, error) {
		if hdr > 0 {
			return mergeHDR(inputs, w, opt)
		}
		return mergeResults(inputs, w, opt)
	})
}

// writeAtomically writes through fn into a temporary file beside path and
// renames it over path only when fn succeeded.
func writeAtomically(path string, fn func(io.Writer) (MergeStats, error)) (MergeStats, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return MergeStats{}, &OutputError{Output: path, Err: err}
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	bw := bufio.NewWriterSize(tmp, 1<<20)
	st, err := fn(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var ue *UsageError
		var ie *InputError
		if errors.As(err, &ue) || errors.As(err, &ie) {
			return st, err
		}
		return st, &OutputError{Output: path, Err: err}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return st, &OutputError{Output: path, Err: err}
	}
	return st, nil
}

// mergedRun is one run's parts across the inputs.
type mergedRun struct {
	parts []analyze.RunInfo
	est   analyze.Estimator
	seen  analyze.SeqSet
	w     *analyze.ResultsWriter
}

func mergeHDR(inputs []string, w io.Writer, opt MergeOptions) (MergeStats, error) {
	st := MergeStats{Kind: "hdr"}
	var rs []io.Reader
	for _, in := range inputs {
		f, err := os.Open(in)
		if err != nil {
			return st, &InputError{Path: in, Err: err}
		}
		defer f.Close()
		rs = append(rs, bufio.NewReaderSize(f, 1<<20))
	}
	ms, err := analyze.MergeHDRLogs(w, rs, inputs, opt.HDRUnit)
	if err != nil {
		return st, err
	}
	st.Runs, st.Results, st.Warnings = len(inputs), ms.Intervals, ms.Warnings
	return st, nil
}

func mergeResults(inputs []string, w io.Writer, opt MergeOptions) (MergeStats, error) {
	st := MergeStats{Kind: "results"}
	// Pass 1: the runs, their parts and their run-wide estimates.
	runs := map[string]*mergedRun{}
	var order []string
	for _, in := range inputs {
		fs, err := readFile(in, func(run *analyze.RunInfo, r *analyze.Result) {
			m := runs[run.RunID]
			if m == nil {
				m = &mergedRun{}
				runs[run.RunID] = m
				order = append(order, run.RunID)
			}
			m.est.Observe(run.Start, r)
		})
		if err != nil {
			return st, err
		}
		for _, ri := range fs.Runs {
			m := runs[ri.RunID]
			if m == nil { // a run without results
				m = &mergedRun{}
				runs[ri.RunID] = m
				order = append(order, ri.RunID)
			}
			m.parts = append(m.parts, ri)
		}
		for _, wn := range fs.Warnings {
			st.Warnings = append(st.Warnings, in+": "+wn)
		}
	}
	if len(order) > 1 && !opt.DifferentRuns {
		var all []analyze.RunInfo
		for _, id := range order {
			all = append(all, runs[id].parts...)
		}
		return st, usagef("the inputs hold %d different runs (%s); pass --different-runs to merge them anyway", len(order), runList(all))
	}
	st.Runs = len(order)
	// Pass 2: each run's results under one header, then its trailer.
	// Results of different runs are written run by run, input by input.
	for _, id := range order {
		m := runs[id]
		info := combineParts(m.parts)
		rw, err := analyze.NewResultsWriter(w, info, analyze.ResultsOptions{})
		if err != nil {
			return st, err
		}
		m.w = rw
		for _, in := range inputs {
			var werr error
			if _, err := readFile(in, func(run *analyze.RunInfo, r *analyze.Result) {
				if run.RunID != id || werr != nil {
					return
				}
				if !m.seen.Add(r.Seq) {
					st.Duplicates++
					return
				}
				if r.RequestID == "" {
					r.RequestID = r.ID()
				}
				werr = rw.Write(r)
				st.Results++
			}); err != nil {
				return st, err
			}
			if werr != nil {
				return st, werr
			}
		}
		final := info
		e := m.est.Estimates()
		final.Estimates = e.Info()
		if err := rw.Close(final); err != nil {
			return st, err
		}
	}
	if st.Duplicates > 0 {
		st.Warnings = append(st.Warnings, fmt.Sprintf("%d results appeared in more than one input (same run and seq): written once", st.Duplicates))
	}
	return st, nil
}

// combineParts is the run info of a run merged from its parts (shards or
// pieces): the counts added up, the earliest start, the longest span.
func combineParts(parts []analyze.RunInfo) analyze.RunInfo {
	info := combineRuns(parts)
	for _, p := range parts[1:] {
		if p.Start.Before(info.Start) {
			info.Start = p.Start
		}
	}
	info.Shard = ""
	return info
}
