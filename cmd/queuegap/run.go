package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/analyze/servertiming"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/testbed/prefork"
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
	fs.StringVar(&o.engine, "engine", "auto", "how requests are sent: loop (one event loop, kernel receive timestamps, about half\n  the CPU per request; keep-alive http:// to an IP address, Linux), goroutines (every\n  mode, https, host names), or auto: loop where it applies, else goroutines")
	fs.DurationVar(&o.batch, "batch-window", loadgen.DefaultBatchWindow, "cap on the dispatcher's batching: at high rates requests due within a window of\n  about 4 request gaps (at most this) are sent together, each keeping its intended\n  time and recording its lag; 0 wakes for every request: most precise, most CPU")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "limit for each request from its start, connect included")
	fs.DurationVar(&o.connTimeout, "connect-timeout", 10*time.Second, "limit for the TCP connect (long enough to see SYN retries at 1 s, 2 s, 3 s…)")
	fs.StringVarP(&o.method, "method", "X", "GET", "HTTP method")
	fs.StringArrayVarP(&o.headers, "header", "H", nil, `request header "Name: value" (repeatable)`)
	fs.StringVar(&o.body, "body", "", "request body")
	fs.StringVar(&o.bodyFile, "body-file", "", "read the request body from a file")
	fs.BoolVar(&o.noRequestID, "no-request-id", false, "do not send X-Request-Id: <run-id>-<seq>")
	fs.BoolVar(&o.insecure, "insecure", false, "https: do not verify the server certificate")
}

func (o *runOptions) addOutputFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.out, "out", "", "stream one JSON object per request to FILE (JSON Lines, flushed every second)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the summary as one JSON object instead of tables")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no live progress line")
	fs.StringArrayVar(&o.timingHdrs, "timing-header", nil, "map a custom response header to a component: COMPONENT=Header:unit,\n  e.g. queue=X-Queue-Ms:ms (components: queue, app, upstream_connect, start; units: s, ms, us, ns, epoch)")
	fs.StringVar(&o.queueMetric, "queue-metric", "queue", "Server-Timing metric that carries the queue time")
	fs.StringVar(&o.appMetric, "app-metric", "app", "Server-Timing metric that carries the app's processing time")
	fs.StringArrayVar(&o.failIf, "fail-if", nil, "exit 3 when this check is true (repeatable):\n"+indent(analyze.CheckSyntax, "  "))
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

// report prints the summary (text or JSON) with the checks, and turns a
// failed check into exit code 3.
func report(w io.Writer, s *analyze.Summary, checks []analyze.Check, jsonOut bool, extra func(io.Writer) error) error {
	results, failed, err := analyze.EvalChecks(checks, s)
	if err != nil {
		return exitError{exitFailure, err.Error()}
	}
	s.Checks = results
	if jsonOut {
		err = s.WriteJSON(w)
	} else {
		err = s.WriteText(w)
		if err == nil && extra != nil {
			err = extra(w)
		}
		if err == nil {
			err = analyze.WriteChecks(w, results)
		}
	}
	if err != nil {
		return exitError{exitFailure, err.Error()}
	}
	if failed {
		n := 0
		for _, r := range results {
			if r.Failed {
				n++
			}
		}
		return exitError{exitCheckFailed, fmt.Sprintf("%d of %d --fail-if checks failed", n, len(results))}
	}
	return nil
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// schedule builds the schedule from the flags.
func (o *runOptions) schedule(fs *pflag.FlagSet) (loadgen.Schedule, error) {
	var sched loadgen.Schedule
	given := 0
	for _, name := range []string{"rate", "burst", "ramp"} {
		if fs.Changed(name) {
			given++
		}
	}
	if len(o.stages) > 0 {
		if given > 0 {
			return nil, usagef("--stage cannot be combined with --rate, --burst or --ramp")
		}
		for _, s := range o.stages {
			st, err := loadgen.ParseStage(s)
			if err != nil {
				return nil, usageError{err}
			}
			sched = append(sched, st)
		}
		return sched, nil
	}
	if given > 1 {
		return nil, usagef("give one of --rate, --burst or --ramp (or several --stage)")
	}
	if fs.Changed("poisson") && !fs.Changed("rate") {
		return nil, usagef("--poisson needs --rate")
	}
	switch {
	case fs.Changed("rate"):
		if o.poisson {
			sched = loadgen.Schedule{loadgen.Poisson{Rate: o.rate, Duration: o.duration}}
		} else {
			sched = loadgen.Schedule{loadgen.Constant{Rate: o.rate, Duration: o.duration}}
		}
	case fs.Changed("burst"):
		sched = loadgen.Schedule{loadgen.Burst{Size: o.burst, Every: o.every, Count: o.bursts}}
	case fs.Changed("ramp"):
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
			return tc, usagef("--timing-header: %v", err)
		}
		tc.Mappings = append(tc.Mappings, m)
	}
	return tc, nil
}

