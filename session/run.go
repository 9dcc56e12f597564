package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/testbed/prefork"
)

// targetsStarted counts embedded targets started by this process.
var targetsStarted atomic.Int64

// TargetsStarted is how many embedded targets this process has started:
// tests use it to show that rejected input starts none.
func TargetsStarted() int64 { return targetsStarted.Load() }

// Session is a validated plan, ready to run once.
type Session struct {
	plan     Plan
	notes    []string
	skip     chan struct{}
	skipOnce sync.Once
	runner   atomic.Pointer[loadgen.Runner]
	url      atomic.Pointer[string]
}

// New validates p whole — values, combinations, output paths, engine
// applicability — and touches nothing: no file is created or truncated and
// no target started. Every problem is a *UsageError.
func New(p Plan) (*Session, error) {
	notes, err := p.validate()
	if err != nil {
		return nil, err
	}
	return &Session{plan: p, notes: notes, skip: make(chan struct{})}, nil
}

// Plan is the validated plan, defaults filled in (the run ID, say).
func (s *Session) Plan() *Plan { return &s.plan }

// Notes are things worth telling the user about the plan that are not
// errors (a backlog the kernel will cap, say).
func (s *Session) Notes() []string { return s.notes }

// Progress is the live view of the run, nil until it has started.
func (s *Session) Progress() *loadgen.Progress {
	if r := s.runner.Load(); r != nil {
		return &r.Progress
	}
	return nil
}

// URL is where the run sends its requests, with any password redacted
// (the embedded target's address once it is up).
func (s *Session) URL() string {
	if u := s.url.Load(); u != nil {
		return *u
	}
	return RedactURL(s.plan.Clients[0].Client.URL)
}

// Report is what a run produced.
type Report struct {
	Info      analyze.RunInfo   // as the results file's trailer records it
	Summary   analyze.Summary   // attributed against the final run-wide estimates
	Estimates analyze.Estimates // the final run-wide estimates
	Stats     loadgen.Stats
}

