package whatif

import (
	"math"
	"testing"
	"time"
)

// burst is n requests at t=0 of one endpoint with a fixed processing time.
func burst(n int, proc time.Duration, cpuShare float64) *Workload {
	w := &Workload{Endpoints: []Endpoint{{Name: "", Fixed: proc, CPUShare: cpuShare}}}
	for range n {
		w.Arrivals = append(w.Arrivals, Arrival{})
	}
	return w
}

func cfgWith(f func(c *Config)) Config {
	c := DefaultConfig()
	c.SYN = LinuxSYN(6, 4) // the kernel's defaults, whatever this machine says
	f(&c)
	return c
}

func TestPredictFixedInputs(t *testing.T) {
	const s = 1000.0 // ms
	tests := []struct {
		name     string
		w        *Workload
		cfg      Config
		outcomes map[string]int64
		p50, max float64 // ms, ±1 % (HDR's resolution)
		shares   map[string]float64
	}{{
		// The field report's waves: 40 at once, 4 workers, 1 s each → answers at 1, 2, … 10 s.
		name: "waves of four", w: burst(40, time.Second, 0), cfg: cfgWith(func(c *Config) {}),
		outcomes: map[string]int64{"ok": 40}, p50: 5 * s, max: 10 * s,
		shares: map[string]float64{"backlog": 180.0 / 220, "processing": 40.0 / 220},
	}, {
		name: "six workers", w: burst(40, time.Second, 0), cfg: cfgWith(func(c *Config) { c.Workers = 6 }),
		outcomes: map[string]int64{"ok": 40}, p50: 4 * s, max: 7 * s,
	}, {
		// listen 4: the queue holds 5; the 11 left over retry their SYNs at 1, 2, 3, 4, 5 s
		// (worked out by hand in the comment of this table's test): answers at 1.5, 3, 4.5, 6, 7.5 s.
		name: "listen 4 over TCP: SYN retries", w: burst(20, 1500*time.Millisecond, 0),
		cfg:      cfgWith(func(c *Config) { c.Listen = 4 }),
		outcomes: map[string]int64{"ok": 20}, p50: 4.5 * s, max: 7.5 * s,
	}, {
		name: "listen 4 over a unix socket: 502 at once", w: burst(20, 1500*time.Millisecond, 0),
		cfg:      cfgWith(func(c *Config) { c.Listen = 4; c.Socket = "unix" }),
		outcomes: map[string]int64{"ok": 9, "proxy_refused": 11}, p50: 0, max: 4.5 * s,
	}, {
		name: "read timeout 1 s, 2.5 s view", w: burst(2, 2500*time.Millisecond, 0),
		cfg:      cfgWith(func(c *Config) { c.ReadTimeout = time.Second }),
		outcomes: map[string]int64{"gateway_timeout": 2}, p50: 1 * s, max: 1 * s,
	}, {
		name: "nginx connect timeout 1.5 s: 504 while the SYN waits", w: burst(3, 5*time.Second, 0),
		cfg:      cfgWith(func(c *Config) { c.Workers = 1; c.Listen = 0; c.ConnectTimeout = 1500 * time.Millisecond }),
		outcomes: map[string]int64{"ok": 2, "gateway_timeout": 1}, p50: 5 * s, max: 10 * s,
	}, {
		// listen 0 still holds one: the third connect's SYNs go unanswered until the client's 10 s.
		name: "direct: the client's connect timeout", w: burst(3, 30*time.Second, 0),
		cfg:      cfgWith(func(c *Config) { c.Workers = 1; c.Listen = 0; c.Proxy = false; c.ClientTimeout = 100 * time.Second }),
		outcomes: map[string]int64{"ok": 2, "connect_timeout": 1}, p50: 30 * s, max: 60 * s,
	}, {
		name: "client timeout while queued", w: burst(8, 2*time.Second, 0),
		cfg:      cfgWith(func(c *Config) { c.ClientTimeout = 3 * time.Second }),
		outcomes: map[string]int64{"ok": 4, "timeout": 4}, p50: 2 * s, max: 3 * s,
	}, {
		name: "CPU-bound on one core: four at once take four times as long", w: burst(4, 100*time.Millisecond, 1),
		cfg:      cfgWith(func(c *Config) { c.Cores = 1 }),
		outcomes: map[string]int64{"ok": 4}, p50: 400, max: 400,
	}, {
		name: "half CPU on two cores", w: burst(4, 100*time.Millisecond, 0.5),
		cfg:      cfgWith(func(c *Config) { c.Cores = 2 }),
		outcomes: map[string]int64{"ok": 4}, p50: 150, max: 150,
	}, {
		name: "I/O-bound on one core: unaffected", w: burst(4, 100*time.Millisecond, 0),
		cfg:      cfgWith(func(c *Config) { c.Cores = 1 }),
		outcomes: map[string]int64{"ok": 4}, p50: 100, max: 100,
	}, {
		name: "two replicas round robin", w: burst(8, time.Second, 0),
		cfg:      cfgWith(func(c *Config) { c.Replicas = 2 }),
		outcomes: map[string]int64{"ok": 8}, p50: 1 * s, max: 1 * s,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Predict(tt.w, tt.cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.outcomes {
				if p.Outcomes[k] != v {
					t.Errorf("outcomes %v, want %v", p.Outcomes, tt.outcomes)
					break
				}
			}
			if len(p.Outcomes) != len(tt.outcomes) {
				t.Errorf("outcomes %v, want %v", p.Outcomes, tt.outcomes)
			}
			near := func(got, want float64) bool { return math.Abs(got-want) <= 0.01*want+0.01 }
			if !near(p.Total.P50, tt.p50) || !near(p.Total.Max, tt.max) {
				t.Errorf("p50 %.1f ms, max %.1f ms; want %.1f, %.1f", p.Total.P50, p.Total.Max, tt.p50, tt.max)
			}
			for k, v := range tt.shares {
				if math.Abs(p.Shares[k]-v) > 0.001 {
					t.Errorf("share %s %.4f, want %.4f (%v)", k, p.Shares[k], v, p.Shares)
				}
			}
		})
	}
}

