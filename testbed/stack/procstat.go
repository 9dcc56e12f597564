package stack

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// procStat is what /proc/PID/stat tells about a process that the stack needs: its state
// ('Z' for a zombie) and its start time in clock ticks since boot. Together with the pid,
// the start time names one process for ever: a pid handed out again gets a later start time.
// The command line cannot serve alone, because it reads empty for a zombie and, briefly, for
// a process that is in the middle of exec.
type procStat struct {
	State byte
	Pgrp  int
	Start uint64
}

// readProcStat reads /proc/PID/stat; ok is false when there is no such process.
func readProcStat(pid int) (st procStat, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, false
	}
	st, err = parseProcStat(b)
	return st, err == nil
}

// parseProcStat parses one /proc/PID/stat line. The command name (field 2) is in parentheses
// and may itself hold spaces and ')', so fields are counted from the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("proc stat: no ')' in %q", b)
	}
	// After ") ": state(3) ppid(4) … starttime(22), so starttime is the 20th field here.
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("proc stat: %d fields after the command name", len(f))
	}
	pgrp, err := strconv.Atoi(string(f[2]))
	if err != nil {
		return procStat{}, fmt.Errorf("proc stat: process group: %w", err)
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("proc stat: start time: %w", err)
	}
	return procStat{State: f[0][0], Pgrp: pgrp, Start: start}, nil
}

// groupAlive reports whether process group pgid has a member that is not a zombie. Zombies
// are dead already; they stay in the group only until their parent reaps them, which for
// orphans is whenever pid 1 gets to it (about a second on some sandboxes' init, never on
// some containers'), so waiting for them would make Down slow or fail for nothing.
func groupAlive(pgid int) bool {
	if syscall.Kill(-pgid, 0) != nil {
		return false // no member at all
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true // cannot tell: assume the worst
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readProcStat(pid); ok && st.Pgrp == pgid && st.State != 'Z' {
			return true
		}
	}
	return false
}
