package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/session"
	"github.com/queuegap/queuegap/testbed/prefork"
)

func newDemoCmd() *cobra.Command {
	var (
		workers int
		backlog int
		service time.Duration
		burst   int
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Fire a burst at an embedded prefork target and show the gap",
		Long: `Start queuegap's embedded prefork target on 127.0.0.1 — W workers that accept a
connection only when idle, behind a real kernel listen backlog — fire one burst
at it, and show what the app reported against what the clients waited.

With the defaults (4 workers, backlog 16, 250 ms per request, a burst of 48):
the app says every request took 250 ms; the clients wait in waves of 4 while
the rest sit in the kernel's accept queue, and the SYNs that found the queue
full are retried a second later. Nothing in the app's logs shows either.

Examples:
  queuegap demo
  queuegap demo --workers 8 --backlog 64 --service 100ms --burst 200
  queuegap demo --json`,
		Args: typedArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workers <= 0 || backlog <= 0 || burst <= 0 || service <= 0 {
				return usagef("--workers, --backlog, --burst and --service must all be > 0")
			}
			if workers > 1000 || burst > 100000 {
				return usagef("--workers is limited to 1000 and --burst to 100000 in the demo")
			}
			return runDemo(cmd.OutOrStdout(), cmd.ErrOrStderr(), workers, backlog, service, burst, jsonOut)
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&workers, "workers", 4, "target's workers (each serves one request at a time)")
	fs.IntVar(&backlog, "backlog", 16, "target's listen backlog (the accept queue holds backlog+1)")
	fs.DurationVar(&service, "service", 250*time.Millisecond, "target's service time per request")
	fs.IntVar(&burst, "burst", 48, "requests fired at the same instant")
	fs.BoolVar(&jsonOut, "json", false, "print the summary as one JSON object")
	return cmd
}

func runDemo(stdout, stderr io.Writer, workers, backlog int, service time.Duration, burst int, jsonOut bool) error {
	tc := analyze.TimingConfig{}
	p := session.Plan{
		Clients: []session.ClientPlan{{
			Schedule: loadgen.Schedule{loadgen.Burst{Size: burst, Every: time.Second, Count: 1}},
			Client: loadgen.ClientConfig{
				Mode:        loadgen.NewConn,
				KeepHeaders: tc.KeepHeaders(),
				Timeout:     30 * time.Second,
			},
		}},
		Timing: tc,
		Target: &prefork.Config{Addr: "127.0.0.1:0", Workers: workers, Backlog: backlog, ServiceTime: service, Headers: prefork.DefaultHeaders},
	}
	s, err := session.New(p)
	if err != nil {
		return err
	}
	for _, n := range s.Notes() {
		fmt.Fprintln(stderr, "queuegap: note:", n)
	}
	if !jsonOut {
		fmt.Fprintf(stdout, "embedded prefork target on 127.0.0.1: %d workers, backlog %d, %s per request\n", workers, effectiveBacklog(backlog), service)
		fmt.Fprintf(stdout, "firing %d requests at once (one new connection each)…\n\n", burst)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := s.Run(ctx)
	if err != nil {
		return err
	}
	sum := &rep.Summary
	if jsonOut {
		return sum.WriteJSON(stdout)
	}
	if err := sum.WriteText(stdout); err != nil {
		return err
	}
	writeGap(stdout, sum)
	if rep.Info.Interrupted {
		return exitError{code: exitInterrupted}
	}
	return nil
}

// effectiveBacklog is what the kernel will honour: listen(2) caps the
// backlog at net.core.somaxconn.
func effectiveBacklog(backlog int) int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return backlog
	}
	if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 && n < backlog {
		return n
	}
	return backlog
}

// writeGap spells out the demo's point: the app's view against the clients'.
func writeGap(w io.Writer, s *analyze.Summary) {
	app := s.Server.App
	total := s.Phases[analyze.PhaseTotal]
	if app.Count == 0 || total.Count == 0 {
		return
	}
	fmt.Fprintf(w, "\nTHE GAP\n")
	fmt.Fprintf(w, "  the app reported    max %8s  (p99 %s)\n", fmtDemoMs(app.Max), fmtDemoMs(app.P99))
	fmt.Fprintf(w, "  the clients waited  p99 %8s  (max %s) — %.1f× the app's slowest request\n", fmtDemoMs(total.P99), fmtDemoMs(total.Max), total.P99/app.Max)
	fmt.Fprintf(w, "  where it went: backlog wait %.0f %%, SYN retries %.0f %%, processing %.0f %%\n",
		s.Attribution[analyze.CompBacklog].Share*100, s.Attribution[analyze.CompSynRetry].Share*100, s.Attribution[analyze.CompProcessing].Share*100)
}

func fmtDemoMs(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%.2fs", ms/1000)
	}
	return fmt.Sprintf("%.0fms", ms)
}
