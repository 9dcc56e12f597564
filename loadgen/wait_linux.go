package loadgen

import (
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// newWaiter picks the dispatcher's way of waiting for the next send time.
// Go timers fire ≈0.5 ms late at p50 (sub-millisecond timeouts round up in
// the netpoller), too coarse for a load generator; a timerfd armed with an
// absolute CLOCK_MONOTONIC deadline fires within tens of µs, and because it
// is read through Go's netpoller, no OS thread blocks in a syscall (the
// first design, clock_nanosleep on a locked thread, did, and sysmon took and
// handed back the dispatcher's P on every wait). Without a timerfd it falls
// back to Go's timers.
func newWaiter(origin time.Time) waiter {
	if w, err := newTimerfdWaiter(origin); err == nil {
		return w
	}
	return &sleepWaiter{origin}
}

// monoOrigin returns CLOCK_MONOTONIC at origin, in ns. Go's monotonic
// clock is CLOCK_MONOTONIC too, so the two origins align to within a µs.
func monoOrigin(origin time.Time) int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano() - int64(time.Since(origin))
}

// spinBelow: gaps shorter than this are waited out by yielding the
// processor in a loop, since arming a timer costs about as long.
const spinBelow = 20 * time.Microsecond

type timerfdWaiter struct {
	origin time.Time
	mono0  int64
	fd     int
	f      *os.File
	buf    [8]byte
}

func newTimerfdWaiter(origin time.Time) (*timerfdWaiter, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	// A non-blocking descriptor becomes a pollable *os.File.
	return &timerfdWaiter{origin: origin, mono0: monoOrigin(origin), fd: fd, f: os.NewFile(uintptr(fd), "queuegap-timerfd")}, nil
}

func (w *timerfdWaiter) until(at time.Duration) {
	for {
		rem := at - time.Since(w.origin)
		if rem <= 0 {
			return
		}
		if rem < spinBelow {
			for time.Since(w.origin) < at {
				runtime.Gosched()
			}
			return
		}
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(w.mono0 + int64(at))}
		if err := unix.TimerfdSettime(w.fd, unix.TFD_TIMER_ABSTIME, &spec, nil); err != nil {
			time.Sleep(rem)
			continue
		}
		// Parks this goroutine in the netpoller until the timer fires.
		if _, err := w.f.Read(w.buf[:]); err != nil {
			time.Sleep(rem)
		}
	}
}

func (w *timerfdWaiter) close() { w.f.Close() }
