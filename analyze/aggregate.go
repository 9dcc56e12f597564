package analyze

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/queuegap/queuegap/loadgen"
)

// Histogram range: 1 µs to 1 h at 3 significant digits (≈190 KB each).
const (
	histMinUs   = 1
	histMaxUs   = int64(time.Hour / time.Microsecond)
	histSigFigs = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMinUs, histMaxUs, histSigFigs) }

func recordDur(h *hdrhistogram.Histogram, d time.Duration) {
	us := int64(d / time.Microsecond)
	if us < 0 {
		us = 0
	}
	if us > histMaxUs {
		us = histMaxUs
	}
	_ = h.RecordValue(us)
}

// Phase names of the client-observed phases.
const (
	PhaseConnect = "connect"
	PhaseTTFB    = "ttfb"
	PhaseTotal   = "total"
	PhaseLag     = "lag"
)

// Phases lists the client-observed phases in report order.
var Phases = []string{PhaseConnect, PhaseTTFB, PhaseTotal, PhaseLag}

type outcomeAgg struct {
	count int64
	total *hdrhistogram.Histogram
}

// Aggregator accumulates Results into HDR histograms and counters. Memory
// does not grow with the number of results. It is not safe for concurrent
// use.
type Aggregator struct {
	phases       map[string]*hdrhistogram.Histogram
	components   [numComponents]*hdrhistogram.Histogram
	compSum      [numComponents]time.Duration
	serverQueue  *hdrhistogram.Histogram
	serverApp    *hdrhistogram.Histogram
	outcomes     map[string]*outcomeAgg
	timeline     *Timeline
	groups       map[groupKey]*groupAgg // per (client, name), at most MaxEndpoints (+ OtherLabel)
	lastGroup    *groupAgg
	otherResults int64 // results counted under OtherLabel
	retries      int64

	count, newConns, slotWaits, connWaits, synRetrans, dataRetrans, estimated, clamped int64
	withServerTiming, invalidHeaders                                                   int64
	totalSum                                                                           time.Duration
	firstIntended, lastStart, lastDone                                                 time.Duration
	bytesIn, bytesOut                                                                  int64
	limitErrors, unanswered                                                            int64
	synFront, synProxy                                                                 time.Duration
}

// NewAggregator makes an empty Aggregator; timeline may be nil.
func NewAggregator(timeline *Timeline) *Aggregator {
	a := &Aggregator{
		phases:      make(map[string]*hdrhistogram.Histogram, len(Phases)),
		serverQueue: newHist(),
		serverApp:   newHist(),
		outcomes:    make(map[string]*outcomeAgg),
		timeline:    timeline,
		groups:      make(map[groupKey]*groupAgg),
	}
	for _, p := range Phases {
		a.phases[p] = newHist()
	}
	for i := range a.components {
		a.components[i] = newHist()
	}
	return a
}

// Add accumulates one result.
func (a *Aggregator) Add(r *Result) {
	if a.count == 0 || r.Intended < a.firstIntended {
		a.firstIntended = r.Intended
	}
	a.count++
	if r.Start > a.lastStart {
		a.lastStart = r.Start
	}
	if r.Done > a.lastDone {
		a.lastDone = r.Done
	}
	total := r.Total()
	a.totalSum += total
	if c := r.Connect(); c > 0 {
		recordDur(a.phases[PhaseConnect], c)
		a.newConns++
	}
	if r.FirstByte != 0 {
		recordDur(a.phases[PhaseTTFB], r.TTFB())
	}
	recordDur(a.phases[PhaseTotal], total)
	recordDur(a.phases[PhaseLag], r.Lag())
	for i, d := range r.Attr.Parts {
		recordDur(a.components[i], d)
		a.compSum[i] += d
	}
	if r.Server.HasQueue {
		recordDur(a.serverQueue, r.Server.Queue)
	}
	if r.Server.HasApp {
		recordDur(a.serverApp, r.Server.App)
	}
	if r.Server.Any() {
		a.withServerTiming++
	}
	a.invalidHeaders += int64(r.Server.Invalid)
	o := a.outcomes[r.Outcome]
	if o == nil {
		o = &outcomeAgg{total: newHist()}
		a.outcomes[r.Outcome] = o
	}
	o.count++
	recordDur(o.total, total)
	if r.Error.GeneratorLimit() {
		a.limitErrors++
	}
	if r.FirstByte == 0 && r.Error != loadgen.ErrNone && !r.Error.DuringConnect() {
		a.unanswered++
	}
	a.synFront += r.Attr.SynFront
	a.synProxy += r.Attr.SynProxy
	if r.WaitedSlot {
		a.slotWaits++
	}
	if r.WaitedConn {
		a.connWaits++
	}
	if r.SynRetrans > 0 {
		a.synRetrans++
	}
	if r.Retrans > r.SynRetrans {
		a.dataRetrans++
	}
	if r.Attr.Estimated {
		a.estimated++
	}
	if r.Attr.Clamped {
		a.clamped++
	}
	a.bytesIn += r.BytesIn
	a.bytesOut += r.BytesOut
	if r.Attempt > 0 {
		a.retries++
	}
	a.group(r).add(r, total)
	if a.timeline != nil {
		a.timeline.Add(r)
	}
}

// Count is the number of results added.
func (a *Aggregator) Count() int64 { return a.count }
