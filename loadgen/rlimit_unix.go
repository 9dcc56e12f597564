//go:build unix

package loadgen

import (
	"fmt"
	"syscall"
)

// RaiseFDLimit raises the soft limit on open files (RLIMIT_NOFILE) to the
// hard limit and returns both as they then are. Go raises it at start-up on
// Linux since 1.19; doing it explicitly also covers a limit lowered since
// and lets the CLI report the figures. Each connection is a descriptor, so
// the soft limit bounds the connections a run can hold: beyond it requests
// fail as fds_exhausted.
func RaiseFDLimit() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("reading the open-files limit: %w", err)
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return uint64(lim.Cur), uint64(lim.Max), fmt.Errorf("raising the open-files limit from %d to %d: %w", lim.Cur, lim.Max, err)
		}
		lim = raised
	}
	return uint64(lim.Cur), uint64(lim.Max), nil
}
