package probe

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's utime and stime:
// 100 on every Linux architecture (the kernel converts to it for userspace
// whatever its own HZ), so no sysconf(_SC_CLK_TCK) is needed.
const clockTicks = 100

// ProcStat is what the probe takes from /proc/PID/stat.
type ProcStat struct {
	Comm       string
	State      byte
	Ppid       int
	Utime      uint64 // clock ticks
	Stime      uint64
	StartTicks uint64 // since boot: with the pid, names one process
	RSSPages   int64
}

// ParseProcStat parses /proc/PID/stat. The command name is in parentheses
// and may hold spaces and ')' itself, so fields count from the last ')'.
func ParseProcStat(b []byte) (ProcStat, error) {
	open := bytes.IndexByte(b, '(')
	i := bytes.LastIndexByte(b, ')')
	if open < 0 || i < open {
		return ProcStat{}, fmt.Errorf("/proc/PID/stat: no (comm) in %.40q", b)
	}
	f := bytes.Fields(b[i+1:])
	// state(3) ppid(4) … utime(14) stime(15) … starttime(22) vsize(23) rss(24)
	if len(f) < 22 || len(f[0]) != 1 {
		return ProcStat{}, fmt.Errorf("/proc/PID/stat: %d fields after the command name, want at least 22", len(f))
	}
	num := func(k int) (uint64, error) {
		v, err := strconv.ParseUint(string(f[k-3]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/PID/stat field %d %q: %v", k, f[k-3], err)
		}
		return v, nil
	}
	var st ProcStat
	st.Comm = string(b[open+1 : i])
	st.State = f[0][0]
	var err error
	var ppid uint64
	if ppid, err = num(4); err != nil {
		return ProcStat{}, err
	}
	st.Ppid = int(ppid)
	if st.Utime, err = num(14); err != nil {
		return ProcStat{}, err
	}
	if st.Stime, err = num(15); err != nil {
		return ProcStat{}, err
	}
	if st.StartTicks, err = num(22); err != nil {
		return ProcStat{}, err
	}
	rss, err := strconv.ParseInt(string(f[21]), 10, 64)
	if err != nil {
		return ProcStat{}, fmt.Errorf("/proc/PID/stat field 24 %q: %v", f[21], err)
	}
	st.RSSPages = rss
	return st, nil
}

// procKey names one process for ever: a reused pid has a later start.
type procKey struct {
	pid   int
	start uint64
}

// processSampler sums CPU and RSS over a process and its descendants
// (pid:N — a prefork master's workers are its children, and a respawned
// worker is counted from its start) or over every process named NAME.
type processSampler struct {
	spec  Spec
	pid   int
	name  string
	prev  map[procKey]uint64 // CPU ticks at the previous reading
	prevT time.Time
}

func newProcess(s Spec, what, arg string) *processSampler {
	p := &processSampler{spec: s}
	if what == "pid" {
		p.pid, _ = strconv.Atoi(arg)
	} else {
		p.name = arg
	}
	return p
}

func (p *processSampler) Spec() Spec   { return p.spec }
func (p *processSampler) Close() error { return nil }

func (p *processSampler) Sample(ctx context.Context) (Reading, error) {
	now := time.Now()
	procs, err := p.members()
	if err != nil {
		return Reading{}, err
	}
	if len(procs) == 0 {
		if p.pid > 0 {
			return Reading{}, fmt.Errorf("no process %d", p.pid)
		}
		return Reading{}, fmt.Errorf("no process named %q", p.name)
	}
	cur := make(map[procKey]uint64, len(procs))
	var rss int64
	var used uint64 // ticks since the previous reading
	for k, st := range procs {
		t := st.Utime + st.Stime
		cur[k] = t
		rss += st.RSSPages
		if was, ok := p.prev[k]; ok {
			used += t - min(t, was)
		} else {
			// Started since the previous reading (a respawned worker): all
			// of its time is new. A process that exited in between loses
			// its last partial interval: a small undercount.
			used += t
		}
	}
	rd := Reading{}
	if p.prev != nil {
		if wall := now.Sub(p.prevT).Seconds(); wall > 0 {
			rd.Values = append(rd.Values, Value{"cpu", float64(used) / clockTicks / wall})
		}
	} else {
		rd.Note = fmt.Sprintf("cpu is in cores (1 = one core busy), summed over %d processes (%s); rss in bytes; CPU counts in 10 ms ticks, so short intervals are coarse", len(procs), p.what())
	}
	rd.Values = append(rd.Values, Value{"rss", float64(rss * int64(os.Getpagesize()))}, Value{"processes", float64(len(procs))})
	p.prev, p.prevT = cur, now
	return rd, nil
}

func (p *processSampler) what() string {
	if p.pid > 0 {
		return fmt.Sprintf("pid %d and its descendants", p.pid)
	}
	return fmt.Sprintf("every process named %q", p.name)
}

// members reads /proc once: the target pid and its descendants, or every
// process of the name. Zombies are left out (their time went to the parent's cutime).
func (p *processSampler) members() (map[procKey]ProcStat, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	all := make(map[int]ProcStat, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		st, err := ParseProcStat(b)
		if err != nil || st.State == 'Z' {
			continue
		}
		all[pid] = st
	}
	out := map[procKey]ProcStat{}
	if p.pid == 0 {
		for pid, st := range all {
			if st.Comm == p.name {
				out[procKey{pid, st.StartTicks}] = st
			}
		}
		return out, nil
	}
	root, ok := all[p.pid]
	if !ok {
		return out, nil
	}
	children := map[int][]int{}
	for pid, st := range all {
		children[st.Ppid] = append(children[st.Ppid], pid)
	}
	out[procKey{p.pid, root.StartTicks}] = root
	queue := []int{p.pid}
	for len(queue) > 0 && len(out) <= len(all) {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			if st := all[c]; c != p.pid {
				k := procKey{c, st.StartTicks}
				if _, seen := out[k]; !seen {
					out[k] = st
					queue = append(queue, c)
				}
			}
		}
	}
	return out, nil
}

