package analyze

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze/servertiming"
	"github.com/queuegap/queuegap/loadgen"
)

// testRunStart is a fixed wall-clock origin for synthetic runs (no
// monotonic reading, so server times compare on the wall clock).
var testRunStart = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// hdrs builds kept response headers from name, value pairs.
func hdrs(kv ...string) []loadgen.Header {
	if len(kv)%2 != 0 {
		panic("hdrs: odd argument count")
	}
	var out []loadgen.Header
	for i := 0; i < len(kv); i += 2 {
		out = append(out, loadgen.Header{Name: kv[i], Value: []byte(kv[i+1])})
	}
	return out
}

// newConnRec is a 200 on a new connection: dial at intended+lag, connect
// taking connect, first byte wait after the connection is up, last byte
// transfer later.
func newConnRec(intended, lag, connect, wait, transfer time.Duration, h []loadgen.Header) loadgen.Record {
	start := intended + lag
	cd := start + connect
	return loadgen.Record{
		Seq: 1, Intended: intended, Start: start, ConnectDone: cd,
		Written: cd + 20*time.Microsecond, FirstByte: cd + wait, Done: cd + wait + transfer,
		NewConn: true, Status: 200, BytesOut: 80, BytesIn: 200, Headers: h,
	}
}

// reqStartAt is an X-Request-Start value (µs since epoch) for a server
// receive time at run offset at on a server clock skewed by skew.
func reqStartAt(at, skew time.Duration) string {
	return "t=" + strconv.FormatInt(testRunStart.Add(at+skew).UnixMicro(), 10)
}

// checkInvariant asserts the attribution adds up to the total and no part
// is negative.
func checkInvariant(t *testing.T, res *Result) {
	t.Helper()
	sum, total := res.Attr.Sum(), res.Total()
	if d := sum - total; d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("parts sum to %v, total is %v (diff %v); parts %v", sum, total, d, partsString(res))
	}
	for i, p := range res.Attr.Parts {
		if p < 0 {
			t.Errorf("component %s is negative: %v", Components[i], p)
		}
	}
	// Network is measured only on answered requests: time without an
	// answer is unanswered, never network.
	if res.FirstByte == 0 && res.Attr.Parts[iNetwork] != 0 {
		t.Errorf("no response byte, yet %v of network; parts %v", res.Attr.Parts[iNetwork], partsString(res))
	}
	if res.FirstByte != 0 && res.Attr.Parts[iUnanswered] != 0 {
		t.Errorf("answered, yet %v unanswered; parts %v", res.Attr.Parts[iUnanswered], partsString(res))
	}
}

func partsString(res *Result) string {
	var b strings.Builder
	for i, p := range res.Attr.Parts {
		fmt.Fprintf(&b, "%s=%v ", Components[i], p)
	}
	return b.String()
}

func part(res *Result, comp string) time.Duration {
	i := slices.Index(Components, comp)
	if i < 0 {
		panic("unknown component " + comp)
	}
	return res.Attr.Parts[i]
}

func TestComponentsOrderMatchesIndexes(t *testing.T) {
	want := map[string]int{CompLag: iLag, CompClientQueue: iClientQueue, CompConnect: iConnect, CompSynRetry: iSynRetry, CompBacklog: iBacklog,
		CompProcessing: iProcessing, CompNetwork: iNetwork, CompUnanswered: iUnanswered, CompTransfer: iTransfer}
	if len(Components) != numComponents || len(want) != numComponents {
		t.Fatalf("%d components listed, numComponents %d", len(Components), numComponents)
	}
	for name, i := range want {
		if Components[i] != name {
			t.Errorf("Components[%d] = %q, want %q", i, Components[i], name)
		}
	}
}

