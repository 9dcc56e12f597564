package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/profiles"
	"github.com/queuegap/queuegap/session"
	"github.com/queuegap/queuegap/whatif"
)

const whatifAssumptions = `The model (a discrete-event simulation of the prefork queue) assumes:
  - open loop: the same arrivals whatever the answers; a run's retries are
    not replayed, and the client never waits for a pool
  - each replica: workers × threads slots taking connections, oldest first,
    from one accept queue holding listen+1 (Linux)
  - tcp: a full queue drops the SYN and the connecting kernel retries it on
    this machine's schedule (tcp_syn_retries, tcp_syn_linear_timeouts: 1, 2,
    3, 4, 5, 7 s, giving up at 11 s by default on Linux ≥ 6.5); behind nginx
    they are nginx's retries (504 past --connect-timeout, a slow 502 when the
    kernel gives up); --direct: the client's (connect_timeout)
  - unix: a full queue is a 502 at once (nginx gets EAGAIN)
  - --read-timeout counts from nginx's connect: a 504, while the worker still
    does the request; requests given up on stay queued until a worker takes
    them (it does the work for nobody)
  - --harakiri H: a request running past H (+ up to 1 s: uWSGI checks once a
    second) kills its worker: 502; the worker is back 100 ms later
  - processing times are drawn from each endpoint's reported times (the
    app's own Server-Timing app; the server's, never the client's); the part
    --cpu-share says is CPU runs processor-shared on --cores per replica
    (stretching when more requests compute than there are cores); the rest
    is I/O wait, unaffected by load
  - what a response costs the client beyond the server (connect, network,
    transfer) is drawn from the measured run's answered requests
  - replicas behind round robin or least_conn (nginx: fewest open
    connections, ties in turn); nginx itself, the network and the load
    generator never limit`

type whatifOptions struct {
	jsonOut                              bool
	seed                                 uint64
	workers, threads, listen, replicas   string
	socket, lb                           string
	harakiri, readTimeout, connectTimout string
	cores                                string
	direct                               bool
	clientTimeout, clientConnectTimeout  time.Duration
	cpuShares                            []string
	acceptDelay                          string
	measured                             measuredFlags
}

// measuredFlags is the setting the results were measured with.
type measuredFlags struct {
	workers, threads, listen, replicas int
	socket, lb                         string
	harakiri, readTimeout, connTimeout time.Duration
	cores                              float64
}