// Harakiri kills between H and H+1 s (uWSGI's once-a-second check): 502s there.
func TestPredictHarakiri(t *testing.T) {
	p, err := Predict(burst(4, 6*time.Second, 0), cfgWith(func(c *Config) { c.Harakiri = 2 * time.Second; c.ReadTimeout = 30 * time.Second }), 7)
	if err != nil {
		t.Fatal(err)
	}
	if p.Outcomes["worker_killed"] != 4 || p.Count502 != 4 {
		t.Fatalf("outcomes %v", p.Outcomes)
	}
	if p.Total.P50 < 2000 || p.Total.Max > 3000 {
		t.Errorf("502s at p50 %.0f ms, max %.0f ms: want within [2 s, 3 s]", p.Total.P50, p.Total.Max)
	}
	// A killed worker respawns: the next request after the kill is served.
	w := burst(2, 6*time.Second, 0)
	w.Arrivals = append(w.Arrivals, Arrival{At: 4 * time.Second})
	w.Endpoints = append(w.Endpoints, Endpoint{Name: "fast", Fixed: 10 * time.Millisecond})
	w.Arrivals[2].Endpoint = 1
	p, err = Predict(w, cfgWith(func(c *Config) { c.Workers = 2; c.Harakiri = 2 * time.Second }), 7)
	if err != nil {
		t.Fatal(err)
	}
	if p.Outcomes["ok"] != 1 || p.Outcomes["worker_killed"] != 2 {
		t.Errorf("outcomes %v: want the fast one served by a respawned worker", p.Outcomes)
	}
}

// least_conn routes around a replica tied up by long requests; round robin does not.
func TestPredictLeastConnBeatsRoundRobin(t *testing.T) {
	w := &Workload{Endpoints: []Endpoint{{Name: "long", Fixed: 10 * time.Second}, {Name: "fast", Fixed: 10 * time.Millisecond}}}
	w.Arrivals = append(w.Arrivals, Arrival{Endpoint: 0})
	for i := range 200 {
		w.Arrivals = append(w.Arrivals, Arrival{At: 100*time.Millisecond + time.Duration(i)*50*time.Millisecond, Endpoint: 1})
	}
	p99 := map[string]float64{}
	for _, lb := range []string{RoundRobin, LeastConn} {
		// One worker per replica: the long request ties up replica 1; round robin keeps
		// sending it every other fast one, least_conn none while replica 2 is idle.
		p, err := Predict(w, cfgWith(func(c *Config) { c.Replicas = 2; c.Workers = 1; c.LB = lb }), 1)
		if err != nil {
			t.Fatal(err)
		}
		p99[lb] = p.Endpoints[1].Total.P99
		t.Logf("%s: fast p99 %.0f ms, outcomes %v", lb, p99[lb], p.Outcomes)
	}
	if p99[RoundRobin] < 5000 || p99[LeastConn] > 20 {
		t.Errorf("fast p99: round robin %.0f ms (want seconds), least_conn %.0f ms (want the 10 ms itself)", p99[RoundRobin], p99[LeastConn])
	}
}

