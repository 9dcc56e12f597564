package analyze

import (
	"strconv"
	"time"

	"github.com/queuegap/queuegap/loadgen"
)

// Components of a request's client-observed time. They add up to the
// request's total (from its intended send time to its last byte).
const (
	CompLag         = "lag"          // the generator itself was late: CPU, scheduling, batching
	CompClientQueue = "client_queue" // waited for an in-flight slot or a pooled connection the target was holding
	CompConnect     = "connect"      // DNS, TCP and TLS setup of a new connection
	CompSynRetry    = "syn_retry"    // SYNs dropped by a full accept queue and retried (client, front or proxy side)
	CompBacklog     = "backlog"      // waiting for a free worker in the app's listen backlog
	CompProcessing  = "processing"   // the app's own reported time
	CompNetwork     = "network"      // what is left of an answered request: the round trip, proxy work
	CompUnanswered  = "unanswered"   // time that ended without any response (timeout, reset, close)
	CompTransfer    = "transfer"     // first to last response byte
)

// Components lists every component in report order.
var Components = []string{CompLag, CompClientQueue, CompConnect, CompSynRetry, CompBacklog, CompProcessing, CompNetwork, CompUnanswered, CompTransfer}

const numComponents = 9

const (
	iLag = iota
	iClientQueue
	iConnect
	iSynRetry
	iBacklog
	iProcessing
	iNetwork
	iUnanswered
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
	// SynFront and SynProxy are the parts of syn_retry seen at the front
	// tier (an ALB-like proxy's connect to nginx) and at the proxy (nginx's
	// connect to the app); the rest of syn_retry is the client's own.
	SynFront, SynProxy time.Duration
	// BacklogFront is the part of backlog spent in nginx's own accept queue
	// behind a front tier; the rest is the app's.
	BacklogFront time.Duration
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
	HasFrontConnect    bool
	FrontConnect       time.Duration // a front tier's connect to the proxy (X-Front-Upstream-Connect-Time)
	HasFrontHeader     bool
	FrontHeader        time.Duration // a front tier's wait for the proxy's response header
	FrontTier          bool          // the response came through a front tier (its headers were there, even as "-")
	Invalid            int           // header values present but rejected (garbage, implausible)
}

// Any says whether the server reported anything usable.
func (s *ServerTiming) Any() bool {
	return s.HasQueue || s.HasApp || s.HasStart || s.HasUpstreamConnect || s.HasUpstreamHeader || s.HasFrontConnect || s.HasFrontHeader || s.FrontTier
}

// Result is one request: what the client measured (loadgen's Record, the
// one model of a request's timings), what the server said, its outcome and
// its attribution. The first three are facts of the request alone and are
// what a results file stores; the attribution also depends on run-wide
// Estimates and is derived again whenever results are read (Attribute).
type Result struct {
	loadgen.Record
	// RequestID is the X-Request-Id as read from a results file; for live
	// results it stays empty (building a string per request is the one
	// allocation the hot path would make) and ID() derives it.
	RequestID string
	// Name is the request's label in the mix (Request.Name) and Client
	// the lane's name: every report breaks down by them. "" when the run
	// had one unnamed request and client.
	Name, Client string
	runID        string
	Server       ServerTiming
	Outcome      string
	Attr         Attribution
}

// ID is the X-Request-Id the request carried: <run-id>-<seq>, or "" when
// the run sent none. Code that keeps a Result beyond a callback and needs
// the ID as a field can store ID() in RequestID.
func (r *Result) ID() string {
	if r.RequestID != "" || r.runID == "" {
		return r.RequestID
	}
	return r.runID + "-" + strconv.FormatUint(r.Seq, 10)
}

// ServerWait is the time from the connection being ready (request about to
// be written) to the first response byte, or to the end without one:
// everything the server side took. 0 when the connect failed.
func (r *Result) ServerWait() time.Duration {
	if r.Error.DuringConnect() {
		return 0
	}
	end := r.FirstByte
	if end == 0 {
		end = r.Done
	}
	return nonNeg(end - r.Ready())
}

// canonical truncates every time to the microsecond, the resolution of a
// results file, so that a live result and the same result read back from a
// file are identical and attribute identically.
func (r *Result) canonical() {
	for _, d := range []*time.Duration{&r.Intended, &r.Queued, &r.Start, &r.DNSDone, &r.ConnectDone, &r.TLSDone, &r.Written, &r.FirstByte, &r.Done,
		&r.Server.Queue, &r.Server.App, &r.Server.UpstreamConnect, &r.Server.UpstreamHeader, &r.Server.FrontConnect, &r.Server.FrontHeader} {
		*d = d.Truncate(time.Microsecond)
	}
	if r.Server.HasStart {
		r.Server.Start = time.UnixMicro(r.Server.Start.UnixMicro())
	}
}

func nonNeg(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}
