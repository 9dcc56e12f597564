package whatif

import (
	"fmt"
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Autoscaling policies.
const (
	PolicyCPU         = "cpu"         // Kubernetes HPA on CPU utilisation
	PolicyConcurrency = "concurrency" // KEDA HTTP add-on: requests in flight
)

// Policy is an autoscaler.
type Policy struct {
	Kind string `json:"kind"`
	// TargetCPU is the HPA's target average utilisation (0.7 = 70 % of
	// each replica's cores); TargetValue the KEDA HTTP add-on's in-flight
	// requests per replica: desired = ceil(in flight ÷ TargetValue).
	TargetCPU   float64 `json:"target_cpu,omitempty"`
	TargetValue float64 `json:"target_value,omitempty"`
	Min         int     `json:"min"`
	Max         int     `json:"max"`
	// Interval is how often the metric is read and the decision made (the
	// HPA's sync period, 15 s); ScaleUpDelay from the decision to the new
	// replica taking traffic (pod start and readiness); ScaleDownAfter the
	// stabilisation window: a replica goes only when every decision over
	// it wanted fewer (the HPA's default: 5 min).
	Interval       time.Duration `json:"interval_ns"`
	ScaleUpDelay   time.Duration `json:"scale_up_delay_ns"`
	ScaleDownAfter time.Duration `json:"scale_down_after_ns"`
}

// DefaultPolicy is kind with the defaults of Kubernetes and KEDA: 70 % CPU
// or targetValue 100 (the HTTPScaledObject v1alpha1 default — far above a
// prefork app's concurrency), 1 to 10 replicas, decisions every 15 s, a
// replica ready 10 s after it is asked for, scale-down after 5 minutes.
func DefaultPolicy(kind string) Policy {
	p := Policy{Kind: kind, Min: 1, Max: 10, Interval: 15 * time.Second, ScaleUpDelay: 10 * time.Second, ScaleDownAfter: 5 * time.Minute}
	if kind == PolicyCPU {
		p.TargetCPU = 0.7
	} else {
		p.TargetValue = 100
	}
	return p
}

// Validate reports the first problem with p, as one line.
func (p Policy) Validate(cfg Config) error {
	switch {
	case p.Kind != PolicyCPU && p.Kind != PolicyConcurrency:
		return fmt.Errorf("policy %q: want cpu or concurrency", p.Kind)
	case p.Kind == PolicyCPU && !(p.TargetCPU > 0 && p.TargetCPU <= 1):
		return fmt.Errorf("target CPU %v: want a fraction in (0, 1]", p.TargetCPU)
	case p.Kind == PolicyCPU && !(cfg.Cores > 0):
		return fmt.Errorf("a CPU autoscaler needs the replicas' cores (--cores): utilisation is CPU used ÷ cores")
	case p.Kind == PolicyConcurrency && !(p.TargetValue > 0 && p.TargetValue < 1e9):
		return fmt.Errorf("targetValue %v: want > 0", p.TargetValue)
	case p.Min < 1 || p.Max < p.Min || p.Max > 10000:
		return fmt.Errorf("replicas %d to %d: want 1 ≤ min ≤ max ≤ 10000", p.Min, p.Max)
	case p.Interval < 100*time.Millisecond || p.Interval > time.Hour:
		return fmt.Errorf("interval %v: want 100ms to 1h", p.Interval)
	case p.ScaleUpDelay < 0 || p.ScaleUpDelay > time.Hour || p.ScaleDownAfter < 0 || p.ScaleDownAfter > 24*time.Hour:
		return fmt.Errorf("scale-up delay %v, scale-down window %v: want 0 to 1h, 0 to 24h", p.ScaleUpDelay, p.ScaleDownAfter)
	}
	return nil
}

func (p Policy) String() string {
	if p.Kind == PolicyCPU {
		return fmt.Sprintf("cpu %.0f%%", 100*p.TargetCPU)
	}
	return fmt.Sprintf("concurrency targetValue %g", p.TargetValue)
}

// Point is one interval of an autoscaling timeline: a plain struct for
// tables and charts.
type Point struct {
	T        time.Duration `json:"t_ns"`     // interval start, from the first arrival
	Arrivals int64         `json:"arrivals"` // requests arriving in it
	Rate     float64       `json:"rate"`     // of them, per second
	Replicas int           `json:"replicas"` // taking traffic at its end
	Desired  int           `json:"desired"`  // what the last decision in it asked for
	InFlight float64       `json:"in_flight"`
	CPU      float64       `json:"cpu"` // mean utilisation of the replicas taking traffic (of their cores)
	P50Ms    float64       `json:"p50_ms"`
	P99Ms    float64       `json:"p99_ms"` // client time of the requests arriving in it
	Errors   int64         `json:"errors"` // of them, not ok
}

// AutoscaleResult is one policy over the workload's timeline.
type AutoscaleResult struct {
	Policy      Policy           `json:"policy"`
	Setting     string           `json:"policy_text"`
	Total       Percentiles      `json:"total"`
	Outcomes    map[string]int64 `json:"outcomes"`
	MaxReplicas int              `json:"max_replicas"`
	// ReplicaSeconds is the cost: replicas taking traffic, integrated.
	ReplicaSeconds float64 `json:"replica_seconds"`
	Timeline       []Point `json:"timeline"`
}

// MaxTimeline bounds a timeline's intervals (the bucket widens past it).
const MaxTimeline = 2000

// Autoscale runs the workload against replicas of cfg that p adds and
// removes, and reports the timeline in intervals of bucket.
func Autoscale(w *Workload, cfg Config, p Policy, bucket time.Duration, seed uint64) (*AutoscaleResult, error) {
	if err := w.validate(); err != nil {
		return nil, err
	}
	cfg.Replicas = p.Min
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := p.Validate(cfg); err != nil {
		return nil, err
	}
	span := w.Arrivals[len(w.Arrivals)-1].At - w.Arrivals[0].At
	if bucket <= 0 {
		bucket = 10 * time.Second
	}
	for span/bucket >= MaxTimeline {
		bucket *= 2
	}
	origin := w.Arrivals[0].At
	n := int(span/bucket) + 1
	type acc struct {
		h                 *hdrhistogram.Histogram
		errors            int64
		inflight, cpu     float64
		samples, cpuCount int
		replicas, desired int
	}
	accs := make([]acc, n)
	for i := range accs {
		accs[i].h = hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 2)
	}
	at := func(t time.Duration) int { return min(max(int((t-origin)/bucket), 0), n-1) }

	s := newSim(w, cfg, seed)
	res := &AutoscaleResult{Policy: p, Setting: p.String(), Outcomes: map[string]int64{}}
	s.onAnswer = func(arr, total time.Duration, outcome int) {
		a := &accs[at(arr)]
		_ = a.h.RecordValue(max(int64(total/time.Microsecond), 1))
		if outcome != oOK {
			a.errors++
		}
	}
	spec := p.Min                 // replicas asked for (ready or starting)
	var wanted []int              // decisions within the scale-down window
	lastCPU := make([]float64, 0) // per replica: cpuUsed at the last tick
	lastT := time.Duration(0)
	s.onTick = func(s *sim) (time.Duration, bool) {
		ready, util := 0, 0.0
		for i, r := range s.reps {
			s.cpuAdvance(r)
			for len(lastCPU) <= i {
				lastCPU = append(lastCPU, r.cpuUsed)
			}
			if r.ready && !r.draining {
				ready++
				if s.now > lastT {
					util += (r.cpuUsed - lastCPU[i]) / (cfg.Cores * float64(s.now-lastT))
				}
			}
			lastCPU[i] = r.cpuUsed
		}
		if ready > 0 {
			util /= float64(ready)
		}
		desired := spec
		switch p.Kind {
		case PolicyCPU:
			// The HPA: ceil(current × utilisation ÷ target), ignored within 10 % of the target.
			if s.now > lastT && ready > 0 && math.Abs(util/p.TargetCPU-1) > 0.1 {
				desired = int(math.Ceil(float64(ready) * util / p.TargetCPU))
			}
		case PolicyConcurrency:
			desired = int(math.Ceil(float64(s.inflight) / p.TargetValue))
		}
		desired = min(max(desired, p.Min), p.Max)
		lastT = s.now
		keep := max(1, int(p.ScaleDownAfter/p.Interval)+1)
		wanted = append(wanted, desired)
		if len(wanted) > keep {
			wanted = wanted[len(wanted)-keep:]
		}
		switch {
		case desired > spec:
			for range desired - spec {
				i := s.addReplica(false)
				s.push(event{t: s.now + p.ScaleUpDelay, kind: evReady, id: int32(i)})
			}
			spec = desired
		case desired < spec:
			floor := desired
			for _, d := range wanted {
				floor = max(floor, d)
			}
			// The newest replicas go first; they finish what they hold.
			for i := len(s.reps) - 1; i >= 0 && spec > floor; i-- {
				if r := s.reps[i]; !r.draining {
					r.draining = true
					spec--
				}
			}
		}
		res.ReplicaSeconds += float64(ready) * p.Interval.Seconds()
		res.MaxReplicas = max(res.MaxReplicas, ready)
		if s.now >= origin {
			a := &accs[at(s.now)]
			a.replicas = ready
			a.inflight += float64(s.inflight)
			a.samples++
			if ready > 0 {
				a.cpu += util
				a.cpuCount++
			}
			a.desired = desired
		}
		return p.Interval, true
	}
	s.run()
	res.Total = percentiles(s.total)
	for k, v := range s.outcomes {
		if v > 0 {
			res.Outcomes[outcomeNames[k]] = v
		}
	}
	last := Point{Replicas: p.Min, Desired: p.Min}
	for i := range accs {
		a := &accs[i]
		pt := Point{T: time.Duration(i) * bucket, Arrivals: a.h.TotalCount(), Errors: a.errors, Desired: a.desired, Replicas: a.replicas}
		if a.samples == 0 { // no decision in this interval: as before
			pt.Desired, pt.Replicas, pt.CPU, pt.InFlight = last.Desired, last.Replicas, last.CPU, last.InFlight
		}
		pt.Rate = float64(pt.Arrivals) / bucket.Seconds()
		if a.h.TotalCount() > 0 {
			pt.P50Ms = float64(a.h.ValueAtQuantile(50)) / 1000
			pt.P99Ms = float64(a.h.ValueAtQuantile(99)) / 1000
		}
		if a.samples > 0 {
			pt.InFlight = a.inflight / float64(a.samples)
		}
		if a.cpuCount > 0 {
			pt.CPU = a.cpu / float64(a.cpuCount)
		}
		res.Timeline = append(res.Timeline, pt)
		last = pt
	}
	return res, nil
}