func TestPredictDeterministicAndFast(t *testing.T) {
	w := &Workload{Endpoints: []Endpoint{{Name: "a", Samples: []time.Duration{20 * time.Millisecond, 30 * time.Millisecond, 200 * time.Millisecond}},
		{Name: "b", Samples: []time.Duration{5 * time.Millisecond}, CPUShare: 0.5}}}
	for i := range 100_000 {
		w.Arrivals = append(w.Arrivals, Arrival{At: time.Duration(i) * time.Millisecond, Endpoint: uint16(i % 2)})
	}
	w.Overhead = []time.Duration{time.Millisecond, 2 * time.Millisecond}
	// 1000/s against 2 × 48 workers of ≈ 84 ms: busy, queueing at times, not drowning.
	cfg := cfgWith(func(c *Config) { c.Workers = 48; c.Listen = 50; c.Cores = 2; c.Replicas = 2; c.LB = LeastConn })
	t0 := time.Now()
	a, err := Predict(w, cfg, 42)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	b, _ := Predict(w, cfg, 42)
	t.Logf("100k requests simulated in %v: %+v %v", took, a.Total, a.Outcomes)
	if a.Total != b.Total || a.Requests != 100_000 || len(a.Outcomes) != len(b.Outcomes) {
		t.Errorf("not deterministic or incomplete: %+v vs %+v", a, b)
	}
	for k, v := range a.Outcomes {
		if b.Outcomes[k] != v {
			t.Errorf("outcome %s: %d vs %d", k, v, b.Outcomes[k])
		}
	}
	if limit := time.Second * raceSlowdown; took > limit { // ≈ 0.1 s alone; generous for a shared machine
		t.Errorf("100k requests took %v", took)
	}
}

func BenchmarkPredict100k(b *testing.B) {
	w := &Workload{Endpoints: []Endpoint{{Name: "a", Samples: []time.Duration{20 * time.Millisecond, 30 * time.Millisecond, 200 * time.Millisecond}}}}
	for i := range 100_000 {
		w.Arrivals = append(w.Arrivals, Arrival{At: time.Duration(i) * 150 * time.Microsecond})
	}
	cfg := cfgWith(func(c *Config) { c.Workers = 8; c.Listen = 50 })
	for b.Loop() {
		if _, err := Predict(w, cfg, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLinuxSYN(t *testing.T) {
	for _, tt := range []struct {
		retries, linear int
		want            []float64
		giveUp          float64
	}{
		{6, 4, []float64{1, 2, 3, 4, 5, 7}, 11},
		{6, 0, []float64{1, 3, 7, 15, 31, 63}, 127},
		{2, 4, []float64{1, 2}, 3},
		{0, 4, nil, 1},
	} {
		s := LinuxSYN(tt.retries, tt.linear)
		var got []float64
		for _, d := range s.Retries {
			got = append(got, d.Seconds())
		}
		if len(got) != len(tt.want) || s.GiveUp.Seconds() != tt.giveUp {
			t.Errorf("LinuxSYN(%d, %d) = %v give up %v; want %v, %v", tt.retries, tt.linear, got, s.GiveUp, tt.want, tt.giveUp)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("LinuxSYN(%d, %d) = %v; want %v", tt.retries, tt.linear, got, tt.want)
			}
		}
	}
}

// With an accept delay a burst fills the queue before any worker takes a
// connection: unix listen 4 serves the 5 the queue holds, not 5 + 4 (the
// testbed measured 5 of 40), and each wave takes the delay longer.
func TestPredictAcceptDelay(t *testing.T) {
	p, err := Predict(burst(40, 300*time.Millisecond, 0), cfgWith(func(c *Config) { c.Socket, c.Listen, c.AcceptDelay = "unix", 4, 8*time.Millisecond }), 1)
	if err != nil {
		t.Fatal(err)
	}
	if p.Outcomes["ok"] != 5 || p.Outcomes["proxy_refused"] != 35 {
		t.Errorf("outcomes %v: want 5 ok, 35 proxy_refused", p.Outcomes)
	}
	w := burst(40, 300*time.Millisecond, 0)
	p, err = Predict(w, cfgWith(func(c *Config) { c.AcceptDelay = 8 * time.Millisecond }), 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := 10 * 308.0; math.Abs(p.Total.Max-want) > 5 {
		t.Errorf("last wave at %.1f ms, want %.0f", p.Total.Max, want)
	}
	// Fitting finds the delay back from the mean.
	d, err := FitAcceptDelay(w, cfgWith(func(c *Config) {}), time.Duration(p.Total.Mean*float64(time.Millisecond)), 1)
	if err != nil || d < 7500*time.Microsecond || d > 8500*time.Microsecond {
		t.Errorf("FitAcceptDelay = %v, %v; want ≈ 8ms", d, err)
	}
}
