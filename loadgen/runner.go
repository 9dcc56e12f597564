package loadgen

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Sink receives every finished Record, one at a time from a single
// goroutine, in completion order. It must not keep the pointer: the Record
// is reused once Record returns.
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

// Config is a run: what to send, on what schedule, and where records go.
type Config struct {
	Schedule    Schedule
	Client      *Client
	Sink        Sink
	MaxInflight int // bound on requests in flight; default 10000
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
	// The dispatcher sleeps on a locked thread; with a single P every
	// request goroutine would wait for that thread to give the P back.
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	defer close(r.done)
	start := time.Now()
	client.setClock(start)
	if r.OnStart != nil {
		r.OnStart(start)
	}

	done := make(chan *Record, 4096)
	collected := make(chan struct{})
	go func() {
		for rec := range done {
			cfg.Sink.Record(rec)
			rec.reset()
			r.records.Put(rec)
		}
		close(collected)
	}()

	stopAbort := context.AfterFunc(ctx, client.Abort)
	defer stopAbort()

	slots := make(chan struct{}, cfg.MaxInflight)
	var wg sync.WaitGroup
	var lastStart atomic.Int64
	p := &r.Progress
	p.MaxInflight.Store(int64(cfg.MaxInflight))

	dispatched := make(chan int64)
	go func() {
		w := newWaiter(start)
		defer w.close()
		var seq uint64
		it := cfg.Schedule.iterator()
		for {
			at, n, ok := it.next()
			if !ok {
				break
			}
			p.Scheduled.Add(int64(n))
			w.until(at)
			for i := 0; i < n; i++ {
				if ctx.Err() != nil {
					dispatched <- int64(seq)
					return
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
						dispatched <- int64(seq)
						return
					}
				}
				seq++
				rec := r.records.Get().(*Record)
				rec.Seq = seq
				rec.Intended = at
				rec.WaitedSlot = waited
				p.Started.Add(1)
				wg.Add(1)
				go func() {
					client.Do(ctx, rec)
					for s := int64(rec.Start); ; {
						cur := lastStart.Load()
						if s <= cur || lastStart.CompareAndSwap(cur, s) {
							break
						}
					}
					if rec.Error != ErrNone {
						p.Errors.Add(1)
					}
					p.Completed.Add(1)
					<-slots
					done <- rec
					wg.Done()
				}()
			}
		}
		dispatched <- int64(seq)
	}()
	sent := <-dispatched
	wg.Wait()
	elapsed := time.Since(start)
	close(done)
	<-collected

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