func TestAttribute(t *testing.T) {
	const (
		st   = HeaderServerTiming
		us50 = 50 * time.Microsecond
	)
	// Calibration request for the clock offset: a fast request whose
	// server clock runs skew ahead and which reached the server 50 µs after
	// it was sent.
	calib := func(skew time.Duration) loadgen.Record {
		r := newConnRec(ms(10), 0, ms(0.2), ms(1.1), ms(0.1), nil)
		r.Headers = hdrs(HeaderRequestStart, reqStartAt(r.ConnectDone+us50, skew), st, "app;dur=1")
		return r
	}
	type tc struct {
		name      string
		cfg       TimingConfig
		prep      []loadgen.Record // fed to the same Analyzer first
		rec       loadgen.Record
		want      map[string]time.Duration // unlisted components must be 0
		estimated bool
		clamped   bool
		outcome   string
	}
	cases := []tc{
		{
			name: "server-timing queue and app",
			rec:  newConnRec(ms(100), ms(2), ms(0.2), ms(400.8), ms(0.5), hdrs(st, "queue;dur=300, app;dur=100")),
			want: map[string]time.Duration{CompLag: ms(2), CompConnect: ms(0.2), CompBacklog: ms(300),
				CompProcessing: ms(100), CompNetwork: ms(0.8), CompTransfer: ms(0.5)},
			outcome: OutcomeOK,
		},
		{
			name: "server-timing split across two header lines",
			rec:  newConnRec(ms(100), 0, ms(0.2), ms(400.8), ms(0.5), hdrs(st, "db;dur=7, app;dur=100", st, `queue;dur=300;desc="x"`)),
			want: map[string]time.Duration{CompConnect: ms(0.2), CompBacklog: ms(300),
				CompProcessing: ms(100), CompNetwork: ms(0.8), CompTransfer: ms(0.5)},
			outcome: OutcomeOK,
		},
		{
			name: "custom metric names",
			cfg:  TimingConfig{QueueMetric: "q", AppMetric: "total"},
			rec:  newConnRec(ms(100), 0, ms(0.2), ms(400.8), ms(0.5), hdrs(st, "queue;dur=1, q;dur=300, total;dur=100, app;dur=1")),
			want: map[string]time.Duration{CompConnect: ms(0.2), CompBacklog: ms(300),
				CompProcessing: ms(100), CompNetwork: ms(0.8), CompTransfer: ms(0.5)},
			outcome: OutcomeOK,
		},
		func() tc {
			// Server clock 250 ms ahead; the calibration request fixes
			// the offset at 250.05 ms, so this request's receive time
			// maps back to its send time and everything from there to
			// the first byte that is not processing is backlog.
			r := newConnRec(ms(1000), 0, ms(0.2), ms(400.5), ms(0.3), nil)
			r.Headers = hdrs(HeaderRequestStart, reqStartAt(r.ConnectDone+us50, ms(250)), st, "app;dur=100")
			return tc{
				name: "x-request-start and app, server clock +250ms",
				prep: []loadgen.Record{calib(ms(250))}, rec: r,
				// The trip back (half the calibration round trip) is network.
				want: map[string]time.Duration{CompConnect: ms(0.2), CompBacklog: ms(300.4),
					CompProcessing: ms(100), CompNetwork: ms(0.1), CompTransfer: ms(0.3)},
				outcome: OutcomeOK,
			}
		}(),
		func() tc {
			r := newConnRec(ms(1000), 0, ms(0.2), ms(400.5), ms(0.3), nil)
			r.Headers = hdrs(HeaderQueueStart, reqStartAt(r.ConnectDone+us50, -3*time.Second), HeaderRuntime, "0.100000")
			return tc{
				name: "x-queue-start and x-runtime, server clock -3s",
				prep: []loadgen.Record{calib(-3 * time.Second)}, rec: r,
				// The trip back (half the calibration round trip) is network.
				want: map[string]time.Duration{CompConnect: ms(0.2), CompBacklog: ms(300.4),
					CompProcessing: ms(100), CompNetwork: ms(0.1), CompTransfer: ms(0.3)},
				outcome: OutcomeOK,
			}
		}(),
		func() tc {
			r := newConnRec(ms(1000), 0, ms(0.2), ms(400.5), ms(0.3), nil)
			r.Headers = hdrs(HeaderRequestStart, reqStartAt(r.ConnectDone+us50, 0), HeaderResponseTime, "100.000ms")
			return tc{
				name: "x-request-start and x-response-time",
				prep: []loadgen.Record{calib(0)}, rec: r,
				// The trip back (half the calibration round trip) is network.
				want: map[string]time.Duration{CompConnect: ms(0.2), CompBacklog: ms(300.4),
					CompProcessing: ms(100), CompNetwork: ms(0.1), CompTransfer: ms(0.3)},
				outcome: OutcomeOK,
			}
		}(),
		func() tc {
			// Connected at once, but the server received the request
			// 1.2 s later: the final ACK was dropped by a full accept
			// queue and retransmitted — an overflow seen a step later.
			r := newConnRec(ms(1000), 0, ms(0.2), ms(1600.1), ms(0.3), nil)
			r.Headers = hdrs(HeaderRequestStart, reqStartAt(r.ConnectDone+ms(1200)+us50, 0), st, "app;dur=100")
			return tc{
				name: "request reached the server 1.2s after it was sent",
				prep: []loadgen.Record{calib(0)}, rec: r,
				want: map[string]time.Duration{CompConnect: ms(0.2), CompSynRetry: ms(1200), CompBacklog: ms(300),
					CompProcessing: ms(100), CompNetwork: ms(0.1), CompTransfer: ms(0.3)},
				outcome: OutcomeOK,
			}
		}(),
		{
			// nginx: its SYN to uWSGI was dropped twice (2.04 s), the
			// app's queue (from nginx's X-Request-Start) includes that.
			name: "nginx queue includes upstream connect",
			rec: newConnRec(ms(100), 0, ms(0.2), ms(2441), ms(0.5),
				hdrs(st, "queue;dur=2340, app;dur=100", HeaderUpstreamConnect, "2.040", HeaderUpstreamHeader, "2.440")),
			want: map[string]time.Duration{CompConnect: ms(0.2), CompSynRetry: ms(2040), CompBacklog: ms(300),
				CompProcessing: ms(100), CompNetwork: ms(1), CompTransfer: ms(0.5)},
			outcome: OutcomeOK,
		},
		{
			name: "nginx upstream header and connect time, app only",
			rec: newConnRec(ms(100), 0, ms(0.2), ms(2441), ms(0.5),
				hdrs(st, "app;dur=100", HeaderUpstreamConnect, "2.040", HeaderUpstreamHeader, "2.440")),
			want: map[string]time.Duration{CompConnect: ms(0.2), CompSynRetry: ms(2040), CompBacklog: ms(300),
				CompProcessing: ms(100), CompNetwork: ms(1), CompTransfer: ms(0.5)},
			outcome: OutcomeOK,
		},
		{
			name: "nginx fast upstream connect is not a SYN retry",
			rec: newConnRec(ms(100), 0, ms(0.2), ms(401), ms(0.5),
				hdrs(st, "app;dur=100", HeaderUpstreamConnect, "0.000", HeaderUpstreamHeader, "0.400")),
			want: map[string]time.Duration{CompConnect: ms(0.2), CompBacklog: ms(300),
				CompProcessing: ms(100), CompNetwork: ms(1), CompTransfer: ms(0.5)},
			outcome: OutcomeOK,
		},
		{
			name: "nginx upstream tries are summed",
			rec: newConnRec(ms(100), 0, ms(0.2), ms(2441), ms(0.5),
				hdrs(st, "app;dur=100", HeaderUpstreamConnect, "1.020, 1.020", HeaderUpstreamHeader, "-, 2.440")),
			want: map[string]time.Duration{CompConnect: ms(0.2), CompSynRetry: ms(2040), CompBacklog: ms(300),
				CompProcessing: ms(100), CompNetwork: ms(1), CompTransfer: ms(0.5)},
			outcome: OutcomeOK,
		},
		func() tc {
			r := newConnRec(ms(100), 0, ms(1020), ms(100.5), ms(0.5), hdrs(st, "queue;dur=0, app;dur=100"))
			r.SynRetrans = 1
			return tc{
				name: "client SYN retransmitted",
				rec:  r,
				want: map[string]time.Duration{CompSynRetry: ms(1020), CompProcessing: ms(100),
					CompNetwork: ms(0.5), CompTransfer: ms(0.5)},
				outcome: OutcomeOK,
			}
		}(),
		func() tc {
			// TCP_INFO says a SYN was retransmitted even though the
			// connect looks short (e.g. a 200 ms RTO on a fast path).
			r := newConnRec(ms(100), 0, ms(210), ms(100.5), ms(0.5), hdrs(st, "queue;dur=0, app;dur=100"))
			r.SynRetrans = 2
			return tc{
				name: "retransmit count wins over a short connect",
				rec:  r,
				want: map[string]time.Duration{CompSynRetry: ms(210), CompProcessing: ms(100),
					CompNetwork: ms(0.5), CompTransfer: ms(0.5)},
				outcome: OutcomeOK,
			}
		}(),
		{
			name: "slow connect without TCP_INFO",
			rec:  newConnRec(ms(100), 0, ms(1000), ms(100.5), ms(0.5), hdrs(st, "queue;dur=0, app;dur=100")),
			want: map[string]time.Duration{CompSynRetry: ms(1000), CompProcessing: ms(100),
				CompNetwork: ms(0.5), CompTransfer: ms(0.5)},
			outcome: OutcomeOK,
		},
		{
			name: "connect timeout",
			rec: loadgen.Record{Seq: 1, Intended: ms(100), Start: ms(101), Done: ms(10101), NewConn: true,
				Error: loadgen.ErrConnectTimeout, ErrorText: "dial tcp 127.0.0.1:80: i/o timeout"},
			want:    map[string]time.Duration{CompLag: ms(1), CompSynRetry: ms(10000)},
			outcome: "connect_timeout",
		},
		{
			name: "connection refused",
			rec: loadgen.Record{Seq: 1, Intended: ms(100), Start: ms(100), Done: ms(100.15), NewConn: true,
				Error: loadgen.ErrRefused, ErrorText: "connect: connection refused"},
			want:    map[string]time.Duration{CompConnect: ms(0.15)},
			outcome: "refused",
		},
		func() tc {
			r := newConnRec(ms(100), 0, ms(0.2), 0, 0, nil)
			r.FirstByte, r.Status, r.Done = 0, 0, r.Start+30*time.Second
			r.Error, r.ErrorText = loadgen.ErrTimeout, "i/o timeout"
			return tc{
				name: "timed out after connecting",
				rec:  r,
				// No answer came: the wait is unanswered, never network.
				want:    map[string]time.Duration{CompConnect: ms(0.2), CompUnanswered: 30*time.Second - ms(0.2)},
				outcome: "timeout",
			}
		}(),
		{
			// Nothing from the server: the fastest response so far is the
			// processing baseline, the rest of the wait is backlog.
			name:      "no server timing",
			prep:      []loadgen.Record{newConnRec(ms(10), 0, ms(0.2), ms(100.5), ms(0.1), nil)},
			rec:       newConnRec(ms(1000), 0, ms(0.2), ms(400.5), ms(0.3), hdrs("X-Other", "1")),
			want:      map[string]time.Duration{CompConnect: ms(0.2), CompBacklog: ms(300), CompProcessing: ms(100.5), CompTransfer: ms(0.3)},
			estimated: true,
			outcome:   OutcomeOK,
		},
		{
			name:      "no server timing, first request is its own baseline",
			rec:       newConnRec(ms(1000), 0, ms(0.2), ms(400.5), ms(0.3), nil),
			want:      map[string]time.Duration{CompConnect: ms(0.2), CompProcessing: ms(400.5), CompTransfer: ms(0.3)},
			estimated: true,
			outcome:   OutcomeOK,
		},
		{
			// App time only: the smallest wait−app of the run is network;
			// anything above it is backlog.
			name:      "app only",
			prep:      []loadgen.Record{newConnRec(ms(10), 0, ms(0.2), ms(100.3), ms(0.1), hdrs(st, "app;dur=100"))},
			rec:       newConnRec(ms(1000), 0, ms(0.2), ms(400.3), ms(0.3), hdrs(st, "app;dur=100")),
			want:      map[string]time.Duration{CompConnect: ms(0.2), CompBacklog: ms(300), CompProcessing: ms(100), CompNetwork: ms(0.3), CompTransfer: ms(0.3)},
			estimated: true,
			outcome:   OutcomeOK,
		},
		{
			name:    "server claims more than the client saw",
			rec:     newConnRec(ms(100), 0, ms(0.2), ms(400), ms(0.5), hdrs(st, "queue;dur=5000, app;dur=100")),
			want:    map[string]time.Duration{CompConnect: ms(0.2), CompBacklog: ms(300), CompProcessing: ms(100), CompTransfer: ms(0.5)},
			clamped: true,
			outcome: OutcomeOK,
		},
		{
			name:    "app alone exceeds the wait",
			rec:     newConnRec(ms(100), 0, ms(0.2), ms(400), ms(0.5), hdrs(st, "queue;dur=0, app;dur=900")),
			want:    map[string]time.Duration{CompConnect: ms(0.2), CompProcessing: ms(400), CompTransfer: ms(0.5)},
			clamped: true,
			outcome: OutcomeOK,
		},
		{
			name: "custom mapping",
			cfg: TimingConfig{Mappings: []servertiming.Mapping{
				{Component: servertiming.ComponentQueue, Header: "X-Queue-Ms", Unit: servertiming.UnitMillis},
				{Component: servertiming.ComponentApp, Header: "X-App-Us", Unit: servertiming.UnitMicros},
			}},
			// Mappings apply last: they override Server-Timing.
			rec: newConnRec(ms(100), 0, ms(0.2), ms(400.8), ms(0.5),
				hdrs(st, "queue;dur=1, app;dur=1", "X-Queue-Ms", "300", "X-App-Us", "100000")),
			want: map[string]time.Duration{CompConnect: ms(0.2), CompBacklog: ms(300),
				CompProcessing: ms(100), CompNetwork: ms(0.8), CompTransfer: ms(0.5)},
			outcome: OutcomeOK,
		},
		{
			name: "custom mapping for upstream connect in seconds",
			cfg: TimingConfig{Mappings: []servertiming.Mapping{
				{Component: servertiming.ComponentUpstreamConnect, Header: "X-Up-Connect", Unit: servertiming.UnitSeconds},
			}},
			rec: newConnRec(ms(100), 0, ms(0.2), ms(2441), ms(0.5),
				hdrs(st, "queue;dur=2340, app;dur=100", "X-Up-Connect", "2.04")),
			want: map[string]time.Duration{CompConnect: ms(0.2), CompSynRetry: ms(2040), CompBacklog: ms(300),
				CompProcessing: ms(100), CompNetwork: ms(1), CompTransfer: ms(0.5)},
			outcome: OutcomeOK,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newStreamAnalyzer(c.cfg, testRunStart, "run")
			var res Result
			for i := range c.prep {
				a.Analyze(&c.prep[i], &res)
				checkInvariant(t, &res)
			}
			a.Analyze(&c.rec, &res)
			checkInvariant(t, &res)
			for i, name := range Components {
				want := c.want[name]
				if d := res.Attr.Parts[i] - want; d < -time.Microsecond || d > time.Microsecond {
					t.Errorf("%s = %v, want %v", name, res.Attr.Parts[i], want)
				}
			}
			if res.Attr.Estimated != c.estimated {
				t.Errorf("Estimated = %v, want %v", res.Attr.Estimated, c.estimated)
			}
			if res.Attr.Clamped != c.clamped {
				t.Errorf("Clamped = %v, want %v", res.Attr.Clamped, c.clamped)
			}
			if res.Outcome != c.outcome {
				t.Errorf("Outcome = %q, want %q", res.Outcome, c.outcome)
			}
			if res.ID() != "run-1" {
				t.Errorf("ID() = %q, want run-1", res.ID())
			}
			if t.Failed() {
				t.Logf("parts: %s; server %+v", partsString(&res), res.Server)
			}
		})
	}
}

