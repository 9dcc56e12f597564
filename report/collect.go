package report

import (
	"math"
	"math/rand/v2"
	"sort"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/queuegap/queuegap/analyze"
)

const (
	// MaxPoints bounds the requests kept for the scatter plot (a uniform
	// reservoir sample): 5 000 dots already cover a chart, and the file
	// stays well under a megabyte per run.
	MaxPoints = 5000
	// maxBuckets bounds the time buckets; when a run needs more the width
	// doubles and neighbours merge. Each bucket holds three coarse HDR
	// histograms (2 significant digits, 26.7 KB each, measured), so a run
	// costs at most ≈10 MB however long it is.
	maxBuckets = 120
	// firstWidth is the starting bucket width: fine enough that a 1 s
	// burst still shows its shape.
	firstWidth = 50 * time.Millisecond
	// maxProbePoints bounds each probe series (value of one probe).
	maxProbePoints = 2000
	// maxOutcomes bounds the outcome names a Run tells apart in the
	// scatter (the outcome classes are a fixed set of about twenty).
	maxOutcomes = 64
	// maxProbeSeries bounds the (probe, value) series kept.
	maxProbeSeries = 64
)

// Histogram range, as analyze's: 1 µs to 1 h.
const (
	histMinUs = 1
	histMaxUs = int64(time.Hour / time.Microsecond)
)

func newHist(sig int) *hdrhistogram.Histogram { return hdrhistogram.New(histMinUs, histMaxUs, sig) }

func record(h *hdrhistogram.Histogram, d time.Duration) {
	us := max(int64(d/time.Microsecond), 0)
	_ = h.RecordValue(min(us, histMaxUs))
}

// Run is one column of the report: one run, or the files read together
// as one. Feed it with Final and Probe (session.ReadOptions' callbacks),
// then Finish it with the summary session.Read returned. It is not safe
// for concurrent use (session.Read calls back from one goroutine).
type Run struct {
	// Name labels the run's column: a file name, or A and B of --compare.
	Name string
	// Summary is the run's summary, set by Finish.
	Summary *analyze.Summary

	width   time.Duration
	buckets []*bucket
	phases  [3]*hdrhistogram.Histogram // total, ttfb, connect over the whole run
	end     time.Duration              // the latest send time, completion or probe sample

	points   []point
	seen     int64 // requests offered to the reservoir
	rng      *rand.Rand
	outcomes []string // outcome names by index
	outIdx   map[string]uint8

	shown *view // the buckets as charted, made on first use after the last Final

	series   []*probeSeries
	seriesIx map[seriesKey]*probeSeries
	dropped  int64 // probe values beyond maxProbeSeries
}

// phase indices into Run.phases and bucket.hist.
const (
	phTotal = iota
	phTTFB
	phConnect
)

var phaseNames = [3]string{analyze.PhaseTotal, analyze.PhaseTTFB, analyze.PhaseConnect}

type bucket struct {
	n     int64
	hist  [3]*hdrhistogram.Histogram // made on first use
	parts [9]time.Duration           // attribution components summed, in analyze.Components order
}

// point is one request of the scatter: its intended send time (s), its
// total (ms) and its outcome. float32 is ample for a chart and halves the
// reservoir.
type point struct {
	at, total float32
	outcome   uint8
}

type seriesKey struct{ probe, value string }

type probeSeries struct {
	probe, kind, value string
	pts                []probePoint
	sorted             bool
}

type probePoint struct {
	at float64 // s
	v  float64
}

// NewRun makes an empty run. The scatter sample is seeded from the name
// so that the same input gives the same report.
func NewRun(name string) *Run {
	var seed uint64 = 14695981039346656037
	for i := 0; i < len(name); i++ {
		seed = (seed ^ uint64(name[i])) * 1099511628211
	}
	r := &Run{Name: name, width: firstWidth, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		outIdx: map[string]uint8{}, seriesIx: map[seriesKey]*probeSeries{}}
	for i := range r.phases {
		r.phases[i] = newHist(3)
	}
	return r
}

// Final takes one attributed result (session.ReadOptions.Final).
func (r *Run) Final(_ *analyze.RunInfo, res *analyze.Result) {
	at := max(res.Intended, 0)
	r.shown = nil
	r.end = max(r.end, at, res.Done)
	b := r.bucket(at)
	b.n++
	total := res.Total()
	r.recordPhase(b, phTotal, total)
	if res.FirstByte != 0 {
		r.recordPhase(b, phTTFB, res.TTFB())
	}
	if c := res.Connect(); c > 0 {
		r.recordPhase(b, phConnect, c)
	}
	for i, d := range res.Attr.Parts {
		b.parts[i] += d
	}
	r.sample(point{at: float32(at.Seconds()), total: float32(float64(total) / float64(time.Millisecond)), outcome: r.outcome(res.Outcome)})
}

