package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// ErrorClass is a stable, documented code for why a request produced no
// HTTP response. Its String form appears in results files and reports, so
// existing names must never change.
type ErrorClass uint8

const (
	ErrNone           ErrorClass = iota
	ErrRefused                   // ECONNREFUSED: nothing listens on the port
	ErrConnectTimeout            // connect did not finish in time: SYNs unanswered, accept queue full
	ErrPortsExhausted            // EADDRNOTAVAIL: the client ran out of ephemeral ports
	ErrUnreachable               // network or host unreachable
	ErrDNS                       // the host name did not resolve
	ErrTLS                       // the TLS handshake failed
	ErrConnect                   // any other connect failure
	ErrTimeout                   // connected, but the response did not complete in time
	ErrReset                     // ECONNRESET or EPIPE: the server reset the connection
	ErrClosed                    // the server closed the connection before sending a byte
	ErrProtocol                  // the response was not valid HTTP/1.x or was cut short
	ErrCanceled                  // the run was interrupted while the request was in flight
	ErrOther                     // anything else; the record's error text says what
	ErrFDsExhausted              // EMFILE/ENFILE: the generator ran out of file descriptors
	numErrorClasses
)

var errorClassNames = [numErrorClasses]string{
	ErrNone:           "",
	ErrRefused:        "refused",
	ErrConnectTimeout: "connect_timeout",
	ErrPortsExhausted: "ports_exhausted",
	ErrUnreachable:    "unreachable",
	ErrDNS:            "dns_error",
	ErrTLS:            "tls_error",
	ErrConnect:        "connect_error",
	ErrTimeout:        "timeout",
	ErrReset:          "reset",
	ErrClosed:         "closed",
	ErrProtocol:       "protocol_error",
	ErrCanceled:       "canceled",
	ErrOther:          "error",
	ErrFDsExhausted:   "fds_exhausted",
}

func (c ErrorClass) String() string {
	if c < numErrorClasses {
		return errorClassNames[c]
	}
	return "error"
}

// DuringConnect says whether the class ends an attempt before a connection
// was established (nothing was sent).
func (c ErrorClass) DuringConnect() bool {
	switch c {
	case ErrRefused, ErrConnectTimeout, ErrPortsExhausted, ErrUnreachable, ErrDNS, ErrTLS, ErrConnect, ErrFDsExhausted:
		return true
	}
	return false
}

// GeneratorLimit says whether the class is a limit of the generator's own
// machine (ports, file descriptors), not a fault of the target: such
// requests say nothing about the target and the run should be redone with
// the limit raised.
func (c ErrorClass) GeneratorLimit() bool {
	return c == ErrPortsExhausted || c == ErrFDsExhausted
}

// ErrorClasses lists every client-side error class, for documentation.
func ErrorClasses() []ErrorClass {
	out := make([]ErrorClass, 0, numErrorClasses-1)
	for c := ErrRefused; c < numErrorClasses; c++ {
		out = append(out, c)
	}
	return out
}

// ParseErrorClass is the inverse of String.
func ParseErrorClass(s string) (ErrorClass, bool) {
	for i, n := range errorClassNames {
		if n == s {
			return ErrorClass(i), true
		}
	}
	return ErrOther, false
}

// Header is one response header value a Record was asked to keep.
type Header struct {
	Name  string // canonical name as configured
	Value []byte
}

// Record is everything the client measured about one scheduled request.
//
// Times are offsets from the run's start on Go's monotonic clock; a zero
// phase offset means the phase was not reached (every reached phase happens
// strictly after the run starts). Intended is the scheduled send time, and
// latency is measured from it.
type Record struct {
	Seq      uint64        // 1-based, unique in the run: a scheduled request's place in the schedule (lanes interleaved), the same in every shard; a retry's Attempt·RetrySeqBase + its chain's first Seq. Part of X-Request-Id
	Intended time.Duration // when the schedule wanted the request sent
	// Queued is when the dispatcher handed the request to the engine, or
	// (while it was held up by the in-flight bound) the moment it began
	// waiting: from here to Start the request waited for a slot or a pooled
	// connection the target was holding, not for the generator.
	Queued time.Duration
	Start  time.Duration // when the client began: in-flight slot taken and connection in hand or dial started (a dial always starts here)

	DNSDone     time.Duration // name resolved (new connections to a host name only)
	ConnectDone time.Duration // TCP connect finished (new connections only)
	TLSDone     time.Duration // TLS handshake finished (https, new connections only)
	Written     time.Duration // request fully written
	FirstByte   time.Duration // first response byte read
	Done        time.Duration // response fully read, or the error surfaced

	NewConn    bool       // a connection was dialled for this request
	WaitedSlot bool       // waited for an in-flight slot (--max-inflight)
	WaitedConn bool       // waited for a free pooled connection (--connections)
	SynRetrans uint8      // SYN retransmits seen on the new connection (TCP_INFO)
	Retrans    uint8      // retransmits by the first response byte (new connections); > SynRetrans: the request data was resent
	Status     int        // HTTP status, 0 without a response
	BytesOut   int64      // request bytes written
	BytesIn    int64      // bytes of the response read: interim responses, status line, headers, body (not stray bytes after it)
	Error      ErrorClass // ErrNone when a response arrived
	ErrorText  string     // the underlying error, for humans
	Headers    []Header   // response headers the client was asked to keep

	// Lane is which of the run's concurrent clients (Config.Lanes) sent
	// the request; Mix is the index of its request in that lane's mix
	// (ClientConfig.Mix; 0 when the lane has a single request).
	Lane, Mix uint16
	// Attempt is 0 for a scheduled request and k for its k-th retry by a
	// Retry behaviour; RetryOf is then the Seq of the scheduled request the
	// chain began with. A retry is its own request with its own intended
	// time and Seq: it is never hidden inside the original's timing.
	Attempt uint16
	RetryOf uint64

	slot         uint64 // the lane's dispatch count at this request: its place in the oldest-in-flight view
	headerBuffer []byte
}

