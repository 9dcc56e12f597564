package loadgen

import (
	"context"
	"math/rand/v2"
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
// within it, and so is a retry pushed while the dispatcher sleeps towards a
// later request: a retry due sooner goes out at most maxWait late (its lag
// says so).
const maxWait = 50 * time.Millisecond

// dispatcher runs one lane's schedule on an engine: batch-window wake-ups,
// the in-flight bound, the request mix, retries, each Record's setup and
// the Progress counters (shared by every lane).
type dispatcher struct {
	r           *Runner
	start       time.Time
	lane        uint16
	nLanes      uint64
	client      *Client
	sched       Schedule
	maxInflight int64
	inflight    atomic.Int64
	lastStart   atomic.Int64
	finishFn    func(*Record) // d.finish, bound once
	weights     *aliasTable   // the client's mix; nil: one request
	rng         *rand.Rand    // this lane's picks, seeded by Lane.Seed
	retry       retryPolicy
	retries     retryQueue
	oldest      oldestInflight
	bursts      burstSpread // under r.sinkMu
	localFree   bool        // records finish on the dispatcher's goroutine (the loop): free is theirs
	free        []*Record   // finished records, for reuse (localFree)

	// Written by the dispatcher's goroutine, read once it has returned.
	sent, retried, dropped int64
}

func (d *dispatcher) since() time.Duration { return time.Since(d.start) }

// seq is the run-wide Seq of the lane's k-th request (1-based): lanes take
// turns, so Seqs are unique across lanes and a single lane counts 1, 2, 3…
func (d *dispatcher) seq(k uint64) uint64 { return (k-1)*d.nLanes + uint64(d.lane) + 1 }

// RetrySeqBase separates retries' Seqs from scheduled requests': the k-th
// retry of the request with Seq s has Seq k·RetrySeqBase + s. A retry's Seq
// is then the same in one process and across shards (the request it
// retries is), and reads as "attempt k of s" (2000000000017: attempt 2
// of 17). Scheduled Seqs stay below it (a trillion requests).
const RetrySeqBase = 1_000_000_000_000

// MaxRetries bounds Retry.OnTimeout and OnStatus so retry Seqs fit a uint64.
const MaxRetries = 15

// finish hands a finished record to the sink. Engines call it from
// whatever goroutine finished the request; calling the sink here, under a
// mutex shared by every lane, avoids waking a collector goroutine per
// request.
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
	if d.retry.on {
		// Before the in-flight count drops: the dispatcher ends only when
		// nothing is in flight and no retry is pending, so it must see the
		// retry first.
		if delay, ok := d.retry.delay(rec); ok {
			first := rec.RetryOf
			if first == 0 {
				first = rec.Seq
			}
			d.retries.push(retryEntry{at: rec.Done + delay, first: first, mix: rec.Mix, attempt: rec.Attempt + 1})
		}
	}
	d.inflight.Add(-1)
	d.r.sinkMu.Lock()
	d.oldest.done(rec.slot)
	if d.bursts.on && rec.Attempt == 0 {
		d.bursts.done(rec)
	}
	d.r.cfg.Sink.Record(rec)
	p.Completed.Add(1)
	d.r.sinkMu.Unlock()
	rec.reset()
	d.putRecord(rec)
}

// getRecord takes a record for the next request. On the event loop, which
// finishes records on the dispatcher's own goroutine, from a plain free
// list: a sync.Pool drops its contents at garbage collections and each miss
// is an allocation. Goroutine workers finish records on their own
// goroutines, where a locked list would make them contend with the
// dispatcher: the runner's pool serves them.
func (d *dispatcher) getRecord() *Record {
	if !d.localFree {
		return d.r.records.Get().(*Record)
	}
	if n := len(d.free); n > 0 {
		rec := d.free[n-1]
		d.free[n-1] = nil
		d.free = d.free[:n-1]
		return rec
	}
	return newRecord()
}

func (d *dispatcher) putRecord(rec *Record) {
	if !d.localFree {
		d.r.records.Put(rec)
		return
	}
	d.free = append(d.free, rec)
}

func newRecord() *Record { return &Record{headerBuffer: make([]byte, 0, 256)} }

