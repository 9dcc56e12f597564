package session

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/probe"
)

func TestNewRejectsBadProbes(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		edit func(*Plan)
		want string
	}{
		{"bad target", func(p *Plan) { p.Probes = []probe.Spec{{Kind: probe.Listen, Target: "localhost:80"}} }, "not a name"},
		{"bad kind", func(p *Plan) { p.Probes = []probe.Spec{{Kind: "tcp", Target: "127.0.0.1:80"}} }, "kind"},
		{"twice", func(p *Plan) {
			p.Probes = []probe.Spec{{Kind: probe.UWSGI, Target: "127.0.0.1:1"}, {Kind: probe.UWSGI, Target: "127.0.0.1:1"}}
		}, "twice"},
		{"interval too short", func(p *Plan) {
			p.Probes = []probe.Spec{{Kind: probe.UWSGI, Target: "127.0.0.1:1"}}
			p.ProbeInterval = time.Microsecond
		}, "--probe-interval"},
		{"too many", func(p *Plan) {
			for i := 0; i <= probe.MaxProbes; i++ {
				p.Probes = append(p.Probes, probe.Spec{Kind: probe.Process, Target: "pid:" + strconv.Itoa(i+1)})
			}
		}, "at most"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := targetPlan(1)
			p.Out = filepath.Join(dir, c.name+".jsonl")
			c.edit(&p)
			_, err := New(p)
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want a *UsageError mentioning %q", err, c.want)
			}
			if _, err := os.Stat(p.Out); !os.IsNotExist(err) {
				t.Errorf("rejected plan touched %s", p.Out)
			}
		})
	}
}

// probeCollect is a ProbeOutput that checks its calls never overlap.
type probeCollect struct {
	busy     atomic.Int32
	overlaps atomic.Int32
	mu       sync.Mutex
	samples  []analyze.ProbeSample
	adds     int
	closed   bool
}

func (c *probeCollect) enter() {
	if c.busy.Add(1) != 1 {
		c.overlaps.Add(1)
	}
}
func (c *probeCollect) leave()                       { c.busy.Add(-1) }
func (c *probeCollect) Start(*analyze.RunInfo) error { return nil }
func (c *probeCollect) Add(*analyze.Result) error {
	c.enter()
	defer c.leave()
	time.Sleep(20 * time.Microsecond) // widen the window an overlap would need
	c.adds++
	return nil
}
func (c *probeCollect) Close(*analyze.RunInfo) error { c.closed = true; return nil }
func (c *probeCollect) Probe(s *analyze.ProbeSample) error {
	c.enter()
	defer c.leave()
	if c.closed {
		panic("Probe after Close")
	}
	c.mu.Lock()
	c.samples = append(c.samples, *s)
	c.mu.Unlock()
	time.Sleep(20 * time.Microsecond)
	return nil
}

// TestRunWithProbes: a burst against the embedded target (2 workers,
// backlog 16) with a listen probe on its port, a process probe on this
// process and a uWSGI probe of a port where nothing listens. The results
// file, a ProbeOutput and Read's Probe callback all see the same samples
// on the run's clock; the listen queue rose; the dead probe is said once.
func TestRunWithProbes(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	p := targetPlan(14)
	p.Target.Addr = addr
	p.Target.ServiceTime = 150 * time.Millisecond
	p.Out = filepath.Join(t.TempDir(), "r.jsonl")
	p.ProbeInterval = 20 * time.Millisecond
	p.Probes = []probe.Spec{
		{Kind: probe.Listen, Target: addr, ExpectBacklog: 16},
		{Kind: probe.Process, Target: "pid:" + itoa(os.Getpid())},
		{Kind: probe.UWSGI, Target: deadAddr},
	}
	s, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	c := &probeCollect{}
	rep, err := s.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if c.overlaps.Load() != 0 {
		t.Errorf("%d output calls overlapped", c.overlaps.Load())
	}
	// The file's samples.
	f, err := os.Open(p.Out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var file []analyze.ProbeSample
	if _, err := analyze.ReadResultsWith(f, analyze.ReadCallbacks{
		Result: func(*analyze.RunInfo, *analyze.Result) error { return nil },
		Probe: func(_ *analyze.RunInfo, s *analyze.ProbeSample) error {
			cp := *s
			cp.Values = append([]analyze.ProbeValue(nil), s.Values...)
			file = append(file, cp)
			return nil
		},
	}); err != nil {
		t.Fatal(err)
	}
	if len(file) != len(c.samples) || len(file) < 10 {
		t.Fatalf("file has %d samples, the output saw %d", len(file), len(c.samples))
	}
	last := map[string]time.Duration{}
	var maxQueue, backlog float64
	errorsSeen := 0
	for i, s := range file {
		if s.Probe != c.samples[i].Probe || (s.At-c.samples[i].At).Abs() > time.Microsecond {
			t.Errorf("sample %d: file %+v, output %+v", i, s, c.samples[i])
		}
		if s.At < last[s.Probe] || s.At > rep.Stats.Elapsed+time.Second {
			t.Errorf("sample %d of %s at %v: out of order or off the run clock (elapsed %v)", i, s.Probe, s.At, rep.Stats.Elapsed)
		}
		last[s.Probe] = s.At
		if s.Kind == "uwsgi" {
			if s.Error == "" {
				t.Errorf("dead uWSGI probe has a reading: %+v", s)
			}
			errorsSeen++
		}
		if s.Kind == "listen" {
			q, _ := s.Value("queue")
			maxQueue = max(maxQueue, q)
			backlog, _ = s.Value("backlog")
		}
	}
	t.Logf("%d samples over %v; listen queue max %.0f, backlog %.0f", len(file), rep.Stats.Elapsed, maxQueue, backlog)
	if errorsSeen != 1 {
		t.Errorf("the dead probe wrote %d failure lines, want 1 (once per spell)", errorsSeen)
	}
	if backlog != 16 || maxQueue < 4 {
		t.Errorf("listen probe: queue max %.0f, backlog %.0f: want the burst queued (≥ 4) behind backlog 16", maxQueue, backlog)
	}
	// The summary: three probes, the failure stated once.
	if len(rep.Summary.Probes) != 3 {
		t.Fatalf("summary probes %+v", rep.Summary.Probes)
	}
	fails := 0
	for _, w := range rep.Summary.Warnings {
		if strings.Contains(w, "probe uwsgi "+deadAddr+" failed") {
			fails++
		}
	}
	if fails != 1 {
		t.Errorf("warnings %q: want the dead probe said once", rep.Summary.Warnings)
	}
	// Read gives the same summary, and its Probe callback every sample.
	n := 0
	read, err := Read([]string{p.Out}, ReadOptions{Probe: func(run *analyze.RunInfo, s *analyze.ProbeSample) {
		if run.RunID != rep.Info.RunID {
			t.Errorf("sample of run %q", run.RunID)
		}
		n++
	}})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(file) {
		t.Errorf("Read's Probe saw %d samples, the file has %d", n, len(file))
	}
	if !reflect.DeepEqual(read.Probes, rep.Summary.Probes) || !reflect.DeepEqual(read.Warnings, rep.Summary.Warnings) {
		t.Errorf("Read's probes differ from Run's:\nread %+v\nrun  %+v", read.Probes, rep.Summary.Probes)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
