package main

import "github.com/spf13/cobra"

// newProfilesFromLogOnlyCmd registers from-log under "profiles" on this
// branch only; the lead's profiles command replaces it at the merge.
func newProfilesFromLogOnlyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "profiles", Short: "Traffic profiles"}
	cmd.AddCommand(newFromLogCmd())
	return cmd
}
