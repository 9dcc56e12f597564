package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/probe"
	"github.com/queuegap/queuegap/session"
	"github.com/queuegap/queuegap/testbed/stack"
)

// Scenario 1 with probes on — the field reports' lesson in one run: 40
// clients at once ask for a 1 s /sleep of 4 uWSGI workers (listen 100 over
// TCP). The probes that 'testbed up' prints watch it: every worker is busy
// and the app socket's accept queue fills during the burst and drains after,
// while the app's CPU stays low — a CPU-based autoscaler would never react.
// Everything is asserted from the probe lines of the results file, read back
// through session.Read's Probe callback, as a report would chart them.
func TestBurstWithProbes(t *testing.T) {
	cfg := stack.Defaults()
	cfg.Workers = 4
	cfg.Listen = 100
	cfg.Socket = "tcp"
	s := up(t, cfg)

	var specs []probe.Spec
	var appListen, stats, proc string
	for _, raw := range s.ProbeSpecs() {
		sp, err := probe.Parse(raw)
		if err != nil {
			t.Fatalf("testbed probe %q: %v", raw, err)
		}
		specs = append(specs, sp)
		switch {
		case sp.Kind == probe.Listen && sp.ExpectBacklog == cfg.Listen:
			appListen = sp.Name()
		case sp.Kind == probe.UWSGI:
			stats = sp.Name()
		case sp.Kind == probe.Process:
			proc = sp.Name()
		}
	}
	if appListen == "" || stats == "" || proc == "" {
		t.Fatalf("testbed probes %q: want the app socket, the stats server and the app's processes", s.ProbeSpecs())
	}

	const n = 40
	out := filepath.Join(t.TempDir(), "results.jsonl")
	r := drive(t, load{
		URL:      s.URL() + "/sleep?ms=1000",
		Schedule: loadgen.Schedule{loadgen.Burst{Size: n, Every: time.Second, Count: 1}},
		Mode:     loadgen.NewConn,
		Out:      out,
		Probes:   specs,
	})
	if got := r.Summary.Outcomes[analyze.OutcomeOK]; got != n {
		t.Fatalf("outcomes %v: want %d ok", r.Summary.Outcomes, n)
	}

	type point struct {
		at time.Duration
		v  map[string]float64
	}
	series := map[string][]point{}
	failures := map[string][]string{}
	if _, err := session.Read([]string{out}, session.ReadOptions{Probe: func(_ *analyze.RunInfo, ps *analyze.ProbeSample) {
		if ps.Error != "" {
			failures[ps.Probe] = append(failures[ps.Probe], ps.Error)
			return
		}
		v := map[string]float64{}
		for _, pv := range ps.Values {
			v[pv.Name] = pv.Value
		}
		series[ps.Probe] = append(series[ps.Probe], point{ps.At, v})
	}}); err != nil {
		t.Fatal(err)
	}
	if len(failures) > 0 {
		t.Errorf("probes failed: %v", failures)
	}
	peak := func(name, value string) (float64, time.Duration) {
		var m float64
		var at time.Duration
		for _, p := range series[name] {
			if p.v[value] > m {
				m, at = p.v[value], p.at
			}
		}
		return m, at
	}
	mean := func(name, value string) float64 {
		var sum float64
		var k int
		for _, p := range series[name] {
			if x, ok := p.v[value]; ok {
				sum += x
				k++
			}
		}
		return sum / float64(max(k, 1))
	}
	for name, ps := range series {
		t.Logf("%s: %d samples over %v", name, len(ps), ps[len(ps)-1].at.Round(time.Millisecond))
	}

	// The accept queue of the app socket: empty before, 36 waiting at the
	// start of the burst, draining by 4 a second, empty at the end.
	q := series[appListen]
	if len(q) < 20 {
		t.Fatalf("%s: %d samples over a %v run, want one every 250 ms", appListen, len(q), r.Duration)
	}
	qMax, qAt := peak(appListen, "queue")
	t.Logf("%s: queue first %.0f, peak %.0f at %v, last %.0f; backlog %.0f", appListen, q[0].v["queue"], qMax, qAt.Round(time.Millisecond), q[len(q)-1].v["queue"], q[0].v["backlog"])
	if q[0].v["queue"] > 4 || qMax < 20 || q[len(q)-1].v["queue"] > 4 {
		t.Errorf("%s: queue first %.0f, peak %.0f, last %.0f: want it to rise from ~0 past 20 during the burst and drain", appListen, q[0].v["queue"], qMax, q[len(q)-1].v["queue"])
	}
	if qAt > 3*time.Second {
		t.Errorf("%s: queue peaked at %v, want within the burst's first seconds", appListen, qAt)
	}
	if q[0].v["backlog"] != float64(cfg.Listen) {
		t.Errorf("%s: effective backlog %.0f, want --listen %d", appListen, q[0].v["backlog"], cfg.Listen)
	}

	// uWSGI's own view (refreshed about once a second): all 4 workers busy,
	// its listen queue up too.
	busy, busyAt := peak(stats, "busy")
	uq, _ := peak(stats, "queue")
	workers, _ := peak(stats, "workers")
	t.Logf("%s: busy peak %.0f of %.0f at %v, listen_queue peak %.0f", stats, busy, workers, busyAt.Round(time.Millisecond), uq)
	if busy != float64(cfg.Workers) || workers != float64(cfg.Workers) {
		t.Errorf("%s: busy peak %.0f of %.0f workers, want all %d busy", stats, busy, workers, cfg.Workers)
	}
	if uq < 10 {
		t.Errorf("%s: listen_queue peak %.0f, want the burst waiting (≥ 10)", stats, uq)
	}

	// And the CPU of the whole app (master and workers) stays low: /sleep
	// holds a worker without using it.
	cpuMax, _ := peak(proc, "cpu")
	cpuMean := mean(proc, "cpu")
	t.Logf("%s: cpu mean %.3f, max %.3f cores; rss %.0f MB", proc, cpuMean, cpuMax, mean(proc, "rss")/1e6)
	if cpuMean > 0.15 || cpuMax > 0.6 {
		t.Errorf("%s: cpu mean %.3f, max %.3f cores while every worker was busy: want it low for /sleep", proc, cpuMean, cpuMax)
	}
	// The summary has them too, and no trap to report (listen 100 fits).
	if len(r.Summary.Probes) != len(specs) {
		t.Errorf("summary probes %d, want %d", len(r.Summary.Probes), len(specs))
	}
	for _, w := range r.Summary.Warnings {
		if strings.Contains(w, "somaxconn") {
			t.Errorf("unexpected trap warning: %s", w)
		}
	}
}