func newWhatifCmd() *cobra.Command {
	o := &whatifOptions{}
	cmd := &cobra.Command{
		Use:   "whatif RESULTS... [--workers 4,6,8] [--listen 8,100] [...]",
		Short: "Predict what other workers, backlog, socket, timeouts or replicas would give the same traffic",
		Long: `Replay a measured run's arrivals against other settings and predict the
clients' percentiles, outcomes (502, 504, refused) and where the time would go.

Give the results file(s) of a run (queuegap run --out FILE) whose responses
carry the app's own processing time, and the setting it was measured with
(--measured-*: the testbed's defaults unless said). Every flag of the setting
takes a comma-separated list; the table has a row per combination (at most
1000), the first being the measured setting itself, next to what was measured:
how far the model is from the run it came from.

` + whatifAssumptions + `

Examples:
  queuegap whatif results.jsonl --workers 4,6,8
  queuegap whatif results.jsonl --listen 8,100,2048 --socket tcp,unix
  queuegap whatif results.jsonl --replicas 2 --lb round_robin,least_conn
  queuegap whatif results.jsonl --harakiri 30s --read-timeout 60s,20s
  queuegap whatif results.jsonl --workers 4,8 --cores 2 --cpu-share 'report=1' --cpu-share 0.05
  queuegap whatif autoscale --profile morning-ramp      # the autoscaling what-if

` + exitCodesHelp,
		Args: typedArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	d := whatif.DefaultConfig()
	fs.StringVar(&o.workers, "workers", "", "worker processes per replica (list; default: measured)")
	fs.StringVar(&o.threads, "threads", "", "threads per worker (list; default: measured)")
	fs.StringVar(&o.listen, "listen", "", "listen backlog: the queue holds listen+1 (list; default: measured)")
	fs.StringVar(&o.socket, "socket", "", "nginx → app: tcp or unix (list; default: measured)")
	fs.StringVar(&o.replicas, "replicas", "", "app replicas (list; default: measured)")
	fs.StringVar(&o.lb, "lb", "", "round_robin or least_conn (list; default: measured)")
	fs.StringVar(&o.harakiri, "harakiri", "", "uWSGI harakiri, 0 = off (list; default: measured)")
	fs.StringVar(&o.readTimeout, "read-timeout", "", "nginx uwsgi/proxy_read_timeout (list; default: measured)")
	fs.StringVar(&o.connectTimout, "connect-timeout", "", "nginx uwsgi/proxy_connect_timeout (list; default: measured)")
	fs.StringVar(&o.cores, "cores", "", "cores per replica for the CPU part of processing, 0 = unlimited (list; default: measured)")
	fs.StringArrayVar(&o.cpuShares, "cpu-share", nil, "part of processing that needs a core: FRACTION for every endpoint or NAME=FRACTION (repeatable; default 0: I/O-bound)")
	fs.BoolVar(&o.direct, "direct", false, "clients connect to the app itself (no nginx): SYN retries and connect timeouts are the client's")
	fs.DurationVar(&o.clientTimeout, "client-timeout", d.ClientTimeout, "the client's timeout per request (run --timeout)")
	fs.DurationVar(&o.clientConnectTimeout, "client-connect-timeout", d.ClientConnectTimeout, "the client's connect timeout, with --direct (run --connect-timeout)")
	fs.StringVar(&o.acceptDelay, "accept-delay", "auto", "a worker's time per request beyond the app's own timer (accept, parsing, writing):\n  auto fits it to the measured run's mean client time, or a duration")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the simulation's draws: the same seed, the same prediction")
	fs.BoolVar(&o.jsonOut, "json", false, "print the predictions as one JSON object")
	m := &o.measured
	fs.IntVar(&m.workers, "measured-workers", d.Workers, "workers the results were measured with")
	fs.IntVar(&m.threads, "measured-threads", d.Threads, "threads per worker the results were measured with")
	fs.IntVar(&m.listen, "measured-listen", d.Listen, "listen backlog the results were measured with")
	fs.IntVar(&m.replicas, "measured-replicas", d.Replicas, "replicas the results were measured with")
	fs.StringVar(&m.socket, "measured-socket", d.Socket, "socket the results were measured with")
	fs.StringVar(&m.lb, "measured-lb", d.LB, "load balancing the results were measured with")
	fs.DurationVar(&m.harakiri, "measured-harakiri", 0, "harakiri the results were measured with")
	fs.DurationVar(&m.readTimeout, "measured-read-timeout", d.ReadTimeout, "nginx read timeout the results were measured with")
	fs.DurationVar(&m.connTimeout, "measured-connect-timeout", d.ConnectTimeout, "nginx connect timeout the results were measured with")
	fs.Float64Var(&m.cores, "measured-cores", 0, "cores per replica the results were measured with (0 = unlimited)")
	cmd.AddCommand(newWhatifAutoscaleCmd())
	return cmd
}

func (m measuredFlags) config(o *whatifOptions) whatif.Config {
	c := whatif.DefaultConfig()
	c.Workers, c.Threads, c.Listen, c.Replicas = m.workers, m.threads, m.listen, m.replicas
	c.Socket, c.LB, c.Harakiri, c.ReadTimeout, c.ConnectTimeout, c.Cores = m.socket, m.lb, m.harakiri, m.readTimeout, m.connTimeout, m.cores
	c.Proxy = !o.direct
	c.ClientTimeout, c.ClientConnectTimeout = o.clientTimeout, o.clientConnectTimeout
	return c
}

// grid is every combination of the lists given, each unset knob the measured value.
func (o *whatifOptions) grid(base whatif.Config) ([]whatif.Config, error) {
	cells := []whatif.Config{base}
	expand := func(n int, set func(c *whatif.Config, i int)) error {
		if n == 0 {
			return nil
		}
		if len(cells)*n > whatif.MaxGrid {
			return usagef("the grid has more than %d settings: fewer values", whatif.MaxGrid)
		}
		var out []whatif.Config
		for _, c := range cells {
			for i := range n {
				cc := c
				set(&cc, i)
				out = append(out, cc)
			}
		}
		cells = out
		return nil
	}
	ints := func(s, what string, lo, hi int, set func(c *whatif.Config, v int)) error {
		if s == "" {
			return nil
		}
		v, err := whatif.ParseInts(s, what, lo, hi)
		if err != nil {
			return usageError{err}
		}
		return expand(len(v), func(c *whatif.Config, i int) { set(c, v[i]) })
	}
	durs := func(s, what string, lo time.Duration, set func(c *whatif.Config, v time.Duration)) error {
		if s == "" {
			return nil
		}
		v, err := whatif.ParseDurations(s, what, lo, 24*time.Hour)
		if err != nil {
			return usageError{err}
		}
		return expand(len(v), func(c *whatif.Config, i int) { set(c, v[i]) })
	}
	words := func(s, what string, set func(c *whatif.Config, v string), allowed ...string) error {
		if s == "" {
			return nil
		}
		v, err := whatif.ParseWords(s, what, allowed...)
		if err != nil {
			return usageError{err}
		}
		return expand(len(v), func(c *whatif.Config, i int) { set(c, v[i]) })
	}
	steps := []func() error{
		func() error {
			return ints(o.workers, "--workers", 1, 100000, func(c *whatif.Config, v int) { c.Workers = v })
		},
		func() error {
			return ints(o.threads, "--threads", 1, 10000, func(c *whatif.Config, v int) { c.Threads = v })
		},
		func() error {
			return ints(o.listen, "--listen", 0, 1<<20, func(c *whatif.Config, v int) { c.Listen = v })
		},
		func() error {
			return words(o.socket, "--socket", func(c *whatif.Config, v string) { c.Socket = v }, "tcp", "unix")
		},
		func() error {
			return ints(o.replicas, "--replicas", 1, 10000, func(c *whatif.Config, v int) { c.Replicas = v })
		},
		func() error {
			return words(o.lb, "--lb", func(c *whatif.Config, v string) { c.LB = v }, whatif.RoundRobin, whatif.LeastConn)
		},
		func() error {
			return durs(o.harakiri, "--harakiri", 0, func(c *whatif.Config, v time.Duration) { c.Harakiri = v })
		},
		func() error {
			return durs(o.readTimeout, "--read-timeout", time.Millisecond, func(c *whatif.Config, v time.Duration) { c.ReadTimeout = v })
		},
		func() error {
			return durs(o.connectTimout, "--connect-timeout", time.Millisecond, func(c *whatif.Config, v time.Duration) { c.ConnectTimeout = v })
		},
		func() error {
			if o.cores == "" {
				return nil
			}
			v, err := whatif.ParseFloats(o.cores, "--cores", 0, 1e6)
			if err != nil {
				return usageError{err}
			}
			return expand(len(v), func(c *whatif.Config, i int) { c.Cores = v[i] })
		},
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return nil, err
		}
	}
	for _, c := range cells {
		if err := c.Validate(); err != nil {
			return nil, usageError{err}
		}
	}
	return cells, nil
}

