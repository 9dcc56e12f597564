package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/analyze/servertiming"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/session"
)

// runOptions are the flags shared by run and demo.
type runOptions struct {
	rate        float64
	duration    time.Duration
	poisson     bool
	burst       int
	every       time.Duration
	bursts      int
	ramp        string
	stages      []string
	connMode    string
	connections int
	maxInflight int
	timeout     time.Duration
	connTimeout time.Duration
	method      string
	headers     []string
	body        string
	bodyFile    string
	out         string
	jsonOut     bool
	noRequestID bool
	insecure    bool
	quiet       bool
	timingHdrs  []string
	queueMetric string
	appMetric   string
	failIf      []string
	hdrLog      string
	target      targetOptions
	batch       time.Duration
	engine      string
	maxBody     int64
	profile     string
	probeOptions
	htmlReport string
	reportTemp string // the results file made for --report without --out
	shard      string
	startAt    string
	runID      string
	metrics    metricsOptions
}

func (o *runOptions) addScheduleFlags(fs *pflag.FlagSet) {
	fs.Float64Var(&o.rate, "rate", 0, "constant rate in requests/s (with --duration)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long --rate, --poisson or --ramp lasts")
	fs.BoolVar(&o.poisson, "poisson", false, "with --rate: Poisson arrivals (random gaps averaging 1/rate) instead of even spacing")
	fs.IntVar(&o.burst, "burst", 0, "fire K requests at the same instant")
	fs.DurationVar(&o.every, "every", time.Second, "with --burst: time between bursts")
	fs.IntVar(&o.bursts, "bursts", 1, "with --burst: number of bursts")
	fs.StringVar(&o.ramp, "ramp", "", "linear ramp FROM:TO requests/s over --duration, e.g. 10:500")
	fs.StringArrayVar(&o.stages, "stage", nil, "a schedule stage; repeat to run stages in sequence:\n"+indent(loadgen.StageSyntax, "  "))
}

func (o *runOptions) addClientFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.connMode, "conn-mode", "keepalive", "keepalive (reuse a pool of --connections) or new (one connection per request, server closes)")
	fs.IntVar(&o.connections, "connections", 64, "keep-alive pool size; requests wait for a free connection (counted as lag)")
	fs.IntVar(&o.maxInflight, "max-inflight", loadgen.DefaultMaxInflight, "bound on requests in flight; waiting for a slot is generator lag and is reported")
	fs.StringVar(&o.engine, "engine", "auto", "how requests are sent: loop (one event loop, kernel receive timestamps, about half\n  the CPU per request; http:// in either --conn-mode, to an IP address or a host name:\n  looked up at the start, again every 30 s and after a failure, new connections take\n  its IPv4 addresses in turn, IPv6 ones only when it has none; Linux), goroutines\n  (every mode and https, with TLS session resumption), or auto: loop for keep-alive where it applies, else goroutines\n  (the loop's new-connection path is faster but not yet as exact across a network)")
	fs.DurationVar(&o.batch, "batch-window", loadgen.DefaultBatchWindow, "cap on the dispatcher's batching: at high rates requests due within a window of\n  about 4 request gaps (at most this) are sent together, each keeping its intended\n  time and recording its lag; 0 wakes for every request: most precise, most CPU")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "limit for each request from its start, connect included")
	fs.DurationVar(&o.connTimeout, "connect-timeout", 10*time.Second, "limit for the TCP connect (long enough to see SYN retries at 1 s, 2 s, 3 s…)")
	fs.StringVarP(&o.method, "method", "X", "GET", "HTTP method")
	fs.StringArrayVarP(&o.headers, "header", "H", nil, `request header "Name: value" (repeatable)`)
	fs.StringVar(&o.body, "body", "", "request body")
	fs.StringVar(&o.bodyFile, "body-file", "", "read the request body from a file")
	fs.BoolVar(&o.noRequestID, "no-request-id", false, "do not send X-Request-Id: <run-id>-<seq>")
	fs.StringVar(&o.runID, "run-id", "", "name the run (and prefix X-Request-Id) instead of a random id; letters, digits, . _ -")
	fs.StringVar(&o.shard, "shard", "", "I/N: be shard I (from 0) of N generators that together send exactly this schedule:\n  every N-th request of every stage and client, with the whole run's seq and intended time;\n  needs --start-at; 'queuegap merge' joins the shards' --out files")
	fs.StringVar(&o.startAt, "start-at", "", "RFC 3339 time the run's clock starts at (shared by shards): wait for it, or, started late,\n  measure from it anyway (the late requests' lag says by how much)")
	fs.BoolVar(&o.insecure, "insecure", false, "https: do not verify the server certificate")
	fs.Int64Var(&o.maxBody, "max-body", 0, "fail a response whose body exceeds this many bytes (protocol_error); 0: no limit\n  (bodies are counted and discarded as they arrive, never held)")
}

