package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	htmlreport "github.com/queuegap/queuegap/report"
	"github.com/queuegap/queuegap/session"
)

// maxReportColumns bounds the runs drawn side by side: each holds its own
// bounded accumulators (≈10 MB at most), and more columns than this are
// too narrow to read anyway.
const maxReportColumns = 6

// reportOptions shape an HTML report; `report` fills them from flags and
// `run --report FILE` passes the zero value.
type reportOptions struct {
	Compare bool   // exactly two inputs, A and B, with a table of changes
	Merge   bool   // all inputs in one column (different runs allowed)
	Title   string // "" for a title made of the inputs' names
}

func newReportCmd() *cobra.Command {
	o := reportOptions{}
	var out string
	cmd := &cobra.Command{
		Use:   "report FILE... -o report.html | report --compare A B -o report.html",
		Short: "Write a self-contained HTML report with charts of results files",
		Long: `Read results files written by 'queuegap run --out FILE' and write one HTML file:
latency percentiles over time per phase (total, ttfb, connect), where the client
time went over time (attribution components, stacked), the latency distribution
(HDR percentile plot), every request's latency against its send time coloured by
outcome (a uniform sample of 5 000 when there are more, and it says so), each
server-side probe on the same time axis (listen queue, busy workers, CPU), the
summary and per-endpoint tables.

The file is self-contained: charts are inline SVG, and nothing — no script,
font, style sheet or image — is fetched from anywhere. It opens the same from a
CI artifact or an air-gapped laptop.

Several files are drawn side by side, one column each, on shared axes (the same
time and latency ranges), so runs compare at a glance; --merge reports them as
one column instead; --compare A B adds a table of each figure's change from A
to B. An existing -o file is replaced only once the new report is complete.

Examples:
  queuegap report results.jsonl -o report.html
  queuegap report --compare before.jsonl after.jsonl -o tuning.html
  queuegap report --merge gen1.jsonl gen2.jsonl -o all.html

` + exitCodesHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case o.Compare && len(args) != 2:
				return usagef("--compare takes two files, A and B (got %d)", len(args))
			case len(args) == 0:
				return usagef("report takes one or more results files")
			case o.Compare && o.Merge:
				return usagef("--compare reads A and B apart; it does not go with --merge")
			case !o.Merge && len(args) > maxReportColumns:
				return usagef("at most %d files side by side (got %d); pass --merge to report them as one", maxReportColumns, len(args))
			case out == "":
				return usagef("report needs -o FILE (the HTML file to write)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := writeReport(out, args, o); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "queuegap: report written to %s\n", out)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&out, "out", "o", "", "the HTML file to write (replaced only when the new report is complete)")
	fs.BoolVar(&o.Compare, "compare", false, "compare two files: report --compare A B (side by side, with a table of changes)")
	fs.BoolVar(&o.Merge, "merge", false, "report all files as one run (files of different runs too: their clocks and targets differ, know why)")
	fs.StringVar(&o.Title, "title", "", "the report's title (default: from the file names)")
	return cmd
}

// writeReport writes the HTML report of inputs to path. Everything is
// checked before anything is written (inputs readable results files, path
// writable and not an input), and path is replaced atomically: the report
// goes to a temporary file in the same directory, renamed over path only
// when complete. Bad input is a usage error (exit 2). `run --report FILE`
// calls it with the run's results file once the run has ended.
func writeReport(path string, inputs []string, opt reportOptions) error {
	if len(inputs) == 0 {
		return usagef("report: no results file given")
	}
	if err := session.CheckOutputPath(path); err != nil {
		return usagef("-o %s: %v", path, err)
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return usagef("-o %s: not a regular file (the report is written beside it and renamed over it)", path)
	}
	for _, in := range inputs {
		fi, err := os.Stat(in)
		switch {
		case err != nil:
			return &session.InputError{Path: in, Err: errors.Unwrap(err)}
		case fi.IsDir():
			return usagef("%s is a directory, not a results file", in)
		case samePathArg(in, path):
			return usagef("-o %s is also an input", path)
		}
		hdr, err := session.IsHDRLog(in)
		if err != nil {
			return err
		}
		if hdr {
			return usagef("%s is an HDR log: it holds percentiles only; report needs a results file (run --out FILE)", in)
		}
	}
	runs, err := loadReportRuns(inputs, opt)
	if err != nil {
		return err
	}
	title := opt.Title
	if title == "" {
		title = "queuegap report: " + runs[0].Name
		for _, r := range runs[1:] {
			sep := ", "
			if opt.Compare {
				sep = " vs "
			}
			title += sep + r.Name
		}
	}
	return writeAtomically(path, func(f *os.File) error {
		return htmlreport.Write(f, runs, htmlreport.Options{Title: title, Compare: opt.Compare, Version: version})
	})
}

// loadReportRuns reads the inputs into the report's columns: one per file,
// or one for all with Merge.
func loadReportRuns(inputs []string, opt reportOptions) ([]*htmlreport.Run, error) {
	groups := make([][]string, 0, len(inputs))
	if opt.Merge {
		groups = append(groups, inputs)
	} else {
		for _, in := range inputs {
			groups = append(groups, []string{in})
		}
	}
	names := columnNames(groups, opt.Compare)
	runs := make([]*htmlreport.Run, len(groups))
	for i, g := range groups {
		r := htmlreport.NewRun(names[i])
		sum, err := session.Read(g, session.ReadOptions{Merge: opt.Merge, Timeline: true, Final: r.Final, Probe: r.Probe})
		if err != nil {
			return nil, err
		}
		r.Finish(sum)
		runs[i] = r
	}
	return runs, nil
}

// columnNames labels columns by file name, the path when names repeat.
func columnNames(groups [][]string, compare bool) []string {
	names := make([]string, len(groups))
	count := map[string]int{}
	for _, g := range groups {
		count[filepath.Base(g[0])]++
	}
	for i, g := range groups {
		n := filepath.Base(g[0])
		if count[n] > 1 {
			n = g[0]
		}
		if len(g) > 1 {
			n = fmt.Sprintf("%s and %d more (merged)", n, len(g)-1)
		}
		if compare {
			n = string(rune('A'+i)) + ": " + n
		}
		names[i] = n
	}
	return names
}

// writeAtomically writes path through a temporary file in its directory
// and renames it into place, so a failed write never leaves a torn file
// where a good one was.
func writeAtomically(path string, write func(*os.File) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return exitError{exitFailure, fmt.Sprintf("-o %s: %v", path, err)}
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return exitError{exitFailure, fmt.Sprintf("-o %s: %v", path, err)}
	}
	if err := write(f); err != nil {
		return fail(err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return exitError{exitFailure, fmt.Sprintf("-o %s: %v", path, err)}
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return exitError{exitFailure, fmt.Sprintf("-o %s: %v", path, err)}
	}
	return nil
}
