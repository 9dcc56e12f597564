package probe

import (
	"context"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// listenSampler reads a listening socket's accept queue and effective
// backlog (sock_diag, falling back to /proc/net/tcp for the queue alone),
// the namespace's somaxconn, and the ListenOverflows / ListenDrops counters
// of /proc/net/netstat since the first reading.
type listenSampler struct {
	spec    Spec
	addr    netip.AddrPort
	base    map[string]uint64 // netstat at the first reading
	noted   bool
	noDiag  bool // sock_diag failed once: queue from /proc, backlog unknown
	diagErr error
}

func newListen(s Spec) (*listenSampler, error) {
	ta, err := hostPort(s.Target)
	if err != nil {
		return nil, err
	}
	ip, _ := netip.AddrFromSlice(ta.IP)
	ip = ip.Unmap()
	ls := &listenSampler{spec: s, addr: netip.AddrPortFrom(ip, uint16(ta.Port))}
	return ls, nil
}

func (l *listenSampler) Spec() Spec   { return l.spec }
func (l *listenSampler) Close() error { return nil }

// Counters of /proc/net/netstat the probe reports, as deltas since its
// first reading.
var listenCounters = []struct{ key, name string }{
	{"TcpExt.ListenOverflows", "overflows"},
	{"TcpExt.ListenDrops", "drops"},
}

func (l *listenSampler) Sample(ctx context.Context) (Reading, error) {
	var rd Reading
	queue, backlog, found, err := l.read()
	if err != nil {
		return rd, err
	}
	if !found {
		return rd, fmt.Errorf("nothing listens on %s", l.addr)
	}
	rd.Values = append(rd.Values, Value{"queue", float64(queue)})
	if backlog >= 0 {
		rd.Values = append(rd.Values, Value{"backlog", float64(backlog)})
	}
	if l.spec.ExpectBacklog > 0 {
		rd.Values = append(rd.Values, Value{"expected_backlog", float64(l.spec.ExpectBacklog)})
	}
	if n, err := Somaxconn(); err == nil {
		rd.Values = append(rd.Values, Value{"somaxconn", float64(n)})
	}
	if b, err := os.ReadFile("/proc/net/netstat"); err == nil {
		if m, err := ParseNetstat(b); err == nil {
			if l.base == nil {
				l.base = m
			}
			for _, c := range listenCounters {
				if v, ok := m[c.key]; ok {
					rd.Values = append(rd.Values, Value{c.name, float64(v - l.base[c.key])})
				}
			}
		}
	}
	if !l.noted {
		l.noted = true
		rd.Note = "overflows and drops are TcpExt ListenOverflows/ListenDrops: counted for every socket of the host's (or container's) network namespace, not this one alone"
		if backlog < 0 {
			rd.Note = fmt.Sprintf("effective backlog unknown (sock_diag: %v; /proc/net/tcp does not show it); ", l.diagErr) + rd.Note
		}
	}
	return rd, nil
}

// read finds the listener: an exact address match, else a wildcard
// listener on the port (0.0.0.0, or [::] which takes IPv4 too unless
// V6ONLY). backlog is -1 when sock_diag is unavailable.
func (l *listenSampler) read() (queue, backlog int, found bool, err error) {
	if !l.noDiag {
		var all []DiagListener
		for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
			ls, err := ListTCPListeners(fam)
			if err != nil {
				l.noDiag, l.diagErr = true, err
				return l.read()
			}
			all = append(all, ls...)
		}
		best := -1
		for i, d := range all {
			if r := l.match(d.Local); r > 0 && (best < 0 || r > l.match(all[best].Local)) {
				best = i
			}
		}
		if best < 0 {
			return 0, 0, false, nil
		}
		return int(all[best].Queue), int(all[best].Backlog), true, nil
	}
	var rows []TCPRow
	for _, path := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // no IPv6
		}
		rs, err := ParseProcNetTCP(b)
		if err != nil {
			return 0, 0, false, fmt.Errorf("%s: %w", path, err)
		}
		rows = append(rows, rs...)
	}
	best := -1
	for i, r := range rows {
		if r.State == tcpListenState {
			if m := l.match(r.Local); m > 0 && (best < 0 || m > l.match(rows[best].Local)) {
				best = i
			}
		}
	}
	if best < 0 {
		return 0, 0, false, nil
	}
	return int(rows[best].RxQueue), -1, true, nil
}

// match ranks a listener's local address for the target: 3 exact, 2 the
// same family's wildcard, 1 the IPv6 wildcard for an IPv4 target, 0 none.
func (l *listenSampler) match(a netip.AddrPort) int {
	if a.Port() != l.addr.Port() {
		return 0
	}
	ip := a.Addr().Unmap()
	switch {
	case ip == l.addr.Addr():
		return 3
	case ip.IsUnspecified() && ip.Is4() == l.addr.Addr().Is4():
		return 2
	case ip.IsUnspecified() && ip.Is6() && l.addr.Addr().Is4():
		return 1
	}
	return 0
}
