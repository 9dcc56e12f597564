// Package sweep runs one traffic plan against the testbed across a grid of
// its knobs — workers, listen backlog, server, socket, load balancing,
// timeouts, instances — each cell on a testbed started fresh, and compares
// the cells: per-endpoint latency, where the time went, gateway errors,
// and the best cell for an objective under constraints. Finished cells are
// kept whatever happens to the rest (a Ctrl-C, a failing cell).
package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/probe"
	"github.com/queuegap/queuegap/session"
	"github.com/queuegap/queuegap/testbed/stack"
)

// Knobs are the values to try; an empty knob keeps the base config's.
type Knobs struct {
	Workers        []int
	Listen         []int
	Server         []string
	Socket         []string
	LB             []string
	Harakiri       []time.Duration
	ReadTimeout    []time.Duration
	ConnectTimeout []time.Duration
	Instances      []int
}

// Cell is one point of the grid.
type Cell struct {
	Index  int          // 1-based
	Label  string       // the knobs that vary, e.g. "workers=6 listen=100"
	Config stack.Config // the whole testbed config
}

// Grid is every combination of the knobs over base, in a stable order
// (the first knob varies slowest).
func Grid(base stack.Config, k Knobs) ([]Cell, error) {
	type axis struct {
		name   string
		values []string
		set    func(*stack.Config, int)
	}
	var axes []axis
	ints := func(name string, vs []int, set func(*stack.Config, int)) {
		if len(vs) == 0 {
			return
		}
		s := make([]string, len(vs))
		for i, v := range vs {
			s[i] = strconv.Itoa(v)
		}
		axes = append(axes, axis{name, s, func(c *stack.Config, i int) { set(c, vs[i]) }})
	}
	strs := func(name string, vs []string, set func(*stack.Config, string)) {
		if len(vs) == 0 {
			return
		}
		axes = append(axes, axis{name, vs, func(c *stack.Config, i int) { set(c, vs[i]) }})
	}
	durs := func(name string, vs []time.Duration, set func(*stack.Config, time.Duration)) {
		if len(vs) == 0 {
			return
		}
		s := make([]string, len(vs))
		for i, v := range vs {
			s[i] = v.String()
		}
		axes = append(axes, axis{name, s, func(c *stack.Config, i int) { set(c, vs[i]) }})
	}
	ints("workers", k.Workers, func(c *stack.Config, v int) { c.Workers = v })
	ints("listen", k.Listen, func(c *stack.Config, v int) { c.Listen = v })
	strs("server", k.Server, func(c *stack.Config, v string) { c.Server = v })
	strs("socket", k.Socket, func(c *stack.Config, v string) { c.Socket = v })
	strs("lb", k.LB, func(c *stack.Config, v string) { c.LB = v })
	durs("harakiri", k.Harakiri, func(c *stack.Config, v time.Duration) { c.Harakiri = v })
	durs("read-timeout", k.ReadTimeout, func(c *stack.Config, v time.Duration) { c.ReadTimeout = v })
	durs("connect-timeout", k.ConnectTimeout, func(c *stack.Config, v time.Duration) { c.ConnectTimeout = v })
	ints("instances", k.Instances, func(c *stack.Config, v int) { c.Instances = v })
	n := 1
	for _, a := range axes {
		n *= len(a.values)
		if n > MaxCells {
			return nil, fmt.Errorf("the grid has more than %d cells: sweep fewer values", MaxCells)
		}
	}
	cells := make([]Cell, 0, n)
	idx := make([]int, len(axes))
	for c := 0; c < n; c++ {
		cfg := base
		var label []string
		for j, a := range axes {
			a.set(&cfg, idx[j])
			label = append(label, a.name+"="+a.values[idx[j]])
		}
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("cell %s: %w", strings.Join(label, " "), err)
		}
		if len(label) == 0 {
			label = []string{"base"}
		}
		cells = append(cells, Cell{Index: c + 1, Label: strings.Join(label, " "), Config: cfg})
		for j := len(idx) - 1; j >= 0; j-- { // the last axis varies fastest
			if idx[j]++; idx[j] < len(axes[j].values) {
				break
			}
			idx[j] = 0
		}
	}
	return cells, nil
}

// MaxCells bounds a grid: each cell is a fresh testbed and a whole run.
const MaxCells = 256

// Plan is a sweep: the cells and what to run in each.
type Plan struct {
	Cells []Cell
	// Build makes the run plan for a cell: the traffic against url, its
	// results to out. It is called once per cell (and once to validate).
	Build func(url, out string) (session.Plan, error)
	// Length is one run's schedule length, for the estimate.
	Length time.Duration
	OutDir string
	// Objective is the metric to minimise (Maximize: maximise), e.g.
	// "p99(total)" or "p99(total{name=checkout})"; Checks are constraints a
	// cell must pass to be the best.
	Objective string
	Maximize  bool
	Checks    []analyze.Check
}

