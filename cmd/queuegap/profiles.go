package main

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/queuegap/queuegap/profiles"
)

const profileExample = `# partner.yaml: a partner's cron over steady browsing
name: partner
description: "A partner's cron: 60 requests at once every 20 s, over browsing"
base_url: http://127.0.0.1:8080     # optional; the URL given to run wins
clients:                            # all run at the same time, on one clock
  - name: partner-cron              # letters, digits, . _ -; unique
    stages:                         # in sequence; each one of:
      - {burst: 60, every: 20s, count: 4}
      #  {rate: 50, for: 30s}   {poisson: 50, for: 30s}   {ramp: "10:200", for: 1m}
      #  {steps: [10, 50, 100], each: 20s}   {spike: 500, base: 50, for: 60s, spike_for: 5s}
      #  "rate:50:10s"  (run's --stage syntax)
    requests:                       # a weighted mix; default one GET /
      - name: sync                  # names every report's breakdown
        weight: 1                   # > 0, default 1
        method: POST                # default GET
        path: /sleep?ms=100         # joined to the base URL
        headers: {Content-Type: application/json}
        body: '{"since": 0}'        # or body_file: body.json (beside the profile)
    headers: {User-Agent: partner-sync/2.3}   # on every request of the client
    connection: new                 # or keepalive (default), with connections: 64
    max_inflight: 10000
    timeout: 10s
    connect_timeout: 5s
    seed: 0                         # not 0: Poisson arrivals repeat exactly
    retry:                          # each retry its own request, linked (retry_of)
      on_timeout: {max: 1, after: 1s}          # a user hitting refresh
      on_status: {statuses: [502, 503, 504], max: 3, backoff: 500ms, factor: 2, max_backoff: 10s}
  - name: browsing
    stages: [{poisson: 10, for: 80s}]
    requests:
      - {name: fast, weight: 9, path: /fast}
      - {name: page, weight: 1, path: "/sleep?ms=50"}
# A client may instead replay logged arrivals (what 'profiles from-log' writes):
#   replay: {trace_file: partner.qgtrace, speed: 1, loop: 1}   # or trace: <base64>`

func newProfilesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profiles",
		Short: "List, show and validate traffic profiles (YAML: clients, stages, request mix, retries)",
		Long: `A profile describes traffic as users do: one or more clients running at the same
time, each with its own stages, weighted request mix, connections, timeouts and
behaviours (retry after a client-side timeout, retry on 502/503/504 with backoff).
Run one with 'queuegap run --profile NAME|FILE [URL]': every flag given to run
overrides the profile, and the URL overrides its base_url.

Shipped profiles (embedded; 'profiles list') reproduce patterns from field reports
and run unchanged against 'queuegap testbed up' (/fast, /sleep?ms=N, /cpu?ms=N) or
the embedded target. 'profiles show NAME > mine.yaml' is a good start for your own.

Errors name the file, line, column and field:
  mine.yaml:12:17: clients[1].requests[0].weight: 0: must be > 0

A complete profile (README has every field):

` + indent(profileExample, "  "),
		Example: `  queuegap profiles list
  queuegap profiles show partner-cron > partner.yaml
  queuegap profiles validate partner.yaml spike
  queuegap run --profile partner.yaml http://127.0.0.1:8080`,
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = needsSubcommand
	cmd.AddCommand(newProfilesListCmd(), newProfilesShowCmd(), newProfilesValidateCmd(), newFromLogCmd())
	return cmd
}

func newProfilesListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the shipped profiles",
		Long: `list prints each shipped profile's name and description. 'profiles show NAME'
prints one, with the field report it reproduces in its opening comment.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDESCRIPTION")
			for _, s := range profiles.Shipped() {
				fmt.Fprintf(tw, "%s\t%s\n", s.Name, s.Description)
			}
			return tw.Flush()
		},
	}
}

func newProfilesShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME|FILE",
		Short: "Print a profile's YAML (a shipped one's embedded text)",
		Long: `show prints a profile's YAML source: for a shipped profile the embedded text,
comments included, ready to copy and edit; for a file its text, with the values of
Authorization and Cookie headers and URL passwords masked.`,
		Example: `  queuegap profiles show refresh-storm
  queuegap profiles show refresh-storm > storm.yaml`,
		Args: typedArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if src, ok := profiles.ShippedSource(name); ok && !looksLikePath(name) {
				_, err := cmd.OutOrStdout().Write(src)
				return err
			}
			if !looksLikePath(name) {
				// Not shipped: load it to get the one error that says so
				// (or the file's own), then print the file.
				if _, err := profiles.Load(name); err != nil && !isProfileErrors(err) {
					return usageError{err}
				}
			}
			src, err := profiles.ReadFile(name)
			if err != nil {
				return usageError{fmt.Errorf("profile %s: %w", name, err)}
			}
			_, err = io.WriteString(cmd.OutOrStdout(), maskSecrets(string(src)))
			return err
		},
	}
}

func newProfilesValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE|NAME...",
		Short: "Check profiles completely, as a run would, and print each client's plan",
		Long: `validate decodes and checks each profile the way 'run --profile' does before it
sends anything: every stage, request, URL, header, limit and behaviour. Problems go to
stderr, one per line, as FILE:LINE:COL: FIELD: PROBLEM; a valid profile gets one
line per client on stdout: its schedule, the requests it plans and its mix.

Exit status 0 when every profile is valid, 2 when any is not.`,
		Example: `  queuegap profiles validate mine.yaml
  queuegap profiles validate partner-cron morning-ramp spike refresh-storm fast-slow-mix`,
		Args: typedArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			bad := 0
			for _, a := range args {
				p, err := profiles.Load(a)
				if err != nil {
					bad++
					var es profiles.Errors
					if errors.As(err, &es) {
						for _, e := range es {
							fmt.Fprintln(errOut, e)
						}
					} else {
						fmt.Fprintf(errOut, "%s: %v\n", a, err)
					}
					continue
				}
				fmt.Fprintf(out, "%s: ok: profile %s, %d client%s, %v\n", p.Source, p.Name, len(p.Clients), plural(len(p.Clients)), p.Length())
				for i := range p.Clients {
					fmt.Fprintf(out, "  %s\n", p.Clients[i].Summary())
				}
				for _, n := range p.Notes {
					fmt.Fprintf(out, "  note: %s\n", n)
				}
			}
			if bad > 0 {
				return exitError{exitUsage, fmt.Sprintf("%d of %d profiles invalid", bad, len(args))}
			}
			return nil
		},
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func looksLikePath(s string) bool {
	return strings.ContainsRune(s, '/') || strings.HasSuffix(s, ".yaml") || strings.HasSuffix(s, ".yml")
}

func isProfileErrors(err error) bool {
	var es profiles.Errors
	return errors.As(err, &es)
}

var (
	secretHeaderRE = regexp.MustCompile(`(?i)\b((?:proxy-)?authorization|(?:set-)?cookie)(["']?[ \t]*:[ \t]*)([^,}\]\n"'#]+)`)
	urlPasswordRE  = regexp.MustCompile(`(://[^/\s:@"']*:)[^/\s@"']*@`)
)

// maskSecrets hides Authorization and Cookie header values and URL
// passwords in a profile's text, as everywhere else queuegap echoes them
// ("[redacted]", user:xxxxx@): show must not print them.
func maskSecrets(s string) string {
	s = secretHeaderRE.ReplaceAllString(s, "${1}${2}[redacted]")
	return urlPasswordRE.ReplaceAllString(s, "${1}xxxxx@")
}