// ParseKeyedFile parses a cgroup flat-keyed file (cpu.stat, memory.stat):
// "key value" lines.
func ParseKeyedFile(b []byte) (map[string]uint64, error) {
	m := map[string]uint64{}
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return m, fmt.Errorf("line %d: want \"key value\"", n)
		}
		v, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			return m, fmt.Errorf("line %d: %s %q: %v", n, f[0], f[1], err)
		}
		m[string(f[0])] = v
	}
	return m, nil
}

// cgroupSampler reads a cgroup v2 directory: cpu.stat usage_usec (every
// process of the cgroup, past ones included) and memory.current (which
// counts page cache too, not only resident anonymous memory).
type cgroupSampler struct {
	spec      Spec
	dir       string
	prevUsec  uint64
	prevT     time.Time
	havePrev  bool
	notedOnce bool
}

func newCgroup(s Spec, dir string) *cgroupSampler {
	return &cgroupSampler{spec: s, dir: filepath.Clean(dir)}
}

func (c *cgroupSampler) Spec() Spec   { return c.spec }
func (c *cgroupSampler) Close() error { return nil }

func (c *cgroupSampler) Sample(ctx context.Context) (Reading, error) {
	now := time.Now()
	b, err := os.ReadFile(filepath.Join(c.dir, "cpu.stat"))
	if err != nil {
		return Reading{}, fmt.Errorf("cgroup %s: %w (want a cgroup v2 directory)", c.dir, err)
	}
	m, err := ParseKeyedFile(b)
	if err != nil {
		return Reading{}, fmt.Errorf("cgroup %s cpu.stat: %w", c.dir, err)
	}
	usec, ok := m["usage_usec"]
	if !ok {
		return Reading{}, fmt.Errorf("cgroup %s cpu.stat: no usage_usec", c.dir)
	}
	var rd Reading
	if c.havePrev {
		if wall := now.Sub(c.prevT).Seconds(); wall > 0 {
			rd.Values = append(rd.Values, Value{"cpu", float64(usec-min(usec, c.prevUsec)) / 1e6 / wall})
		}
	}
	c.prevUsec, c.prevT, c.havePrev = usec, now, true
	if mb, err := os.ReadFile(filepath.Join(c.dir, "memory.current")); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(mb)), 10, 64); err == nil {
			rd.Values = append(rd.Values, Value{"memory", float64(v)})
		}
	}
	if !c.notedOnce {
		c.notedOnce = true
		rd.Note = "cpu is in cores from cpu.stat usage_usec; memory is memory.current (page cache included)"
	}
	return rd, nil
}
