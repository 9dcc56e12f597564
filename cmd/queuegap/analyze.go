package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/queuegap/queuegap/analyze"
)

func newAnalyzeCmd() *cobra.Command {
	var (
		jsonOut  bool
		compare  bool
		timeline bool
		failIf   []string
	)
	cmd := &cobra.Command{
		Use:   "analyze FILE | analyze --compare A B",
		Short: "Report a results file or HDR log; compare two runs",
		Long: `Read a results file written by 'queuegap run --out FILE' and print the same
summary as run — outcomes, percentiles per phase, where the client time went —
plus a per-second timeline (scheduled, sent, completed, in flight, p50/p99
total, mean backlog, errors). An HDR log written by 'run --hdr-log' is read too:
its interval histograms are merged exactly.

--compare A B puts two runs side by side (before/after tuning) with each
figure's change. --fail-if works as on run.

Examples:
  queuegap analyze results.jsonl
  queuegap analyze --json results.jsonl | jq .attribution.backlog
  queuegap analyze --compare before.jsonl after.jsonl
  queuegap analyze --fail-if 'p99(total) > 2s' --fail-if 'rate(proxy_refused) > 1%' results.jsonl

` + exitCodesHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if compare && len(args) != 2 {
				return usagef("--compare takes two files, A and B (got %d)", len(args))
			}
			if !compare && len(args) != 1 {
				return usagef("analyze takes one results file (got %d arguments; --compare takes two)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			checks, err := parseChecks(failIf)
			if err != nil {
				return err
			}
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if compare {
				a, err := loadSummary(args[0], false, stderr)
				if err != nil {
					return err
				}
				b, err := loadSummary(args[1], false, stderr)
				if err != nil {
					return err
				}
				c := analyze.Compare(&a, &b)
				if jsonOut {
					return c.WriteJSON(stdout)
				}
				if err := c.WriteText(stdout, args[0], args[1]); err != nil {
					return err
				}
				// Checks apply to B, the run under test.
				results, failed, err := analyze.EvalChecks(checks, &b)
				if err != nil {
					return err
				}
				if err := analyze.WriteChecks(stdout, results); err != nil {
					return err
				}
				if failed {
					return exitError{exitCheckFailed, "a --fail-if check failed on B"}
				}
				return nil
			}
			s, err := loadSummary(args[0], timeline, stderr)
			if err != nil {
				return err
			}
			return report(stdout, &s, checks, jsonOut, func(w io.Writer) error {
				if timeline {
					return s.WriteTimeline(w)
				}
				return nil
			})
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&jsonOut, "json", false, "print the summary (or comparison) as one JSON object")
	fs.BoolVar(&compare, "compare", false, "compare two files: analyze --compare A B")
	fs.BoolVar(&timeline, "timeline", true, "include the per-second timeline")
	fs.StringArrayVar(&failIf, "fail-if", nil, "exit 3 when this check is true (repeatable):\n"+indent(analyze.CheckSyntax, "  "))
	return cmd
}

// loadSummary reads a results file or an HDR log into a Summary.
func loadSummary(path string, withTimeline bool, stderr io.Writer) (analyze.Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return analyze.Summary{}, usageError{err}
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	head, _ := br.Peek(64)
	if analyze.LooksLikeHDRLog(head) {
		hists, err := analyze.ReadHDRLog(br)
		if err != nil {
			return analyze.Summary{}, usagef("%s: %v", path, err)
		}
		return analyze.SummaryFromHDR(hists), nil
	}
	var agg *analyze.Aggregator
	info, st, err := analyze.ReadResults(br, func(info analyze.RunInfo) {
		var tl *analyze.Timeline
		if withTimeline {
			tl = analyze.NewTimeline(0, 0)
		}
		agg = analyze.NewAggregator(info.Start, tl)
	}, func(r *analyze.Result) error {
		agg.Add(r)
		return nil
	})
	if err != nil {
		return analyze.Summary{}, usagef("%s: %v", path, err)
	}
	if st.Truncated {
		fmt.Fprintf(stderr, "queuegap: %s: the last line was cut short (killed run?) and was skipped\n", path)
	}
	if !info.Complete {
		fmt.Fprintf(stderr, "queuegap: %s: the run did not finish writing (no trailer): figures cover what was recorded\n", path)
	}
	return agg.Summarize(info), nil
}
