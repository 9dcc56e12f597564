package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/queuegap/queuegap/session"
	"github.com/queuegap/queuegap/sweep"
	"github.com/queuegap/queuegap/testbed/stack"
)

type sweepOptions struct {
	profile   string
	duration  time.Duration
	outDir    string
	objective string
	maximize  bool
	failIf    []string
	workers   string
	listen    string
	server    string
	socket    string
	lb        string
	harakiri  string
	readTO    string
	connectTO string
	instances string
}

func newSweepCmd() *cobra.Command {
	o := &sweepOptions{}
	cmd := &cobra.Command{
		Use:   "sweep --profile NAME|FILE --workers 4,6 [--listen 100,2048 …]",
		Short: "Run a profile against the testbed across a grid of its knobs and name the best cell",
		Long: `Run one traffic profile against the testbed once per combination of the knobs
given (comma-separated values: --workers 4,6 --listen 100,2048 is four cells),
each cell on a testbed started fresh and stopped after, and compare the cells:
requests, p50/p99 of total and of each endpoint, the shares of backlog wait and
SYN retries, 502/504/refused counts. The best cell is the one with the lowest
--objective (--maximize: highest) among those passing every --fail-if
constraint.

Each cell's results go to DIR/cell-NN-<knobs>.jsonl ('queuegap analyze' or
'report' them), and the comparison so far to DIR/sweep.json after every cell:
Ctrl-C ends the current cell and keeps every finished one. The estimate printed
at the start is the cells × (the run's length + about 2 s to start and stop
the testbed); the time left is re-estimated from the cells done.

Examples:
  queuegap sweep --profile fast-slow-mix --duration 20s --workers 4,6 --lb round_robin,least_conn
  queuegap sweep --profile partner-cron --duration 30s --listen 8,100,2048 --objective 'p99(total{name=sync})'
  queuegap sweep --profile spike --workers 2,4,8 --objective 'p99(total)' --fail-if 'rate(errors) > 1%'

` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSweep(o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.profile, "profile", "", "the traffic: a shipped profile's NAME or a profile FILE (required)")
	fs.DurationVar(&o.duration, "duration", 0, "cut every cell's run to this long (0: the whole profile)")
	fs.StringVar(&o.outDir, "out-dir", "", "where the cells' results and sweep.json go (default: sweep-<time> here)")
	fs.StringVar(&o.objective, "objective", "p99(total)", "the figure to minimise: any --fail-if metric, e.g. 'p99(total{name=checkout})'")
	fs.BoolVar(&o.maximize, "maximize", false, "maximise the objective instead (e.g. achieved_rate)")
	fs.StringArrayVar(&o.failIf, "fail-if", nil, "a constraint: a cell where this is true cannot be the best (repeatable)")
	fs.StringVar(&o.workers, "workers", "", "worker processes per app instance, e.g. 4,6,8")
	fs.StringVar(&o.listen, "listen", "", "app listen backlogs, e.g. 8,100,2048")
	fs.StringVar(&o.server, "server", "", "uwsgi,gunicorn")
	fs.StringVar(&o.socket, "socket", "", "nginx → app transport: tcp,unix")
	fs.StringVar(&o.lb, "lb", "", "nginx load balancing over --instances 2: round_robin,least_conn")
	fs.StringVar(&o.harakiri, "harakiri", "", "uWSGI harakiri / gunicorn --timeout, e.g. 0,30s")
	fs.StringVar(&o.readTO, "read-timeout", "", "nginx read timeouts, e.g. 1s,60s")
	fs.StringVar(&o.connectTO, "connect-timeout", "", "nginx connect timeouts, e.g. 1s,60s")
	fs.StringVar(&o.instances, "instances", "", "app instances behind nginx: 1,2")
	return cmd
}

func splitList(flag, v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			return nil, usagef("--%s %q: an empty value in the list", flag, v)
		}
		out = append(out, s)
	}
	return out, nil
}