// Recommendation is what Recommend found.
type Recommendation struct {
	// TargetValue is the largest targetValue (fewest replicas) whose
	// client p99 stays within twice the processing time's p99.
	TargetValue float64 `json:"target_value"`
	// Slots is workers × threads: above it a replica's in-flight requests
	// wait in its backlog before the autoscaler sees a reason to act.
	Slots int `json:"slots"`
	// Workers is how many workers a replica's cores carry before the CPU
	// target is reached with every worker busy (0: I/O-bound, no CPU
	// limit); more workers per replica are nearly free for an I/O-bound app.
	Workers int `json:"workers,omitempty"`
	// Tried are the concurrency policies simulated, best first.
	Tried    []*AutoscaleResult `json:"tried"`
	BoundMs  float64            `json:"p99_bound_ms"`
	Achieved bool               `json:"achieved"` // some targetValue met the bound
}

// Recommend simulates the concurrency policy p for targetValues around
// workers × threads (2, 1.5, 1, 0.75 and 0.5 times it) and picks the
// largest that keeps clients' p99 within twice the processing p99.
func Recommend(w *Workload, cfg Config, p Policy, bucket time.Duration, seed uint64) (*Recommendation, error) {
	slots := cfg.Workers * cfg.Threads
	rec := &Recommendation{Slots: slots}
	var procP99, cpuTime, procTime float64
	means := make([]float64, len(w.Endpoints))
	for i, e := range w.Endpoints {
		means[i] = float64(e.Fixed)
		if len(e.Samples) > 0 {
			means[i] = 0
			for _, d := range e.Samples {
				means[i] += float64(d) / float64(len(e.Samples))
			}
		}
		pp := float64(e.Fixed)
		if len(e.Samples) > 0 {
			h := hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 2)
			for _, d := range e.Samples {
				_ = h.RecordValue(max(int64(d/time.Microsecond), 1))
			}
			pp = float64(h.ValueAtQuantile(99)) * float64(time.Microsecond)
		}
		procP99 = max(procP99, pp)
	}
	for _, a := range w.Arrivals {
		procTime += means[a.Endpoint]
		cpuTime += means[a.Endpoint] * w.Endpoints[a.Endpoint].CPUShare
	}
	rec.BoundMs = 2 * procP99 / float64(time.Millisecond)
	if cpuTime > 0 && cfg.Cores > 0 {
		// A busy worker computes this share of its time: at the HPA's 70 % the cores carry
		// 0.7 × cores ÷ share of them.
		rec.Workers = max(1, int(0.7*cfg.Cores/(cpuTime/procTime)/float64(cfg.Threads)+1e-9))
	}
	seen := map[float64]bool{}
	for _, k := range []float64{2, 1.5, 1, 0.75, 0.5} {
		tv := max(1, math.Round(k*float64(slots)))
		if seen[tv] {
			continue
		}
		seen[tv] = true
		pp := p
		pp.Kind, pp.TargetValue = PolicyConcurrency, tv
		r, err := Autoscale(w, cfg, pp, bucket, seed)
		if err != nil {
			return nil, err
		}
		rec.Tried = append(rec.Tried, r)
		if !rec.Achieved && r.Total.P99 <= rec.BoundMs {
			rec.TargetValue, rec.Achieved = tv, true
		}
	}
	if !rec.Achieved {
		rec.TargetValue = rec.Tried[len(rec.Tried)-1].Policy.TargetValue
	}
	return rec, nil
}
