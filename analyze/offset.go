package analyze

import (
	"time"
)

// OffsetEstimator bounds the server clock minus the client clock from
// requests whose server reported an absolute receive time S.
//
// The server received each request after the client began sending it and
// answered before the client saw the first byte, so for every request
//
//	S − sent ≥ offset ≥ S + queue + app − firstByte
//
// (queue and app only when reported). Over a run the bounds tighten to
// hi = offset + the fastest trip there and lo = offset − the fastest trip
// back, so with symmetric delays the offset is the middle of the interval
// and each one-way delay half its width. Across a network that matters: the
// upper bound alone would count the round trip as waiting on the server.
// On one host the interval is about a loopback round trip wide.
type OffsetEstimator struct {
	n      int64
	hi, lo time.Duration
	// served counts requests whose server reported its own time (queue or
	// app): only theirs give a lower bound worth the name. Without any, the
	// lower bound holds all of the server's time and the middle of the
	// interval would be off by half of it, so the upper bound stands alone.
	served int64
}

// consistencySlack absorbs timestamp rounding (headers carry µs) and the
// slew between the monotonic clock and the wall clock within a run.
const consistencySlack = time.Millisecond

// OffsetEstimate is the estimator's current answer.
type OffsetEstimate struct {
	Known       bool
	Samples     int64
	Offset      time.Duration // server − client, the interval's middle; positive: the server's clock is ahead
	Lo, Hi      time.Duration // the interval the offset must lie in
	Uncertainty time.Duration // its width
	// OneWay is the estimated one-way network delay: half the width when
	// the server reported all its time (queue and app), else an upper bound.
	OneWay     time.Duration
	Consistent bool // false when the bounds cross: drift, or a server that lies
}

// Observe adds one request; runStart maps its offsets to wall time.
func (o *OffsetEstimator) Observe(runStart time.Time, r *Result) {
	s := r.Server.Start
	sent := runStart.Add(r.Ready())
	first := runStart.Add(r.FirstByte)
	hi := s.Sub(sent)
	served := time.Duration(0)
	if r.Server.HasQueue {
		served += r.Server.Queue
	}
	if r.Server.HasApp {
		served += r.Server.App
	}
	lo := s.Add(served).Sub(first)
	if o.n == 0 || hi < o.hi {
		o.hi = hi
	}
	if r.Server.HasQueue || r.Server.HasApp {
		if o.served == 0 || lo > o.lo {
			o.lo = lo
		}
		o.served++
	} else if o.served == 0 && (o.n == 0 || lo > o.lo) {
		o.lo = lo
	}
	o.n++
}

// Estimate returns the offset estimate.
func (o *OffsetEstimator) Estimate() OffsetEstimate {
	if o.n == 0 {
		return OffsetEstimate{}
	}
	e := OffsetEstimate{
		Known:   true,
		Samples: o.n,
		Lo:      o.lo,
		Hi:      o.hi,
		Offset:  o.hi,
		// Crossed bounds (within the slack) measure the timestamps'
		// resolution, e.g. nginx's millisecond $msec: report that width.
		Uncertainty: max(o.hi-o.lo, o.lo-o.hi),
		Consistent:  o.lo <= o.hi+consistencySlack,
	}
	if o.served > 0 {
		e.Offset = o.lo + (o.hi-o.lo)/2
		e.OneWay = max(0, (o.hi-o.lo)/2)
	}
	return e
}

// Merge adds every observation of o.
func (o *OffsetEstimator) Merge(x *OffsetEstimator) {
	if x.n == 0 {
		return
	}
	if o.n == 0 || x.hi < o.hi {
		o.hi = x.hi
	}
	switch {
	case x.served > 0 && (o.served == 0 || x.lo > o.lo):
		o.lo = x.lo
	case x.served == 0 && o.served == 0 && (o.n == 0 || x.lo > o.lo):
		o.lo = x.lo
	}
	o.n += x.n
	o.served += x.served
}

// report is the estimate as summaries show it.
func (e OffsetEstimate) report() ClockOffset {
	if !e.Known {
		return ClockOffset{}
	}
	return ClockOffset{Known: true, OffsetMs: round3(durMs(e.Offset)), LoMs: round3(durMs(e.Lo)), HiMs: round3(durMs(e.Hi)),
		UncertaintyMs: round3(durMs(e.Uncertainty)), OneWayMs: round3(durMs(e.OneWay)), Wide: e.Uncertainty > wideOffset,
		Samples: e.Samples, Consistent: e.Consistent}
}

// Info is the estimates as a results file's trailer records them.
func (e *Estimates) Info() *EstimatesInfo {
	info := &EstimatesInfo{Offset: e.Offset.report()}
	if e.MinWait >= 0 {
		v := round3(durMs(e.MinWait))
		info.MinWaitMs = &v
	}
	if e.MinNetResidue >= 0 {
		v := round3(durMs(e.MinNetResidue))
		info.MinResidueMs = &v
	}
	return info
}