// PerCellOverhead is the estimate's allowance per cell beyond its run:
// starting the testbed (≈ 0.3–0.5 s here), stopping it (≈ 1 s: nginx and
// the app are given time to exit), and the run's drain and summary. A
// cell that overloads its testbed drains longer: the time left is then
// re-estimated from the cells done.
const PerCellOverhead = 2 * time.Second

// Estimate is how long the sweep should take.
func (p *Plan) Estimate() time.Duration {
	return time.Duration(len(p.Cells)) * (p.Length + PerCellOverhead)
}

// Result is one finished cell.
type Result struct {
	Cell      Cell            `json:"-"`
	Label     string          `json:"cell"`
	File      string          `json:"results"`
	Elapsed   time.Duration   `json:"elapsed_ns"`
	Summary   analyze.Summary `json:"-"`
	Figures   Figures         `json:"figures"`
	Objective *float64        `json:"objective,omitempty"` // nil: no data
	Passed    bool            `json:"passed"`              // every constraint held
	Failed    []string        `json:"failed,omitempty"`    // the constraints that did not
}

// Figures are a cell's comparison columns.
type Figures struct {
	Requests     int64              `json:"requests"`
	P50Ms        float64            `json:"p50_ms"`
	P99Ms        float64            `json:"p99_ms"`
	EndpointP99  map[string]float64 `json:"endpoint_p99_ms,omitempty"`
	BacklogShare float64            `json:"backlog_share"`
	SynShare     float64            `json:"syn_retry_share"`
	Gateway502   int64              `json:"502"`
	Gateway504   int64              `json:"504"`
	Refused      int64              `json:"refused"`
	Timeouts     int64              `json:"timeouts"`
	// From the testbed's probes: the most uWSGI workers busy at once (-1:
	// no stats server, e.g. gunicorn), the app's mean and peak CPU in cores.
	BusyMax    float64 `json:"busy_workers_max"`
	AppCPUMean float64 `json:"app_cpu_mean"`
	AppCPUMax  float64 `json:"app_cpu_max"`
}

func figures(s *analyze.Summary) Figures {
	f := Figures{Requests: s.Requests, EndpointP99: map[string]float64{}}
	if t, ok := s.Phases[analyze.PhaseTotal]; ok {
		f.P50Ms, f.P99Ms = t.P50, t.P99
	}
	if a, ok := s.Attribution[analyze.CompBacklog]; ok {
		f.BacklogShare = a.Share
	}
	if a, ok := s.Attribution[analyze.CompSynRetry]; ok {
		f.SynShare = a.Share
	}
	for _, e := range s.Endpoints {
		name := e.Name
		if e.Client != "" {
			name = e.Client + "/" + e.Name
		}
		f.EndpointP99[name] = e.Total.P99
	}
	o := s.Outcomes
	f.Gateway502 = o[analyze.OutcomeProxyRefused] + o[analyze.OutcomeWorkerKilled]
	f.Gateway504 = o[analyze.OutcomeGatewayTimeout]
	f.Refused = o["refused"] + o["connect_timeout"]
	f.Timeouts = o["timeout"]
	f.BusyMax = -1
	for _, p := range s.Probes {
		for _, v := range p.Values {
			switch {
			case p.Kind == "uwsgi" && v.Name == "busy":
				f.BusyMax = max(f.BusyMax, v.Max)
			case p.Kind == "process" && v.Name == "cpu":
				f.AppCPUMean += v.Mean
				f.AppCPUMax = max(f.AppCPUMax, v.Max)
			}
		}
	}
	return f
}

// Progress is reported before each cell and after the last.
type Progress struct {
	Cell     Cell
	Done     int           // cells finished
	Total    int           // cells in the grid
	Elapsed  time.Duration // since the sweep began
	Left     time.Duration // estimated time left
	Estimate time.Duration // the estimate at the start
}

// Run runs every cell in order: a fresh testbed, the plan against it, the
// testbed stopped. After each cell the comparison so far is written to
// OutDir/sweep.json, so an interrupted sweep keeps what it finished. A
// cancelled context ends the current cell (its partial results are kept
// beside the others as *.interrupted.jsonl, out of the comparison) and Run
// returns the finished cells with ctx's error.
func Run(ctx context.Context, p *Plan, progress func(Progress)) ([]Result, error) {
	if len(p.Cells) == 0 {
		return nil, errors.New("no cells to sweep")
	}
	if err := os.MkdirAll(p.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("sweep directory: %w", err)
	}
	began := time.Now()
	est := p.Estimate()
	var done []Result
	for i, c := range p.Cells {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		el := time.Since(began)
		left := est - el
		if i > 0 {
			// Measured so far, per cell, for the rest.
			left = el / time.Duration(i) * time.Duration(len(p.Cells)-i)
		}
		if progress != nil {
			progress(Progress{Cell: c, Done: i, Total: len(p.Cells), Elapsed: el, Left: max(left, 0), Estimate: est})
		}
		r, err := p.runCell(ctx, c)
		if err != nil {
			return done, err
		}
		done = append(done, r)
		if err := writeTable(p.OutDir, p, done); err != nil {
			return done, err
		}
	}
	if progress != nil {
		progress(Progress{Done: len(p.Cells), Total: len(p.Cells), Elapsed: time.Since(began), Estimate: est})
	}
	return done, nil
}

