//go:build !linux

package loadgen

import "time"

type sleepWaiter struct{ origin time.Time }

func newWaiter(origin time.Time) waiter { return &sleepWaiter{origin} }

func (w *sleepWaiter) until(at time.Duration) {
	if d := at - time.Since(w.origin); d > 0 {
		time.Sleep(d)
	}
}

func (w *sleepWaiter) close() {}
