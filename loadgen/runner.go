package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sink receives every finished Record, one at a time (calls never overlap,
// across lanes too), in completion order, from the goroutine that finished the request. It
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
	// engine (Engine is resolved per lane: EngineAuto may run one lane on
	// the event loop and another on goroutines). Seqs are unique across
	// lanes: lane i's k-th scheduled request is (k−1)·len(Lanes)+i+1.
	Lanes []Lane
	// Shard makes this run one of Count generators that together send
	// exactly the schedule of one: each sends every Count-th scheduled
	// request of every lane (those whose 0-based place in the lane's
	// schedule is ≡ Index mod Count), with the single run's Seq, intended
	// time and pick from the mix; a burst of K lands at one instant on all
	// of them. The zero Shard is the whole run.
	Shard Shard
	// Start, when set, is the run's clock origin, shared by the shards of
	// a run (--start-at): Run waits for it, or, started late, measures
	// from it anyway, so requests due before it was reached are sent late
	// and their lag says by how much.
	Start time.Time
}

// Shard is one generator's share of a run (Config.Shard).
type Shard struct {
	Index, Count int // 0 ≤ Index < Count
}

// Of is this shard's share of n scheduled requests (n < 0: unknown).
func (s Shard) Of(n int64) int64 {
	if s.Count <= 1 || n < 0 {
		return n
	}
	c, i := int64(s.Count), int64(s.Index)
	return (n + c - 1 - i) / c
}

func (s Shard) String() string {
	if s.Count <= 1 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// ParseShard parses "I/N" (0 ≤ I < N ≤ 10 000).
func ParseShard(v string) (Shard, error) {
	i, n, ok := strings.Cut(v, "/")
	a, err1 := strconv.Atoi(strings.TrimSpace(i))
	b, err2 := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q: want I/N, e.g. 0/3 (shards are numbered from 0)", v)
	}
	if b < 1 || b > 10_000 || a < 0 || a >= b {
		return Shard{}, fmt.Errorf("shard %q: want 0 ≤ I < N ≤ 10000 (shards are numbered from 0)", v)
	}
	return Shard{Index: a, Count: b}, nil
}

// Engine is how a run sends its requests. Both record the same phases.
type Engine uint8