func (o *sweepOptions) knobs() (sweep.Knobs, error) {
	var k sweep.Knobs
	ints := func(flag, v string, dst *[]int) error {
		vs, err := splitList(flag, v)
		for _, s := range vs {
			n, perr := strconv.Atoi(s)
			if perr != nil {
				return usagef("--%s %q: %q is not a whole number", flag, v, s)
			}
			*dst = append(*dst, n)
		}
		return err
	}
	durs := func(flag, v string, dst *[]time.Duration) error {
		vs, err := splitList(flag, v)
		for _, s := range vs {
			d, perr := time.ParseDuration(s)
			if s == "0" {
				d, perr = 0, nil
			}
			if perr != nil {
				return usagef("--%s %q: %q is not a duration (e.g. 30s)", flag, v, s)
			}
			*dst = append(*dst, d)
		}
		return err
	}
	var err error
	for _, e := range []error{
		ints("workers", o.workers, &k.Workers), ints("listen", o.listen, &k.Listen), ints("instances", o.instances, &k.Instances),
		durs("harakiri", o.harakiri, &k.Harakiri), durs("read-timeout", o.readTO, &k.ReadTimeout), durs("connect-timeout", o.connectTO, &k.ConnectTimeout),
	} {
		err = errors.Join(err, e)
	}
	if err != nil {
		return k, err
	}
	if k.Server, err = splitList("server", o.server); err != nil {
		return k, err
	}
	if k.Socket, err = splitList("socket", o.socket); err != nil {
		return k, err
	}
	if k.LB, err = splitList("lb", o.lb); err != nil {
		return k, err
	}
	return k, nil
}

// cellPlan builds a cell's run plan the way 'run --profile' does, from the
// same flags, so a sweep's cell is exactly a run.
func (o *sweepOptions) cellPlan(url, out string) (session.Plan, error) {
	ro := &runOptions{}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	ro.addScheduleFlags(fs)
	ro.addClientFlags(fs)
	ro.addOutputFlags(fs)
	fs.StringVar(&ro.profile, "profile", "", "")
	args := []string{"--profile", o.profile, "--out", out, "--quiet"}
	if o.duration > 0 {
		args = append(args, "--duration", o.duration.String())
	}
	if err := fs.Parse(args); err != nil {
		return session.Plan{}, usageError{err}
	}
	return ro.plan(fs, url)
}

