package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/queuegap/queuegap/analyze"
)

func newAnalyzeCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "analyze FILE",
		Short: "Report a results file written by run --out",
		Long: `Read a results file written by 'queuegap run --out FILE' and print the same
summary as run: outcomes, percentiles per phase, and where the client time went.

` + exitCodesHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("analyze takes one results file (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return usageError{err}
			}
			defer f.Close()
			var agg *analyze.Aggregator
			info, st, err := analyze.ReadResults(f, func(info analyze.RunInfo) {
				agg = analyze.NewAggregator(info.Start, analyze.NewTimeline(0, 0))
			}, func(r *analyze.Result) error {
				agg.Add(r)
				return nil
			})
			if err != nil {
				return usagef("%s: %v", args[0], err)
			}
			if st.Truncated {
				fmt.Fprintf(cmd.ErrOrStderr(), "queuegap: %s: the last line was cut short (killed run?) and was skipped\n", args[0])
			}
			s := agg.Summarize(info)
			if jsonOut {
				return s.WriteJSON(cmd.OutOrStdout())
			}
			return s.WriteText(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the summary as one JSON object")
	return cmd
}