func (p *Plan) runCell(ctx context.Context, c Cell) (Result, error) {
	start := time.Now()
	file := filepath.Join(p.OutDir, fmt.Sprintf("cell-%02d-%s.jsonl", c.Index, slug(c.Label)))
	cfg := c.Config
	cfg.Dir = "" // a fresh run directory per cell
	s, err := stack.Up(ctx, cfg)
	if err != nil {
		return Result{}, fmt.Errorf("cell %d (%s): testbed: %w", c.Index, c.Label, err)
	}
	defer func() {
		if ctx.Err() != nil {
			s.Abort() // interrupted: no grace, the user is waiting
		}
		s.Down()
	}()
	plan, err := p.Build(s.URL(), file)
	if err != nil {
		return Result{}, fmt.Errorf("cell %d (%s): %w", c.Index, c.Label, err)
	}
	plan.Checks = nil // constraints are judged here, on the cell's summary
	// The probes that fit this cell's testbed: its queues, workers, CPU.
	for _, raw := range s.ProbeSpecs() {
		sp, err := probe.Parse(raw)
		if err != nil {
			return Result{}, fmt.Errorf("cell %d (%s): probe %s: %w", c.Index, c.Label, raw, err)
		}
		plan.Probes = append(plan.Probes, sp)
	}
	sess, err := session.New(plan)
	if err != nil {
		return Result{}, fmt.Errorf("cell %d (%s): %w", c.Index, c.Label, err)
	}
	rep, err := sess.Run(ctx)
	if ctx.Err() != nil {
		_ = os.Rename(file, strings.TrimSuffix(file, ".jsonl")+".interrupted.jsonl")
		return Result{}, ctx.Err()
	}
	if err != nil {
		return Result{}, fmt.Errorf("cell %d (%s): %w", c.Index, c.Label, err)
	}
	if err := s.Down(); err != nil {
		return Result{}, fmt.Errorf("cell %d (%s): stopping the testbed: %w", c.Index, c.Label, err)
	}
	r := Result{Cell: c, Label: c.Label, File: file, Elapsed: time.Since(start), Summary: rep.Summary, Figures: figures(&rep.Summary)}
	if m, err := analyze.MetricValue(&rep.Summary, p.Objective); err == nil && !m.NoData {
		v := m.Value
		r.Objective = &v
	}
	results, _, err := analyze.EvalChecks(p.Checks, &rep.Summary)
	if err != nil {
		return Result{}, err
	}
	r.Passed = true
	for _, cr := range results {
		if cr.Failed {
			r.Passed = false
			r.Failed = append(r.Failed, cr.Check.Expr)
		}
	}
	return r, nil
}

// Best is the passing cell with the best objective; ok is false when no
// cell passed with data.
func Best(p *Plan, rs []Result) (Result, bool) {
	var best Result
	found := false
	for _, r := range rs {
		if !r.Passed || r.Objective == nil {
			continue
		}
		if !found || p.Maximize && *r.Objective > *best.Objective || !p.Maximize && *r.Objective < *best.Objective {
			best, found = r, true
		}
	}
	return best, found
}

type table struct {
	Objective string   `json:"objective"`
	Maximize  bool     `json:"maximize,omitempty"`
	Checks    []string `json:"constraints,omitempty"`
	Cells     []Result `json:"cells"`
	Best      string   `json:"best,omitempty"`
	Complete  bool     `json:"complete"`
	Total     int      `json:"total_cells"`
}

// writeTable writes OutDir/sweep.json (atomically: beside, then renamed).
func writeTable(dir string, p *Plan, rs []Result) error {
	t := table{Objective: p.Objective, Maximize: p.Maximize, Cells: rs, Complete: len(rs) == len(p.Cells), Total: len(p.Cells)}
	for _, c := range p.Checks {
		t.Checks = append(t.Checks, c.Expr)
	}
	if b, ok := Best(p, rs); ok {
		t.Best = b.Label
	}
	data, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".sweep.json.tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the sweep table: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, "sweep.json"))
}

// ReadTable reads a sweep.json: the finished cells' labels and files.
func ReadTable(path string) (cells []string, complete bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	var t table
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	for _, c := range t.Cells {
		cells = append(cells, c.Label)
	}
	return cells, t.Complete, nil
}

func slug(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
		case r == '=':
			b.WriteRune('-')
		default:
			b.WriteRune('_')
		}
	}
	return b.String()
}

// Sorted returns rs ordered best first by the objective (no data last).
func Sorted(p *Plan, rs []Result) []Result {
	out := append([]Result(nil), rs...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Objective, out[j].Objective
		switch {
		case a == nil:
			return false
		case b == nil:
			return true
		case p.Maximize:
			return *a > *b
		}
		return *a < *b
	})
	return out
}