func TestAnalyzeClientFields(t *testing.T) {
	rec := newConnRec(ms(100), ms(1), ms(3), ms(50), ms(2), hdrs(HeaderServerTiming, "app;dur=40"))
	rec.Seq = 42
	rec.DNSDone = rec.Start + ms(1)
	rec.SynRetrans = 0
	a := newStreamAnalyzer(TimingConfig{}, testRunStart, "")
	var res Result
	a.Analyze(&rec, &res)
	if res.ID() != "" {
		t.Errorf("ID() = %q without a run ID", res.ID())
	}
	if res.Seq != 42 || res.Status != 200 || !res.NewConn || res.BytesIn != 200 || res.BytesOut != 80 {
		t.Errorf("client fields not copied: %+v", res)
	}
	if res.Ready() != rec.ConnectDone {
		t.Errorf("Sent = %v, want ConnectDone %v", res.Ready(), rec.ConnectDone)
	}
	if res.Connect() != ms(3) || res.DNS() != ms(1) {
		t.Errorf("Connect = %v, DNS = %v; want 3ms (from dial start) and 1ms", res.Connect(), res.DNS())
	}
	if res.ServerWait() != ms(50) {
		t.Errorf("ServerWait = %v, want 50ms", res.ServerWait())
	}
	if !res.Server.HasApp || res.Server.App != ms(40) || res.Server.HasQueue {
		t.Errorf("server timing %+v, want app 40ms only", res.Server)
	}
	checkInvariant(t, &res)
}

