//go:build !linux

package loadgen

import (
	"context"
	"errors"
	"time"
)

// eventLoop exists on Linux only (epoll, SO_TIMESTAMPNS); elsewhere the
// goroutine engine runs everything.
type eventLoop struct{}

func loopSupported(*Client) error {
	return errors.New("the event-loop engine runs on Linux only")
}

func newEventLoop(*Client, time.Time, func(*Record)) (*eventLoop, error) {
	return nil, errors.New("the event-loop engine runs on Linux only")
}

func (r *Runner) runLoop(context.Context, *eventLoop, chan struct{}) uint64 { return 0 }