// Lag is how late the generator itself was: intended time → queued (the
// dispatcher behind its schedule: CPU, scheduling, batching). Records
// without a queued time (older files) count all of start − intended.
func (r *Record) Lag() time.Duration {
	if r.Queued == 0 || !r.WaitedConn && !r.WaitedSlot {
		return nonNeg(r.Start - r.Intended)
	}
	return nonNeg(min(r.Queued, r.Start) - r.Intended)
}

// ClientQueue is how long the request waited, queued → start, for an
// in-flight slot or a pooled connection: client-side queueing caused by a
// target that holds its connections, as a partner's pool experiences it.
func (r *Record) ClientQueue() time.Duration {
	if r.Queued == 0 || !r.WaitedConn && !r.WaitedSlot {
		return 0 // handed straight to a connection: any delay is the generator's
	}
	return nonNeg(r.Start - max(r.Queued, r.Intended))
}

// Total is the client-observed latency from the intended send time.
func (r *Record) Total() time.Duration { return nonNeg(r.Done - r.Intended) }

// TTFB is the time from the intended send time to the first response byte,
// or 0 if none arrived.
func (r *Record) TTFB() time.Duration {
	if r.FirstByte == 0 {
		return 0
	}
	return nonNeg(r.FirstByte - r.Intended)
}

// Ready is when the connection was ready to carry the request: for a new
// connection after DNS, TCP and TLS (the later of ConnectDone and TLSDone),
// otherwise Start (a reused connection, or a connect that never finished).
func (r *Record) Ready() time.Duration {
	if !r.NewConn || r.ConnectDone == 0 {
		return r.Start
	}
	return max(r.ConnectDone, r.TLSDone)
}

// Connect is the whole setup of a new connection, DNS + TCP + TLS
// (Ready − Start); 0 for a reused connection or a connect that never
// finished.
func (r *Record) Connect() time.Duration {
	if !r.NewConn || r.ConnectDone == 0 {
		return 0
	}
	return nonNeg(r.Ready() - r.Start)
}

// DNS is the name resolution of a new connection (DNSDone − Start), 0 when
// no name was resolved.
func (r *Record) DNS() time.Duration {
	if r.DNSDone == 0 {
		return 0
	}
	return nonNeg(r.DNSDone - r.Start)
}

// TLS is the TLS handshake of a new connection (TLSDone − ConnectDone), 0
// without one.
func (r *Record) TLS() time.Duration {
	if r.TLSDone == 0 || r.ConnectDone == 0 {
		return 0
	}
	return nonNeg(r.TLSDone - r.ConnectDone)
}

// Header returns the first kept value of the named header (as configured).
func (r *Record) Header(name string) []byte {
	for _, h := range r.Headers {
		if h.Name == name {
			return h.Value
		}
	}
	return nil
}

func (r *Record) reset() {
	buf := r.headerBuffer[:0]
	hs := r.Headers[:0]
	*r = Record{headerBuffer: buf, Headers: hs}
}

// keepHeader copies value into the record's own buffer. Earlier values keep
// pointing at the old backing array if the buffer grows, which stays valid.
func (r *Record) keepHeader(name string, value []byte) {
	start := len(r.headerBuffer)
	r.headerBuffer = append(r.headerBuffer, value...)
	r.Headers = append(r.Headers, Header{Name: name, Value: r.headerBuffer[start:len(r.headerBuffer):len(r.headerBuffer)]})
}

func nonNeg(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// classifyDialError maps a dial failure to its class.
func classifyDialError(err error) ErrorClass {
	var dnsErr *net.DNSError
	var tlsErr *tlsError
	switch {
	case errors.Is(err, context.Canceled):
		return ErrCanceled
	case errors.As(err, &tlsErr):
		// Connected, but the handshake failed (or timed out): a TLS problem.
		return ErrTLS
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return ErrPortsExhausted
	case fdsExhausted(err):
		return ErrFDsExhausted
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return ErrUnreachable
	case errors.As(err, &dnsErr):
		return ErrDNS
	case isTimeout(err):
		return ErrConnectTimeout
	case errors.Is(err, syscall.ECONNRESET):
		return ErrReset
	}
	return ErrConnect
}

// classifyExchangeError maps a failure after connect to its class.
// gotByte says whether any response byte had arrived.
func classifyExchangeError(err error, gotByte bool) ErrorClass {
	var tlsRecord tls.RecordHeaderError
	var perr *protocolError
	switch {
	case errors.Is(err, context.Canceled):
		return ErrCanceled
	case errors.As(err, &perr):
		return ErrProtocol
	case fdsExhausted(err):
		return ErrFDsExhausted
	case isTimeout(err):
		return ErrTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return ErrReset
	case errors.As(err, &tlsRecord), errors.As(err, new(tls.AlertError)):
		return ErrTLS
	case !gotByte && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		return ErrClosed
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrProtocol
	}
	return ErrOther
}

// fdsExhausted: EMFILE (this process) or ENFILE (the whole system) from
// socket(), accept or anything else that needs a descriptor.
func fdsExhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// protocolError is a response that is not valid HTTP/1.x, as found by the
// shared response parser (wire.go).
type protocolError struct{ err error }

func (e *protocolError) Error() string { return "bad response: " + e.err.Error() }
func (e *protocolError) Unwrap() error { return e.err }

// isTimeout covers net.Error timeouts, deadline errors, and
// fasthttp.ErrTimeout, which is not a net.Error.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
