package whatif

import (
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// MaxArrivals bounds a workload: far beyond a test run, well inside memory
// (16 bytes an arrival).
const MaxArrivals = 50_000_000

// Percentiles of a predicted (or measured) distribution, in milliseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

func percentiles(h *hdrhistogram.Histogram) Percentiles {
	if h.TotalCount() == 0 {
		return Percentiles{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Percentiles{Count: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)),
		P99: ms(h.ValueAtQuantile(99)), Max: ms(h.Max()), Mean: h.Mean() / 1000}
}

// EndpointPrediction is one endpoint's predicted client time.
type EndpointPrediction struct {
	Name  string      `json:"name"`
	Total Percentiles `json:"total"`
}

// Prediction is what the model says a setting would give the same traffic.
type Prediction struct {
	Config   Config      `json:"config"`
	Setting  string      `json:"setting"`
	Requests int64       `json:"requests"`
	Total    Percentiles `json:"total"` // client time, intended send to last byte, every request
	// Outcomes counts requests by analyze's outcome classes.
	Outcomes map[string]int64 `json:"outcomes"`
	// Count502 is proxy_refused + worker_killed; Count504 gateway_timeout;
	// Refused the client's connect failures (refused, connect_timeout).
	Count502 int64 `json:"count_502"`
	Count504 int64 `json:"count_504"`
	Refused  int64 `json:"refused"`
	Timeouts int64 `json:"client_timeouts"`
	// Shares of all client time by component (syn_retry, backlog,
	// processing, network, unanswered), as analyze's attribution would show.
	Shares    map[string]float64   `json:"shares"`
	Endpoints []EndpointPrediction `json:"endpoints,omitempty"`
	// Elapsed is how long the simulation itself took.
	Elapsed time.Duration `json:"sim_ns"`
}

// Predict simulates w against cfg. The same workload, setting and seed
// give the same prediction.
func Predict(w *Workload, cfg Config, seed uint64) (*Prediction, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := w.validate(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	s := newSim(w, cfg, seed)
	s.run()
	return s.prediction(time.Since(t0)), nil
}

func (w *Workload) validate() error {
	if len(w.Arrivals) == 0 {
		return fmt.Errorf("the workload holds no requests")
	}
	if len(w.Arrivals) > MaxArrivals {
		return fmt.Errorf("the workload holds %d requests: at most %d", len(w.Arrivals), MaxArrivals)
	}
	if len(w.Endpoints) == 0 || len(w.Endpoints) > MaxEndpoints+1 {
		return fmt.Errorf("%d endpoints: want 1 to %d", len(w.Endpoints), MaxEndpoints+1)
	}
	for _, a := range w.Arrivals {
		if int(a.Endpoint) >= len(w.Endpoints) {
			return fmt.Errorf("an arrival names endpoint %d of %d", a.Endpoint, len(w.Endpoints))
		}
	}
	for _, e := range w.Endpoints {
		if e.Fixed < 0 || e.CPUShare < 0 || e.CPUShare > 1 || e.CPUShare != e.CPUShare {
			return fmt.Errorf("endpoint %q: processing %v, CPU share %v: want ≥ 0 and a share in [0, 1]", e.Name, e.Fixed, e.CPUShare)
		}
	}
	return nil
}

func (s *sim) prediction(elapsed time.Duration) *Prediction {
	p := &Prediction{Config: s.cfg, Setting: s.cfg.String(), Requests: s.answered, Total: percentiles(s.total),
		Outcomes: map[string]int64{}, Shares: map[string]float64{}, Elapsed: elapsed}
	for k, n := range s.outcomes {
		if n > 0 {
			p.Outcomes[outcomeNames[k]] = n
		}
	}
	p.Count502 = s.outcomes[oProxyRefused] + s.outcomes[oWorkerKilled]
	p.Count504 = s.outcomes[oGatewayTimeout]
	p.Refused = s.outcomes[oConnectTimeout]
	p.Timeouts = s.outcomes[oTimeout]
	var sum time.Duration
	for _, d := range s.comps {
		sum += d
	}
	for k, d := range s.comps {
		if sum > 0 {
			p.Shares[compNames[k]] = float64(d) / float64(sum)
		}
	}
	if len(s.byEP) > 1 {
		for i, h := range s.byEP {
			if h.TotalCount() > 0 {
				p.Endpoints = append(p.Endpoints, EndpointPrediction{Name: s.w.Endpoints[i].Name, Total: percentiles(h)})
			}
		}
	}
	return p
}

// FitAcceptDelay finds the accept delay (Config.AcceptDelay) with which
// the model of the measured setting gives the measured mean client time:
// the worker's time per request beyond what the app reports, which the
// server's timing cannot show but the waves of a queue do. The mean grows
// with the delay, so a bisection over [0, 100 ms] takes a dozen
// simulations. A run without queueing says nothing about it: 0.
func FitAcceptDelay(w *Workload, measured Config, measuredMean time.Duration, seed uint64) (time.Duration, error) {
	mean := func(d time.Duration) (float64, error) {
		c := measured
		c.AcceptDelay = d
		p, err := Predict(w, c, seed)
		if err != nil {
			return 0, err
		}
		return p.Total.Mean, nil
	}
	want := float64(measuredMean) / float64(time.Millisecond)
	lo, hi := time.Duration(0), 100*time.Millisecond
	m, err := mean(lo)
	if err != nil || m >= want {
		return 0, err
	}
	if m, err = mean(hi); err != nil || m <= want {
		return hi, err
	}
	for hi-lo > 100*time.Microsecond {
		mid := (lo + hi) / 2
		m, err := mean(mid)
		if err != nil {
			return 0, err
		}
		if m < want {
			lo = mid
		} else {
			hi = mid
		}
	}
	return ((lo + hi) / 2).Round(100 * time.Microsecond), nil
}
