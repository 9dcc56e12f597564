package analyze

import (
	"time"

	"github.com/queuegap/queuegap/loadgen"
)

// synRetrySignature: a connect this slow is SYN retransmits, not RTT. The
// first retry comes after 1 s on Linux; 0.9 s leaves room for rounding.
const synRetrySignature = 900 * time.Millisecond

// upstreamSynSignature: a proxy's upstream connect this slow means its SYN
// to the app was dropped by a full accept queue.
const upstreamSynSignature = 500 * time.Millisecond

// retransmitSignature: Linux's minimum retransmission timeout is 200 ms, so
// a request that took at least that long to reach a server on the same
// network was retransmitted.
const retransmitSignature = 200 * time.Millisecond

// Estimates are the run-wide quantities attribution needs besides the
// request itself: the clock offset interval and the processing baselines
// used when the server reports no queue time. They are computed over the
// whole run (an Estimator fed every result, in any order), so every request
// is attributed against the same baseline, and a results file read back,
// shuffled or merged attributes exactly as the run did.
type Estimates struct {
	Offset OffsetEstimate
	// MinWait is the fastest server wait of a response that carried no
	// timing at all (the processing baseline without server timing); -1
	// when there was none.
	MinWait time.Duration
	// MinNetResidue is the smallest server wait − reported processing of a
	// response with app timing only (the network baseline); -1 when none.
	MinNetResidue time.Duration
}

// Estimator accumulates Estimates. Its state is a handful of minima and
// maxima: order does not matter, and two Estimators merge exactly. The
// zero value is ready to use; it is not safe for concurrent use.
type Estimator struct {
	offset        OffsetEstimator
	minWait       time.Duration // +1: unset, so the zero value works
	minNetResidue time.Duration
	haveWait      bool
	haveResidue   bool
}

// Observe adds one result; runStart maps its offsets to wall time.
func (e *Estimator) Observe(runStart time.Time, r *Result) {
	st := &r.Server
	if st.HasStart && r.FirstByte != 0 {
		e.offset.Observe(runStart, r)
	}
	if r.FirstByte == 0 || st.HasQueue || (st.HasUpstreamHeader && st.HasApp) || (st.HasStart && st.HasApp) {
		return // attributed from what the server reported: no baseline needed
	}
	wait := r.ServerWait() - upstreamSyn(st)
	switch {
	case st.HasApp:
		if residue := max(0, wait-st.App); !e.haveResidue || residue < e.minNetResidue {
			e.minNetResidue, e.haveResidue = residue, true
		}
	case r.Status < 500:
		// Proxy-made 5xx answers never reached the app: they set no baseline.
		if w := max(0, wait); !e.haveWait || w < e.minWait {
			e.minWait, e.haveWait = w, true
		}
	}
}

// Merge adds everything o observed.
func (e *Estimator) Merge(o *Estimator) {
	e.offset.Merge(&o.offset)
	if o.haveWait && (!e.haveWait || o.minWait < e.minWait) {
		e.minWait, e.haveWait = o.minWait, true
	}
	if o.haveResidue && (!e.haveResidue || o.minNetResidue < e.minNetResidue) {
		e.minNetResidue, e.haveResidue = o.minNetResidue, true
	}
}

// Estimates returns what has been observed so far.
func (e *Estimator) Estimates() Estimates {
	est := Estimates{Offset: e.offset.Estimate(), MinWait: -1, MinNetResidue: -1}
	if e.haveWait {
		est.MinWait = e.minWait
	}
	if e.haveResidue {
		est.MinNetResidue = e.minNetResidue
	}
	return est
}

// upstreamSyn is a proxy's upstream connect long enough to be SYN retries.
func upstreamSyn(st *ServerTiming) time.Duration {
	if st.HasUpstreamConnect && st.UpstreamConnect >= upstreamSynSignature {
		return st.UpstreamConnect
	}
	return 0
}

