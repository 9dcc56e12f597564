package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sink receives every finished Record, one at a time (calls never overlap),
// in completion order, from the goroutine that finished the request. It
// must not keep the pointer: the Record is reused once Record returns.
type Sink interface {
	Record(r *Record)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(*Record)

func (f SinkFunc) Record(r *Record) { f(r) }

// DefaultBatchWindow caps how long the dispatcher may defer a request to
// release it together with the next ones. Within the cap the window adapts
// to about batchGaps gaps between requests (an average over recent ones), so
// precision follows the rate: at 5 000 req/s requests go out in groups at
// most ≈0.8 ms apart, at 20 000 req/s ≈0.2 ms, and requests ≥ 1 ms apart
// are each sent on time. Every request keeps its own intended time and its
// lag is recorded. Why batch at all: each wake-up of an otherwise idle
// process costs context switches (measured here with bench/: ≈90 µs of CPU
// per request at 5 000 req/s with one wake-up per request).
const DefaultBatchWindow = time.Millisecond

// batchGaps is how many average request gaps one batch window spans.
const batchGaps = 4

// Config is a run: what to send, on what schedule, and where records go.
type Config struct {
	Schedule    Schedule
	Client      *Client
	Sink        Sink
	MaxInflight int // bound on requests in flight; default 10000
	// BatchWindow caps the dispatcher's adaptive batching (see
	// DefaultBatchWindow, used when 0); negative: one wake-up per request.
	BatchWindow time.Duration
	// Engine picks how requests are sent; EngineAuto by default.
	Engine Engine
	// Lanes, when set, replace Schedule, Client and MaxInflight: each lane
	// runs at the same time on the same clock, with its own dispatcher and
	// engine. Seqs are unique across lanes.
	Lanes []Lane
}

// Engine is how a run sends its requests. Both record the same phases.
type Engine uint8

const (
	// EngineAuto uses the event loop where it applies (Linux, keep-alive,
	// http:// to an IP address) and goroutines otherwise.
	EngineAuto Engine = iota
	// EngineGoroutines runs a goroutine per keep-alive connection, or per
	// request with new connections: every mode, TLS and host names.
	EngineGoroutines
	// EngineLoop runs every connection from one event loop on a locked OS
	// thread: about half the CPU per request (see evloop_linux.go).
	EngineLoop
)

func (e Engine) String() string {
	switch e {
	case EngineGoroutines:
		return "goroutines"
	case EngineLoop:
		return "loop"
	}
	return "auto"
}

// ParseEngine parses "auto", "goroutines" or "loop".
func ParseEngine(s string) (Engine, error) {
	for _, e := range []Engine{EngineAuto, EngineGoroutines, EngineLoop} {
		if strings.EqualFold(s, e.String()) {
			return e, nil
		}
	}
	return 0, fmt.Errorf("engine %q: want auto, goroutines or loop", s)
}

// DefaultMaxInflight bounds concurrent requests when Config.MaxInflight is 0.
const DefaultMaxInflight = 10000

// Progress is a live, concurrently readable view of a run.
type Progress struct {
	Scheduled   atomic.Int64 // requests whose intended time has come
	Started     atomic.Int64
	Completed   atomic.Int64
	Errors      atomic.Int64 // completed without an HTTP response
	SlotWaits   atomic.Int64 // requests that waited for an in-flight slot
	MaxInflight atomic.Int64
	oldest      atomic.Pointer[oldestInflight]
}

// OldestAge is how long the oldest unfinished request has been waiting,
// from its intended send time; ok is false when none is in flight. (With
// more than 16 Ki requests in flight out of order it is a lower bound.)
func (p *Progress) OldestAge() (age time.Duration, ok bool) {
	o := p.oldest.Load()
	if o == nil {
		return 0, false
	}
	at, ok := o.oldest()
	if !ok {
		return 0, false
	}
	return max(0, time.Since(o.start)-at), true
}

// InFlight is how many requests are started but not finished.
func (p *Progress) InFlight() int64 { return p.Started.Load() - p.Completed.Load() }

// Stats summarises a finished run from the generator's point of view.
type Stats struct {
	RunStart   time.Time     // wall clock and monotonic origin of every offset
	Elapsed    time.Duration // start to last completion
	SendWindow time.Duration // schedule length, or the last start if later
	Planned    int64         // requests the schedule holds (-1: statistical)
	// ScheduledRate is the schedule's mean rate in requests/s (Schedule.Rate).
	ScheduledRate float64
	Started       int64
	Completed     int64
	NotSent       int64 // scheduled requests never sent because the run was interrupted
	SlotWaits     int64 // requests that waited for an in-flight slot: the generator fell behind
	MaxInflight   int
	Interrupted   bool
}

// Runner executes a Config. Use Progress while Run is going.
type Runner struct {
	cfg      Config
	Progress Progress
	// OnStart, if set, is called with the run's clock origin before the
	// first request is sent and before any Record reaches the Sink.
	OnStart func(start time.Time)
	records sync.Pool
	done    chan struct{}
}

// Done is closed when Run has returned.
func (r *Runner) Done() <-chan struct{} { return r.done }

// NewRunner checks cfg.
func NewRunner(cfg Config) (*Runner, error) {
	if err := cfg.Schedule.Validate(); err != nil {
		return nil, err
	}
	if cfg.Client == nil {
		return nil, fmt.Errorf("no client")
	}
	if cfg.Sink == nil {
		cfg.Sink = SinkFunc(func(*Record) {})
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	switch {
	case cfg.BatchWindow == 0:
		cfg.BatchWindow = DefaultBatchWindow
	case cfg.BatchWindow < 0:
		cfg.BatchWindow = 0
	}
	if err := CheckEngine(cfg.Engine, cfg.Client.cfg); err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, done: make(chan struct{})}
	r.records.New = func() any { return &Record{headerBuffer: make([]byte, 0, 256)} }
	return r, nil
}

// raiseFDLimit is RaiseFDLimit; a test that lowers the limit to exercise
// fds_exhausted turns it off (raising the hard limit back needs privileges).
var raiseFDLimit = RaiseFDLimit

// Run sends the schedule and blocks until every started request has
// finished. Cancelling ctx stops scheduling, ends in-flight requests (they
// are recorded as canceled) and returns what was measured so far.
func (r *Runner) Run(ctx context.Context) Stats {
	cfg := r.cfg
	client := cfg.Client
	defer close(r.done)
	_, _, _ = raiseFDLimit() // best effort: the CLI reports the limits
	start := time.Now()
	client.setClock(start)
	if r.OnStart != nil {
		r.OnStart(start)
	}
	p := &r.Progress
	p.MaxInflight.Store(int64(cfg.MaxInflight))
	d := &dispatcher{r: r, start: start}
	d.oldest.start = start
	p.oldest.Store(&d.oldest)
	d.finishFn = d.finish
	sent := d.run(ctx, r.engine(ctx, d))
	elapsed := time.Since(start)

	st := Stats{
		RunStart:      start,
		Elapsed:       elapsed,
		Planned:       cfg.Schedule.Planned(),
		ScheduledRate: cfg.Schedule.Rate(),
		Started:       int64(sent),
		Completed:     p.Completed.Load(),
		SlotWaits:     p.SlotWaits.Load(),
		MaxInflight:   cfg.MaxInflight,
		Interrupted:   ctx.Err() != nil,
	}
	st.SendWindow = cfg.Schedule.Length()
	if ls := time.Duration(d.lastStart.Load()); ls > st.SendWindow {
		st.SendWindow = ls
	}
	if st.Interrupted {
		st.SendWindow = min(st.SendWindow, elapsed)
		if st.Planned >= 0 {
			st.NotSent = st.Planned - st.Started
		} else {
			st.NotSent = max(0, p.Scheduled.Load()-st.Started)
		}
	}
	return st
}

// engine returns the engine for this run: the event loop when the engine
// is (or automatically picks) the loop and it can be set up, goroutines
// otherwise. If the loop cannot start (no descriptor for its epoll set,
// say), goroutines run and report the cause per request.
func (r *Runner) engine(ctx context.Context, d *dispatcher) engine {
	if r.cfg.Engine != EngineGoroutines && loopSupported(&r.cfg.Client.cfg) == nil {
		if l, err := newEventLoop(r.cfg.Client, d.start, d.finishFn); err == nil {
			return l
		}
	}
	return newGoroutineEngine(ctx, r.cfg.Client, d)
}

// CheckEngine reports, without opening anything, whether engine e can run
// requests configured by cc: nil for EngineAuto and EngineGoroutines, the
// reason for EngineLoop when it cannot (new connections, TLS, a host name,
// not Linux). A CLI can call it before creating any file.
func CheckEngine(e Engine, cc ClientConfig) error {
	switch e {
	case EngineAuto, EngineGoroutines:
		return nil
	case EngineLoop:
		if err := loopSupported(&cc); err != nil {
			return fmt.Errorf("--engine loop: %w", err)
		}
		return nil
	}
	return fmt.Errorf("unknown engine %d", e)
}

// EngineFor says which engine a run of c's requests with engine e uses:
// EngineAuto resolves to the loop where it applies, goroutines otherwise.
func (c *Client) EngineFor(e Engine) (Engine, error) {
	if err := CheckEngine(e, c.cfg); err != nil {
		return 0, err
	}
	if e == EngineAuto {
		if loopSupported(&c.cfg) == nil {
			return EngineLoop, nil
		}
		return EngineGoroutines, nil
	}
	return e, nil
}

// loopSupported says whether the event-loop engine can run cc's requests.
func loopSupported(cc *ClientConfig) error {
	if err := loopPlatform(); err != nil {
		return err
	}
	u, err := url.Parse(cc.URL)
	if err != nil {
		return fmt.Errorf("bad URL %q", RedactURL(cc.URL))
	}
	switch {
	case cc.Mode != KeepAlive:
		return errors.New("the event-loop engine runs keep-alive connections only")
	case u.Scheme == "https":
		return errors.New("the event-loop engine does not speak TLS")
	case net.ParseIP(u.Hostname()) == nil:
		return errors.New("the event-loop engine needs an IP address in the URL, not a host name")
	}
	return nil
}

// A Lane is one of a run's concurrent clients: its own schedule, requests,
// connections and behaviours, on the run's shared clock. Records carry its
// index in Config.Lanes (Record.Lane).
type Lane struct {
	Schedule    Schedule
	Client      *Client
	MaxInflight int // this lane's bound on requests in flight; default DefaultMaxInflight
	Retry       Retry
}

// Retry is how a lane's client retries, as real clients do. Every retry is
// a new request with its own intended time (when the client decided to
// retry, plus the delay) and its own Seq, linked to the chain's first
// request by Record.RetryOf; nothing is hidden in the original's timing.
// The zero Retry never retries.
type Retry struct {
	// OnTimeout is how many times a client-side timeout (ErrTimeout or
	// ErrConnectTimeout) is followed by a new attempt, After later: a user
	// hitting refresh.
	OnTimeout int
	After     time.Duration
	// OnStatus is how many times a response with one of Statuses (e.g.
	// 502, 503, 504) is retried, as partner SDKs do: after Backoff, then
	// Backoff·Factor, … at most MaxBackoff.
	OnStatus   int
	Statuses   []int
	Backoff    time.Duration
	Factor     float64 // default 2
	MaxBackoff time.Duration
}