func (o *runOptions) clientConfig(url, runID string, keep []string) (loadgen.ClientConfig, error) {
	cc := loadgen.ClientConfig{
		Request:        loadgen.Request{URL: url, Method: strings.ToUpper(o.method)},
		Connections:    o.connections,
		Timeout:        o.timeout,
		ConnectTimeout: o.connTimeout,
		KeepHeaders:    keep,
		InsecureTLS:    o.insecure,
	}
	mode, err := loadgen.ParseConnMode(o.connMode)
	if err != nil {
		return cc, usageError{err}
	}
	cc.Mode = mode
	if o.connections <= 0 {
		return cc, usagef("--connections must be > 0")
	}
	if o.maxInflight <= 0 {
		return cc, usagef("--max-inflight must be > 0")
	}
	if o.timeout <= 0 || o.connTimeout <= 0 {
		return cc, usagef("--timeout and --connect-timeout must be > 0")
	}
	if !o.noRequestID {
		cc.RunID = runID
	}
	for _, h := range o.headers {
		kv, err := loadgen.ParseHeader(h)
		if err != nil {
			return cc, usagef("-H: %v", err)
		}
		cc.Headers = append(cc.Headers, kv)
	}
	switch {
	case o.body != "" && o.bodyFile != "":
		return cc, usagef("give --body or --body-file, not both")
	case o.body != "":
		cc.Body = []byte(o.body)
	case o.bodyFile != "":
		b, err := os.ReadFile(o.bodyFile)
		if err != nil {
			return cc, usagef("--body-file: %v", err)
		}
		cc.Body = b
	}
	return cc, nil
}

func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
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
X-Upstream-Connect-Time) and attributes the time to lag, connect, syn_retry,
backlog, processing, network and transfer.

Schedules (pick one, or chain --stage):
  --rate 200 --duration 30s            constant rate
  --rate 200 --poisson                 random arrivals averaging 200/s
  --burst 40 --every 5s --bursts 3     40 at once, three times
  --ramp 10:500 --duration 1m          linear ramp
  --stage rate:50:10s --stage burst:100:1s:1 --stage rate:50:10s