// whatifReport is whatif's JSON output.
type whatifReport struct {
	Measured struct {
		Setting  string             `json:"setting"`
		Requests int64              `json:"requests"`
		Total    whatif.Percentiles `json:"total"`
		Outcomes map[string]int64   `json:"outcomes"`
		Shares   map[string]float64 `json:"shares"`
	} `json:"measured"`
	AcceptDelayMs float64              `json:"accept_delay_ms"`
	Notes         []string             `json:"notes,omitempty"`
	Predictions   []*whatif.Prediction `json:"predictions"`
}

// readWorkload reads results files into a workload and the measured summary.
func readWorkload(paths []string, seed uint64) (*whatif.Workload, *analyze.Summary, error) {
	rec := whatif.NewRecorder(seed)
	sum, err := session.Read(paths, session.ReadOptions{Final: func(_ *analyze.RunInfo, r *analyze.Result) { rec.Add(r) }})
	if err != nil {
		return nil, nil, err
	}
	w, err := rec.Workload()
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("%s: %w", strings.Join(paths, ", "), err)}
	}
	return w, sum, nil
}

func (o *whatifOptions) run(cmd *cobra.Command, args []string, stdout io.Writer) error {
	base := o.measured.config(o)
	if err := base.Validate(); err != nil {
		return usagef("measured setting: %v", err)
	}
	cells, err := o.grid(base)
	if err != nil {
		return err
	}
	var shares []whatif.Share
	for _, s := range o.cpuShares {
		sh, err := whatif.ParseShare(s)
		if err != nil {
			return usageError{err}
		}
		shares = append(shares, sh)
	}
	w, sum, err := readWorkload(args, o.seed)
	if err != nil {
		return err
	}
	rep := whatifReport{}
	if err := w.ApplyShares(shares); err != nil {
		return usageError{err}
	}
	delay, fitted := time.Duration(0), false
	if o.acceptDelay == "auto" {
		mean := time.Duration(sum.Phases[analyze.PhaseTotal].Mean * float64(time.Millisecond))
		if delay, err = whatif.FitAcceptDelay(w, base, mean, o.seed); err != nil {
			return usageError{err}
		}
		fitted = true
	} else if delay, err = time.ParseDuration(o.acceptDelay); err != nil || delay < 0 || delay > time.Minute {
		return usagef("--accept-delay %q: want auto or a duration from 0 to 1m", o.acceptDelay)
	}
	base.AcceptDelay = delay
	for i := range cells {
		cells[i].AcceptDelay = delay
	}
	rep.AcceptDelayMs = float64(delay) / float64(time.Millisecond)
	if fitted {
		rep.Notes = append(rep.Notes, fmt.Sprintf("accept delay %v fitted to the measured mean client time (--accept-delay)", delay))
	}
	rep.Measured.Setting = base.String()
	rep.Measured.Requests = sum.Requests
	rep.Measured.Total = phasePercentiles(sum.Phases[analyze.PhaseTotal])
	rep.Measured.Outcomes = sum.Outcomes
	rep.Measured.Shares = map[string]float64{}
	for _, c := range []string{analyze.CompSynRetry, analyze.CompBacklog, analyze.CompProcessing} {
		rep.Measured.Shares[c] = sum.Attribution[c].Share
	}
	if w.Retries > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d retries in the measured run are not replayed (they depend on the answers)", w.Retries))
	}
	if w.NoTiming > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d requests reported no processing time (errors, timeouts): they draw from their endpoint's others", w.NoTiming))
	}
	for _, c := range append([]whatif.Config{base}, cells...) {
		p, err := whatif.Predict(w, c, o.seed)
		if err != nil {
			return usageError{err}
		}
		rep.Predictions = append(rep.Predictions, p)
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printWhatif(stdout, &rep)
	return nil
}

