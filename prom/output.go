package prom

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/session"
)

// DefaultMaxPairs bounds the distinct (client, name) label pairs of
// queuegap_requests_total: a mix replayed from an access log can name
// thousands of requests, and every pair is ~20 series (one per outcome).
const DefaultMaxPairs = 200

// OtherName is the name label a (client, name) pair beyond MaxPairs is
// counted under.
const OtherName = "(other)"

// maxProbeSeries bounds queuegap_probe_value: probes come from the plan and
// their value names from package probe, so this is a guard, not a limit a
// real run meets.
const maxProbeSeries = 1024

// Buckets are the classic histogram buckets, in seconds: 100 µs to 60 s,
// 1-2.5-5 steps, which cover a fast keep-alive request and the SYN-retry
// waves (1 s, 3 s, 7 s…) alike. The native histograms beside them are what
// percentiles should be read from (≈ 9 % resolution everywhere).
var Buckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60}

// nativeFactor: client_golang picks the largest schema whose bucket growth
// is ≤ this; 1.1 gives schema 3 (2^(1/8) ≈ 1.09), ≈ 4.5 % relative error
// at most in a quantile estimate from the bucket middle.
const nativeFactor = 1.1

// Options shape an Output.
type Options struct {
	// Progress returns the run's live progress (session.Session.Progress:
	// nil until the run has started). It is read at scrape time only.
	Progress func() *loadgen.Progress
	// MaxPairs bounds distinct (client, name) pairs (DefaultMaxPairs if 0);
	// further pairs are counted under name="(other)".
	MaxPairs int
	// NoProcessMetrics leaves out the Go runtime and process collectors
	// (go_*, process_*: queuegap's own CPU and memory).
	NoProcessMetrics bool
}

// Output is the live metrics of one run: a session.ProbeOutput serving its
// own registry. Add and Probe are called one at a time (session's
// contract), so the label caches need no lock; scrapes only read
// client_golang's own synchronised metrics.
type Output struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	phases   [4]prometheus.Histogram // connect, ttfb, total, lag
	comps    []prometheus.Histogram  // analyze.Components order
	maxPairs int
	pairs    map[pairKey]*pairCounters
	nPairs   int // pairs that are not a client's "(other)"
	outcome  map[string]int
	outcomes []string
	otherIdx int

	probes      *prometheus.GaugeVec
	probeSeries map[probeKey]prometheus.Gauge
	probeDrops  prometheus.Counter

	runInfo  *prometheus.GaugeVec
	started  prometheus.Gauge
	done     prometheus.Gauge
	endTime  prometheus.Gauge
	meanRate prometheus.Gauge
	planned  prometheus.Gauge
	notSent  prometheus.Gauge
	elapsed  prometheus.Gauge
	sendWin  prometheus.Gauge
}

type pairKey struct{ client, name string }

// pairCounters are one pair's counters, indexed like Output.outcomes and
// resolved on first use.
type pairCounters struct {
	client, name string
	byOutcome    []prometheus.Counter
}

type probeKey struct{ probe, kind, name string }

var _ session.ProbeOutput = (*Output)(nil)

func histogramOpts(name, help string) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{
		Name:    name,
		Help:    help,
		Buckets: Buckets,
		// Native histograms beside the classic buckets: Prometheus ingests
		// them when it scrapes protobuf (--enable-feature=native-histograms
		// on 2.x); text-format scrapers keep seeing the classic buckets.
		NativeHistogramBucketFactor:     nativeFactor,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: time.Hour,
	}
}

