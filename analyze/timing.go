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
	// A front tier in front of nginx (an AWS ALB, or the testbed's
	// --front alb) reports its own connect to nginx under these names.
	HeaderFrontUpstreamConnect = "X-Front-Upstream-Connect-Time"
	HeaderFrontUpstreamHeader  = "X-Front-Upstream-Header-Time"
)

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
		HeaderResponseTime, HeaderUpstreamConnect, HeaderUpstreamHeader, HeaderFrontUpstreamConnect, HeaderFrontUpstreamHeader}
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

// Analyzer turns loadgen Records into Results: it parses the server timing
// headers and classifies the outcome — the facts of one request, which do
// not depend on any other. Attribution, which does, is Attribute's job. It
// is safe for concurrent use.
type Analyzer struct {
	cfg   TimingConfig
	runID string
	now   func() time.Time
}

// NewAnalyzer makes an Analyzer for a run whose requests carry
// X-Request-Id <runID>-<seq> ("" when they carry none).
func NewAnalyzer(cfg TimingConfig, runID string) *Analyzer {
	cfg.defaults()
	return &Analyzer{cfg: cfg, runID: runID, now: time.Now}
}

// Analyze fills res from rec. res is overwritten; it does not keep rec's
// headers, which the engine reuses.
func (a *Analyzer) Analyze(rec *loadgen.Record, res *Result) {
	*res = Result{Record: *rec, runID: a.runID}
	if rec.Status != 0 {
		a.readServerTiming(rec, &res.Server)
	}
	res.Headers = nil
	res.canonical()
	res.Outcome = classify(rec.Error, rec.Status, res.Server.HasApp || res.Server.HasQueue, int64(res.ServerWait()))
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
	if v := rec.Header(HeaderFrontUpstreamConnect); v != nil {
		st.FrontTier = true
		if d, err := servertiming.ParseUpstreamSeconds(v); err == nil {
			st.HasFrontConnect, st.FrontConnect = true, d
		}
	}
	if v := rec.Header(HeaderFrontUpstreamHeader); v != nil {
		if d, err := servertiming.ParseUpstreamSeconds(v); err == nil {
			st.HasFrontHeader, st.FrontHeader = true, d
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