func phasePercentiles(p analyze.PhaseStats) whatif.Percentiles {
	return whatif.Percentiles{Count: p.Count, P50: p.P50, P90: p.P90, P99: p.P99, Max: p.Max}
}

func fmtMs(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2fs", ms/1000)
	case ms >= 10:
		return fmt.Sprintf("%.0fms", ms)
	}
	return fmt.Sprintf("%.1fms", ms)
}

func printWhatif(out io.Writer, rep *whatifReport) {
	m := rep.Measured
	fmt.Fprintf(out, "measured: %d requests with %s\n", m.Requests, m.Setting)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "setting\tp50\tp99\tok\t502\t504\trefused\ttimeout\tsyn_retry\tbacklog\t")
	o := m.Outcomes
	fmt.Fprintf(tw, "measured\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.0f%%\t%.0f%%\t\n", fmtMs(m.Total.P50), fmtMs(m.Total.P99),
		o[analyze.OutcomeOK], o[analyze.OutcomeProxyRefused]+o[analyze.OutcomeWorkerKilled], o[analyze.OutcomeGatewayTimeout],
		o["refused"]+o["connect_timeout"], o["timeout"], 100*m.Shares[analyze.CompSynRetry], 100*m.Shares[analyze.CompBacklog])
	for i, p := range rep.Predictions {
		name := p.Setting
		if i == 0 {
			name = "model of measured"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.0f%%\t%.0f%%\t\n", name, fmtMs(p.Total.P50), fmtMs(p.Total.P99),
			p.Outcomes[analyze.OutcomeOK], p.Count502, p.Count504, p.Refused, p.Timeouts,
			100*p.Shares[analyze.CompSynRetry], 100*p.Shares[analyze.CompBacklog])
	}
	tw.Flush()
	for _, n := range rep.Notes {
		fmt.Fprintln(out, "note:", n)
	}
}

