package loadgen

import (
	"context"
	"fmt"
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

type waiter interface {
	until(at time.Duration)
	close()
}

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
}

// InFlight is how many requests are started but not finished.
func (p *Progress) InFlight() int64 { return p.Started.Load() - p.Completed.Load() }

// Stats summarises a finished run from the generator's point of view.
type Stats struct {
	RunStart    time.Time     // wall clock and monotonic origin of every offset
	Elapsed     time.Duration // start to last completion
	SendWindow  time.Duration // schedule length, or the last start if later
	Planned     int64         // requests the schedule holds (-1: statistical)
	Started     int64
	Completed   int64
	NotSent     int64 // scheduled requests never sent because the run was interrupted
	SlotWaits   int64 // requests that waited for an in-flight slot: the generator fell behind
	MaxInflight int
	Interrupted bool
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
	if cfg.Engine == EngineLoop {
		if err := loopSupported(cfg.Client); err != nil {
			return nil, fmt.Errorf("--engine loop: %w", err)
		}
	}
	r := &Runner{cfg: cfg, done: make(chan struct{})}
	r.records.New = func() any { return &Record{headerBuffer: make([]byte, 0, 256)} }
	return r, nil
}

// Run sends the schedule and blocks until every started request has
// finished. Cancelling ctx stops scheduling, ends in-flight requests (they
// are recorded as canceled) and returns what was measured so far.
func (r *Runner) Run(ctx context.Context) Stats {
	cfg := r.cfg
	client := cfg.Client
	defer close(r.done)
	start := time.Now()
	client.setClock(start)
	if r.OnStart != nil {
		r.OnStart(start)
	}

	p := &r.Progress
	p.MaxInflight.Store(int64(cfg.MaxInflight))
	var sinkMu sync.Mutex
	var lastStart atomic.Int64
	slots := make(chan struct{}, cfg.MaxInflight)
	// finish hands a finished record to the sink. Calling the sink here,
	// under a mutex, avoids waking a collector goroutine per request.
	finish := func(rec *Record) {
		for s := int64(rec.Start); ; {
			cur := lastStart.Load()
			if s <= cur || lastStart.CompareAndSwap(cur, s) {
				break
			}
		}
		if rec.Error != ErrNone {
			p.Errors.Add(1)
		}
		<-slots
		sinkMu.Lock()
		cfg.Sink.Record(rec)
		p.Completed.Add(1)
		sinkMu.Unlock()
		rec.reset()
		r.records.Put(rec)
	}

	var sent int64
	if l := r.eventLoop(start, finish); l != nil {
		sent = int64(r.runLoop(ctx, l, slots))
	} else {
		sent = r.runGoroutines(ctx, start, slots, finish)
	}
	elapsed := time.Since(start)

	st := Stats{
		RunStart:    start,
		Elapsed:     elapsed,
		Planned:     cfg.Schedule.Planned(),
		Started:     sent,
		Completed:   p.Completed.Load(),
		SlotWaits:   p.SlotWaits.Load(),
		MaxInflight: cfg.MaxInflight,
		Interrupted: ctx.Err() != nil,
	}
	st.SendWindow = cfg.Schedule.Length()
	if ls := time.Duration(lastStart.Load()); ls > st.SendWindow {
		st.SendWindow = ls
	}
	if st.Interrupted {
		st.SendWindow = min(st.SendWindow, elapsed)
		if st.Planned >= 0 {
			st.NotSent = st.Planned - sent
		} else {
			st.NotSent = max(0, p.Scheduled.Load()-sent)
		}
	}
	return st
}

// eventLoop returns the event loop for this run when the engine is (or
// automatically picks) the loop, nil for goroutines.
func (r *Runner) eventLoop(start time.Time, finish func(*Record)) *eventLoop {
	if r.cfg.Engine == EngineGoroutines || loopSupported(r.cfg.Client) != nil {
		return nil
	}
	l, err := newEventLoop(r.cfg.Client, start, finish)
	if err != nil {
		return nil // out of descriptors, say: the goroutine engine will report it per request
	}
	return l
}

// runGoroutines is Runner.Run's body for the goroutine engine. It returns
// how many requests it started.
func (r *Runner) runGoroutines(ctx context.Context, start time.Time, slots chan struct{}, finish func(*Record)) int64 {
	cfg := r.cfg
	client := cfg.Client
	p := &r.Progress
	stopAbort := context.AfterFunc(ctx, client.Abort)
	defer stopAbort()

	// Keep-alive: one long-lived worker per connection, fed in schedule
	// order. A request that finds no idle worker waits (counted as lag and
	// flagged). New connections: a goroutine per request.
	var wg sync.WaitGroup
	keepAlive := client.cfg.Mode == KeepAlive
	var jobs chan *Record
	var idle atomic.Int64
	if keepAlive {
		jobs = make(chan *Record, cfg.MaxInflight)
		for i := 0; i < client.cfg.Connections; i++ {
			wg.Add(1)
			idle.Add(1)
			go func() {
				defer wg.Done()
				var cn *Conn
				for rec := range jobs {
					idle.Add(-1)
					client.DoOn(ctx, rec, &cn)
					finish(rec)
					idle.Add(1)
				}
				if cn != nil {
					client.closeConn(cn, false)
				}
			}()
		}
	}

	w := newWaiter(start)
	var seq uint64
	it := cfg.Schedule.iterator()
	maxWindow := cfg.BatchWindow
	var lastWake, prevAt, gapAvg time.Duration
dispatch:
	for {
		at, n, ok := it.next()
		if !ok {
			break
		}
		p.Scheduled.Add(int64(n))
		// Sleep only for a request that is not yet due, and never wake
		// sooner than one batch window after the last wake-up: everything
		// due by then goes out together (see DefaultBatchWindow). The lag
		// this adds is bounded by the window and recorded per request.
		if seq > 0 {
			gapAvg += (at - prevAt - gapAvg) / 8 // moving average of request gaps
		}
		prevAt = at
		if at > time.Since(start) {
			window := min(maxWindow, batchGaps*gapAvg)
			wake := max(at, lastWake+window)
			w.until(wake)
			lastWake = wake
		}
		for i := 0; i < n; i++ {
			if ctx.Err() != nil {
				break dispatch
			}
			waited := false
			select {
			case slots <- struct{}{}:
			default:
				waited = true
				p.SlotWaits.Add(1)
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					break dispatch
				}
			}
			seq++
			rec := r.records.Get().(*Record)
			rec.Seq = seq
			rec.Intended = at
			rec.WaitedSlot = waited
			p.Started.Add(1)
			if keepAlive {
				rec.WaitedConn = int64(len(jobs)) >= idle.Load()
				jobs <- rec
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				client.Do(ctx, rec)
				finish(rec)
			}()
		}
	}
	w.close()
	if keepAlive {
		close(jobs)
	}
	wg.Wait()
	return int64(seq)
}