const (
	// EngineAuto uses the event loop where it applies (Linux, http://, either
	// connection mode, an IP address or a host name) and goroutines
	// otherwise (https, other systems).
	EngineAuto Engine = iota
	// EngineGoroutines runs a goroutine per keep-alive connection, or per
	// request with new connections: every mode, TLS and host names.
	EngineGoroutines
	// EngineLoop runs every connection from one event loop goroutine with
	// its own epoll set: about half the CPU per request, and bursts of new
	// connections that leave together (see evloop_linux.go).
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

// Progress is a live, concurrently readable view of a run: every lane's
// requests together.
type Progress struct {
	Scheduled   atomic.Int64 // requests whose intended time has come (retries included)
	Started     atomic.Int64
	Completed   atomic.Int64
	Errors      atomic.Int64 // completed without an HTTP response
	SlotWaits   atomic.Int64 // requests that waited for an in-flight slot
	MaxInflight atomic.Int64 // the lanes' bounds, summed
	oldest      atomic.Pointer[oldestView]
}

// oldestView is every lane's oldest-in-flight view.
type oldestView struct {
	start time.Time
	lanes []*oldestInflight
}

// OldestAge is how long the oldest unfinished request (of any lane) has
// been waiting, from its intended send time; ok is false when none is in
// flight. (With more than 16 Ki requests of one lane in flight out of
// order it is a lower bound.)
func (p *Progress) OldestAge() (age time.Duration, ok bool) {
	v := p.oldest.Load()
	if v == nil {
		return 0, false
	}
	var oldest time.Duration
	for _, o := range v.lanes {
		if at, found := o.oldest(); found && (!ok || at < oldest) {
			oldest, ok = at, true
		}
	}
	if !ok {
		return 0, false
	}
	return max(0, time.Since(v.start)-oldest), true
}

// InFlight is how many requests are started but not finished.
func (p *Progress) InFlight() int64 { return p.Started.Load() - p.Completed.Load() }

// Stats summarises a finished run from the generator's point of view.
type Stats struct {
	RunStart   time.Time     // wall clock and monotonic origin of every offset
	Elapsed    time.Duration // start to last completion
	SendWindow time.Duration // the longest lane's schedule length, or the last start if later
	Planned    int64         // requests the schedules hold, summed (-1: statistical)
	// ScheduledRate is the lanes' combined mean rate in requests/s: their
	// expected requests over the longest schedule (Schedule.Rate for one).
	ScheduledRate float64
	Started       int64 // requests sent, retries included
	Completed     int64
	NotSent       int64 // scheduled requests never sent because the run was interrupted
	SlotWaits     int64 // requests that waited for an in-flight slot: the generator fell behind
	MaxInflight   int
	Interrupted   bool
	// Retries is how many retries (Lane.Retry) were sent, counted in
	// Started too; RetriesDropped how many were pending when the run was
	// interrupted, never sent.
	Retries, RetriesDropped int64
	// BurstSpreadMax is the widest spread, first to last Start, of any
	// burst (requests the schedule sends at one instant, e.g. Burst or a
	// spike's step), over every lane; Bursts how many bursts finished. A
	// burst that leaves together has a spread near 0; its lag max is
	// Start − Intended of its last request, the spread plus the first's lag.
	BurstSpreadMax time.Duration
	Bursts         int64
	// Lanes has one entry per lane (one for a run without Config.Lanes).
	Lanes []LaneStats
	// LateStart is how long after Config.Start the run began (0 when it
	// was reached in time or not set): requests due meanwhile went out late.
	LateStart time.Duration
}

// LaneStats is one lane's share of Stats.
type LaneStats struct {
	Planned                          int64 // the lane's schedule (-1: statistical)
	Started, Retries, RetriesDropped int64
}

// Runner executes a Config. Use Progress while Run is going.
type Runner struct {
	cfg      Config
	lanes    []Lane // Config.Lanes, or the one lane Schedule, Client and MaxInflight make
	Progress Progress
	// OnStart, if set, is called with the run's clock origin before the
	// first request is sent and before any Record reaches the Sink.
	OnStart func(start time.Time)
	records sync.Pool  // the goroutine engine's records (dispatcher.getRecord)
	sinkMu  sync.Mutex // every lane's Sink calls, one at a time
	done    chan struct{}
}

// Done is closed when Run has returned.
func (r *Runner) Done() <-chan struct{} { return r.done }

// maxLanes bounds Config.Lanes: Record.Lane is a uint16.
const maxLanes = math.MaxUint16 + 1

// NewRunner checks cfg, each lane's schedule, client, engine and retries.
func NewRunner(cfg Config) (*Runner, error) {
	lanes := cfg.Lanes
	if len(lanes) == 0 {
		lanes = []Lane{{Schedule: cfg.Schedule, Client: cfg.Client, MaxInflight: cfg.MaxInflight}}
	} else {
		if len(lanes) > maxLanes {
			return nil, fmt.Errorf("%d lanes: at most %d", len(lanes), maxLanes)
		}
		lanes = append([]Lane(nil), lanes...)
	}
	for i := range lanes {
		ln := &lanes[i]
		if err := checkLane(ln, cfg.Engine); err != nil {
			if len(cfg.Lanes) > 0 {
				return nil, fmt.Errorf("lane %d: %w", i, err)
			}
			return nil, err
		}
	}
	if sh := cfg.Shard; sh.Count < 0 || sh.Count > 1 && (sh.Index < 0 || sh.Index >= sh.Count) || sh.Count <= 1 && sh.Index != 0 {
		return nil, fmt.Errorf("shard %d/%d: want 0 ≤ I < N", sh.Index, sh.Count)
	}
	if cfg.Sink == nil {
		cfg.Sink = SinkFunc(func(*Record) {})
	}
	if len(cfg.Lanes) == 0 {
		cfg.MaxInflight = lanes[0].MaxInflight
	}
	switch {
	case cfg.BatchWindow == 0:
		cfg.BatchWindow = DefaultBatchWindow
	case cfg.BatchWindow < 0:
		cfg.BatchWindow = 0
	}
	r := &Runner{cfg: cfg, lanes: lanes, done: make(chan struct{})}
	r.records.New = func() any { return newRecord() }
	return r, nil
}

// checkLane validates one lane and fills its defaults.
func checkLane(ln *Lane, e Engine) error {
	if err := ln.Schedule.Validate(); err != nil {
		return err
	}
	if ln.Client == nil {
		return fmt.Errorf("no client")
	}
	if ln.MaxInflight <= 0 {
		ln.MaxInflight = DefaultMaxInflight
	}
	if err := CheckEngine(e, ln.Client.cfg); err != nil {
		return err
	}
	if err := validateRetry(ln.Retry); err != nil {
		return err
	}
	return checkReplays(ln.Schedule, ln.Client.MixLen())
}

// raiseFDLimit is RaiseFDLimit; a test that lowers the limit to exercise
// fds_exhausted turns it off (raising the hard limit back needs privileges).
var raiseFDLimit = RaiseFDLimit

// Run sends every lane's schedule and blocks until every started request
// has finished. Lanes share one clock (one start), the Sink's mutex, the
// Progress and the Stats; each has its own dispatcher and engine, in a
// goroutine of its own. Cancelling ctx stops scheduling in every lane, ends
// in-flight requests (they are recorded as canceled), drops pending
// retries and returns what was measured so far.
func (r *Runner) Run(ctx context.Context) Stats {
	defer close(r.done)
	_, _, _ = raiseFDLimit() // best effort: the CLI reports the limits
	start := time.Now()
	var late time.Duration
	if !r.cfg.Start.IsZero() {
		// The shared origin on this process's monotonic clock. Ahead, the
		// dispatchers sleep until their first send as they sleep between
		// sends (precisely, and cancellably), with everything set up
		// already; behind, the run starts late, measuring from it.
		start = start.Add(time.Until(r.cfg.Start))
		late = max(0, time.Since(start))
	}
	for _, ln := range r.lanes {
		ln.Client.setClock(start)
	}
	if r.OnStart != nil {
		r.OnStart(start)
	}
	p := &r.Progress
	view := &oldestView{start: start}
	ds := make([]*dispatcher, len(r.lanes))
	var maxInflight int
	for i, ln := range r.lanes {
		d := &dispatcher{r: r, start: start, lane: uint16(i), nLanes: uint64(len(r.lanes)), client: ln.Client,
			sched: ln.Schedule, maxInflight: int64(ln.MaxInflight), weights: ln.Client.weights, retry: newRetryPolicy(ln.Retry)}
		if d.weights != nil {
			d.rng = newRNG(ln.Seed)
		}
		d.oldest.start = start
		d.finishFn = d.finish
		ds[i] = d
		view.lanes = append(view.lanes, &d.oldest)
		maxInflight += ln.MaxInflight
	}
	p.MaxInflight.Store(int64(maxInflight))
	p.oldest.Store(view)
	var wg sync.WaitGroup
	for _, d := range ds[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.run(ctx, r.engine(ctx, d))
		}()
	}
	ds[0].run(ctx, r.engine(ctx, ds[0])) // one lane runs as it always has: here
	wg.Wait()
	elapsed := time.Since(start)

	st := Stats{
		RunStart:    start,
		Elapsed:     elapsed,
		Completed:   p.Completed.Load(),
		SlotWaits:   p.SlotWaits.Load(),
		MaxInflight: maxInflight,
		Interrupted: ctx.Err() != nil,
		Lanes:       make([]LaneStats, len(ds)),
		LateStart:   late,
	}
	var expect float64
	var lastStart time.Duration
	for i, d := range ds {
		planned := r.cfg.Shard.Of(d.sched.Planned())
		st.Lanes[i] = LaneStats{Planned: planned, Started: d.sent, Retries: d.retried, RetriesDropped: d.dropped}
		if planned < 0 || st.Planned < 0 {
			st.Planned = -1
		} else {
			st.Planned += planned
		}
		st.Started += d.sent
		st.Retries += d.retried
		st.RetriesDropped += d.dropped
		st.SendWindow = max(st.SendWindow, d.sched.Length())
		expect += d.sched.Rate() * d.sched.Length().Seconds()
		lastStart = max(lastStart, time.Duration(d.lastStart.Load()))
		spread, bursts := d.bursts.result()
		st.BurstSpreadMax = max(st.BurstSpreadMax, spread)
		st.Bursts += bursts
	}
	if len(ds) == 1 {
		st.ScheduledRate = ds[0].sched.Rate()
	} else if secs := st.SendWindow.Seconds(); secs > 0 {
		st.ScheduledRate = expect / secs
	}
	if lastStart > st.SendWindow {
		st.SendWindow = lastStart
	}
	if st.Interrupted {
		st.SendWindow = min(st.SendWindow, elapsed)
		if st.Planned >= 0 {
			st.NotSent = st.Planned - (st.Started - st.Retries)
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
	if r.cfg.Engine == EngineLoop && loopSupported(&d.client.cfg) == nil || r.cfg.Engine == EngineAuto && autoPicksLoop(&d.client.cfg) {
		if l, err := newEventLoop(d.client, d.start, d.finishFn); err == nil {
			d.localFree = true
			return l
		}
	}
	return newGoroutineEngine(ctx, d.client, d)
}

// CheckEngine reports, without opening anything, whether engine e can run
// requests configured by cc: nil for EngineAuto and EngineGoroutines, the
// reason for EngineLoop when it cannot (https, not Linux). A CLI can call it before creating any file.
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
		if autoPicksLoop(&c.cfg) {
			return EngineLoop, nil
		}
		return EngineGoroutines, nil
	}
	return e, nil
}