func runSweep(o *sweepOptions, stdout, stderr io.Writer) error {
	if o.profile == "" {
		return usagef("sweep needs --profile NAME|FILE: the traffic to run in every cell")
	}
	k, err := o.knobs()
	if err != nil {
		return err
	}
	cells, err := sweep.Grid(stack.Defaults(), k)
	if err != nil {
		return usageError{err}
	}
	checks, err := parseChecks(o.failIf)
	if err != nil {
		return err
	}
	if _, err := parseChecks([]string{o.objective + " > 0"}); err != nil {
		return usagef("--objective %q: not a metric --fail-if knows (e.g. p99(total), rate(errors))", o.objective)
	}
	dir := o.outDir
	if dir == "" {
		dir = "sweep-" + time.Now().Format("20060102-150405")
	}
	// Everything is checked before a testbed starts or a file is written.
	if _, err := os.Stat(dir + "/sweep.json"); err == nil {
		return usagef("--out-dir %s already holds a sweep (sweep.json): give a new directory", dir)
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return usagef("--out-dir %s is a file", dir)
	}
	probe, err := o.cellPlan("http://127.0.0.1:1/", os.TempDir()+"/queuegap-sweep-check.jsonl")
	if err != nil {
		return err
	}
	if _, err := session.New(probe); err != nil {
		return err
	}
	for _, c := range cells {
		if err := stack.CheckPackages(c.Config.Server); err != nil {
			return exitError{exitFailure, err.Error()}
		}
	}
	p := &sweep.Plan{Cells: cells, Build: o.cellPlan, Length: probe.Length(), OutDir: dir, Objective: o.objective, Maximize: o.maximize, Checks: checks}
	fmt.Fprintf(stderr, "sweep: %d cells of %s (%v each) → %s; estimate %v\n", len(cells), o.profile, p.Length, dir, p.Estimate().Round(time.Second))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rs, err := sweep.Run(ctx, p, func(pr sweep.Progress) {
		if pr.Done == pr.Total {
			fmt.Fprintf(stderr, "sweep: %d cells in %v (estimate %v)\n", pr.Total, pr.Elapsed.Round(100*time.Millisecond), pr.Estimate.Round(time.Second))
			return
		}
		fmt.Fprintf(stderr, "sweep: [%d/%d] %s — %v elapsed, about %v left\n", pr.Done+1, pr.Total, pr.Cell.Label, pr.Elapsed.Round(time.Second), pr.Left.Round(time.Second))
	})
	printSweep(stdout, p, rs)
	if len(rs) > 0 {
		// The cells side by side, best first (a report holds six columns).
		var files []string
		for _, r := range sweep.Sorted(p, rs) {
			if len(files) < 6 {
				files = append(files, r.File)
			}
		}
		path := filepath.Join(dir, "report.html")
		if rerr := writeReport(path, files, reportOptions{Title: "sweep of " + o.profile}); rerr != nil {
			fmt.Fprintln(stderr, "queuegap: sweep report:", rerr)
		} else {
			fmt.Fprintf(stderr, "sweep: report of the %d best cells: %s\n", len(files), path)
		}
	}
	switch {
	case ctx.Err() != nil:
		return exitError{exitInterrupted, fmt.Sprintf("interrupted: %d of %d cells finished (kept in %s)", len(rs), len(cells), dir)}
	case err != nil:
		return exitError{exitFailure, err.Error()}
	}
	if len(checks) > 0 {
		if _, ok := sweep.Best(p, rs); !ok {
			return exitError{exitCheckFailed, "no cell passed every --fail-if constraint"}
		}
	}
	return nil
}

func printSweep(w io.Writer, p *sweep.Plan, rs []sweep.Result) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(w, "%-40s %8s %9s %9s %8s %9s %5s %5s %7s %5s %8s %12s\n", "cell", "requests", "p50", "p99", "backlog", "syn_retry", "502", "504", "refused", "busy", "app cpu", p.Objective)
	for _, r := range sweep.Sorted(p, rs) {
		f := r.Figures
		obj := "no data"
		if r.Objective != nil {
			obj = strconv.FormatFloat(*r.Objective, 'f', 1, 64)
		}
		if !r.Passed {
			obj += " ✗"
		}
		busy := "–"
		if f.BusyMax >= 0 {
			busy = strconv.FormatFloat(f.BusyMax, 'f', 0, 64)
		}
		fmt.Fprintf(w, "%-40s %8d %9s %9s %7.0f%% %8.0f%% %5d %5d %7d %5s %7.0f%% %12s\n", r.Label, f.Requests, fmtMs(f.P50Ms), fmtMs(f.P99Ms),
			100*f.BacklogShare, 100*f.SynShare, f.Gateway502, f.Gateway504, f.Refused, busy, 100*f.AppCPUMean, obj)
	}
	dir := "lowest"
	if p.Maximize {
		dir = "highest"
	}
	if b, ok := sweep.Best(p, rs); ok {
		fmt.Fprintf(w, "\nbest: %s (%s %s", b.Label, dir, p.Objective)
		if len(p.Checks) > 0 {
			fmt.Fprintf(w, ", passing %d constraint(s)", len(p.Checks))
		}
		fmt.Fprintln(w, ")")
	} else {
		fmt.Fprintln(w, "\nbest: none — no cell passed every constraint with data")
	}
	for _, r := range rs {
		for _, f := range r.Failed {
			fmt.Fprintf(w, "  %s: fails %s\n", r.Label, f)
		}
	}
}
