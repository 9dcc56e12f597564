// Command queuegap is an open-loop HTTP load generator that shows where
// client latency goes behind a proxy and a prefork app server: kernel
// backlog wait, SYN retries, processing, and the rest.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/session"
)

// Exit codes, documented in README and --help.
const (
	exitOK          = 0
	exitFailure     = 1 // the run could not be carried out (e.g. the results file could not be written)
	exitUsage       = 2 // bad flags, URL, profile or input file
	exitCheckFailed = 3 // a --fail-if check failed
	exitInterrupted = 130
)

// usageError marks errors caused by the user's input: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitError carries a specific exit code after output was already printed.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

var version = "0.1.0-dev"

const exitCodesHelp = `Exit codes:
  0    the run completed (whatever the target answered)
  1    the run could not be carried out (e.g. an output file could not be written)
  2    bad flags, URL, profile or input file
  3    a --fail-if check failed
  130  interrupted (Ctrl-C); the summary and results so far are still written
       (a second Ctrl-C skips the summary; the results file stays complete)`

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "queuegap",
		Short: "Find where client latency goes: backlog, SYN retries, processing",
		Long: `queuegap answers "clients say 10 s, our app logs say 2 s — where did the other 8 s go?"

It is an open-loop load generator (latency from the intended send time, so a
slow target cannot hide its own slowness) that times connect, TTFB and total
per request, reads the timing your servers report (X-Request-Start,
Server-Timing, X-Runtime, …) and attributes each request's time to SYN
retries, backlog wait, processing and the rest.

Start with:
  queuegap demo                      # an embedded prefork target and a burst: the gap, in 10 s
  queuegap run --burst 40 URL        # 40 requests at once
  queuegap run --rate 200 --duration 30s --out results.jsonl URL

` + exitCodesHelp,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.Args = cobra.ArbitraryArgs
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return needsSubcommand(cmd, args)
	}
	root.AddCommand(newRunCmd(), newDemoCmd(), newAnalyzeCmd(), newReportCmd(), newMergeCmd(), newProfilesCmd(), newSweepCmd(), newWhatifCmd(), newTargetCmd(), newTestbedCmd())
	return root
}

func main() {
	os.Exit(execute(os.Args[1:]))
}

// minFDs is the fewest open files queuegap starts with: the standard
// streams, the runtime's poller, a results file, an HDR log, a target's
// listener and a handful of connections.
const minFDs = 16

func execute(args []string) int {
	// Each connection is a descriptor, and the Go runtime itself needs a
	// few (its poller) before anything else can run: raise the soft limit
	// to the hard one, and refuse a limit too small to start with rather
	// than crash inside the runtime.
	if soft, hard, err := loadgen.RaiseFDLimit(); err == nil && soft < minFDs {
		fmt.Fprintf(os.Stderr, "queuegap: only %d file descriptors may be open (ulimit -n, hard limit %d): queuegap needs at least %d\n", soft, hard, minFDs)
		return exitFailure
	}
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, "queuegap:", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "queuegap:", err)
	return exitCode(err)
}

// exitCode maps an error to its exit code by its type.
func exitCode(err error) int {
	var (
		ue  usageError
		sue *session.UsageError
		ie  *session.InputError
	)
	switch {
	case errors.As(err, &ue), errors.As(err, &sue), errors.As(err, &ie):
		return exitUsage
	}
	return exitFailure
}

// typedArgs wraps a cobra argument validator so its (plain) errors are
// usage errors: exit 2.
func typedArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// needsSubcommand is the RunE of a command that only groups others: an
// unknown word is an error, not a help page and exit 0.
func needsSubcommand(cmd *cobra.Command, args []string) error {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	if len(args) > 0 {
		return usagef("%s: unknown command %q (want %s; see --help)", cmd.CommandPath(), args[0], strings.Join(names, ", "))
	}
	return usagef("%s needs a command: %s (see --help)", cmd.CommandPath(), strings.Join(names, ", "))
}
