package loadgen

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// validateRetry reports the first problem with a lane's Retry.
func validateRetry(r Retry) error {
	switch {
	case r.OnTimeout < 0 || r.OnStatus < 0:
		return fmt.Errorf("retry: a number of retries must not be negative")
	case r.OnTimeout > MaxRetries || r.OnStatus > MaxRetries:
		return fmt.Errorf("retry: at most %d retries", MaxRetries)
	case r.After < 0 || r.Backoff < 0 || r.MaxBackoff < 0:
		return fmt.Errorf("retry: delays must not be negative")
	case math.IsNaN(r.Factor) || math.IsInf(r.Factor, 0) || r.Factor < 0 || r.Factor > 0 && r.Factor < 1:
		return fmt.Errorf("retry: backoff factor %v must be ≥ 1 (0: the default, 2)", r.Factor)
	case r.OnStatus > 0 && len(r.Statuses) == 0:
		return fmt.Errorf("retry: retries on status need the statuses to retry (e.g. 502, 503, 504)")
	}
	for _, s := range r.Statuses {
		if s < 100 || s > 599 {
			return fmt.Errorf("retry: status %d is not an HTTP status (100–599)", s)
		}
	}
	return nil
}

// retryPolicy is a lane's Retry, prepared for a check per finished record.
type retryPolicy struct {
	on         bool // any retry at all
	onTimeout  uint16
	after      time.Duration
	onStatus   uint16
	statuses   [10]uint64 // bit per status 0–639
	backoff    time.Duration
	factor     float64
	maxBackoff time.Duration
}

func newRetryPolicy(r Retry) retryPolicy {
	p := retryPolicy{onTimeout: uint16(r.OnTimeout), after: r.After, onStatus: uint16(r.OnStatus),
		backoff: r.Backoff, factor: r.Factor, maxBackoff: r.MaxBackoff}
	if p.factor == 0 {
		p.factor = 2
	}
	for _, s := range r.Statuses {
		p.statuses[s/64] |= 1 << (s % 64)
	}
	p.on = p.onTimeout > 0 || p.onStatus > 0 && len(r.Statuses) > 0
	return p
}

// delay says whether rec is retried and after how long from its end. A
// chain's Attempt counts all its retries, so a chain that times out and
// then gets a 503 spends from one budget: it never has more than
// max(OnTimeout, OnStatus) retries.
func (p *retryPolicy) delay(rec *Record) (time.Duration, bool) {
	switch {
	case rec.Error == ErrTimeout || rec.Error == ErrConnectTimeout:
		return p.after, rec.Attempt < p.onTimeout
	case rec.Error == ErrNone && rec.Attempt < p.onStatus && rec.Status > 0 && rec.Status < 640 &&
		p.statuses[rec.Status/64]&(1<<(rec.Status%64)) != 0:
		// Backoff·Factor^(k−1) before the k-th retry, at most MaxBackoff.
		d := float64(p.backoff) * math.Pow(p.factor, float64(rec.Attempt))
		if p.maxBackoff > 0 && d > float64(p.maxBackoff) {
			return p.maxBackoff, true
		}
		return time.Duration(min(d, float64(maxLength))), true
	}
	return 0, false
}

// retryEntry is a retry waiting for its intended time: 24 bytes, at most
// one per chain (a chain's next retry is decided when its request ends).
type retryEntry struct {
	at      time.Duration // intended send time
	first   uint64        // Seq of the chain's scheduled request
	mix     uint16
	attempt uint16
}

// retryQueue is a lane's pending retries, a min-heap on the intended time.
// Engines push from whatever goroutine finished a request; the dispatcher
// peeks and pops. Written by hand: container/heap would box every entry.
type retryQueue struct {
	mu      sync.Mutex
	h       []retryEntry
	pending atomic.Int64 // len(h), readable without the lock
}

func (q *retryQueue) push(e retryEntry) {
	q.mu.Lock()
	q.h = append(q.h, e)
	for i := len(q.h) - 1; i > 0; {
		parent := (i - 1) / 2
		if q.h[parent].at <= q.h[i].at {
			break
		}
		q.h[parent], q.h[i] = q.h[i], q.h[parent]
		i = parent
	}
	q.pending.Add(1)
	q.mu.Unlock()
}

// peek returns the earliest pending retry's intended time.
func (q *retryQueue) peek() (time.Duration, bool) {
	if q.pending.Load() == 0 {
		return 0, false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.h) == 0 {
		return 0, false
	}
	return q.h[0].at, true
}

// pop removes the earliest pending retry; the queue must not be empty.
func (q *retryQueue) pop() retryEntry {
	q.mu.Lock()
	top := q.h[0]
	last := len(q.h) - 1
	q.h[0] = q.h[last]
	q.h = q.h[:last]
	for i := 0; ; {
		l, small := 2*i+1, i
		if l < last && q.h[l].at < q.h[small].at {
			small = l
		}
		if r := l + 1; r < last && q.h[r].at < q.h[small].at {
			small = r
		}
		if small == i {
			break
		}
		q.h[i], q.h[small] = q.h[small], q.h[i]
		i = small
	}
	q.pending.Add(-1)
	q.mu.Unlock()
	return top
}

// drop empties the queue and returns how many retries it held.
func (q *retryQueue) drop() int64 {
	q.mu.Lock()
	n := int64(len(q.h))
	q.h = q.h[:0]
	q.pending.Store(0)
	q.mu.Unlock()
	return n
}
