package whatif

import (
	"testing"
	"time"

	"github.com/queuegap/queuegap/loadgen"
)

// The field report's lesson with fixed inputs: an I/O-bound app (100 ms a
// request, 10 % of it CPU), 4 workers and 1 core a replica, traffic
// ramping from 5 to 100 requests/s over 2 minutes and holding 1 minute.
// One replica serves 40/s with its CPU at 40 %: a 70 % CPU target never
// asks for a second, the backlog grows and clients' p99 climbs to their
// 30 s timeout. Scaling on requests in flight with targetValue = workers
// adds replicas as the ramp needs them and holds p99 near the 100 ms.
func TestAutoscaleFieldReportShape(t *testing.T) {
	w, err := FromSchedule(loadgen.Schedule{loadgen.Ramp{From: 5, To: 100, Duration: 2 * time.Minute}, loadgen.Constant{Rate: 100, Duration: time.Minute}},
		nil, []Processing{{Time: 100 * time.Millisecond, CPUShare: 0.1}}, 1, MaxArrivals)
	if err != nil {
		t.Fatal(err)
	}
	cfg := cfgWith(func(c *Config) { c.Workers, c.Listen, c.Cores = 4, 1024, 1 })
	cpu := DefaultPolicy(PolicyCPU)
	conc := DefaultPolicy(PolicyConcurrency)
	rec, err := Recommend(w, cfg, conc, 10*time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rec.Tried {
		t.Logf("tried %s: p99 %.0f ms, max replicas %d, %.0f replica-seconds", r.Setting, r.Total.P99, r.MaxReplicas, r.ReplicaSeconds)
	}
	t.Logf("recommended targetValue %g (slots %d, bound %.0f ms), workers per replica up to %d", rec.TargetValue, rec.Slots, rec.BoundMs, rec.Workers)
	if !rec.Achieved || rec.TargetValue > float64(rec.Slots) {
		t.Errorf("recommended targetValue %g (achieved %v): want one at or below workers × threads = %d", rec.TargetValue, rec.Achieved, rec.Slots)
	}
	// 4 workers at 10 % CPU each are 40 % of the core: 7 workers reach 70 %.
	if rec.Workers != 7 {
		t.Errorf("workers per replica %d, want 7", rec.Workers)
	}
	conc.TargetValue = rec.TargetValue
	results := map[string]*AutoscaleResult{}
	for _, p := range []Policy{cpu, conc} {
		r, err := Autoscale(w, cfg, p, 10*time.Second, 1)
		if err != nil {
			t.Fatal(err)
		}
		results[p.Kind] = r
		t.Logf("%s: p99 %.0f ms, max replicas %d, %.0f replica-seconds, outcomes %v", r.Setting, r.Total.P99, r.MaxReplicas, r.ReplicaSeconds, r.Outcomes)
		for _, pt := range r.Timeline {
			t.Logf("  t=%3.0fs rate %5.1f/s replicas %d (desired %d) in flight %6.1f cpu %3.0f%% p99 %8.0f ms errors %d",
				pt.T.Seconds(), pt.Rate, pt.Replicas, pt.Desired, pt.InFlight, 100*pt.CPU, pt.P99Ms, pt.Errors)
		}
	}
	c, k := results[PolicyCPU], results[PolicyConcurrency]
	if c.MaxReplicas >= k.MaxReplicas {
		t.Errorf("the CPU policy reached %d replicas, the concurrency policy %d: want fewer under CPU", c.MaxReplicas, k.MaxReplicas)
	}
	if c.Total.P99 < 0.8*30000 {
		t.Errorf("CPU policy p99 %.0f ms: want it at the clients' 30 s timeout", c.Total.P99)
	}
	if k.Total.P99 > 3*100 {
		t.Errorf("concurrency policy p99 %.0f ms: want it near the 100 ms processing time", k.Total.P99)
	}
	var cpuMax float64
	for _, pt := range c.Timeline {
		cpuMax = max(cpuMax, pt.CPU)
	}
	if cpuMax > 0.65 {
		t.Errorf("the CPU policy's replicas peaked at %.0f %% CPU: an I/O-bound app should stay below the 70 %% target", 100*cpuMax)
	}
	// The p99 climbs: the last interval of the plateau is far worse than the first of the ramp.
	if first, last := c.Timeline[0].P99Ms, c.Timeline[len(c.Timeline)-2].P99Ms; last < 50*first {
		t.Errorf("CPU policy p99 went from %.0f to %.0f ms: want a climb", first, last)
	}
}