Without a URL, run starts the embedded prefork target (see 'queuegap target')
on 127.0.0.1 and points the schedule at it; --target-* flags shape it.

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
			if len(args) == 1 {
				return o.execute(cmd, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			if _, err := o.schedule(cmd.Flags()); err != nil {
				return err // before starting anything
			}
			cfg, err := o.target.config()
			if err != nil {
				return err
			}
			cfg.Addr = "127.0.0.1:0"
			srv, err := prefork.Start(cfg)
			if err != nil {
				return exitError{exitFailure, err.Error()}
			}
			defer srv.Close()
			fmt.Fprintf(cmd.ErrOrStderr(), "no URL: using the embedded prefork target at %s (%d workers, backlog %d, %s per request)\n",
				srv.URL(), cfg.Workers, cfg.Backlog, cfg.ServiceTime)
			return o.execute(cmd, srv.URL(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	o.addScheduleFlags(fs)
	o.addClientFlags(fs)
	o.addOutputFlags(fs)
	o.target.addFlags(fs, "target-")
	return cmd
}

// execute runs the schedule against url and prints the summary.
func (o *runOptions) execute(cmd *cobra.Command, url string, stdout, stderr io.Writer) error {
	sched, err := o.schedule(cmd.Flags())
	if err != nil {
		return err
	}
	tc, err := o.timingConfig()
	if err != nil {
		return err
	}
	checks, err := parseChecks(o.failIf)
	if err != nil {
		return err
	}
	runID := newRunID()
	cc, err := o.clientConfig(url, runID, tc.KeepHeaders())
	if err != nil {
		return err
	}
	client, err := loadgen.NewClient(cc)
	if err != nil {
		return usageError{err}
	}
	defer client.Close()

	var outFile *os.File
	if o.out != "" {
		outFile, err = os.Create(o.out)
		if err != nil {
			return usagef("--out: %v", err)
		}
		defer outFile.Close()
	}
	var hdrFile *os.File
	if o.hdrLog != "" {
		hdrFile, err = os.Create(o.hdrLog)
		if err != nil {
			return usagef("--hdr-log: %v", err)
		}
		defer hdrFile.Close()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	info := analyze.RunInfo{RunID: runID, URL: url, Method: cc.Method, Schedule: sched.String(), ConnMode: cc.Mode.String(), Planned: sched.Planned(), MaxInflight: o.maxInflight}
	coll := &analyze.Collector{}
	batch := o.batch
	if batch == 0 {
		batch = -1 // loadgen: negative means no batching
	}
	if batch < -1 {
		return usagef("--batch-window must not be negative")
	}
	engine, err := loadgen.ParseEngine(o.engine)
	if err != nil {
		return usagef("--engine: %v", err)
	}
	runner, err := loadgen.NewRunner(loadgen.Config{Schedule: sched, Client: client, Sink: coll, MaxInflight: o.maxInflight, BatchWindow: batch, Engine: engine})
	if err != nil {
		return usageError{err}
	}
	// The runner fixes the clock origin when it starts; the analyzer and
	// results file need it first, so start them from a hook.
	var writer *analyze.ResultsWriter
	var hdrWriter *analyze.HDRLogWriter
	var writeErr, hdrErr error
	runner.OnStart = func(start time.Time) {
		info.Start = start
		coll.Analyzer = analyze.NewAnalyzer(tc, start, cc.RunID)
		coll.Aggregator = analyze.NewAggregator(start, nil)
		if outFile != nil {
			writer, writeErr = analyze.NewResultsWriter(outFile, info)
			if writeErr == nil {
				coll.Sinks = append(coll.Sinks, func(r *analyze.Result) { _ = writer.Write(r) })
			}
		}
		if hdrFile != nil {
			hdrWriter, hdrErr = analyze.NewHDRLogWriter(hdrFile, start, time.Second)
			if hdrErr == nil {
				coll.Sinks = append(coll.Sinks, hdrWriter.Add)
			}
		}
	}
	progressDone := make(chan struct{})
	if !o.quiet && isTerminal(stderr) {
		go showProgress(stderr, runner, sched, progressDone)
	} else {
		close(progressDone)
	}
	stats := runner.Run(ctx)
	stop()
	<-progressDone

	info.Started, info.NotSent, info.SendWindow, info.Elapsed, info.Interrupted = stats.Started, stats.NotSent, stats.SendWindow, stats.Elapsed, stats.Interrupted
	if writer != nil {
		if err := writer.Close(info); err != nil {
			writeErr = err
		} else {
			writeErr = writer.Err()
		}
	}
	if hdrWriter != nil {
		hdrErr = hdrWriter.Close()
	}
	summary := coll.Aggregator.Summarize(info)
	reportErr := report(stdout, &summary, checks, o.jsonOut, nil)
	switch {
	case writeErr != nil:
		return exitError{exitFailure, fmt.Sprintf("--out %s: %v", o.out, writeErr)}
	case hdrErr != nil:
		return exitError{exitFailure, fmt.Sprintf("--hdr-log %s: %v", o.hdrLog, hdrErr)}
	case stats.Interrupted:
		return exitError{code: exitInterrupted}
	}
	return reportErr
}
