package loadgen

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// preciseWaiter sleeps until absolute monotonic deadlines with
// clock_nanosleep(TIMER_ABSTIME) on a locked OS thread with a 1 ns timer
// slack. Go timers fire ≈0.5 ms late at p50 (see facts.md); this fires
// within tens of µs without spinning a core.
type preciseWaiter struct {
	origin time.Time
	mono0  int64 // CLOCK_MONOTONIC at origin, ns
}

// spinBelow: gaps shorter than this are spun rather than slept, since a
// sleep's wake-up latency is about as long.
const spinBelow = 20 * time.Microsecond

func newWaiter(origin time.Time) waiter {
	runtime.LockOSThread()
	// Timer slack defaults to 50 µs per thread; make this thread's exact.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	// Go's monotonic clock is CLOCK_MONOTONIC too; align the two origins.
	mono0 := ts.Nano() - int64(time.Since(origin))
	return &preciseWaiter{origin: origin, mono0: mono0}
}

func (w *preciseWaiter) until(at time.Duration) {
	for {
		rem := at - time.Since(w.origin)
		if rem <= 0 {
			return
		}
		if rem < spinBelow {
			for time.Since(w.origin) < at {
			}
			return
		}
		ts := unix.NsecToTimespec(w.mono0 + int64(at))
		// EINTR (signals) just loops; the remaining time is recomputed.
		_ = unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil)
	}
}

func (w *preciseWaiter) close() { runtime.UnlockOSThread() }
