package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// engine is how a run's bytes move; the dispatcher decides what is sent
// when. Methods are called from the dispatcher's goroutine only; an engine
// hands every started record back through dispatcher.finish, once.
type engine interface {
	// free reports whether a request started now has a connection at
	// once (else it waits for one: Record.WaitedConn).
	free() bool
	// start begins rec, whose Seq, Intended and wait flags are set.
	start(rec *Record)
	// sleep waits until run offset until, when a send is due, doing the
	// engine's I/O meanwhile; it may return earlier. window is the current
	// batch window: a loop may sleep through it and read what arrived.
	sleep(until, window time.Duration)
	// await waits, boundedly, for a request to finish (or the run's
	// context to end), doing the engine's I/O meanwhile.
	await()
	// stop ends the run after the last send: on cancellation every started
	// request finishes as canceled. It returns when all have finished and
	// every connection is closed.
	stop(ctx context.Context)
}

// maxWait bounds every wait of the dispatcher, so cancellation is seen
// within it.
const maxWait = 50 * time.Millisecond

// dispatcher runs a schedule on an engine: batch-window wake-ups, the
// in-flight bound, each Record's setup and the Progress counters.
type dispatcher struct {
	r         *Runner
	start     time.Time
	inflight  atomic.Int64
	lastStart atomic.Int64
	sinkMu    sync.Mutex
	finishFn  func(*Record) // d.finish, bound once
	oldest    oldestInflight
}

func (d *dispatcher) since() time.Duration { return time.Since(d.start) }

// finish hands a finished record to the sink. Engines call it from
// whatever goroutine finished the request; calling the sink here, under a
// mutex, avoids waking a collector goroutine per request.
func (d *dispatcher) finish(rec *Record) {
	for s := int64(rec.Start); ; {
		cur := d.lastStart.Load()
		if s <= cur || d.lastStart.CompareAndSwap(cur, s) {
			break
		}
	}
	p := &d.r.Progress
	if rec.Error != ErrNone {
		p.Errors.Add(1)
	}
	d.inflight.Add(-1)
	d.sinkMu.Lock()
	d.oldest.done(rec.Seq)
	d.r.cfg.Sink.Record(rec)
	p.Completed.Add(1)
	d.sinkMu.Unlock()
	rec.reset()
	d.r.records.Put(rec)
}

// run sends the schedule on e and returns how many requests it started.
//
// A request that is due is sent at once, within the in-flight bound; one
// that is not yet due is slept for, but never woken sooner than one batch
// window after the last wake-up: everything due by then goes out together
// (see DefaultBatchWindow). The lag this adds is bounded by the window and
// recorded per request.
func (d *dispatcher) run(ctx context.Context, e engine) uint64 {
	cfg := &d.r.cfg
	p := &d.r.Progress
	maxInflight := int64(cfg.MaxInflight)
	it := cfg.Schedule.iterator()
	var seq uint64
	var at, lastWake, prevAt, gapAvg time.Duration
	left := 0 // requests of the current event not yet started
	slotWaiting := false
	// blockedAt is when the in-flight bound last held the dispatcher up,
	// -1 when it has been free since: every request it reaches while held
	// up was queued behind the bound, not late for want of CPU.
	blockedAt := time.Duration(-1)
	for ctx.Err() == nil {
		if left == 0 {
			a, n, ok := it.next()
			if !ok {
				break
			}
			if seq > 0 {
				gapAvg += (a - prevAt - gapAvg) / 8 // moving average of request gaps
			}
			prevAt = a
			at, left = a, n
			p.Scheduled.Add(int64(n))
		}
		now := d.since()
		if at <= now {
			if d.inflight.Load() >= maxInflight {
				slotWaiting = true
				if blockedAt < 0 {
					blockedAt = now
				}
				e.await()
				continue
			}
			seq++
			left--
			rec := d.r.records.Get().(*Record)
			rec.Seq = seq
			rec.Intended = at
			rec.Queued = now
			if blockedAt >= 0 {
				rec.Queued = max(at, blockedAt)
			}
			d.track(seq, at)
			// Every request reached while the bound held the dispatcher up
			// waited for a slot, not just the first.
			rec.WaitedSlot = slotWaiting || blockedAt >= 0
			if rec.WaitedSlot {
				p.SlotWaits.Add(1)
			}
			slotWaiting = false
			rec.WaitedConn = !e.free()
			d.inflight.Add(1)
			p.Started.Add(1)
			e.start(rec)
			continue
		}
		blockedAt = -1 // nothing due: the dispatcher is free again
		window := min(cfg.BatchWindow, batchGaps*gapAvg)
		wake := max(at, lastWake+window)
		e.sleep(min(wake, now+maxWait), window)
		if d.since() >= wake {
			lastWake = wake
		}
	}
	for d.inflight.Load() > 0 && ctx.Err() == nil {
		e.await()
	}
	e.stop(ctx)
	return seq
}

// track notes a dispatched request for the oldest-in-flight view.
func (d *dispatcher) track(seq uint64, intended time.Duration) { d.oldest.add(seq, intended) }

// oldestWindow is how many requests past the oldest unfinished one the
// oldest-in-flight view follows; beyond it (that many in flight out of
// order) the age it reports is a lower bound.
const oldestWindow = 1 << 14

// oldestInflight follows the lowest unfinished seq and its intended time, so
// a draining run can say how long its oldest request has waited. add is
// called by the dispatcher, done under the sink's mutex; the progress reader
// only loads atomics.
type oldestInflight struct {
	start    time.Time     // the run's clock origin
	low      atomic.Uint64 // lowest seq not yet finished (1-based; 0: none dispatched)
	next     atomic.Uint64 // one past the highest seq dispatched
	intended [oldestWindow]atomic.Int64
	finished [oldestWindow / 64]atomic.Uint64 // bit per seq in the window
}

func (o *oldestInflight) add(seq uint64, intended time.Duration) {
	o.intended[seq%oldestWindow].Store(int64(intended))
	if o.low.Load() == 0 {
		o.low.Store(seq)
	}
	o.next.Store(seq + 1)
}

func (o *oldestInflight) done(seq uint64) {
	low := o.low.Load()
	if seq < low || seq >= low+oldestWindow {
		return // out of the followed window: the view stays a lower bound
	}
	i := seq % oldestWindow
	o.finished[i/64].Or(1 << (i % 64))
	for next := o.next.Load(); low < next; low++ {
		j := low % oldestWindow
		w, bit := &o.finished[j/64], uint64(1)<<(j%64)
		if w.Load()&bit == 0 {
			break
		}
		w.And(^bit)
	}
	o.low.Store(low)
}

// oldest returns the intended time of the oldest unfinished request.
func (o *oldestInflight) oldest() (time.Duration, bool) {
	low, next := o.low.Load(), o.next.Load()
	if low == 0 || low >= next {
		return 0, false
	}
	return time.Duration(o.intended[low%oldestWindow].Load()), true
}
