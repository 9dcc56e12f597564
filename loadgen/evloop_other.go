//go:build !linux

package loadgen

import (
	"errors"
	"time"
)

// eventLoop exists on Linux only (epoll, SO_TIMESTAMPNS); elsewhere the
// goroutine engine runs everything.
type eventLoop struct{ engine }

func loopPlatform() error {
	return errors.New("the event-loop engine runs on Linux only")
}

func newEventLoop(*Client, time.Time, func(*Record)) (*eventLoop, error) {
	return nil, errors.New("the event-loop engine runs on Linux only")
}