func (o *runOptions) addOutputFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.out, "out", "", "stream one JSON object per request to FILE (JSON Lines, flushed every second)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the summary as one JSON object instead of tables")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no live progress line")
	fs.StringArrayVar(&o.timingHdrs, "timing-header", nil, "map a custom response header to a component: COMPONENT=Header:unit,\n  e.g. queue=X-Queue-Ms:ms (components: queue, app, upstream_connect, start; units: s, ms, us, ns, epoch)")
	fs.StringVar(&o.queueMetric, "queue-metric", "queue", "Server-Timing metric that carries the queue time")
	fs.StringVar(&o.appMetric, "app-metric", "app", "Server-Timing metric that carries the app's processing time")
	fs.StringArrayVar(&o.failIf, "fail-if", nil, "exit 3 when this check is true (repeatable):\n"+indent(analyze.CheckSyntax, "  "))
	fs.StringVar(&o.htmlReport, "report", "", "write a self-contained HTML report of the run to FILE at its end (as 'queuegap report')")
	fs.StringVar(&o.hdrLog, "hdr-log", "", "write interval histograms (1 s) to FILE in HdrHistogram's log format; 'queuegap analyze FILE' merges them")
}

// parseChecks validates every --fail-if before anything runs.
func parseChecks(exprs []string) ([]analyze.Check, error) {
	var checks []analyze.Check
	for _, e := range exprs {
		c, err := analyze.ParseCheck(e)
		if err != nil {
			return nil, usageError{err}
		}
		checks = append(checks, c)
	}
	return checks, nil
}

// report prints the summary (text or JSON) with its checks (already
// evaluated into s.Checks), and turns a failed check into exit code 3.
func report(w io.Writer, s *analyze.Summary, jsonOut bool, extra func(io.Writer) error) error {
	var err error
	if jsonOut {
		err = s.WriteJSON(w)
	} else {
		err = s.WriteText(w)
		if err == nil && extra != nil {
			err = extra(w)
		}
		if err == nil {
			err = analyze.WriteChecks(w, s.Checks)
		}
	}
	if err != nil {
		return exitError{exitFailure, err.Error()}
	}
	return checksExit(s.Checks)
}