type autoscaleOptions struct {
	profile                            string
	workers, threads, listen           int
	cores, targetCPU, targetValue      float64
	min, max                           int
	interval, upDelay, downAfter       time.Duration
	bucket, clientTimeout, readTimeout time.Duration
	apps, cpuShares                    []string
	seed                               uint64
	jsonOut                            bool
}

func newWhatifAutoscaleCmd() *cobra.Command {
	o := &autoscaleOptions{}
	cmd := &cobra.Command{
		Use:   "autoscale RESULTS... | autoscale --profile NAME|FILE",
		Short: "Compare a CPU autoscaler with a concurrency (KEDA) autoscaler over a run's or a profile's timeline",
		Long: `Simulate the same traffic against replicas that two autoscalers add and remove:

  cpu          the Kubernetes HPA on CPU utilisation: desired = ceil(replicas ×
               utilisation ÷ --target-cpu), nothing within 10 % of the target.
               For an I/O-bound app the CPU stays low while the workers are all
               busy: it adds too few replicas and the backlog grows.
  concurrency  the KEDA HTTP add-on: desired = ceil(requests in flight ÷
               --target-value) — in flight at the proxy, backlog included.

Both decide every --interval, bounded by --min/--max; a new replica takes
traffic --scale-up-delay after it is asked for and one goes only when every
decision over --scale-down-after wanted fewer. The table shows, per interval,
the rate, the replicas, their CPU and the clients' p99 under each; then the
recommendation: the largest targetValue (of 2, 1.5, 1, 0.75, 0.5 × workers ×
threads) that keeps p99 within twice the processing p99, and how many workers
a replica's cores carry (--json for the whole timeline, to chart).

The traffic: the results of a run (its arrivals and processing times), or a
profile's timeline with each request's processing time from its path — the
testbed's views: /sleep?ms=N is N ms of I/O wait, /cpu?ms=N N ms of CPU,
/fast 2 ms of CPU — or --app NAME=DURATION[:CPU_SHARE].

` + whatifAssumptions + `

Examples:
  queuegap whatif autoscale --profile morning-ramp --workers 4 --cores 1
  queuegap whatif autoscale --profile morning-ramp --target-value 4 --scale-up-delay 30s
  queuegap whatif autoscale results.jsonl --cpu-share 0.1 --cores 1 --json

` + exitCodesHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 0) == (o.profile == "") {
				return usagef("whatif autoscale takes results files or --profile (one of them)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(args, cmd.OutOrStdout()) },
	}
	fs := cmd.Flags()
	cp, kp := whatif.DefaultPolicy(whatif.PolicyCPU), whatif.DefaultPolicy(whatif.PolicyConcurrency)
	fs.StringVar(&o.profile, "profile", "", "a shipped profile's name or a profile file, instead of results")
	fs.IntVar(&o.workers, "workers", 4, "workers per replica")
	fs.IntVar(&o.threads, "threads", 1, "threads per worker")
	fs.IntVar(&o.listen, "listen", 100, "listen backlog per replica")
	fs.Float64Var(&o.cores, "cores", 1, "cores per replica (the CPU autoscaler's 100 %)")
	fs.Float64Var(&o.targetCPU, "target-cpu", 100*cp.TargetCPU, "the CPU policy's target utilisation, %")
	fs.Float64Var(&o.targetValue, "target-value", 0, "the concurrency policy's targetValue (default: the recommended one)")
	fs.IntVar(&o.min, "min", cp.Min, "fewest replicas")
	fs.IntVar(&o.max, "max", cp.Max, "most replicas")
	fs.DurationVar(&o.interval, "interval", cp.Interval, "how often each autoscaler decides")
	fs.DurationVar(&o.upDelay, "scale-up-delay", kp.ScaleUpDelay, "from a decision to the new replica taking traffic")
	fs.DurationVar(&o.downAfter, "scale-down-after", kp.ScaleDownAfter, "stabilisation window before a replica goes")
	fs.DurationVar(&o.bucket, "bucket", 10*time.Second, "the table's interval")
	fs.DurationVar(&o.clientTimeout, "client-timeout", 30*time.Second, "the clients' timeout per request")
	fs.DurationVar(&o.readTimeout, "read-timeout", 60*time.Second, "nginx's read timeout")
	fs.StringArrayVar(&o.apps, "app", nil, "with --profile: NAME=DURATION[:CPU_SHARE], a request's processing time by its name (repeatable)")
	fs.StringArrayVar(&o.cpuShares, "cpu-share", nil, "with results: FRACTION or NAME=FRACTION of processing that needs a core (repeatable)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the simulation's draws")
	fs.BoolVar(&o.jsonOut, "json", false, "print both timelines and the recommendation as one JSON object")
	return cmd
}

// testbedProcessing is the processing time the testbed's views take, by path.
func testbedProcessing(path string) (whatif.Processing, bool) {
	u, err := url.Parse(path)
	if err != nil {
		return whatif.Processing{}, false
	}
	ms := func() (time.Duration, bool) {
		n, err := strconv.ParseFloat(u.Query().Get("ms"), 64)
		if err != nil || n < 0 || n > 3.6e6 {
			return 0, false
		}
		return time.Duration(n * float64(time.Millisecond)), true
	}
	switch u.Path {
	case "/fast":
		return whatif.Processing{Time: 2 * time.Millisecond, CPUShare: 1}, true
	case "/sleep":
		d, ok := ms()
		return whatif.Processing{Time: d}, ok
	case "/cpu":
		d, ok := ms()
		return whatif.Processing{Time: d, CPUShare: 1}, ok
	}
	return whatif.Processing{}, false
}

// parseApp parses NAME=DURATION[:CPU_SHARE].
func parseApp(s string) (string, whatif.Processing, error) {
	name, v, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return "", whatif.Processing{}, usagef("--app %q: want NAME=DURATION[:CPU_SHARE]", s)
	}
	ds, share, hasShare := strings.Cut(v, ":")
	d, err := time.ParseDuration(ds)
	if err != nil || d < 0 || d > time.Hour {
		return "", whatif.Processing{}, usagef("--app %q: want a duration from 0 to 1h", s)
	}
	p := whatif.Processing{Time: d}
	if hasShare {
		sh, err := whatif.ParseShare(share)
		if err != nil {
			return "", whatif.Processing{}, usageError{err}
		}
		p.CPUShare = sh.Share
	}
	return name, p, nil
}

