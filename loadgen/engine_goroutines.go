package loadgen

import (
	"context"
	"sync"
	"time"
)

// goroutineEngine moves bytes with a goroutine per keep-alive connection,
// or per request with new connections, through Go's netpoller: every mode,
// TLS and host names. Keep-alive workers are started on demand, up to
// Connections, so memory follows the connections a run uses, not the bound.
type goroutineEngine struct {
	c      *Client
	ctx    context.Context
	d      *dispatcher
	w      waiter
	cancel func() bool // stops the abort-on-cancel hook
	wg     sync.WaitGroup
	wake   chan struct{} // a request finished (one token at most)

	keepAlive bool
	mu        sync.Mutex
	cond      sync.Cond
	queue     recQueue // records waiting for a worker
	idle      int      // workers waiting for a record
	workers   int
	closed    bool
}

type waiter interface {
	until(at time.Duration)
	close()
}

func newGoroutineEngine(ctx context.Context, c *Client, d *dispatcher) *goroutineEngine {
	e := &goroutineEngine{c: c, ctx: ctx, d: d, w: newWaiter(d.start), wake: make(chan struct{}, 1),
		keepAlive: c.cfg.Mode == KeepAlive}
	e.cond.L = &e.mu
	e.cancel = context.AfterFunc(ctx, c.Abort)
	return e
}

func (e *goroutineEngine) free() bool {
	if !e.keepAlive {
		return true
	}
	e.mu.Lock()
	free := e.queue.len() < e.idle || e.workers < e.c.cfg.Connections
	e.mu.Unlock()
	return free
}

func (e *goroutineEngine) start(rec *Record) {
	if !e.keepAlive {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.c.Do(e.ctx, rec)
			e.done(rec)
		}()
		return
	}
	e.mu.Lock()
	// Every idle worker is claimed by a queued record: start another
	// connection's worker if the pool has room.
	if e.queue.len() >= e.idle && e.workers < e.c.cfg.Connections {
		e.workers++
		e.wg.Add(1)
		go e.worker()
	}
	e.queue.push(rec)
	e.cond.Signal()
	e.mu.Unlock()
}

// worker owns one keep-alive connection and serves queued records in order.
func (e *goroutineEngine) worker() {
	defer e.wg.Done()
	var cn *Conn
	e.mu.Lock()
	for {
		for e.queue.len() == 0 && !e.closed {
			e.idle++
			e.cond.Wait()
			e.idle--
		}
		if e.queue.len() == 0 {
			break
		}
		rec := e.queue.pop()
		e.mu.Unlock()
		e.c.DoOn(e.ctx, rec, &cn)
		e.done(rec)
		e.mu.Lock()
	}
	e.mu.Unlock()
	if cn != nil {
		e.c.closeConn(cn, false)
	}
}

func (e *goroutineEngine) done(rec *Record) {
	e.d.finish(rec)
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *goroutineEngine) sleep(until, _ time.Duration) { e.w.until(until) }

func (e *goroutineEngine) await() {
	select {
	case <-e.wake:
	case <-e.ctx.Done():
	}
}

func (e *goroutineEngine) stop(context.Context) {
	e.mu.Lock()
	e.closed = true
	e.cond.Broadcast()
	e.mu.Unlock()
	e.wg.Wait()
	e.w.close()
	e.cancel()
}