// checksExit is exit 3 when any check failed.
func checksExit(results []analyze.CheckResult) error {
	n := 0
	for _, r := range results {
		if r.Failed {
			n++
		}
	}
	if n > 0 {
		return exitError{exitCheckFailed, fmt.Sprintf("%d of %d --fail-if checks failed", n, len(results))}
	}
	return nil
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// schedule builds the schedule from the flags; a flag that does not shape
// the chosen schedule is an error, not silently ignored.
func (o *runOptions) schedule(fs *pflag.FlagSet) (loadgen.Schedule, error) {
	var sched loadgen.Schedule
	var kinds []string
	for _, name := range []string{"rate", "burst", "ramp", "stage"} {
		if fs.Changed(name) {
			kinds = append(kinds, "--"+name)
		}
	}
	if len(kinds) > 1 {
		return nil, usagef("give one of --rate, --burst, --ramp or --stage (got %s)", strings.Join(kinds, " and "))
	}
	kind := ""
	if len(kinds) == 1 {
		kind = kinds[0]
	}
	// Which shaping flags each schedule takes.
	applies := map[string][]string{
		"--rate":  {"duration", "poisson"},
		"--ramp":  {"duration"},
		"--burst": {"every", "bursts"},
		"--stage": {},
	}
	for _, f := range []string{"duration", "poisson", "every", "bursts"} {
		if !fs.Changed(f) {
			continue
		}
		ok := false
		for _, a := range applies[kind] {
			ok = ok || a == f
		}
		if !ok {
			owners := map[string]string{"duration": "--rate or --ramp", "poisson": "--rate", "every": "--burst", "bursts": "--burst"}[f]
			if kind == "" {
				return nil, usagef("--%s goes with %s, and no schedule was given", f, owners)
			}
			return nil, usagef("--%s goes with %s; it does not apply to %s", f, owners, kind)
		}
	}
	switch kind {
	case "--stage":
		for _, s := range o.stages {
			st, err := loadgen.ParseStage(s)
			if err != nil {
				return nil, usageError{err}
			}
			sched = append(sched, st)
		}
	case "--rate":
		if o.poisson {
			sched = loadgen.Schedule{loadgen.Poisson{Rate: o.rate, Duration: o.duration}}
		} else {
			sched = loadgen.Schedule{loadgen.Constant{Rate: o.rate, Duration: o.duration}}
		}
	case "--burst":
		sched = loadgen.Schedule{loadgen.Burst{Size: o.burst, Every: o.every, Count: o.bursts}}
	case "--ramp":
		from, to, ok := strings.Cut(o.ramp, ":")
		if !ok {
			return nil, usagef("--ramp %q: want FROM:TO in requests/s, e.g. 10:500", o.ramp)
		}
		st, err := loadgen.ParseStage("ramp:" + from + ":" + to + ":" + o.duration.String())
		if err != nil {
			return nil, usageError{err}
		}
		sched = loadgen.Schedule{st}
	default:
		return nil, usagef("no schedule: give --rate R, --burst K, --ramp FROM:TO or --stage (see --help)")
	}
	if err := sched.Validate(); err != nil {
		return nil, usageError{err}
	}
	return sched, nil
}

func (o *runOptions) timingConfig() (analyze.TimingConfig, error) {
	tc := analyze.TimingConfig{QueueMetric: o.queueMetric, AppMetric: o.appMetric}
	for _, s := range o.timingHdrs {
		m, err := servertiming.ParseMapping(s)
		if err != nil {
			return tc, usageError{fmt.Errorf("--timing-header: %w", err)}
		}
		tc.Mappings = append(tc.Mappings, m)
	}
	return tc, nil
}

// plan turns the flags into a run plan; url is "" for the embedded target.
func (o *runOptions) plan(fs *pflag.FlagSet, url string) (session.Plan, error) {
	if o.profile != "" {
		return o.profilePlan(fs, url)
	}
	sched, err := o.schedule(fs)
	if err != nil {
		return session.Plan{}, err
	}
	p, err := o.commonPlan(fs, url)
	if err != nil {
		return p, err
	}
	mode, err := loadgen.ParseConnMode(o.connMode)
	if err != nil {
		return p, usageError{fmt.Errorf("--conn-mode: %w", err)}
	}
	if mode == loadgen.NewConn && fs.Changed("connections") {
		return p, usagef("--connections sizes the keep-alive pool; with --conn-mode new every request opens its own connection")
	}
	if fs.Changed("method") && strings.TrimSpace(o.method) == "" {
		return p, usagef("-X/--method: empty method (want GET, POST, …)")
	}
	cc := loadgen.ClientConfig{
		Request:        loadgen.Request{URL: url, Method: strings.ToUpper(o.method)},
		Mode:           mode,
		Connections:    o.connections,
		Timeout:        o.timeout,
		ConnectTimeout: o.connTimeout,
		KeepHeaders:    p.Timing.KeepHeaders(),
		InsecureTLS:    o.insecure,
		MaxBodyBytes:   int(min(o.maxBody, int64(^uint(0)>>1))),
	}
	if cc.Headers, err = o.requestHeaders(); err != nil {
		return p, err
	}
	if cc.Body, err = o.requestBody(); err != nil {
		return p, err
	}
	p.Clients = []session.ClientPlan{{Schedule: sched, Client: cc}}
	return p, nil
}

// commonPlan is the part of a plan every run shares, from flags or a
// profile: timing headers, checks, the target, limits, engine, outputs.
// url is "" for the embedded target.
func (o *runOptions) commonPlan(fs *pflag.FlagSet, url string) (session.Plan, error) {
	var p session.Plan
	var err error
	if p.Timing, err = o.timingConfig(); err != nil {
		return p, err
	}
	if p.Checks, err = parseChecks(o.failIf); err != nil {
		return p, err
	}
	if url != "" {
		var targetFlags []string
		fs.Visit(func(f *pflag.Flag) {
			if strings.HasPrefix(f.Name, "target-") {
				targetFlags = append(targetFlags, "--"+f.Name)
			}
		})
		if len(targetFlags) > 0 {
			return p, usagef("%s shape the embedded target, which runs only without a URL", strings.Join(targetFlags, ", "))
		}
	} else {
		cfg, err := o.target.config()
		if err != nil {
			return p, err
		}
		cfg.Addr = "127.0.0.1:0"
		p.Target = &cfg
	}
	switch {
	case o.connections <= 0:
		return p, usagef("--connections must be > 0")
	case o.maxInflight <= 0:
		return p, usagef("--max-inflight must be > 0")
	case o.timeout <= 0 || o.connTimeout <= 0:
		return p, usagef("--timeout and --connect-timeout must be > 0")
	case o.maxBody < 0:
		return p, usagef("--max-body must not be negative (0: no limit)")
	case o.batch < 0:
		return p, usagef("--batch-window must not be negative (0: one wake-up per request)")
	case o.insecure && url != "" && !strings.HasPrefix(strings.ToLower(url), "https://"):
		return p, usagef("--insecure applies to https:// URLs only")
	}
	p.Engine, err = loadgen.ParseEngine(o.engine)
	if err != nil {
		return p, usageError{fmt.Errorf("--engine: %w", err)}
	}
	p.BatchWindow = o.batch
	if o.batch == 0 {
		p.BatchWindow = -1 // loadgen: negative means no batching
	}
	p.MaxInflight = o.maxInflight
	p.NoRequestID = o.noRequestID
	if o.runID != "" {
		if strings.Trim(o.runID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" || len(o.runID) > 64 {
			return p, usagef("--run-id %q: at most 64 letters, digits, '.', '_' or '-'", o.runID)
		}
		p.RunID = o.runID
	}
	if o.shard != "" {
		if p.Shard, err = loadgen.ParseShard(o.shard); err != nil {
			return p, usageError{fmt.Errorf("--shard: %w", err)}
		}
	}
	if o.startAt != "" {
		if p.StartAt, err = time.Parse(time.RFC3339Nano, o.startAt); err != nil {
			return p, usagef("--start-at %q: want an RFC 3339 time, e.g. %s", o.startAt, time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
		}
	}
	p.Out, p.HDRLog = o.out, o.hdrLog
	if o.htmlReport != "" {
		if err := session.CheckOutputPath(o.htmlReport); err != nil {
			return p, usagef("--report %s: %v", o.htmlReport, err)
		}
		if o.out == "" {
			// The report is drawn from the results file: without --out, one
			// of our own, removed once the report is written.
			p.Out = filepath.Join(os.TempDir(), fmt.Sprintf("queuegap-report-%d-%d.jsonl", os.Getpid(), time.Now().UnixNano()))
			o.reportTemp = p.Out
		} else if o.out == o.htmlReport {
			return p, usagef("--out and --report name the same file (%s): each output needs its own", o.out)
		}
	}
	if err := o.applyProbes(&p); err != nil {
		return p, err
	}
	return p, nil
}

// requestHeaders are the -H flags, checked.
func (o *runOptions) requestHeaders() ([][2]string, error) {
	var hs [][2]string
	for _, h := range o.headers {
		kv, err := loadgen.ParseHeader(h)
		if err != nil {
			return nil, usageError{fmt.Errorf("-H: %w", err)}
		}
		hs = append(hs, kv)
	}
	return hs, nil
}

// requestBody is --body or --body-file's content; nil when neither is given.
func (o *runOptions) requestBody() ([]byte, error) {
	switch {
	case o.body != "" && o.bodyFile != "":
		return nil, usagef("give --body or --body-file, not both")
	case o.body != "":
		return []byte(o.body), nil
	case o.bodyFile != "":
		b, err := os.ReadFile(o.bodyFile)
		if err != nil {
			return nil, usageError{fmt.Errorf("--body-file: %w", err)}
		}
		return b, nil
	}
	return nil, nil
}

func newRunCmd() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run [flags] [URL]",
		Short: "Send an open-loop schedule of requests to URL and report where the time went",
		Long: `Send requests to URL on a fixed schedule, whatever the target does (open loop):
each request has an intended send time and its latency counts from then, so a
slow target cannot slow the schedule down and hide its own slowness.

Per request queuegap times connect, TTFB and total, reads server timing headers
(Server-Timing queue/app, X-Request-Start, X-Runtime, X-Response-Time, nginx
X-Upstream-Connect-Time) and attributes the time to lag (the generator late), client_queue
(waiting for a slot or pooled connection the target holds), connect, syn_retry,
backlog, processing, network, unanswered and transfer.

Schedules (pick one, or chain --stage):
  --rate 200 --duration 30s            constant rate
  --rate 200 --poisson                 random arrivals averaging 200/s
  --burst 40 --every 5s --bursts 3     40 at once, three times
  --ramp 10:500 --duration 1m          linear ramp
  --stage rate:50:10s --stage burst:100:1s:1 --stage rate:50:10s
A flag that does not shape the schedule you chose (--duration with --burst,
say) is an error, never silently ignored.

Without a URL, run starts the embedded prefork target (see 'queuegap target')
on 127.0.0.1 and points the schedule at it; --target-* flags shape it.

Everything is checked before anything starts: a rejected flag leaves existing
--out and --hdr-log files untouched. A password in the URL (http://user:pw@host/)
is sent as Basic auth and shown as xxxxx wherever queuegap prints or writes it.

Examples:
  queuegap run --burst 40                                   # at the embedded target
  queuegap run --burst 40 http://127.0.0.1:8080/sleep?ms=1000
  queuegap run --rate 500 --duration 1m --conn-mode new --out r.jsonl http://127.0.0.1:8080/
  queuegap run --rate 100 -X POST -H 'Content-Type: application/json' --body '{"a":1}' URL

` + exitCodesHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("run takes one URL (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			url := ""
			if len(args) == 1 {
				url = args[0]
			}
			p, err := o.plan(cmd.Flags(), url)
			if err != nil {
				return err
			}
			if o.reportTemp != "" {
				defer os.Remove(o.reportTemp)
			}
			return runPlan(p, o.jsonOut, o.quiet, &o.metrics, o.htmlReport, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.profile, "profile", "", "run a traffic profile: a shipped one by NAME ('queuegap profiles list') or a YAML FILE;\n  every flag given overrides the profile for each of its clients (a schedule flag replaces\n  their stages; --duration alone cuts the profile short), the URL overrides its base_url")
	o.addScheduleFlags(fs)
	o.addClientFlags(fs)
	o.addOutputFlags(fs)
	o.addProbeFlags(fs)
	o.metrics.addFlags(fs)
	o.target.addFlags(fs, "target-")
	return cmd
}

// runPlan validates and runs p, prints the summary and, when htmlReport is
// set, writes the HTML report of the run's results file (p.Out).
func runPlan(p session.Plan, jsonOut, quiet bool, m *metricsOptions, htmlReport string, stdout, stderr io.Writer) (err error) {
	s, err := session.New(p)
	if err != nil {
		return err
	}
	outs, finishMetrics, err := m.start(s, stderr)
	if err != nil {
		return err
	}
	defer func() { err = withMetricsErr(err, finishMetrics(context.Background()), stderr) }()
	for _, n := range s.Notes() {
		fmt.Fprintln(stderr, "queuegap: note:", n)
	}
	if soft, hard, err := loadgen.RaiseFDLimit(); err == nil && soft < 4096 && !quiet {
		fmt.Fprintf(stderr, "queuegap: note: only %d file descriptors (hard limit %d): new-connection runs above that fail as fds_exhausted\n", soft, hard)
	}
	// The first Ctrl-C (or SIGTERM) ends the run — everything so far is
	// written within a second; the second skips the summary, which for a
	// long run is a pass over all its results.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer func() {
		signal.Stop(sigs) // before close: the signal package must not send on it after
		close(sigs)
	}()
	go func() {
		if _, ok := <-sigs; !ok {
			return
		}
		stop()
		if !quiet {
			fmt.Fprintln(stderr, "\rqueuegap: stopping; press Ctrl-C again to skip the summary")
		}
		if _, ok := <-sigs; ok {
			s.SkipSummary()
		}
	}()
	if t := s.Plan().Target; t != nil && !jsonOut {
		fmt.Fprintf(stderr, "no URL: using the embedded prefork target (%d workers, backlog %d, %s per request)\n", t.Workers, t.Backlog, t.ServiceTime)
	}
	progressDone := make(chan struct{})
	runDone := make(chan struct{})
	if !quiet && isTerminal(stderr) {
		go showProgress(stderr, s, runDone, progressDone)
	} else {
		close(progressDone)
	}
	rep, err := s.Run(ctx, outs...)
	close(runDone)
	<-progressDone
	if rep == nil {
		return err
	}
	var skipped *session.SummarySkippedError
	if errors.As(err, &skipped) {
		return exitError{exitInterrupted, skipped.Error()}
	}
	reportErr := report(stdout, &rep.Summary, jsonOut, nil)
	if htmlReport != "" && rep.Info.Started > 0 {
		// Whatever the checks said: the report is how they are looked into.
		if werr := writeReport(htmlReport, []string{s.Plan().Out}, reportOptions{}); werr != nil {
			fmt.Fprintln(stderr, "queuegap: --report:", werr)
			if err == nil {
				err = exitError{exitFailure, "--report: " + werr.Error()}
			}
		} else if !quiet {
			fmt.Fprintln(stderr, "queuegap: report written to", htmlReport)
		}
	}
	switch {
	case err != nil:
		return err
	case rep.Info.Interrupted:
		return exitError{code: exitInterrupted}
	}
	return reportErr
}
