package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/probe"
	"github.com/queuegap/queuegap/session"
	"github.com/queuegap/queuegap/testbed/stack"
)

// baseDir holds every stack's run directory: /tmp/qg-e2e-XXXX/<TestName>. Every process a
// stack starts carries QG_RUN_DIR=<its run dir> in its environment (nginx and uWSGI workers
// included), which is how leftovers are found.
var baseDir string

// started records every process-group leader any test's stack started.
var started struct {
	sync.Mutex
	pgids []int
}

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "qg-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	baseDir = d
	code := m.Run()

	// Nothing a test started may outlive the package: Down ran in every test's Cleanup.
	started.Lock()
	pgids := started.pgids
	started.Unlock()
	if left := leftovers(baseDir, pgids); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: processes started by the tests are still running:\n")
		for _, p := range left {
			fmt.Fprintf(os.Stderr, "  pid %d: %s\n", p.pid, p.cmdline)
			_ = syscall.Kill(p.pid, syscall.SIGKILL) // ours: its environment names our run dir
		}
		code = 1
	}
	if code == 0 {
		os.RemoveAll(baseDir)
	} else {
		fmt.Fprintf(os.Stderr, "e2e: run directories (logs) kept in %s\n", baseDir)
	}
	os.Exit(code)
}

type procInfo struct {
	pid     int
	cmdline string
}

// leftovers lists live processes whose environment has QG_RUN_DIR under dir, whose command
// line mentions dir, or whose process group is one of pgids.
func leftovers(dir string, pgids []int) []procInfo {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // state ppid pgrp ...
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		pgrp, _ := strconv.Atoi(f[2])
		cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		cmdline := strings.TrimSpace(string(bytes.ReplaceAll(cl, []byte{0}, []byte{' '})))
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		ours := slices.Contains(pgids, pgrp) || strings.Contains(cmdline, dir)
		for _, kv := range bytes.Split(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("QG_RUN_DIR=")); ok && strings.HasPrefix(string(v), dir) {
				ours = true
			}
		}
		if ours {
			out = append(out, procInfo{pid, cmdline})
		}
	}
	return out
}