// profileWorkload is a profile's timeline with each request's processing time.
func (o *autoscaleOptions) profileWorkload() (*whatif.Workload, error) {
	prof, err := profiles.Load(o.profile)
	if err != nil {
		return nil, usageError{err}
	}
	// Nothing is sent: any base URL will do to turn the paths into URLs.
	base := prof.BaseURL
	if base == "" {
		base = "http://127.0.0.1:1"
	}
	if err := prof.Resolve(base); err != nil {
		return nil, usageError{err}
	}
	apps := map[string]whatif.Processing{}
	for _, a := range o.apps {
		name, p, err := parseApp(a)
		if err != nil {
			return nil, err
		}
		apps[name] = p
	}
	var all *whatif.Workload
	for ci, c := range prof.Clients {
		mix := c.Config.Mix
		if len(mix) == 0 {
			mix = []loadgen.Request{c.Config.Request}
		}
		var procs []whatif.Processing
		for _, r := range mix {
			p, ok := apps[r.Name]
			if !ok {
				if p, ok = testbedProcessing(r.URL); !ok {
					return nil, usagef("profile %s: client %s: request %q (%s): its processing time is not known; give --app %s=DURATION[:CPU_SHARE]",
						prof.Name, c.Name, r.Name, r.URL, r.Name)
				}
			}
			procs = append(procs, p)
		}
		w, err := whatif.FromSchedule(c.Schedule, mix, procs, o.seed+uint64(ci), whatif.MaxArrivals)
		if err != nil {
			return nil, usagef("profile %s: client %s: %v", prof.Name, c.Name, err)
		}
		for i := range w.Endpoints {
			w.Endpoints[i].Name = whatif.EndpointName(c.Name, w.Endpoints[i].Name)
		}
		if all == nil {
			all = w
			continue
		}
		off := uint16(len(all.Endpoints))
		all.Endpoints = append(all.Endpoints, w.Endpoints...)
		for _, a := range w.Arrivals {
			all.Arrivals = append(all.Arrivals, whatif.Arrival{At: a.At, Endpoint: a.Endpoint + off})
		}
	}
	slices.SortStableFunc(all.Arrivals, func(a, b whatif.Arrival) int { return int(a.At - b.At) })
	return all, nil
}