func (r *Run) recordPhase(b *bucket, ph int, d time.Duration) {
	record(r.phases[ph], d)
	if b.hist[ph] == nil {
		b.hist[ph] = newHist(2)
	}
	record(b.hist[ph], d)
}

func (r *Run) outcome(name string) uint8 {
	if i, ok := r.outIdx[name]; ok {
		return i
	}
	if len(r.outcomes) >= maxOutcomes {
		name = analyze.OutcomeOther
		if i, ok := r.outIdx[name]; ok {
			return i
		}
	}
	i := uint8(len(r.outcomes))
	r.outcomes = append(r.outcomes, name)
	r.outIdx[name] = i
	return i
}

// sample keeps a uniform sample of at most MaxPoints requests (Vitter's
// algorithm R): every request has the same chance to be drawn, whatever
// the run's length.
func (r *Run) sample(p point) {
	r.seen++
	if len(r.points) < MaxPoints {
		r.points = append(r.points, p)
		return
	}
	if j := r.rng.Int64N(r.seen); j < MaxPoints {
		r.points[j] = p
	}
}

func (r *Run) bucket(at time.Duration) *bucket {
	i := int(at / r.width)
	for i >= maxBuckets {
		r.compact()
		i = int(at / r.width)
	}
	for len(r.buckets) <= i {
		r.buckets = append(r.buckets, nil)
	}
	if r.buckets[i] == nil {
		r.buckets[i] = &bucket{}
	}
	return r.buckets[i]
}

// compact doubles the bucket width, merging neighbours (HDR merges are
// exact).
func (r *Run) compact() {
	merged := make([]*bucket, (len(r.buckets)+1)/2)
	for i, b := range r.buckets {
		if b == nil {
			continue
		}
		m := merged[i/2]
		if m == nil {
			merged[i/2] = b
			continue
		}
		m.n += b.n
		for k := range m.parts {
			m.parts[k] += b.parts[k]
		}
		for k, h := range b.hist {
			switch {
			case h == nil:
			case m.hist[k] == nil:
				m.hist[k] = h
			default:
				m.hist[k].Merge(h)
			}
		}
	}
	r.buckets = merged
	r.width *= 2
}

// notCharted are probe values that are settings, not readings: drawn on
// the queue's axis they would flatten it (somaxconn is thousands). The
// summary's probe table and its warnings (the somaxconn cap) show them.
var notCharted = map[string]bool{"somaxconn": true, "expected_backlog": true}

// Probe takes one probe sample (session.ReadOptions.Probe).
func (r *Run) Probe(_ *analyze.RunInfo, s *analyze.ProbeSample) {
	at := max(s.At, 0)
	r.end = max(r.end, at)
	for _, v := range s.Values {
		if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
			continue // not a reading a chart can place
		}
		if notCharted[v.Name] {
			continue
		}
		k := seriesKey{s.Probe, v.Name}
		ps := r.seriesIx[k]
		if ps == nil {
			if len(r.series) >= maxProbeSeries {
				r.dropped++
				continue
			}
			ps = &probeSeries{probe: s.Probe, kind: s.Kind, value: v.Name, sorted: true}
			r.series = append(r.series, ps)
			r.seriesIx[k] = ps
		}
		ps.add(probePoint{at: at.Seconds(), v: v.Value})
	}
}

func (ps *probeSeries) add(p probePoint) {
	if n := len(ps.pts); n > 0 && p.at < ps.pts[n-1].at {
		ps.sorted = false
	}
	ps.pts = append(ps.pts, p)
	if len(ps.pts) >= maxProbePoints {
		ps.thin()
	}
}

// thin halves a series, keeping the larger of each pair of neighbours: a
// listen queue that spiked for one sample must still show its spike.
func (ps *probeSeries) thin() {
	ps.sort()
	out := ps.pts[:0]
	for i := 0; i < len(ps.pts); i += 2 {
		p := ps.pts[i]
		if i+1 < len(ps.pts) && ps.pts[i+1].v > p.v {
			p.v = ps.pts[i+1].v
		}
		out = append(out, p)
	}
	ps.pts = out
}

func (ps *probeSeries) sort() {
	if !ps.sorted {
		sort.SliceStable(ps.pts, func(i, j int) bool { return ps.pts[i].at < ps.pts[j].at })
		ps.sorted = true
	}
}

// Finish attaches the run's summary (what session.Read returned).
func (r *Run) Finish(sum *analyze.Summary) {
	r.Summary = sum
	for _, ps := range r.series {
		ps.sort()
	}
}

// Requests is how many results the run took.
func (r *Run) Requests() int64 { return r.seen }
