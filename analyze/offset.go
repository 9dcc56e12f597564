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
// (queue and app only when reported). The tightest upper bound — the
// minimum of server-receive − client-sent — is the estimate; its distance
// to the tightest lower bound is the uncertainty. On one host it comes out
// ≈ 0 with an uncertainty of about one round trip plus any unreported
// server time.
type OffsetEstimator struct {
	n      int64
	hi, lo time.Duration
}

// consistencySlack absorbs timestamp rounding (headers carry µs) and the
// slew between the monotonic clock and the wall clock within a run.
const consistencySlack = time.Millisecond

// OffsetEstimate is the estimator's current answer.
type OffsetEstimate struct {
	Known       bool
	Samples     int64
	Offset      time.Duration // server − client; positive: the server's clock is ahead
	Uncertainty time.Duration // width of the interval the offset must lie in
	Consistent  bool          // false when the bounds cross: drift, or a server that lies
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
	if o.n == 0 || lo > o.lo {
		o.lo = lo
	}
	o.n++
}

// Estimate returns the offset estimate.
func (o *OffsetEstimator) Estimate() OffsetEstimate {
	if o.n == 0 {
		return OffsetEstimate{}
	}
	return OffsetEstimate{
		Known:   true,
		Samples: o.n,
		Offset:  o.hi,
		// Crossed bounds (within the slack) measure the timestamps'
		// resolution, e.g. nginx's millisecond $msec: report that width.
		Uncertainty: max(o.hi-o.lo, o.lo-o.hi),
		Consistent:  o.lo <= o.hi+consistencySlack,
	}
}

// Merge adds every observation of o.
func (o *OffsetEstimator) Merge(x *OffsetEstimator) {
	if x.n == 0 {
		return
	}
	if o.n == 0 || x.hi < o.hi {
		o.hi = x.hi
	}
	if o.n == 0 || x.lo > o.lo {
		o.lo = x.lo
	}
	o.n += x.n
}

// report is the estimate as summaries show it.
func (e OffsetEstimate) report() ClockOffset {
	if !e.Known {
		return ClockOffset{}
	}
	return ClockOffset{Known: true, OffsetMs: round3(durMs(e.Offset)), UncertaintyMs: round3(durMs(e.Uncertainty)), Samples: e.Samples, Consistent: e.Consistent}
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