type autoscaleReport struct {
	Setting        string                  `json:"setting"`
	CPU            *whatif.AutoscaleResult `json:"cpu"`
	Concurrency    *whatif.AutoscaleResult `json:"concurrency"`
	Recommendation *whatif.Recommendation  `json:"recommendation"`
}

func (o *autoscaleOptions) run(args []string, stdout io.Writer) error {
	var w *whatif.Workload
	var err error
	if o.profile != "" {
		if len(o.cpuShares) > 0 {
			return usagef("--cpu-share goes with results; with --profile give --app NAME=DURATION:SHARE")
		}
		w, err = o.profileWorkload()
	} else {
		if len(o.apps) > 0 {
			return usagef("--app goes with --profile; results carry their processing times")
		}
		w, _, err = readWorkload(args, o.seed)
		if err == nil {
			var shares []whatif.Share
			for _, s := range o.cpuShares {
				sh, err := whatif.ParseShare(s)
				if err != nil {
					return usageError{err}
				}
				shares = append(shares, sh)
			}
			if err := w.ApplyShares(shares); err != nil {
				return usageError{err}
			}
		}
	}
	if err != nil {
		return err
	}
	cfg := whatif.DefaultConfig()
	cfg.Workers, cfg.Threads, cfg.Listen, cfg.Cores = o.workers, o.threads, o.listen, o.cores
	cfg.ClientTimeout, cfg.ReadTimeout, cfg.LB = o.clientTimeout, o.readTimeout, whatif.LeastConn
	cfg.Replicas = o.min
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	policy := func(kind string) whatif.Policy {
		p := whatif.DefaultPolicy(kind)
		p.TargetCPU, p.Min, p.Max, p.Interval, p.ScaleUpDelay, p.ScaleDownAfter = o.targetCPU/100, o.min, o.max, o.interval, o.upDelay, o.downAfter
		if o.targetValue > 0 {
			p.TargetValue = o.targetValue
		}
		return p
	}
	cp, kp := policy(whatif.PolicyCPU), policy(whatif.PolicyConcurrency)
	for _, p := range []whatif.Policy{cp, kp} {
		if err := p.Validate(cfg); err != nil {
			return usageError{err}
		}
	}
	rep := autoscaleReport{Setting: cfg.String()}
	if rep.Recommendation, err = whatif.Recommend(w, cfg, kp, o.bucket, o.seed); err != nil {
		return usageError{err}
	}
	if o.targetValue == 0 {
		kp.TargetValue = rep.Recommendation.TargetValue
	}
	if rep.CPU, err = whatif.Autoscale(w, cfg, cp, o.bucket, o.seed); err != nil {
		return usageError{err}
	}
	if rep.Concurrency, err = whatif.Autoscale(w, cfg, kp, o.bucket, o.seed); err != nil {
		return usageError{err}
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printAutoscale(stdout, &rep)
	return nil
}

func printAutoscale(out io.Writer, rep *autoscaleReport) {
	c, k := rep.CPU, rep.Concurrency
	fmt.Fprintf(out, "replicas of %s; %s vs %s\n", rep.Setting, c.Setting, k.Setting)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\t\tcpu policy\t\t\t\tconcurrency policy\t\t\t\t")
	fmt.Fprintln(tw, "t\trate\treplicas\tcpu\tin flight\tp99\treplicas\tcpu\tin flight\tp99\t")
	for i := range c.Timeline {
		a, b := c.Timeline[i], k.Timeline[i]
		fmt.Fprintf(tw, "%s\t%.1f/s\t%d\t%.0f%%\t%.0f\t%s\t%d\t%.0f%%\t%.0f\t%s\t\n", a.T.Round(time.Second), a.Rate,
			a.Replicas, 100*a.CPU, a.InFlight, fmtMs(a.P99Ms), b.Replicas, 100*b.CPU, b.InFlight, fmtMs(b.P99Ms))
	}
	tw.Flush()
	for _, r := range []*whatif.AutoscaleResult{c, k} {
		fmt.Fprintf(out, "%s: clients p50 %s p99 %s, up to %d replicas, %.0f replica-seconds, outcomes %v\n",
			r.Setting, fmtMs(r.Total.P50), fmtMs(r.Total.P99), r.MaxReplicas, r.ReplicaSeconds, r.Outcomes)
	}
	rec := rep.Recommendation
	var tried []string
	for _, r := range rec.Tried {
		tried = append(tried, fmt.Sprintf("%g → p99 %s, %d replicas", r.Policy.TargetValue, fmtMs(r.Total.P99), r.MaxReplicas))
	}
	fmt.Fprintf(out, "targetValue tried: %s\n", strings.Join(tried, "; "))
	if rec.Achieved {
		fmt.Fprintf(out, "recommended: targetValue %g (workers × threads = %d; p99 within %s)", rec.TargetValue, rec.Slots, fmtMs(rec.BoundMs))
	} else {
		fmt.Fprintf(out, "no targetValue tried kept p99 within %s: add workers or shorten --scale-up-delay; the lowest tried: %g", fmtMs(rec.BoundMs), rec.TargetValue)
	}
	if rec.Workers > 0 {
		fmt.Fprintf(out, "; a replica's cores carry up to %d workers at the CPU target", rec.Workers)
	}
	fmt.Fprintln(out)
}