// autoPicksLoop says whether EngineAuto runs cc's requests on the event
// loop: where it applies, except new connections per request. Their path
// on the loop is fast (bench/README.md) but not yet as exact: through a
// delayed network it attributed backlog with a median error of 0.6–20 ms
// where goroutines stay under 1 ms (analyze's TestAccuracyAcrossANetwork),
// so auto keeps them on goroutines; --engine loop still takes them.
func autoPicksLoop(cc *ClientConfig) bool {
	return cc.Mode == KeepAlive && loopSupported(cc) == nil
}

// loopSupported says whether the event-loop engine can run cc's requests.
func loopSupported(cc *ClientConfig) error {
	if err := loopPlatform(); err != nil {
		return err
	}
	raw := cc.URL
	if len(cc.Mix) > 0 {
		raw = cc.Mix[0].URL // every request of a mix goes to its first's host
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad URL %q", RedactURL(raw))
	}
	if u.Scheme == "https" {
		return errors.New("the event-loop engine does not speak TLS (https runs on goroutines)")
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
	// Seed seeds the lane's picks from its client's mix (a PCG generator),
	// so a seeded run sends the same requests in the same order; 0 picks
	// a random seed.
	Seed uint64
}

// Retry is how a lane's client retries, as real clients do. Every retry is
// a new request with its own intended time (when the client decided to
// retry, plus the delay) and its own Seq, the same request of the mix,
// linked to the chain's first request by Record.RetryOf; nothing is hidden
// in the original's timing. The zero Retry never retries.
//
// Record.Attempt counts a chain's retries of either kind, and each kind
// stops at its own bound: a chain never has more than
// max(OnTimeout, OnStatus) retries. Pending retries wait in a heap (one
// small entry per chain at most) merged with the schedule by intended
// time; a retry due while the dispatcher sleeps towards a later request is
// noticed within maxWait (50 ms), and its lag records the delay. On
// cancellation pending retries are dropped and counted
// (Stats.RetriesDropped).
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
