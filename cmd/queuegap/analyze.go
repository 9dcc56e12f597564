package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/session"
)

type analyzeOptions struct {
	jsonOut  bool
	compare  bool
	timeline bool
	merge    bool
	requests string
	hdrUnit  string
	failIf   []string
}

func newAnalyzeCmd() *cobra.Command {
	o := &analyzeOptions{}
	cmd := &cobra.Command{
		Use:   "analyze FILE... | analyze --compare A B",
		Short: "Report results files or an HDR log; compare two runs",
		Long: `Read results files written by 'queuegap run --out FILE' and print the same
summary as run — outcomes, percentiles per phase, where the client time went —
plus a per-second timeline (scheduled, sent, completed, in flight, p50/p99
total, mean backlog, errors). An HDR log written by 'run --hdr-log' is read too:
its interval histograms are merged exactly.

Attribution is derived again on every read, in two passes: the run-wide
estimates (clock offset, processing baselines) first, then each request
against them, so the answer does not depend on the order of lines or files.
Several files of one run (or, with --merge, of different runs) are reported
together. What is wrong with a file — a cut last line, no trailer, requests
missing or repeated — is said, and the rest is still reported.

--compare A B puts two runs side by side (before/after tuning) with each
figure's change; --fail-if then applies to B. A check on a figure with no
data fails and says so.

Examples:
  queuegap analyze results.jsonl
  queuegap analyze --json results.jsonl | jq .attribution.backlog
  queuegap analyze --requests attributed.jsonl results.jsonl
  queuegap analyze --compare before.jsonl after.jsonl
  queuegap analyze --fail-if 'p99(total) > 2s' --fail-if 'rate(proxy_refused) > 1%' results.jsonl

` + exitCodesHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case o.compare && len(args) != 2:
				return usagef("--compare takes two files, A and B (got %d)", len(args))
			case len(args) == 0:
				return usagef("analyze takes one or more results files (or an HDR log)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.jsonOut, "json", false, "print the summary (or comparison) as one JSON object")
	fs.BoolVar(&o.compare, "compare", false, "compare two files: analyze --compare A B")
	fs.BoolVar(&o.timeline, "timeline", true, "include the per-second timeline")
	fs.BoolVar(&o.merge, "merge", false, "report files of different runs together (their clocks and targets differ: know why)")
	fs.StringVar(&o.requests, "requests", "", "also write every request, attributed against the run-wide estimates, to FILE (JSON Lines with \"attr\")")
	fs.StringVar(&o.hdrUnit, "hdr-unit", "", "unit of an HDR log's values: ns, us, ms or s (default: what the log's unit comment says,\n  else ns with a warning; queuegap writes ns and says so)")
	fs.StringArrayVar(&o.failIf, "fail-if", nil, "exit 3 when this check is true (repeatable):\n"+indent(analyze.CheckSyntax, "  "))
	return cmd
}

func (o *analyzeOptions) run(args []string, stdout, stderr io.Writer) error {
	checks, err := parseChecks(o.failIf)
	if err != nil {
		return err
	}
	if o.hdrUnit != "" {
		if _, err := analyze.ParseHDRUnit(o.hdrUnit); err != nil {
			return usageError{fmt.Errorf("--hdr-unit: %w", err)}
		}
	}
	if o.requests != "" {
		if o.compare {
			return usagef("--requests writes one input's requests; it does not go with --compare")
		}
		if err := session.CheckOutputPath(o.requests); err != nil {
			return usagef("--requests %s: %v", o.requests, err)
		}
		for _, a := range args {
			if samePathArg(a, o.requests) {
				return usagef("--requests %s is also an input", o.requests)
			}
		}
	}
	if o.compare {
		a, err := o.load([]string{args[0]}, false, nil, stderr)
		if err != nil {
			return err
		}
		b, err := o.load([]string{args[1]}, false, checks, stderr)
		if err != nil {
			return err
		}
		c := analyze.Compare(a, b)
		if o.jsonOut {
			err = c.WriteJSON(stdout)
		} else {
			err = c.WriteText(stdout, args[0], args[1])
			if err == nil {
				err = analyze.WriteChecks(stdout, b.Checks)
			}
		}
		if err != nil {
			return exitError{exitFailure, err.Error()}
		}
		return checksExit(b.Checks) // checks apply to B, the run under test
	}
	s, err := o.load(args, o.timeline, checks, stderr)
	if err != nil {
		return err
	}
	return report(stdout, s, o.jsonOut, func(w io.Writer) error {
		if o.timeline {
			return s.WriteTimeline(w)
		}
		return nil
	})
}

// load reads results files (or one HDR log) into a summary, printing what
// is wrong with them to stderr.
func (o *analyzeOptions) load(paths []string, timeline bool, checks []analyze.Check, stderr io.Writer) (*analyze.Summary, error) {
	hdr := 0
	for _, p := range paths {
		is, err := session.IsHDRLog(p)
		if err != nil {
			return nil, err
		}
		if is {
			hdr++
		}
	}
	var s *analyze.Summary
	switch {
	case hdr > 0 && (len(paths) > 1 || o.requests != ""):
		return nil, usagef("an HDR log is read alone: no other files, no --requests")
	case hdr == 1:
		unit, _ := analyze.ParseHDRUnit(o.hdrUnit) // checked in run; "" is 0: from the log
		var err error
		if s, err = session.ReadHDR(paths[0], unit, checks); err != nil {
			return nil, err
		}
	case o.hdrUnit != "":
		return nil, usagef("--hdr-unit applies to HDR logs; %s is a results file", paths[0])
	default:
		opt := session.ReadOptions{Merge: o.merge, Timeline: timeline, Checks: checks}
		var w *analyze.ResultsWriter
		var f *os.File
		var last analyze.RunInfo
		if o.requests != "" {
			var err error
			if f, err = os.Create(o.requests); err != nil {
				return nil, exitError{exitFailure, fmt.Sprintf("--requests: %v", err)}
			}
			defer f.Close()
			opt.Final = func(run *analyze.RunInfo, r *analyze.Result) {
				if w == nil || run.RunID != last.RunID {
					if w != nil {
						_ = w.Close(last)
					}
					w, _ = analyze.NewResultsWriter(f, *run, analyze.ResultsOptions{WithAttr: true})
					last = *run
				}
				_ = w.Write(r)
			}
		}
		var err error
		if s, err = session.Read(paths, opt); err != nil {
			return nil, err
		}
		if w != nil {
			if err := w.Close(last); err != nil {
				return nil, exitError{exitFailure, fmt.Sprintf("--requests %s: %v", o.requests, err)}
			}
		}
	}
	if o.jsonOut {
		// The text report shows them; JSON carries them in "warnings" and
		// a person watching the terminal should see them too.
		for _, w := range s.Warnings {
			fmt.Fprintln(stderr, "queuegap: warning:", w)
		}
	}
	return s, nil
}

func samePathArg(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