// Attribute splits res's total into components, against run-wide
// estimates; it is a pure function of the two (see README "Attribution
// rules" for the reasoning behind each step). runStart maps offsets to wall
// time for servers that report an absolute receive time.
func Attribute(res *Result, est *Estimates, runStart time.Time) {
	at := &res.Attr
	*at = Attribution{}
	p := &at.Parts
	p[iLag] = res.Lag()

	// Client-side connection setup: SYN retries if the kernel says a SYN
	// was retransmitted (or, without TCP_INFO, if it took ≥ 0.9 s), or if
	// the connect never finished because SYNs went unanswered.
	ready := res.Ready()
	setup := nonNeg(ready - res.Start)
	if res.Error.DuringConnect() {
		setup = nonNeg(res.Done - res.Start)
	}
	if res.SynRetrans > 0 || setup >= synRetrySignature || res.Error == loadgen.ErrConnectTimeout {
		p[iSynRetry] = setup
	} else {
		p[iConnect] = setup
	}

	if res.FirstByte != 0 {
		p[iTransfer] = nonNeg(res.Done - res.FirstByte)
	}

	wait := res.ServerWait()
	st := &res.Server
	upSyn := upstreamSyn(st)
	var handshake, backlog, processing time.Duration
	var recv time.Duration // server receive time on the client's clock, as a run offset
	if st.HasStart {
		var offset time.Duration
		if est.Offset.Known {
			offset = est.Offset.Offset
		}
		recv = st.Start.Add(-offset).Sub(runStart)
		// A request that reached the server long after the client sent it
		// on an established connection had its handshake's final ACK (and
		// data) dropped by a full accept queue and retransmitted: the same
		// overflow as a dropped SYN, seen a step later.
		if gap := recv - ready; gap >= retransmitSignature {
			handshake = gap
		}
	}
	if res.FirstByte != 0 {
		switch {
		case st.HasQueue:
			// The app measured from the proxy's receive time: that
			// includes the proxy's connect to the app (facts.md).
			processing = st.App
			backlog = st.Queue
			if st.HasUpstreamConnect {
				backlog -= st.UpstreamConnect
			}
		case st.HasUpstreamHeader && st.HasApp:
			// nginx: upstream header time = connect + backlog + processing.
			processing = st.App
			backlog = st.UpstreamHeader - st.App
			if st.HasUpstreamConnect {
				backlog -= st.UpstreamConnect
			}
		case st.HasStart && st.HasApp:
			// Absolute receive time: everything from there to the first
			// byte that is not processing was waiting.
			processing = st.App
			backlog = res.FirstByte - recv - st.App - upSyn
		case st.HasApp:
			processing = st.App
			backlog = wait - st.App - upSyn - max(0, est.MinNetResidue)
			at.Estimated = true
		case res.Status < 500 && est.MinWait >= 0:
			// Nothing from the server: the fastest app response of the run
			// is the processing baseline; the rest of the wait is backlog.
			// Proxy-made 5xx answers never reached the app, so they get no
			// baseline (their wait stays network).
			processing = est.MinWait
			backlog = wait - est.MinWait - upSyn
			at.Estimated = true
		}
	}
	backlog = nonNeg(backlog)
	processing = nonNeg(processing)
	// Fit the server-side parts inside what the client saw.
	left := wait
	fit := func(d time.Duration) time.Duration {
		if d > left {
			if d-left > time.Millisecond {
				at.Clamped = true
			}
			d = left
		}
		left -= d
		return d
	}
	p[iSynRetry] += fit(upSyn + handshake)
	p[iProcessing] = fit(processing)
	p[iBacklog] = fit(backlog)
	p[iNetwork] = left
	// Whatever the phases above do not cover (e.g. write time when no
	// byte came back) is network too, so the parts always add up.
	if rest := res.Total() - at.Sum(); rest > 0 {
		p[iNetwork] += rest
	} else if rest < 0 {
		// Rounding between offsets; take it from network first.
		p[iNetwork] = nonNeg(p[iNetwork] + rest)
	}
}
