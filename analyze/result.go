package analyze

import (
	"strconv"
	"time"
)

// Components of a request's client-observed time. They add up to the
// request's total (from its intended send time to its last byte).
const (
	CompLag        = "lag"        // the generator started the request late
	CompConnect    = "connect"    // DNS, TCP and TLS setup of a new connection
	CompSynRetry   = "syn_retry"  // SYNs dropped by a full accept queue and retried (client or proxy side)
	CompBacklog    = "backlog"    // waiting for a free worker in the app's listen backlog
	CompProcessing = "processing" // the app's own reported time
	CompNetwork    = "network"    // what is left: RTT, proxy work, unattributed
	CompTransfer   = "transfer"   // first to last response byte
)

// Components lists every component in report order.
var Components = []string{CompLag, CompConnect, CompSynRetry, CompBacklog, CompProcessing, CompNetwork, CompTransfer}

const numComponents = 7

const (
	iLag = iota
	iConnect
	iSynRetry
	iBacklog
	iProcessing
	iNetwork
	iTransfer
)

// Attribution splits one request's total time into components, in ns.
type Attribution struct {
	Parts [numComponents]time.Duration
	// Estimated is set when backlog and processing were inferred without
	// the server reporting its queue time (see README: attribution rules).
	Estimated bool
	// Clamped is set when server-reported times exceeded what the client
	// observed (clock skew or a lying server) and were cut to fit.
	Clamped bool
}

// Sum is the sum of all parts; it equals the request's total.
func (a *Attribution) Sum() time.Duration {
	var s time.Duration
	for _, p := range a.Parts {
		s += p
	}
	return s
}

// ServerTiming is what the server said about a request, parsed.
type ServerTiming struct {
	HasQueue           bool
	Queue              time.Duration // time from receipt (proxy or kernel) to app start
	HasApp             bool
	App                time.Duration // the app's own processing time
	HasStart           bool
	Start              time.Time // absolute receive time on the server's clock
	HasUpstreamConnect bool
	UpstreamConnect    time.Duration // the proxy's connect to the app (nginx $upstream_connect_time)
	HasUpstreamHeader  bool
	UpstreamHeader     time.Duration // the proxy's wait for the app's response header
	Invalid            int           // header values present but rejected (garbage, implausible)
}

// Any says whether the server reported anything usable.
func (s *ServerTiming) Any() bool {
	return s.HasQueue || s.HasApp || s.HasStart || s.HasUpstreamConnect || s.HasUpstreamHeader
}

// Result is one request as analyzed: the client's measurements, the
// server's timing, the attribution and the outcome. It is one line of a
// results file.
type Result struct {
	Seq uint64
	// RequestID is the X-Request-Id as read from a results file; for live
	// results it stays empty (building a string per request is the one
	// allocation the hot path would make) and ID() derives it.
	RequestID string
	runID     string
	// Offsets from the run's start (monotonic clock).
	Intended  time.Duration
	Start     time.Duration
	Sent      time.Duration // when writing began (after any connect)
	Written   time.Duration // 0 when the request was never written
	FirstByte time.Duration // 0 without a response byte
	Done      time.Duration

	NewConn    bool
	WaitedSlot bool
	WaitedConn bool
	SynRetrans int
	Retrans    int // retransmits by the first byte; > SynRetrans: the request data was resent

	Connect    time.Duration // DNS+TCP+TLS of a new connection
	DNS        time.Duration
	TLS        time.Duration
	Status     int
	BytesIn    int
	BytesOut   int
	Error      string // client error class, "" when a response arrived
	ErrorText  string
	Outcome    string
	Server     ServerTiming
	Attr       Attribution
	ServerWait time.Duration // request written → first byte: everything the server side took
}

// ID is the X-Request-Id the request carried: <run-id>-<seq>, or "" when
// the run sent none. Code that keeps a Result beyond a Sink call and needs
// the ID as a field can store ID() in RequestID.
func (r *Result) ID() string {
	if r.RequestID != "" || r.runID == "" {
		return r.RequestID
	}
	return r.runID + "-" + strconv.FormatUint(r.Seq, 10)
}

// Lag, TTFB and Total are the client-observed phases, from the intended time.
func (r *Result) Lag() time.Duration { return nonNeg(r.Start - r.Intended) }

// TTFB is intended time → first byte, 0 without a response.
func (r *Result) TTFB() time.Duration {
	if r.FirstByte == 0 {
		return 0
	}
	return nonNeg(r.FirstByte - r.Intended)
}

// Total is intended time → done.
func (r *Result) Total() time.Duration { return nonNeg(r.Done - r.Intended) }

func nonNeg(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}