// Run starts the embedded target if the plan has one, sends the schedule,
// streams every result to the plan's files and to outs, and returns the
// report. Cancelling ctx ends the run within a second; everything measured
// so far is written. A failing output (a full disk) stops the run within a
// second too, and Run returns an *OutputError with the report of what was
// written.
func (s *Session) Run(ctx context.Context, outs ...Output) (*Report, error) {
	if !s.runner.CompareAndSwap(nil, nil) || s.url.Load() != nil {
		return nil, errors.New("session: Run called twice")
	}
	p := &s.plan
	ccs := make([]loadgen.ClientConfig, len(p.Clients))
	for i := range p.Clients {
		ccs[i] = p.Clients[i].Client
	}
	if p.Target != nil {
		srv, err := prefork.Start(*p.Target)
		if err != nil {
			return nil, &TargetError{err}
		}
		targetsStarted.Add(1)
		defer srv.Close()
		for i := range ccs {
			ccs[i] = onTarget(ccs[i], srv.URL())
		}
	}
	cc := ccs[0]
	shown := RedactURL(firstURL(cc))
	s.url.Store(&shown)
	clients := make([]*loadgen.Client, len(ccs))
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	engines := map[string]bool{}
	var engineNames []string
	for i := range ccs {
		c, err := loadgen.NewClient(ccs[i])
		if err != nil {
			return nil, &UsageError{fmt.Errorf("%s%w", p.what(i), err)}
		}
		clients[i] = c
		e, err := c.EngineFor(p.Engine)
		if err != nil {
			return nil, &UsageError{err}
		}
		if !engines[e.String()] {
			engines[e.String()] = true
			engineNames = append(engineNames, e.String())
		}
	}
	labels := newLabels(p.Clients)

	files, err := p.openFiles()
	if err != nil {
		return nil, err
	}
	defer files.cleanup()
	all := append(files.outputs, outs...)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var failMu sync.Mutex
	var failure error
	fail := func(name string, err error) {
		failMu.Lock()
		if failure == nil {
			failure = &OutputError{Output: name, Err: err}
		}
		failMu.Unlock()
		cancel()
	}
	names := append(files.names, make([]string, len(outs))...)
	for i := range outs {
		names[len(files.names)+i] = fmt.Sprintf("output %T", outs[i])
	}

	info := analyze.RunInfo{
		RunID: p.RunID, URL: shown, Method: firstMethod(cc), Schedule: p.ScheduleString(), Engine: strings.Join(engineNames, "+"),
		Rate: p.Rate(), ConnMode: connModes(ccs), Connections: poolSize(ccs), Planned: p.Planned(),
		MaxInflight: p.maxInflight(), Shard: p.Shard.String(),
	}
	if p.Shard.Count > 1 {
		info.Planned = p.Shard.Of(info.Planned)
	}
	analyzer := analyze.NewAnalyzer(p.Timing, cc.RunID)
	var est analyze.Estimator
	var res analyze.Result
	started := make([]bool, len(all))
	// The results file stores facts only and the summary is a second pass,
	// so a live attribution is worth its cost only to outputs that show it
	// as the run goes (the HDR log, the caller's).
	attributeLive := p.HDRLog != "" || len(outs) > 0
	// Probe samples reach the outputs from the probes' goroutines: the
	// same lock as the results keeps every output's calls one at a time.
	var outMu sync.Mutex
	withProbes := len(p.Probes) > 0
	sink := loadgen.SinkFunc(func(rec *loadgen.Record) {
		if withProbes {
			outMu.Lock()
			defer outMu.Unlock()
		}
		analyzer.Analyze(rec, &res)
		labels.label(&res)
		est.Observe(info.Start, &res)
		if attributeLive {
			e := est.Estimates()
			analyze.Attribute(&res, &e, info.Start)
		}
		for i, o := range all {
			if started[i] {
				if err := o.Add(&res); err != nil {
					started[i] = false
					fail(names[i], err)
				}
			}
		}
	})
	runner, err := loadgen.NewRunner(p.runnerConfig(clients, sink))
	if err != nil {
		return nil, &UsageError{err}
	}
	var probes *probeRunner
	runner.OnStart = func(start time.Time) {
		info.Start = start.Round(0) // wall clock only: what a file can hold
		outMu.Lock()
		for i, o := range all {
			if err := o.Start(&info); err != nil {
				fail(names[i], err)
				continue
			}
			started[i] = true
		}
		outMu.Unlock()
		if withProbes {
			// start keeps its monotonic reading: samples share the results' clock.
			probes, _ = startProbes(p.Probes, p.ProbeInterval, start, func(ps *analyze.ProbeSample) {
				outMu.Lock()
				defer outMu.Unlock()
				deliverProbe(all, names, started, ps, fail)
			})
		}
	}
	s.runner.Store(runner)
	stats := runner.Run(runCtx)
	probes.Stop()

	final := est.Estimates()
	info.Started, info.NotSent, info.SendWindow, info.Elapsed = stats.Started, stats.NotSent, stats.SendWindow, stats.Elapsed
	info.Bursts, info.BurstSpread = stats.Bursts, stats.BurstSpreadMax
	info.Interrupted = ctx.Err() != nil
	info.Estimates = final.Info()
	for i, o := range all {
		if started[i] {
			if err := o.Close(&info); err != nil {
				fail(names[i], err)
			}
		}
	}
	rep := &Report{Info: info, Estimates: final, Stats: stats}
	var finals []FinalOutput
	for _, o := range outs {
		if f, ok := o.(FinalOutput); ok {
			finals = append(finals, f)
		}
	}
	sum, err := summarize(files.spool, &final, p.Checks, s.skip, func(ri *analyze.RunInfo, r *analyze.Result) {
		for _, f := range finals {
			f.Final(r)
		}
	})
	var skipped *SummarySkippedError
	switch {
	case errors.As(err, &skipped):
		if failure == nil {
			skipped.Results = p.Out
			failure = skipped
		}
	case err != nil && failure == nil:
		failure = &OutputError{Output: files.spoolName, Err: err}
	}
	if sum != nil {
		rep.Summary = *sum
		if late := stats.LateStart; late > 10*time.Millisecond {
			rep.Summary.Warnings = append(rep.Summary.Warnings, fmt.Sprintf(
				"this generator began %v after --start-at %s: the requests due meanwhile were sent late, and their lag (not the target) carries it",
				late.Round(time.Millisecond), p.StartAt.UTC().Format(time.RFC3339Nano)))
		}
	}
	return rep, failure
}

// poolSize is the keep-alive pools a run uses, summed (loadgen's default
// when 0).
func poolSize(ccs []loadgen.ClientConfig) int {
	n := 0
	for _, cc := range ccs {
		switch {
		case cc.Mode != loadgen.KeepAlive:
		case cc.Connections <= 0:
			n += 64
		default:
			n += cc.Connections
		}
	}
	return n
}

// connModes is the clients' connection mode, "mixed" when they differ.
func connModes(ccs []loadgen.ClientConfig) string {
	for _, cc := range ccs[1:] {
		if cc.Mode != ccs[0].Mode {
			return "mixed"
		}
	}
	return ccs[0].Mode.String()
}

// firstURL and firstMethod describe a client by its first request.
func firstURL(cc loadgen.ClientConfig) string {
	if len(cc.Mix) > 0 {
		return cc.Mix[0].URL
	}
	return cc.URL
}

func firstMethod(cc loadgen.ClientConfig) string {
	m := cc.Method
	if len(cc.Mix) > 0 {
		m = cc.Mix[0].Method
		for _, r := range cc.Mix[1:] {
			if r.Method != m {
				return "(mix)"
			}
		}
	}
	if m == "" {
		return "GET"
	}
	return m
}

