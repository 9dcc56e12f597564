package analyze

import (
	"strings"
	"time"

	"github.com/queuegap/queuegap/analyze/servertiming"
	"github.com/queuegap/queuegap/loadgen"
)

// Header names read by default.
const (
	HeaderServerTiming    = "Server-Timing"
	HeaderRequestStart    = "X-Request-Start"
	HeaderQueueStart      = "X-Queue-Start"
	HeaderRuntime         = "X-Runtime"
	HeaderResponseTime    = "X-Response-Time"
	HeaderUpstreamConnect = "X-Upstream-Connect-Time"
	HeaderUpstreamHeader  = "X-Upstream-Header-Time"
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

// TimingConfig says where server timing comes from.
type TimingConfig struct {
	QueueMetric string                 // Server-Timing metric for queue time [queue]
	AppMetric   string                 // Server-Timing metric for processing [app]
	Mappings    []servertiming.Mapping // --timing-header overrides, applied last
}

func (tc *TimingConfig) defaults() {
	if tc.QueueMetric == "" {
		tc.QueueMetric = "queue"
	}
	if tc.AppMetric == "" {
		tc.AppMetric = "app"
	}
}

// KeepHeaders lists the response headers the client must keep for the
// Analyzer.
func (tc TimingConfig) KeepHeaders() []string {
	hs := []string{HeaderServerTiming, HeaderRequestStart, HeaderQueueStart, HeaderRuntime,
		HeaderResponseTime, HeaderUpstreamConnect, HeaderUpstreamHeader}
	for _, m := range tc.Mappings {
		dup := false
		for _, h := range hs {
			dup = dup || strings.EqualFold(h, m.Header)
		}
		if !dup {
			hs = append(hs, m.Header)
		}
	}
	return hs
}

// Analyzer turns loadgen Records into Results: it parses server timing,
// tracks the clock offset and the baselines used for estimates, attributes
// each request's time and classifies its outcome. It is not safe for
// concurrent use; a loadgen.Sink calls it from one goroutine.
type Analyzer struct {
	cfg      TimingConfig
	runStart time.Time
	runID    string
	offset   OffsetEstimator
	// Running minima for estimates when the server reports no queue time.
	minWait       time.Duration // server wait with no timing at all
	minNetResidue time.Duration // server wait − processing, with app timing only
	now           func() time.Time
}

// NewAnalyzer makes an Analyzer for a run that started at runStart (the
// origin of every Record offset).
func NewAnalyzer(cfg TimingConfig, runStart time.Time, runID string) *Analyzer {
	cfg.defaults()
	return &Analyzer{cfg: cfg, runStart: runStart, runID: runID, minWait: -1, minNetResidue: -1, now: time.Now}
}

// Offset is the current clock offset estimate.
func (a *Analyzer) Offset() OffsetEstimate { return a.offset.Estimate() }

// Analyze fills res from rec. res is overwritten.
func (a *Analyzer) Analyze(rec *loadgen.Record, res *Result) {
	*res = Result{
		Seq:        rec.Seq,
		Intended:   rec.Intended,
		Start:      rec.Start,
		Written:    rec.Written,
		FirstByte:  rec.FirstByte,
		Done:       rec.Done,
		NewConn:    rec.NewConn,
		WaitedSlot: rec.WaitedSlot,
		WaitedConn: rec.WaitedConn,
		SynRetrans: int(rec.SynRetrans),
		Retrans:    int(rec.Retrans),
		Status:     rec.Status,
		BytesIn:    rec.BytesIn,
		BytesOut:   rec.BytesOut,
		ErrorText:  rec.ErrorText,
	}
	res.runID = a.runID
	if rec.Error != loadgen.ErrNone {
		res.Error = rec.Error.String()
	}
	res.Sent = rec.Start
	if rec.NewConn {
		res.Connect = rec.Connect()
		if rec.DNSDone != 0 {
			res.DNS = nonNeg(rec.DNSDone - rec.DialStart)
		}
		if rec.ConnectDone != 0 {
			res.Sent = rec.ConnectDone
		}
		if rec.TLSDone != 0 {
			res.TLS = nonNeg(rec.TLSDone - rec.ConnectDone)
			res.Sent = rec.TLSDone
		}
		if rec.ConnectDone != 0 {
			res.Connect = nonNeg(res.Sent - rec.DialStart)
		}
	}
	if rec.Status != 0 {
		a.readServerTiming(rec, &res.Server)
	}
	end := rec.FirstByte
	if end == 0 {
		end = rec.Done
	}
	if !isConnectError(res.Error) {
		res.ServerWait = nonNeg(end - res.Sent)
	}
	if res.Server.HasStart && res.FirstByte != 0 {
		a.offset.Observe(a.runStart, res)
	}
	res.Outcome = classify(rec.Error, rec.Status, res.Server.HasApp || res.Server.HasQueue, int64(res.ServerWait))
	a.attribute(res)
}

// readServerTiming parses every timing header the record kept.
func (a *Analyzer) readServerTiming(rec *loadgen.Record, st *ServerTiming) {
	var stVals [8][]byte
	vals := stVals[:0]
	for _, h := range rec.Headers {
		if h.Name == HeaderServerTiming {
			vals = append(vals, h.Value)
		}
	}
	if len(vals) > 0 {
		if d, ok := servertiming.LookupServerTiming(vals, a.cfg.QueueMetric); ok {
			st.HasQueue, st.Queue = true, msDur(d)
		}
		if d, ok := servertiming.LookupServerTiming(vals, a.cfg.AppMetric); ok {
			st.HasApp, st.App = true, msDur(d)
		}
	}
	for _, name := range [...]string{HeaderRequestStart, HeaderQueueStart} {
		if v := rec.Header(name); v != nil && !st.HasStart {
			if t, err := servertiming.ParseRequestStart(v, a.now()); err == nil {
				st.HasStart, st.Start = true, t
			} else {
				st.Invalid++
			}
		}
	}
	// Processing-time fallbacks, in order of preference after Server-Timing.
	for _, f := range [...]struct {
		name  string
		parse func([]byte) (time.Duration, error)
	}{{HeaderRuntime, servertiming.ParseSeconds}, {HeaderResponseTime, servertiming.ParseMillis}} {
		v := rec.Header(f.name)
		if v == nil {
			continue
		}
		if d, err := f.parse(v); err != nil {
			st.Invalid++
		} else if !st.HasApp {
			st.HasApp, st.App = true, d
		}
	}
	if v := rec.Header(HeaderUpstreamConnect); v != nil {
		if d, err := servertiming.ParseUpstreamSeconds(v); err == nil {
			st.HasUpstreamConnect, st.UpstreamConnect = true, d
		}
		// "-" (no upstream attempt) is normal for nginx-made responses.
	}
	if v := rec.Header(HeaderUpstreamHeader); v != nil {
		if d, err := servertiming.ParseUpstreamSeconds(v); err == nil {
			st.HasUpstreamHeader, st.UpstreamHeader = true, d
		}
	}
	for _, m := range a.cfg.Mappings {
		v := rec.Header(m.Header)
		if v == nil {
			continue
		}
		if m.Component == "start" {
			if t, err := servertiming.ParseRequestStart(v, a.now()); err == nil {
				st.HasStart, st.Start = true, t
			} else {
				st.Invalid++
			}
			continue
		}
		d, err := servertiming.ParseDuration(v, m.Unit)
		if err != nil {
			st.Invalid++
			continue
		}
		switch m.Component {
		case "queue":
			st.HasQueue, st.Queue = true, d
		case "app":
			st.HasApp, st.App = true, d
		case "upstream_connect":
			st.HasUpstreamConnect, st.UpstreamConnect = true, d
		}
	}
}

func msDur(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// attribute splits the request's total into components; see README
// "Attribution rules" for the reasoning behind each step.
func (a *Analyzer) attribute(res *Result) {
	at := &res.Attr
	*at = Attribution{}
	p := &at.Parts
	p[iLag] = res.Lag()

	// Client-side connection setup: SYN retries if the kernel says a SYN
	// was retransmitted (or, without TCP_INFO, if it took ≥ 0.9 s), or if
	// the connect never finished because SYNs went unanswered.
	setup := nonNeg(res.Sent - res.Start)
	if isConnectError(res.Error) {
		setup = nonNeg(res.Done - res.Start)
	}
	if res.SynRetrans > 0 || setup >= synRetrySignature || res.Error == loadgen.ErrConnectTimeout.String() {
		p[iSynRetry] = setup
	} else {
		p[iConnect] = setup
	}

	if res.FirstByte != 0 {
		p[iTransfer] = nonNeg(res.Done - res.FirstByte)
	}

	wait := res.ServerWait
	st := &res.Server
	var upSyn, handshake, backlog, processing time.Duration
	if st.HasUpstreamConnect && st.UpstreamConnect >= upstreamSynSignature {
		upSyn = st.UpstreamConnect
	}
	var recv time.Duration // server receive time on the client's clock, as a run offset
	if st.HasStart {
		recv = st.Start.Add(-a.offsetOrZero()).Sub(a.runStart)
		// A request that reached the server long after the client sent it
		// on an established connection had its handshake's final ACK (and
		// data) dropped by a full accept queue and retransmitted: the same
		// overflow as a dropped SYN, seen a step later.
		if gap := recv - res.Sent; gap >= retransmitSignature {
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
			residue := wait - st.App - upSyn
			if a.minNetResidue < 0 || residue < a.minNetResidue {
				a.minNetResidue = max(0, residue)
			}
			backlog = residue - a.minNetResidue
			at.Estimated = true
		case res.Status < 500:
			// Nothing from the server: the fastest app response of the run
			// is the processing baseline; the rest of the wait is backlog.
			// Proxy-made 5xx answers never reached the app, so they neither
			// set the baseline nor get one (their wait stays network).
			if a.minWait < 0 || wait-upSyn < a.minWait {
				a.minWait = max(0, wait-upSyn)
			}
			processing = a.minWait
			backlog = wait - a.minWait - upSyn
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

func (a *Analyzer) offsetOrZero() time.Duration {
	e := a.offset.Estimate()
	if !e.Known {
		return 0
	}
	return e.Offset
}

// isConnectError says whether a client error class ended the attempt
// before a connection was established.
func isConnectError(class string) bool {
	if class == "" {
		return false
	}
	c, _ := loadgen.ParseErrorClass(class)
	return c.DuringConnect()
}