func TestAnalyzeInvalidHeadersCounted(t *testing.T) {
	rec := newConnRec(ms(100), 0, ms(0.2), ms(100), ms(0.5),
		hdrs(HeaderRequestStart, "t=yesterday", HeaderRuntime, "fast", HeaderResponseTime, "-1ms", HeaderServerTiming, "app;dur=10"))
	a := newStreamAnalyzer(TimingConfig{}, testRunStart, "r")
	var res Result
	a.Analyze(&rec, &res)
	if res.Server.Invalid != 3 {
		t.Errorf("Invalid = %d, want 3 (request start, runtime, response time)", res.Server.Invalid)
	}
	if res.Server.HasStart || !res.Server.HasApp || res.Server.App != ms(10) {
		t.Errorf("server timing %+v", res.Server)
	}
	checkInvariant(t, &res)
}

func TestKeepHeaders(t *testing.T) {
	tc := TimingConfig{Mappings: []servertiming.Mapping{
		{Component: "queue", Header: "X-Queue-Ms", Unit: servertiming.UnitMillis},
		{Component: "app", Header: "x-runtime", Unit: servertiming.UnitSeconds}, // a default header, other case
	}}
	got := tc.KeepHeaders()
	for _, h := range []string{HeaderServerTiming, HeaderRequestStart, HeaderQueueStart, HeaderRuntime, HeaderResponseTime,
		HeaderUpstreamConnect, HeaderUpstreamHeader, HeaderFrontUpstreamConnect, HeaderFrontUpstreamHeader, "X-Queue-Ms"} {
		if !slices.Contains(got, h) {
			t.Errorf("KeepHeaders() = %v, missing %s", got, h)
		}
	}
	if len(got) != 10 {
		t.Errorf("KeepHeaders() = %v: want the 9 defaults plus X-Queue-Ms once", got)
	}
}