// New makes the Output and registers every series on a registry of its
// own.
func New(opt Options) *Output {
	o := &Output{
		reg:         prometheus.NewRegistry(),
		maxPairs:    opt.MaxPairs,
		pairs:       make(map[pairKey]*pairCounters),
		outcome:     make(map[string]int),
		outcomes:    analyze.Outcomes(),
		probeSeries: make(map[probeKey]prometheus.Gauge),
	}
	if o.maxPairs <= 0 {
		o.maxPairs = DefaultMaxPairs
	}
	for i, oc := range o.outcomes {
		o.outcome[oc] = i
		if oc == analyze.OutcomeOther {
			o.otherIdx = i
		}
	}
	o.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "queuegap_requests_total",
		Help: "Requests completed, by outcome (ok, http_5xx, connect_timeout…), request name and client (name=\"(other)\" beyond the label bound).",
	}, []string{"outcome", "name", "client"})
	phases := prometheus.NewHistogramVec(histogramOpts("queuegap_phase_seconds",
		"Client-observed time per phase, from the intended send time: connect (new connections), ttfb (answered requests), total, lag (the generator's own send lag)."),
		[]string{"phase"})
	for i, ph := range analyze.Phases {
		o.phases[i] = phases.WithLabelValues(ph).(prometheus.Histogram)
	}
	comps := prometheus.NewHistogramVec(histogramOpts("queuegap_attribution_seconds",
		"Each request's total split into components (they add up to the total): lag, client_queue, connect, syn_retry, backlog, processing, network, unanswered, transfer. Live, provisional estimates."),
		[]string{"component"})
	for _, c := range analyze.Components {
		o.comps = append(o.comps, comps.WithLabelValues(c).(prometheus.Histogram))
	}
	o.probes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "queuegap_probe_value",
		Help: "The latest sample of each server-side probe value (--probe), in base units: a count, a ratio, bytes.",
	}, []string{"probe", "kind", "name"})
	o.probeDrops = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "queuegap_probe_values_dropped_total",
		Help: "Probe values not exported because queuegap_probe_value reached its series bound.",
	})
	o.runInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "queuegap_run_info",
		Help: "1, labelled with the run's ID, engine and connection mode.",
	}, []string{"run_id", "engine", "conn_mode"})
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		o.reg.MustRegister(g)
		return g
	}
	o.started = gauge("queuegap_run_start_timestamp_seconds", "When the run started (Unix time).")
	o.endTime = gauge("queuegap_run_end_timestamp_seconds", "When the run ended (Unix time); 0 while it runs.")
	o.done = gauge("queuegap_run_done", "1 once the run has ended and every value here is final.")
	o.meanRate = gauge("queuegap_schedule_mean_requests_per_second", "The schedule's mean rate (from the plan, never from what was sent).")
	o.planned = gauge("queuegap_planned_requests", "Requests the schedule holds (-1: a statistical schedule).")
	o.notSent = gauge("queuegap_not_sent_requests", "Requests scheduled but never sent (the run was interrupted); set at the end.")
	o.elapsed = gauge("queuegap_run_elapsed_seconds", "Start to last completion; set at the end.")
	o.sendWin = gauge("queuegap_run_send_window_seconds", "The schedule's length, or the last send if later; set at the end.")
	o.reg.MustRegister(o.requests, phases, comps, o.probes, o.probeDrops, o.runInfo)
	if opt.Progress != nil {
		o.reg.MustRegister(&progressCollector{progress: opt.Progress})
	}
	if !opt.NoProcessMetrics {
		o.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return o
}

// Handler serves /metrics from the Output's registry (text, OpenMetrics or
// protobuf, as the scraper asks; protobuf carries the native histograms).
func (o *Output) Handler() http.Handler {
	return promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{
		Registry:          o.reg, // promhttp_metric_handler_errors_total
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.ContinueOnError,
	})
}

// Start records the run's identity and plan.
func (o *Output) Start(info *analyze.RunInfo) error {
	o.runInfo.WithLabelValues(info.RunID, info.Engine, info.ConnMode).Set(1)
	o.started.Set(float64(info.Start.UnixNano()) / 1e9)
	o.meanRate.Set(info.Rate)
	o.planned.Set(float64(info.Planned))
	return nil
}

// Add counts one result. It allocates only for a (client, name, outcome)
// it has not seen before.
func (o *Output) Add(r *analyze.Result) error {
	pc := o.pair(r.Client, r.Name)
	i, ok := o.outcome[r.Outcome]
	if !ok {
		i = o.otherIdx // classify returns only listed outcomes; a guard
	}
	c := pc.byOutcome[i]
	if c == nil {
		c = o.requests.WithLabelValues(o.outcomes[i], pc.name, pc.client)
		pc.byOutcome[i] = c
	}
	c.Inc()
	// The same phases, under the same conditions, as analyze.Aggregator:
	// counts here equal the summary's.
	if d := r.Connect(); d > 0 {
		o.phases[0].Observe(d.Seconds())
	}
	if r.FirstByte != 0 {
		o.phases[1].Observe(r.TTFB().Seconds())
	}
	o.phases[2].Observe(r.Total().Seconds())
	o.phases[3].Observe(r.Lag().Seconds())
	for i, d := range r.Attr.Parts {
		o.comps[i].Observe(d.Seconds())
	}
	return nil
}

