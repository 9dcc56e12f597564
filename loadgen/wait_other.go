//go:build !linux

package loadgen

import "time"

func newWaiter(origin time.Time) waiter { return &sleepWaiter{origin} }