// randomRecord is a plausible record: phases in order, random errors,
// random (possibly lying, skewed or garbage) server timing.
func randomRecord(rng *rand.Rand, seq uint64) loadgen.Record {
	d := func(maxMs float64) time.Duration {
		return time.Duration(rng.Float64() * maxMs * float64(time.Millisecond))
	}
	pick := func(p float64) bool { return rng.Float64() < p }
	r := loadgen.Record{Seq: seq, Intended: time.Millisecond + d(60_000)}
	r.Start = r.Intended
	if pick(0.3) {
		r.Start += d(50)
		r.WaitedSlot = pick(0.5)
	}
	at := r.Start
	if pick(0.7) {
		r.NewConn = true
		if pick(0.1) {
			at += d(5)
			r.DNSDone = at
		}
		switch {
		case pick(0.1):
			r.SynRetrans = uint8(1 + rng.IntN(4))
			at += time.Second + d(6000)
		case pick(0.05):
			at += 900*time.Millisecond + d(300) // slow but no TCP_INFO
		default:
			at += d(2)
		}
		if pick(0.08) {
			r.Error = []loadgen.ErrorClass{loadgen.ErrRefused, loadgen.ErrConnectTimeout, loadgen.ErrTLS, loadgen.ErrPortsExhausted}[rng.IntN(4)]
			if r.Error == loadgen.ErrTLS {
				r.ConnectDone = at
				at += d(10)
			}
			r.Done = at + d(10)
			r.ErrorText = "synthetic"
			return r
		}
		r.ConnectDone = at
		if pick(0.05) {
			at += d(20)
			r.TLSDone = at
		}
	}
	sent := at
	at += d(1)
	r.Written = at
	if pick(0.05) {
		r.Error = []loadgen.ErrorClass{loadgen.ErrTimeout, loadgen.ErrReset, loadgen.ErrClosed}[rng.IntN(3)]
		r.Done = at + d(30_000)
		return r
	}
	// Server side: reached it after a one-way delay (sometimes a dropped
	// ACK), queued, processed.
	oneWay := d(0.2)
	if pick(0.03) {
		oneWay += time.Second + d(2000)
	}
	upConnect := time.Duration(0)
	if pick(0.1) {
		upConnect = 2040 * time.Millisecond
	}
	queue, app := d(3000), d(500)
	recv := sent + oneWay
	r.FirstByte = recv + upConnect + queue + app + d(0.3)
	r.Done = r.FirstByte + d(5)
	r.Status = []int{200, 200, 200, 200, 301, 404, 500, 502, 503, 504}[rng.IntN(10)]
	lie := func(v time.Duration) time.Duration {
		if pick(0.1) { // a lying or skewed server
			return v*time.Duration(1+rng.IntN(5)) + d(5000)
		}
		return v
	}
	skew := []time.Duration{0, 250 * time.Millisecond, -3 * time.Second, d(100)}[rng.IntN(4)]
	var h []string
	if pick(0.5) {
		h = append(h, HeaderServerTiming, fmt.Sprintf("queue;dur=%.3f, app;dur=%.3f", ms64(lie(queue+upConnect)), ms64(lie(app))))
	} else if pick(0.4) {
		h = append(h, HeaderServerTiming, fmt.Sprintf("app;dur=%.3f", ms64(lie(app))))
	}
	if pick(0.4) {
		h = append(h, HeaderRequestStart, "t="+strconv.FormatInt(testRunStart.Add(recv+skew).UnixMicro(), 10))
	}
	if pick(0.1) {
		h = append(h, HeaderRuntime, strconv.FormatFloat(lie(app).Seconds(), 'f', 6, 64))
	}
	if pick(0.1) {
		h = append(h, HeaderResponseTime, fmt.Sprintf("%.3fms", ms64(lie(app))))
	}
	if pick(0.15) {
		h = append(h, HeaderUpstreamConnect, strconv.FormatFloat(upConnect.Seconds(), 'f', 3, 64),
			HeaderUpstreamHeader, strconv.FormatFloat(lie(upConnect+queue+app).Seconds(), 'f', 3, 64))
	}
	if pick(0.05) {
		h = append(h, HeaderServerTiming, "garbage;;;dur=abc", HeaderRequestStart, "t=-5", HeaderUpstreamConnect, "-")
	}
	r.Headers = hdrs(h...)
	return r
}