// pair finds (or makes) the counters of a (client, name), folding names
// beyond maxPairs into the client's "(other)".
func (o *Output) pair(client, name string) *pairCounters {
	if pc := o.pairs[pairKey{client, name}]; pc != nil {
		return pc
	}
	if o.nPairs >= o.maxPairs {
		k := pairKey{client, OtherName}
		pc := o.pairs[k]
		if pc == nil {
			pc = &pairCounters{client: client, name: OtherName, byOutcome: make([]prometheus.Counter, len(o.outcomes))}
			o.pairs[k] = pc
		}
		return pc
	}
	o.nPairs++
	pc := &pairCounters{client: client, name: name, byOutcome: make([]prometheus.Counter, len(o.outcomes))}
	o.pairs[pairKey{client, name}] = pc
	return pc
}

// Probe sets the latest value of each of the sample's values.
func (o *Output) Probe(s *analyze.ProbeSample) error {
	for _, v := range s.Values {
		k := probeKey{s.Probe, s.Kind, v.Name}
		g := o.probeSeries[k]
		if g == nil {
			if len(o.probeSeries) >= maxProbeSeries {
				o.probeDrops.Inc()
				continue
			}
			g = o.probes.WithLabelValues(s.Probe, s.Kind, v.Name)
			o.probeSeries[k] = g
		}
		g.Set(v.Value)
	}
	return nil
}

// Close records how the run ended; from here every value is final.
func (o *Output) Close(info *analyze.RunInfo) error {
	o.notSent.Set(float64(info.NotSent))
	o.elapsed.Set(info.Elapsed.Seconds())
	o.sendWin.Set(info.SendWindow.Seconds())
	o.endTime.Set(float64(time.Now().UnixNano()) / 1e9)
	o.done.Set(1)
	return nil
}

// progressCollector reads loadgen's atomics at scrape time, so the hot
// path pays nothing for them.
type progressCollector struct {
	progress func() *loadgen.Progress
}

var (
	descScheduled = prometheus.NewDesc("queuegap_scheduled_requests_total",
		"Requests whose intended send time has come (retries included): the schedule's rate is rate() of this.", nil, nil)
	descSent = prometheus.NewDesc("queuegap_sent_requests_total",
		"Requests actually started: the achieved rate is rate() of this.", nil, nil)
	descCompleted = prometheus.NewDesc("queuegap_completed_requests_total",
		"Requests finished, with or without a response (loadgen's count; queuegap_requests_total breaks it down).", nil, nil)
	descSlotWaits = prometheus.NewDesc("queuegap_slot_waits_total",
		"Requests that waited for an in-flight slot (--max-inflight).", nil, nil)
	descInFlight = prometheus.NewDesc("queuegap_in_flight_requests",
		"Requests started and not finished.", nil, nil)
	descMaxInFlight = prometheus.NewDesc("queuegap_max_in_flight_requests",
		"The in-flight bound (--max-inflight), summed over clients.", nil, nil)
	descOldest = prometheus.NewDesc("queuegap_oldest_in_flight_seconds",
		"Age of the oldest unfinished request, from its intended send time; 0 when none is in flight.", nil, nil)
)

func (c *progressCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descScheduled, descSent, descCompleted, descSlotWaits, descInFlight, descMaxInFlight, descOldest} {
		ch <- d
	}
}

func (c *progressCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.progress()
	if p == nil {
		return // not started yet: absent rather than a misleading 0
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(descScheduled, p.Scheduled.Load())
	counter(descSent, p.Started.Load())
	counter(descCompleted, p.Completed.Load())
	counter(descSlotWaits, p.SlotWaits.Load())
	gauge(descInFlight, float64(p.InFlight()))
	gauge(descMaxInFlight, float64(p.MaxInflight.Load()))
	age, _ := p.OldestAge()
	gauge(descOldest, age.Seconds())
}