// run sends the lane's schedule, and its retries, on e.
//
// A request that is due is sent at once, within the in-flight bound; one
// that is not yet due is slept for, but never woken sooner than one batch
// window after the last wake-up: everything due by then goes out together
// (see DefaultBatchWindow). The lag this adds is bounded by the window and
// recorded per request. Pending retries are merged with the schedule by
// intended time; with retries on, the lane ends only when the schedule is
// done, nothing is in flight (it might yet be retried) and no retry is
// pending. On cancellation pending retries are dropped and counted.
func (d *dispatcher) run(ctx context.Context, e engine) {
	p := &d.r.Progress
	it := d.sched.iterator()
	if s, ok := it.(iterStopper); ok {
		defer s.stop()
	}
	var k uint64 // requests this lane has dispatched
	var g uint64 // scheduled requests of the lane so far, every shard's: a scheduled Seq is seq(g)
	shard, shards := uint64(d.r.cfg.Shard.Index), uint64(max(d.r.cfg.Shard.Count, 1))
	var at, lastWake, prevAt, gapAvg time.Duration
	left := 0      // requests of the current event not yet started
	mix := pickMix // the current event's request, or pick by weight
	havePrev, schedDone := false, false
	slotWaiting := false
	retries := d.retry.on
	// blockedAt is when the in-flight bound last held the dispatcher up,
	// -1 when it has been free since: every request it reaches while held
	// up was queued behind the bound, not late for want of CPU.
	blockedAt := time.Duration(-1)
	for ctx.Err() == nil {
		if left == 0 && !schedDone {
			if a, n, m, ok := it.next(); !ok {
				schedDone = true
			} else {
				if havePrev {
					gapAvg += (a - prevAt - gapAvg) / 8 // moving average of request gaps
				}
				havePrev = true
				prevAt = a
				at, left, mix = a, n, m
				if shards > 1 {
					// This shard's share of the event: the requests whose
					// schedule index (g+1 … g+n) is ≡ shard+1 mod shards.
					n = int((g+uint64(n)+shards-1-shard)/shards - (g+shards-1-shard)/shards)
				}
				p.Scheduled.Add(int64(n))
				if n > 1 {
					d.r.sinkMu.Lock()
					d.bursts.add(a, n)
					d.r.sinkMu.Unlock()
				}
			}
		}
		// The next request: the schedule's, or a pending retry due first.
		next, isRetry := at, false
		if retries {
			if ra, ok := d.retries.peek(); ok && (left == 0 || ra < at) {
				next, isRetry = ra, true
			}
		}
		if left == 0 && !isRetry {
			// The schedule is done. A request in flight may yet be retried;
			// finish pushes its retry before the in-flight count drops, so
			// reading the count first and the queue second misses none.
			if !retries || d.inflight.Load() == 0 && d.retries.pending.Load() == 0 {
				break
			}
			e.await()
			continue
		}
		now := d.since()
		if !isRetry && shards > 1 && (g%shards) != shard {
			// Another shard's request: take its place in the schedule (and
			// its pick from the mix, so every shard's picks are the single
			// run's) without sending it.
			g++
			left--
			if mix < 0 && d.weights != nil {
				d.weights.pick(d.rng)
			}
			continue
		}
		if next <= now {
			if d.inflight.Load() >= d.maxInflight {
				slotWaiting = true
				if blockedAt < 0 {
					blockedAt = now
				}
				e.await()
				continue
			}
			k++
			rec := d.getRecord()
			rec.slot = k
			rec.Lane = d.lane
			if isRetry {
				// The earliest retry now: next, or one pushed since, as due.
				re := d.retries.pop()
				rec.Intended, rec.Mix, rec.Attempt, rec.RetryOf = re.at, re.mix, re.attempt, re.first
				rec.Seq = uint64(re.attempt)*RetrySeqBase + re.first
				d.retried++
				p.Scheduled.Add(1)
			} else {
				g++
				left--
				rec.Seq = d.seq(g)
				rec.Intended = at
				switch {
				case mix >= 0:
					rec.Mix = uint16(mix)
				case d.weights != nil:
					rec.Mix = d.weights.pick(d.rng)
				}
			}
			rec.Queued = now
			if blockedAt >= 0 {
				rec.Queued = max(rec.Intended, blockedAt)
			}
			d.track(k, rec.Intended)
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
		window := min(d.r.cfg.BatchWindow, batchGaps*gapAvg)
		wake := max(next, lastWake+window)
		e.sleep(min(wake, now+maxWait), window)
		if d.since() >= wake {
			lastWake = wake
		}
	}
	for d.inflight.Load() > 0 && ctx.Err() == nil {
		e.await()
	}
	e.stop(ctx)
	d.sent = int64(k)
	d.dropped = d.retries.drop()
}

// track notes the lane's k-th request for the oldest-in-flight view.
func (d *dispatcher) track(k uint64, intended time.Duration) { d.oldest.add(k, intended) }

// oldestWindow is how many requests past the oldest unfinished one the
// oldest-in-flight view follows; beyond it (that many in flight out of
// order) the age it reports is a lower bound.
const oldestWindow = 1 << 14

// oldestInflight follows a lane's lowest unfinished request (by its local
// count, dispatcher.local) and its intended time, so a draining run can say
// how long its oldest request has waited. add is called by the dispatcher,
// done under the sink's mutex; the progress reader only loads atomics.
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

// burstSpreads is how many bursts burstSpread follows at once; a burst
// still unfinished when the eighth after it begins counts with the starts
// seen so far (a lower bound of its spread).
const burstSpreads = 8

// burstSpread measures how close together a burst's requests (an event of
// the schedule with several requests at one instant) really left: the
// spread from the first to the last Start. Records of a burst are told
// apart by their intended time; canceled ones do not count (their Start is
// the cancellation).
type burstSpread struct {
	on     bool
	ring   [burstSpreads]burstTrack
	next   int
	max    time.Duration
	bursts int64 // bursts every request of which finished
}

type burstTrack struct {
	at          time.Duration
	n, seen     int
	first, last time.Duration
	used        bool
}

func (b *burstSpread) add(at time.Duration, n int) {
	b.on = true
	t := &b.ring[b.next%burstSpreads]
	b.next++
	if t.used && t.seen > 0 {
		b.max = max(b.max, t.last-t.first)
	}
	*t = burstTrack{at: at, n: n, used: true}
}

func (b *burstSpread) done(rec *Record) {
	for i := range b.ring {
		t := &b.ring[i]
		if !t.used || t.at != rec.Intended {
			continue
		}
		if rec.Error != ErrCanceled {
			if t.seen == 0 || rec.Start < t.first {
				t.first = rec.Start
			}
			t.last = max(t.last, rec.Start)
			t.seen++
		} else {
			t.n--
		}
		if t.seen >= t.n {
			if t.seen > 0 {
				b.max = max(b.max, t.last-t.first)
				b.bursts++
			}
			t.used = false
		}
		return
	}
}

// result folds in the bursts still followed (an interrupted run's).
func (b *burstSpread) result() (time.Duration, int64) {
	m := b.max
	for i := range b.ring {
		if t := &b.ring[i]; t.used && t.seen > 0 {
			m = max(m, t.last-t.first)
		}
	}
	return m, b.bursts
}