func ms64(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func TestAttributeInvariantRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	a := newStreamAnalyzer(TimingConfig{}, testRunStart, "prop")
	var res Result
	for i := range n {
		rec := randomRecord(rng, uint64(i+1))
		a.Analyze(&rec, &res)
		sum, total := res.Attr.Sum(), res.Total()
		bad := sum-total > time.Microsecond || total-sum > time.Microsecond
		for _, p := range res.Attr.Parts {
			bad = bad || p < 0
		}
		if res.Outcome == "" {
			bad = true
		}
		// No request without a response contributes to network.
		if res.FirstByte == 0 && res.Attr.Parts[iNetwork] != 0 {
			bad = true
		}
		if bad {
			t.Fatalf("record %d: parts %s sum %v, total %v, outcome %q\nrecord %+v\nserver %+v",
				i, partsString(&res), sum, total, res.Outcome, rec, res.Server)
		}
	}
}

// TestAttributeRegressions covers misattributions found while testing.
func TestAttributeRegressions(t *testing.T) {
	t.Run("app only behind nginx with a SYN-dropped upstream", func(t *testing.T) {
		a := newStreamAnalyzer(TimingConfig{}, testRunStart, "r")
		var res Result
		prep := newConnRec(ms(10), 0, ms(0.2), ms(100.3), ms(0.1), hdrs(HeaderServerTiming, "app;dur=100"))
		a.Analyze(&prep, &res)
		rec := newConnRec(ms(1000), 0, ms(0.2), ms(2440.3), ms(0.5), hdrs(HeaderServerTiming, "app;dur=100", HeaderUpstreamConnect, "2.040"))
		a.Analyze(&rec, &res)
		checkInvariant(t, &res)
		if res.Attr.Clamped || part(&res, CompSynRetry) != ms(2040) || part(&res, CompBacklog) != ms(300) || part(&res, CompNetwork) != ms(0.3) {
			t.Errorf("clamped %v, parts %s; want syn_retry 2.04s, backlog 300ms, network 0.3ms, not clamped", res.Attr.Clamped, partsString(&res))
		}
	})
	t.Run("fast proxy error sets the processing baseline", func(t *testing.T) {
		a := newStreamAnalyzer(TimingConfig{}, testRunStart, "r")
		var res Result
		ok1 := newConnRec(ms(10), 0, ms(0.2), ms(100.5), ms(0.1), nil)
		a.Analyze(&ok1, &res)
		refused := newConnRec(ms(20), 0, ms(0.2), ms(2), ms(0.1), nil)
		refused.Status = 502
		a.Analyze(&refused, &res)
		if res.Outcome != OutcomeProxyRefused {
			t.Fatalf("outcome %q", res.Outcome)
		}
		ok2 := newConnRec(ms(30), 0, ms(0.2), ms(100.5), ms(0.1), nil)
		a.Analyze(&ok2, &res)
		if p, b := part(&res, CompProcessing), part(&res, CompBacklog); p != ms(100.5) || b != 0 {
			t.Errorf("an unqueued 200 got processing %v backlog %v; want 100.5ms and 0 (the 502 is not a processing time)", p, b)
		}
	})
}
