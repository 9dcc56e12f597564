package whatif

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
)

// ReservoirSize bounds the samples kept per endpoint (and for the
// overhead): a uniform sample of any number of requests in 8 × 4096 bytes.
const ReservoirSize = 4096

// MaxEndpoints bounds the endpoints a workload distinguishes; beyond it
// requests share one "(other)" endpoint, as analyze's per-endpoint groups do.
const MaxEndpoints = 200

// Arrival is one request of the workload: when it was meant to be sent
// and which endpoint it asks for.
type Arrival struct {
	At       time.Duration
	Endpoint uint16
}

// Endpoint is one endpoint's processing-time distribution.
type Endpoint struct {
	Name string
	// Samples is a uniform sample of the endpoint's reported processing
	// times (at most ReservoirSize); Fixed replaces it when set.
	Samples []time.Duration
	Fixed   time.Duration
	// Seen counts the processing times offered (Samples is a sample of them).
	Seen int64
	// CPUShare is the part of processing that needs a core (0: I/O wait).
	CPUShare float64
}

// Workload is what a simulation replays.
type Workload struct {
	Arrivals  []Arrival // in non-decreasing At order
	Endpoints []Endpoint
	// Overhead is a sample of what answered requests cost the client beyond
	// the server's time (lag, connect, network, transfer); empty: none.
	Overhead []time.Duration
	// Measured counts the measured run's outcomes (scheduled requests only).
	Measured map[string]int64
	// Skipped says what the Recorder left out, for the report's notes.
	Retries, NoTiming int64
}

// reservoir is Vitter's algorithm R with a seeded generator.
type reservoir struct {
	s    []time.Duration
	seen int64
}

func (r *reservoir) add(rng *rand.Rand, d time.Duration) {
	r.seen++
	if len(r.s) < ReservoirSize {
		r.s = append(r.s, d)
		return
	}
	if j := rng.Int64N(r.seen); j < ReservoirSize {
		r.s[j] = d
	}
}

// Recorder builds a Workload from a measured run's results. Feed it every
// result, attributed (session.ReadOptions.Final); it keeps the arrivals
// and bounded samples. Not safe for concurrent use.
type Recorder struct {
	rng      *rand.Rand
	arrivals []Arrival
	sorted   bool
	index    map[string]int
	names    []string
	procs    []reservoir
	overhead reservoir
	measured map[string]int64
	retries  int64
	noTiming int64
	base     map[string]time.Duration // per run: results files of several runs start at 0 each
}

// NewRecorder makes a Recorder sampling with seed.
func NewRecorder(seed uint64) *Recorder {
	return &Recorder{rng: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)), index: map[string]int{},
		measured: map[string]int64{}, sorted: true}
}

// EndpointName is the name a result's endpoint is known by: client and
// request name as reports show them, "" for a run of one unnamed request.
func EndpointName(client, name string) string {
	switch {
	case client == "":
		return name
	case name == "":
		return client
	}
	return client + "/" + name
}

func (rc *Recorder) endpoint(name string) int {
	if i, ok := rc.index[name]; ok {
		return i
	}
	if len(rc.names) >= MaxEndpoints {
		name = "(other)"
		if i, ok := rc.index[name]; ok {
			return i
		}
	}
	rc.index[name] = len(rc.names)
	rc.names = append(rc.names, name)
	rc.procs = append(rc.procs, reservoir{})
	return len(rc.names) - 1
}

// Add records one result. Retries (Attempt > 0) are not arrivals: they
// depend on the answers, which the simulation changes.
func (rc *Recorder) Add(r *analyze.Result) {
	if r.Attempt > 0 {
		rc.retries++
		return
	}
	rc.measured[r.Outcome]++
	ep := rc.endpoint(EndpointName(r.Client, r.Name))
	if n := len(rc.arrivals); n > 0 && r.Intended < rc.arrivals[n-1].At {
		rc.sorted = false
	}
	rc.arrivals = append(rc.arrivals, Arrival{At: r.Intended, Endpoint: uint16(ep)})
	if !r.Server.HasApp {
		rc.noTiming++
		return
	}
	rc.procs[ep].add(rc.rng, r.Server.App)
	if r.Outcome == analyze.OutcomeOK && !r.FromLog {
		p := r.Attr.Parts
		over := r.Total()
		for _, c := range []string{analyze.CompSynRetry, analyze.CompBacklog, analyze.CompProcessing, analyze.CompClientQueue} {
			over -= p[slices.Index(analyze.Components, c)]
		}
		rc.overhead.add(rc.rng, max(over, 0))
	}
}

// Workload is what was recorded. Endpoints without a single reported
// processing time are an error: there is nothing to simulate them with.
func (rc *Recorder) Workload() (*Workload, error) {
	if len(rc.arrivals) == 0 {
		return nil, fmt.Errorf("no requests to replay (only %d retries)", rc.retries)
	}
	w := &Workload{Arrivals: rc.arrivals, Overhead: rc.overhead.s, Measured: rc.measured, Retries: rc.retries, NoTiming: rc.noTiming}
	if !rc.sorted {
		slices.SortStableFunc(w.Arrivals, func(a, b Arrival) int { return int(a.At - b.At) })
	}
	var missing []string
	for i, n := range rc.names {
		w.Endpoints = append(w.Endpoints, Endpoint{Name: n, Samples: rc.procs[i].s, Seen: rc.procs[i].seen})
		if len(rc.procs[i].s) == 0 {
			missing = append(missing, strconv.Quote(n))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("endpoint %s: no response reported its processing time (Server-Timing app, X-Runtime, …): the model needs the server's own timing", strings.Join(missing, ", "))
	}
	return w, nil
}

// Processing is a fixed processing time for one request name of a
// schedule (FromSchedule).
type Processing struct {
	Time     time.Duration
	CPUShare float64
}

// FromSchedule is the workload of a schedule — a profile client's stages
// and mix — with each request's processing time given (by mix index). The
// mix is picked by weight with a seeded generator, as a run would.
func FromSchedule(s loadgen.Schedule, mix []loadgen.Request, procs []Processing, seed uint64, maxArrivals int) (*Workload, error) {
	if len(mix) == 0 {
		mix = []loadgen.Request{{Weight: 1}}
	}
	if len(procs) != len(mix) {
		return nil, fmt.Errorf("%d processing times for %d requests", len(procs), len(mix))
	}
	w := &Workload{}
	var cum []float64
	total := 0.0
	for i, r := range mix {
		wt := r.Weight
		if wt <= 0 {
			wt = 1
		}
		total += wt
		cum = append(cum, total)
		name := r.Name
		if name == "" {
			name = strconv.Itoa(i)
		}
		if len(mix) == 1 {
			name = r.Name
		}
		w.Endpoints = append(w.Endpoints, Endpoint{Name: name, Fixed: procs[i].Time, CPUShare: procs[i].CPUShare})
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	var err error
	s.Arrivals(func(at time.Duration, n, m int) bool {
		for range n {
			if len(w.Arrivals) >= maxArrivals {
				err = fmt.Errorf("the schedule holds more than %d requests", maxArrivals)
				return false
			}
			ep := m
			if ep < 0 || ep >= len(mix) {
				x := rng.Float64() * total
				ep, _ = slices.BinarySearch(cum, x)
				ep = min(ep, len(mix)-1)
			}
			w.Arrivals = append(w.Arrivals, Arrival{At: at, Endpoint: uint16(ep)})
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if len(w.Arrivals) == 0 {
		return nil, fmt.Errorf("the schedule holds no requests")
	}
	return w, nil
}