// labels maps a record's lane and mix index to the names reports break
// down by, built once so labelling a result allocates nothing.
type labels struct {
	clients []string
	names   [][]string
}

func newLabels(cps []ClientPlan) *labels {
	l := &labels{clients: make([]string, len(cps)), names: make([][]string, len(cps))}
	for i, cp := range cps {
		l.clients[i] = cp.Name
		if len(cp.Client.Mix) == 0 {
			l.names[i] = []string{cp.Client.Name}
			continue
		}
		l.names[i] = make([]string, len(cp.Client.Mix))
		for j, r := range cp.Client.Mix {
			l.names[i][j] = r.Name
		}
	}
	return l
}

func (l *labels) label(r *analyze.Result) {
	r.Client, r.Name = "", ""
	if i := int(r.Lane); i < len(l.clients) {
		r.Client = l.clients[i]
		if j := int(r.Mix); j < len(l.names[i]) {
			r.Name = l.names[i][j]
		}
	}
}

func (p *Plan) maxInflight() int {
	if p.MaxInflight <= 0 {
		return loadgen.DefaultMaxInflight
	}
	return p.MaxInflight
}

// runFiles are the plan's output files, opened once the plan is valid.
type runFiles struct {
	outputs   []Output
	names     []string
	spool     string // the results file the summary is computed from
	spoolName string
	temp      string // a spool of our own, removed at the end
}

func (p *Plan) openFiles() (*runFiles, error) {
	rf := &runFiles{}
	create := func(flag, path string) (*os.File, error) {
		f, err := os.Create(path)
		if err != nil {
			rf.cleanup()
			return nil, &OutputError{Output: flag + " " + path, Err: err}
		}
		return f, nil
	}
	if p.Out != "" {
		f, err := create("--out", p.Out)
		if err != nil {
			return nil, err
		}
		rf.outputs = append(rf.outputs, &resultsOutput{path: p.Out, f: f})
		rf.names = append(rf.names, "--out "+p.Out)
		rf.spool, rf.spoolName = p.Out, "--out "+p.Out
	} else {
		// The summary is a second pass over the results as written; without
		// --out they go to a file of our own, removed afterwards.
		f, err := os.CreateTemp("", "queuegap-results-*.jsonl")
		if err != nil {
			return nil, &OutputError{Output: "results spool in " + os.TempDir(), Err: err}
		}
		rf.temp, rf.spool, rf.spoolName = f.Name(), f.Name(), "results spool "+f.Name()
		rf.outputs = append(rf.outputs, &resultsOutput{path: f.Name(), f: f})
		rf.names = append(rf.names, rf.spoolName)
	}
	if p.HDRLog != "" {
		f, err := create("--hdr-log", p.HDRLog)
		if err != nil {
			return nil, err
		}
		rf.outputs = append(rf.outputs, &hdrOutput{f: f})
		rf.names = append(rf.names, "--hdr-log "+p.HDRLog)
	}
	return rf, nil
}

func (rf *runFiles) cleanup() {
	if rf.temp != "" {
		os.Remove(rf.temp)
	}
}

// SkipSummary makes a Run that is summarizing stop and return a
// *SummarySkippedError instead (a second Ctrl-C): the summary of a long run
// is a pass over all of its results, and the results file is complete
// without it.
func (s *Session) SkipSummary() { s.skipOnce.Do(func() { close(s.skip) }) }

// summarize is the second pass over a run's own results file.
func summarize(path string, est *analyze.Estimates, checks []analyze.Check, skip <-chan struct{}, final func(*analyze.RunInfo, *analyze.Result)) (*analyze.Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	agg := analyze.NewAggregator(nil)
	pagg := analyze.NewProbeAggregator()
	var start time.Time
	n := 0
	st, err := analyze.ReadResultsWith(f, analyze.ReadCallbacks{Probe: probeSummer(pagg), Result: func(run *analyze.RunInfo, r *analyze.Result) error {
		if n++; n%4096 == 0 {
			select {
			case <-skip:
				return &SummarySkippedError{}
			default:
			}
		}
		start = run.Start
		analyze.Attribute(r, est, start)
		agg.Add(r)
		final(run, r)
		return nil
	}})
	if err != nil {
		return nil, err
	}
	info := combineRuns(st.Runs)
	sum := agg.Summarize(info, est)
	sum.Warnings = append(sum.Warnings, st.Warnings()...)
	pagg.Apply(&sum)
	if err := evalChecks(&sum, checks); err != nil {
		return &sum, err
	}
	return &sum, nil
}

func evalChecks(sum *analyze.Summary, checks []analyze.Check) error {
	results, _, err := analyze.EvalChecks(checks, sum)
	if err != nil {
		return err
	}
	sum.Checks = results
	return nil
}

// RedactURL hides the password of a URL's userinfo, for anything written
// or printed; the request itself carries it as Basic auth.
func RedactURL(raw string) string { return loadgen.RedactURL(raw) }
