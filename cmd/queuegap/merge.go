package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/session"
)

func newMergeCmd() *cobra.Command {
	var out, hdrUnit string
	var differentRuns bool
	cmd := &cobra.Command{
		Use:   "merge FILE... -o FILE",
		Short: "Combine results files (a run's shards) or HDR logs into one, exactly",
		Long: `Combine results files — the shards of one run ('run --shard I/N'), or pieces of
it — into one results file: every request once, under one header whose counts
add up the parts, with a trailer holding the run-wide estimates derived from all
of them. Attribution depends only on the records, never on their order, so
'analyze' of the merged file reports exactly what 'analyze' of the parts given
together does. HDR interval logs merge interval by interval: intervals that
start together (shards started at one --start-at) are added tag by tag, exactly.

Files of different runs are refused unless --different-runs says otherwise
(each run then keeps its own header). Every input is checked before -o is
written, and -o appears only complete.

Examples:
  queuegap merge shard-0.jsonl shard-1.jsonl shard-2.jsonl -o run.jsonl
  queuegap merge shard-*.hlog -o run.hlog
  queuegap analyze run.jsonl            # the same as: queuegap analyze shard-*.jsonl

` + exitCodesHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("merge takes one or more results files or HDR logs")
			}
			if out == "" {
				return usagef("merge needs -o FILE: where to write the merged file")
			}
			opt := session.MergeOptions{DifferentRuns: differentRuns}
			if hdrUnit != "" {
				u, err := analyze.ParseHDRUnit(hdrUnit)
				if err != nil {
					return usageError{fmt.Errorf("--hdr-unit: %w", err)}
				}
				opt.HDRUnit = u
			}
			st, err := session.Merge(args, out, opt)
			if err != nil {
				return err
			}
			w := cmd.ErrOrStderr()
			for _, wn := range st.Warnings {
				fmt.Fprintln(w, "queuegap: warning:", wn)
			}
			what := "results"
			if st.Kind == "hdr" {
				what = "interval histograms"
			}
			fmt.Fprintf(w, "merged %d files (%d run(s)): %d %s → %s\n", len(args), st.Runs, st.Results, what, out)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&out, "out", "o", "", "write the merged file here (required)")
	fs.BoolVar(&differentRuns, "different-runs", false, "merge files of different runs too (each keeps its own header)")
	fs.StringVar(&hdrUnit, "hdr-unit", "", "unit of HDR logs without a unit comment: ns, us, ms or s (default ns)")
	return cmd
}