// up starts a stack for t in baseDir/<t.Name()> and Downs it in t.Cleanup, then checks that
// none of its processes is left. Without the packages it skips (fails with QG_REQUIRE_TESTBED=1).
func up(t *testing.T, cfg stack.Config) *stack.Stack {
	t.Helper()
	if err := stack.CheckPackages(cfg.Server); err != nil {
		if os.Getenv("QG_REQUIRE_TESTBED") == "1" {
			t.Fatalf("QG_REQUIRE_TESTBED=1: %v", err)
		}
		t.Skip(err)
	}
	cfg.Dir = filepath.Join(baseDir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	t0 := time.Now()
	s, err := stack.Up(ctx, cfg)
	if err != nil {
		t.Fatalf("testbed up: %v", err)
	}
	started.Lock()
	for _, pid := range s.Pids() {
		started.pgids = append(started.pgids, pid)
	}
	started.Unlock()
	t.Logf("testbed up in %v: %s (%s ×%d, %d workers, listen %d, %s, lb %s, dir %s)",
		time.Since(t0).Round(time.Millisecond), s.URL(), cfg.Server, cfg.Instances, cfg.Workers,
		cfg.Listen, cfg.Socket, cfg.LB, s.Dir())
	t.Cleanup(func() {
		t0 := time.Now()
		if err := s.Down(); err != nil {
			t.Errorf("testbed down: %v", err)
		}
		var pgids []int
		for _, pid := range s.Pids() {
			pgids = append(pgids, pid)
		}
		if left := leftovers(s.Dir(), pgids); len(left) > 0 {
			t.Errorf("after Down, processes of this stack are still running: %v", left)
		}
		t.Logf("testbed down in %v", time.Since(t0).Round(time.Millisecond))
	})
	return s
}

// load is one queuegap run against a URL.
type load struct {
	URL            string
	Schedule       loadgen.Schedule
	Mode           loadgen.ConnMode
	Connections    int           // keep-alive pool
	Timeout        time.Duration // per request; default 30s
	ConnectTimeout time.Duration // default 10s
	Retry          loadgen.Retry // the client's retry behaviour; none by default
	Out            string        // results file (--out), "" for none
	Probes         []probe.Spec  // server-side probes (probe_test.go)
	ProbeInterval  time.Duration // 0: the session's default
	// OnResult, if set, sees each result as it completes (on the sink goroutine).
	OnResult func(r *analyze.Result, wall time.Time)
}

// run is what a load produced.
type run struct {
	RunID    string
	Start    time.Time // the run's clock origin (Result offsets are from here)
	Summary  analyze.Summary
	Results  []analyze.Result
	ByID     map[string]*analyze.Result
	Duration time.Duration
}

var runSeq struct {
	sync.Mutex
	n int
}

// collector keeps a copy of every result, attributed against the run's
// final estimates, and shows live results to a load's OnResult.
type collector struct {
	l     *load
	out   *run
	start time.Time
}

func (c *collector) Start(info *analyze.RunInfo) error {
	c.start = info.Start
	return nil
}

func (c *collector) Add(r *analyze.Result) error {
	if c.l.OnResult != nil {
		cp := *r // r is reused: copy it, with its request ID as a field
		cp.RequestID = r.ID()
		c.l.OnResult(&cp, c.start.Add(r.Done))
	}
	return nil
}

func (c *collector) Close(*analyze.RunInfo) error { return nil }

func (c *collector) Final(r *analyze.Result) {
	cp := *r
	cp.RequestID = r.ID()
	c.out.Results = append(c.out.Results, cp)
}

// drive runs l through a queuegap session — the same plan, engine, outputs
// and second pass as 'queuegap run' — keeping a copy of every Result.
func drive(t *testing.T, l load) *run {
	t.Helper()
	runSeq.Lock()
	runSeq.n++
	runID := fmt.Sprintf("e2e%d-%x", runSeq.n, time.Now().UnixNano()&0xffffff)
	runSeq.Unlock()
	if l.Timeout == 0 {
		l.Timeout = 30 * time.Second
	}
	tc := analyze.TimingConfig{}
	s, err := session.New(session.Plan{
		Clients: []session.ClientPlan{{
			Schedule: l.Schedule,
			Client: loadgen.ClientConfig{
				Request:        loadgen.Request{URL: l.URL},
				Mode:           l.Mode,
				Connections:    l.Connections,
				KeepHeaders:    tc.KeepHeaders(),
				Timeout:        l.Timeout,
				ConnectTimeout: l.ConnectTimeout,
			},
			Retry: l.Retry,
		}},
		Timing: tc,
		RunID:  runID,
		Out:    l.Out,

		Probes:        l.Probes,
		ProbeInterval: l.ProbeInterval,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := &run{RunID: runID, ByID: map[string]*analyze.Result{}}
	c := &collector{l: &l, out: out}
	// Bounded: the schedule, then every request's own timeout, plus slack.
	ctx, cancel := context.WithTimeout(context.Background(), l.Schedule.Length()+l.Timeout+15*time.Second)
	defer cancel()
	rep, err := s.Run(ctx, c)
	if err != nil {
		t.Fatalf("run %s: %v", runID, err)
	}
	if rep.Info.Interrupted {
		t.Fatalf("run %s interrupted (bound reached): %d of %d completed", runID, rep.Stats.Completed, rep.Stats.Started)
	}
	out.Start = rep.Info.Start
	out.Summary = rep.Summary
	out.Duration = rep.Stats.Elapsed
	for i := range out.Results {
		out.ByID[out.Results[i].RequestID] = &out.Results[i]
	}
	if int64(len(out.Results)) != rep.Stats.Started {
		t.Fatalf("run %s: %d results for %d requests started", runID, len(out.Results), rep.Stats.Started)
	}
	t.Logf("run %s %s → %s: %d requests in %v, outcomes %v; %s", runID, l.Schedule, l.URL,
		len(out.Results), rep.Stats.Elapsed.Round(time.Millisecond), out.Summary.Outcomes, out.Summary.Headline)
	return out
}

// part returns one attributed component of r.
func part(r *analyze.Result, comp string) time.Duration {
	i := slices.Index(analyze.Components, comp)
	if i < 0 {
		panic("no component " + comp)
	}
	return r.Attr.Parts[i]
}

// waitFor polls cond every 20 ms until it returns true or the deadline passes; it returns
// cond's last explanation on timeout.
func waitFor(d time.Duration, cond func() (bool, string)) (bool, string) {
	deadline := time.Now().Add(d)
	for {
		ok, why := cond()
		if ok {
			return true, why
		}
		if time.Now().After(deadline) {
			return false, why
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not synchronization
	}
}

// appLines waits (bounded) until the app's log holds a line for every id in ids and returns
// the lines by id.
func appLines(t *testing.T, s *stack.Stack, ids []string, d time.Duration) map[string]stack.AppLogLine {
	t.Helper()
	var by map[string]stack.AppLogLine
	ok, why := waitFor(d, func() (bool, string) {
		lines, err := stack.ReadAppLog(s.AppLog())
		if err != nil {
			return false, err.Error()
		}
		by = make(map[string]stack.AppLogLine, len(lines))
		for _, l := range lines {
			by[l.ID] = l
		}
		missing := 0
		for _, id := range ids {
			if _, ok := by[id]; !ok {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d ids have no app log line", missing, len(ids))
	})
	if !ok {
		t.Fatalf("app log %s: %s", s.AppLog(), why)
	}
	return by
}

// loggedIDs is the set of request ids the app's log holds now.
func loggedIDs(t *testing.T, s *stack.Stack) map[string]bool {
	t.Helper()
	lines, err := stack.ReadAppLog(s.AppLog())
	if err != nil {
		t.Fatal(err)
	}
	logged := make(map[string]bool, len(lines))
	for _, l := range lines {
		logged[l.ID] = true
	}
	return logged
}

// accessLine is one line of nginx's JSON access log (testbed nginx.conf.in, log_format qg).
type accessLine struct {
	Msec            float64 `json:"msec"`
	ID              string  `json:"id"`
	Status          int     `json:"status"`
	RequestTime     float64 `json:"request_time"`
	UpstreamAddr    string  `json:"upstream_addr"`
	UpstreamConnect string  `json:"upstream_connect_time"`
	UpstreamHeader  string  `json:"upstream_header_time"`
}

// connect is nginx's $upstream_connect_time; ok is false for "-" or empty.
func (a accessLine) connect() (time.Duration, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(a.UpstreamConnect), 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// accessLines waits (bounded) until nginx's access log has a line for every id.
func accessLines(t *testing.T, s *stack.Stack, ids []string, d time.Duration) map[string]accessLine {
	t.Helper()
	return accessLog(t, "nginx access log", s.NginxAccessLog(), ids, d)
}

// accessLog waits (bounded) until the JSON access log at path has a line for every id.
func accessLog(t *testing.T, what, path string, ids []string, d time.Duration) map[string]accessLine {
	t.Helper()
	var by map[string]accessLine
	ok, why := waitFor(d, func() (bool, string) {
		by = map[string]accessLine{}
		f, err := os.Open(path)
		if err != nil {
			return false, err.Error()
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l accessLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				by[l.ID] = l
			}
		}
		missing := 0
		for _, id := range ids {
			if _, ok := by[id]; !ok {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d ids have no line in the %s", missing, len(ids), what)
	})
	if !ok {
		t.Fatalf("%s %s: %s", what, path, why)
	}
	return by
}

func ids(rs []analyze.Result) []string {
	out := make([]string, len(rs))
	for i := range rs {
		out[i] = rs[i].RequestID
	}
	return out
}

// quantile is the nearest-rank q-quantile (0 < q ≤ 1) of v.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func countOutcome(rs []analyze.Result, outcome string) int {
	n := 0
	for i := range rs {
		if rs[i].Outcome == outcome {
			n++
		}
	}
	return n
}

// TestLeftoverCheckSeesAStack makes sure the leftover check used after every test and at the
// end of the package would see a running stack — nginx's and uWSGI's workers included.
func TestLeftoverCheckSeesAStack(t *testing.T) {
	cfg := stack.Defaults()
	cfg.Workers = 1
	s := up(t, cfg)
	var pgids []int
	for _, pid := range s.Pids() {
		pgids = append(pgids, pid)
	}
	seen := leftovers(s.Dir(), pgids)
	var nginxWorker, uwsgi int
	for _, p := range seen {
		if strings.Contains(p.cmdline, "nginx: worker") {
			nginxWorker++
		}
		if strings.Contains(p.cmdline, "uwsgi") {
			uwsgi++
		}
	}
	t.Logf("running stack: %d processes found: %v", len(seen), seen)
	if nginxWorker != 1 || uwsgi != 2 {
		t.Errorf("leftover check found %d nginx workers and %d uwsgi processes, want 1 and 2 (master + worker): %v", nginxWorker, uwsgi, seen)
	}
	// Environment alone (no pgid) must still find the uWSGI processes.
	if env := leftovers(s.Dir(), nil); len(env) < 2 {
		t.Errorf("by run dir alone: %v", env)
	}
}
