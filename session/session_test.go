package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/testbed/prefork"
)

func targetPlan(n int) Plan {
	return Plan{
		Clients: []ClientPlan{{
			Schedule: loadgen.Schedule{loadgen.Burst{Size: n, Every: time.Second, Count: 1}},
			Client:   loadgen.ClientConfig{Mode: loadgen.NewConn, KeepHeaders: analyze.TimingConfig{}.KeepHeaders()},
		}},
		Target: &prefork.Config{Addr: "127.0.0.1:0", Workers: 2, Backlog: 16, ServiceTime: 10 * time.Millisecond},
	}
}

func TestNewRejectsBadPlans(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		edit func(*Plan)
		want string
	}{
		{"empty schedule", func(p *Plan) { p.Clients[0].Schedule = nil }, "schedule"},
		{"too many requests", func(p *Plan) {
			p.Clients[0].Schedule = loadgen.Schedule{loadgen.Burst{Size: 1000, Every: time.Second, Count: 2_000_000}}
		}, "requests"},
		{"too many requests over several stages", func(p *Plan) {
			b := loadgen.Burst{Size: 1000, Every: time.Second, Count: 600_000}
			p.Clients[0].Schedule = loadgen.Schedule{b, b}
		}, "requests"},
		{"huge pool", func(p *Plan) { p.Clients[0].Client.Connections = MaxConnections + 1 }, "--connections"},
		{"huge in-flight bound", func(p *Plan) { p.MaxInflight = MaxInflight + 1 }, "--max-inflight"},
		{"no workers", func(p *Plan) { p.Target.Workers = 0 }, "workers"},
		{"bad URL", func(p *Plan) { p.Target = nil; p.Clients[0].Client.URL = "ftp://x/" }, "scheme"},
		{"loop engine for https", func(p *Plan) {
			p.Target, p.Engine = nil, loadgen.EngineLoop
			p.Clients[0].Client.URL = "https://127.0.0.1:1/"
		}, "TLS"},
		{"out in a missing directory", func(p *Plan) { p.Out = filepath.Join(dir, "no", "r.jsonl") }, "does not exist"},
		{"out is a directory", func(p *Plan) { p.Out = dir }, "directory"},
		{"out and hdr log the same", func(p *Plan) { p.Out, p.HDRLog = filepath.Join(dir, "x"), filepath.Join(dir, "x") }, "same file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := targetPlan(1)
			c.edit(&p)
			_, err := New(p)
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want a *UsageError mentioning %q", err, c.want)
			}
		})
	}
}

// collect is a FinalOutput that keeps what it sees.
type collect struct {
	live, final []analyze.Result
	closed      int
}

func (c *collect) Start(*analyze.RunInfo) error { return nil }
func (c *collect) Add(r *analyze.Result) error  { c.live = append(c.live, *r); return nil }
func (c *collect) Close(*analyze.RunInfo) error { c.closed++; return nil }
func (c *collect) Final(r *analyze.Result)      { c.final = append(c.final, *r) }

// The report of a run is what Read says of its results file, and a
// FinalOutput sees every request again, attributed as the summary counts it.
func TestRunEqualsRead(t *testing.T) {
	p := targetPlan(12)
	p.Out = filepath.Join(t.TempDir(), "r.jsonl")
	s, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	c := &collect{}
	rep, err := s.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.live) != 12 || len(c.final) != 12 || c.closed != 1 {
		t.Fatalf("live %d, final %d, closed %d", len(c.live), len(c.final), c.closed)
	}
	var sumFinal time.Duration
	for i := range c.final {
		sumFinal += c.final[i].Attr.Parts[slices.Index(analyze.Components, analyze.CompBacklog)]
	}
	if got := time.Duration(rep.Summary.Attribution[analyze.CompBacklog].TotalS * float64(time.Second)); (got - sumFinal).Abs() > 10*time.Millisecond {
		t.Errorf("summary backlog %v, final outputs' backlog %v", got, sumFinal)
	}
	read, err := Read([]string{p.Out}, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*read, rep.Summary) {
		t.Errorf("Read of the run's file differs from its report:\nread %+v\nrun  %+v", *read, rep.Summary)
	}
	if rep.Info.RunID == "" || !rep.Info.Complete && rep.Summary.Requests != 12 {
		t.Errorf("report %+v", rep.Info)
	}
}

// failing is an output whose Add fails after n results, as a full disk does.
type failing struct {
	n    atomic.Int64
	adds atomic.Int64
}

func (f *failing) Start(*analyze.RunInfo) error { return nil }
func (f *failing) Add(*analyze.Result) error {
	if f.adds.Add(1) > f.n.Load() {
		return errors.New("no space left on device")
	}
	return nil
}
func (f *failing) Close(*analyze.RunInfo) error { return nil }

// A failing output stops the run promptly and is reported as an
// *OutputError, with the report of what was written.
func TestFailingOutputStopsTheRun(t *testing.T) {
	srv, err := prefork.Start(prefork.Config{Workers: 4, Backlog: 64, ServiceTime: time.Millisecond, KeepAlive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s, err := New(Plan{Clients: []ClientPlan{{
		Schedule: loadgen.Schedule{loadgen.Constant{Rate: 200, Duration: 30 * time.Second}},
		Client:   loadgen.ClientConfig{Request: loadgen.Request{URL: srv.URL()}, Connections: 4},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	f := &failing{}
	f.n.Store(50)
	start := time.Now()
	rep, err := s.Run(context.Background(), f)
	var oe *OutputError
	if !errors.As(err, &oe) || rep == nil {
		t.Fatalf("Run: %v, want an *OutputError and a report", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the run went on for %v after its output failed (schedule: 30 s)", took)
	}
	if rep.Summary.Requests < 50 {
		t.Errorf("report holds %d requests, want at least the 50 written", rep.Summary.Requests)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:secretpw@127.0.0.1:8080/x?y=1": "http://user:xxxxx@127.0.0.1:8080/x?y=1",
		"http://127.0.0.1/":                         "http://127.0.0.1/",
		"https://tokenonly@h/":                      "https://tokenonly@h/",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckOutputPathTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "keep")
	os.WriteFile(existing, []byte("keep"), 0o644)
	if err := CheckOutputPath(existing); err != nil {
		t.Fatal(err)
	}
	if err := CheckOutputPath(filepath.Join(dir, "new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep" {
		t.Error("existing file changed")
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !os.IsNotExist(err) {
		t.Error("CheckOutputPath created the file")
	}
}

// A second interrupt skips the summary pass: Run returns a
// *SummarySkippedError naming the (complete) results file.
func TestSkipSummary(t *testing.T) {
	p := targetPlan(5000)
	p.Target.Workers, p.Target.ServiceTime, p.Target.Backlog = 64, time.Millisecond, 4096
	p.Clients[0].Client.Mode = loadgen.KeepAlive
	p.Out = filepath.Join(t.TempDir(), "r.jsonl")
	s, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	s.SkipSummary() // before the pass begins: it stops at its first check
	s.SkipSummary() // twice is fine
	rep, err := s.Run(context.Background())
	var skipped *SummarySkippedError
	if !errors.As(err, &skipped) || skipped.Results != p.Out || rep == nil || rep.Summary.Requests != 0 {
		t.Fatalf("Run: %v (report %v), want a skipped summary naming %s", err, rep != nil, p.Out)
	}
	if st, err := readFile(p.Out, func(*analyze.RunInfo, *analyze.Result) {}); err != nil || st.Results != 5000 || !st.Runs[0].Complete {
		t.Errorf("results file after a skipped summary: %v, %+v", err, st)
	}
}
