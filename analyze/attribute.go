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
	// response with app timing only (the network baseline: the round trip
	// of a request that did not queue); -1 when none. Every other request's
	// network jitter counts as its backlog: with app timing alone nothing
	// else can tell them apart.
	MinNetResidue time.Duration
}

// Estimator accumulates Estimates. Its state is a handful of minima and
// maxima: order does not matter, and two Estimators merge exactly. The
// zero value is ready to use; it is not safe for concurrent use.
type Estimator struct {
	offset        OffsetEstimator
	minWait       time.Duration
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
	wait := r.ServerWait() - upstreamSyn(st) - frontSyn(st, r.Status, r.ServerWait())
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

// frontSyn is a front tier's connect to the proxy long enough to be SYN
// retries (the ALB's connect to nginx). A front-made 504 that reached no
// proxy at all (no proxy headers, the front's connect time "-") spent its
// whole wait connecting: that is the field report's 10 s.
func frontSyn(st *ServerTiming, status int, wait time.Duration) time.Duration {
	switch {
	case st.HasFrontConnect && st.FrontConnect >= upstreamSynSignature:
		return st.FrontConnect
	case st.FrontTier && !st.HasFrontConnect && status == 504 && !st.HasUpstreamConnect && !st.HasUpstreamHeader && wait >= upstreamSynSignature:
		return wait
	}
	return 0
}

// wideOffset: an offset interval wider than this says nothing useful about
// where a request's time went (no request was answered fast enough to pin
// the clocks): attributions that map the server's absolute times with it
// are flagged as estimates. 200 ms is above any round trip within a region.
const wideOffset = 200 * time.Millisecond

// Attribute splits res's total into components, against run-wide
// estimates; it is a pure function of the two (see README "Attribution
// rules" for the reasoning behind each step). runStart maps offsets to wall
// time for servers that report an absolute receive time.
func Attribute(res *Result, est *Estimates, runStart time.Time) {
	at := &res.Attr
	*at = Attribution{}
	p := &at.Parts
	if res.FromLog {
		// A log has the server's total and, at best, the backend's part:
		// that is processing, the proxy's rest network. Without it the
		// whole logged time is the server's own.
		total := res.Total()
		p[iProcessing] = total
		if res.Server.HasApp {
			p[iProcessing] = min(res.Server.App, total)
		}
		p[iNetwork] = total - p[iProcessing]
		at.Estimated = true
		return
	}
	p[iLag] = res.Lag()
	p[iClientQueue] = res.ClientQueue()

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
	frSyn := frontSyn(st, res.Status, wait)
	var handshake, backlog, processing time.Duration
	var recv time.Duration // server receive time on the client's clock, as a run offset
	oneWay := time.Duration(0)
	if st.HasStart {
		off := est.Offset
		if off.Known {
			oneWay = off.OneWay
		}
		recv = st.Start.Add(-off.Offset).Sub(runStart)
		// A request that reached the server long after the client sent it
		// on an established connection had its handshake's final ACK (and
		// data) dropped by a full accept queue and retransmitted: the same
		// overflow as a dropped SYN, seen a step later. The trip there is
		// network, not overflow.
		if gap := recv - ready - oneWay; gap >= retransmitSignature {
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
			// Absolute receive time, mapped to the client's clock: what is
			// not processing between it and the first byte — less the trip
			// back, which is network — was waiting.
			processing = st.App
			backlog = res.FirstByte - recv - st.App - upSyn - oneWay
			at.Estimated = !est.Offset.Known || est.Offset.Uncertainty > wideOffset
		case st.HasApp:
			processing = st.App
			backlog = wait - st.App - upSyn - frSyn - max(0, est.MinNetResidue)
			at.Estimated = true
		case res.Status < 500 && est.MinWait >= 0:
			// Nothing from the server: the fastest app response of the run
			// is the processing baseline; the rest of the wait is backlog.
			// Proxy-made 5xx answers never reached the app, so they get no
			// baseline (their wait stays network).
			processing = est.MinWait
			backlog = wait - est.MinWait - upSyn - frSyn
			at.Estimated = true
		}
	}
	// Behind a front tier: what the front waited for nginx beyond its
	// connect and nginx's own wait on the app sat in nginx's accept queue
	// (a stalled or overloaded nginx): backlog, one tier up.
	var frontBacklog time.Duration
	if st.HasFrontHeader && st.HasUpstreamHeader {
		frontBacklog = nonNeg(st.FrontHeader - st.FrontConnect - st.UpstreamHeader)
		if frontBacklog < time.Millisecond {
			frontBacklog = 0 // nginx's own handling and ms rounding
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
	at.SynFront = fit(frSyn)
	at.SynProxy = fit(upSyn)
	p[iSynRetry] += at.SynFront + at.SynProxy + fit(handshake)
	p[iProcessing] = fit(processing)
	p[iBacklog] = fit(backlog)
	at.BacklogFront = fit(frontBacklog)
	p[iBacklog] += at.BacklogFront
	// What no part covers: the round trip and proxy work of an answered
	// request — or, when no byte ever came back, time that has no answer
	// at all, never to be passed off as network.
	rest := &p[iNetwork]
	if res.FirstByte == 0 && !res.Error.DuringConnect() {
		rest = &p[iUnanswered]
	}
	*rest = left
	// Whatever the phases above do not cover (e.g. write time when no
	// byte came back) goes there too, so the parts always add up.
	if d := res.Total() - at.Sum(); d > 0 {
		*rest += d
	} else if d < 0 {
		// Rounding between offsets; take it from the rest first.
		*rest = nonNeg(*rest + d)
	}
}
