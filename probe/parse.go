package probe

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// MaxProbes bounds a run's probes: each has a goroutine and reads /proc or
// a socket every interval.
const MaxProbes = 32

// MinEvery is the shortest sampling interval: uWSGI refreshes its stats
// about once a second and /proc/net reads cost a little each time.
const MinEvery = 10 * time.Millisecond

// Parse reads one --probe value:
//
//	listen=HOST:PORT[,expect=N]    a local listening TCP socket (IPv4 or [IPv6])
//	uwsgi=HOST:PORT                a uWSGI stats server
//	process=PID | process=pid:PID  a process and its descendants (a prefork master)
//	process=name:NAME              every process whose command name is NAME
//	cgroup=PATH                    a cgroup v2 directory (cpu.stat, memory.current)
//
// Each takes an optional ,every=DURATION. The result is validated.
func Parse(s string) (Spec, error) {
	parts := strings.Split(s, ",")
	kind, target, ok := strings.Cut(parts[0], "=")
	if !ok || target == "" {
		return Spec{}, fmt.Errorf("probe %q: want listen=HOST:PORT, uwsgi=HOST:PORT, process=PID|name:NAME or cgroup=PATH", s)
	}
	var sp Spec
	switch kind {
	case "listen":
		sp = Spec{Kind: Listen, Target: target}
	case "uwsgi":
		sp = Spec{Kind: UWSGI, Target: target}
	case "process":
		sp = Spec{Kind: Process, Target: target}
		if _, err := strconv.Atoi(target); err == nil {
			sp.Target = "pid:" + target
		}
	case "cgroup":
		sp = Spec{Kind: Process, Target: "cgroup:" + target}
	default:
		return Spec{}, fmt.Errorf("probe %q: unknown kind %q (want listen, uwsgi, process or cgroup)", s, kind)
	}
	for _, opt := range parts[1:] {
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "expect":
			if sp.Kind != Listen {
				return Spec{}, fmt.Errorf("probe %q: expect= applies to listen probes only", s)
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return Spec{}, fmt.Errorf("probe %q: expect=%q: want the configured backlog, a positive integer", s, v)
			}
			sp.ExpectBacklog = n
		case "every":
			d, err := time.ParseDuration(v)
			if err != nil {
				return Spec{}, fmt.Errorf("probe %q: every=%q: want a duration like 250ms", s, v)
			}
			sp.Every = d
		default:
			return Spec{}, fmt.Errorf("probe %q: unknown option %q (want expect=N or every=DURATION)", s, opt)
		}
	}
	if err := sp.Validate(); err != nil {
		return Spec{}, err
	}
	return sp, nil
}

// Name is how reports and results files name the probe: its kind and
// target, e.g. "listen 127.0.0.1:8080" or "process pid:1234".
func (s Spec) Name() string { return string(s.Kind) + " " + s.Target }

// Validate reports the first problem with s, as one line. It touches
// nothing: a port not listening yet is not an error (it is sampled as a
// failure, once, and retried).
func (s Spec) Validate() error {
	if s.Every != 0 && s.Every < MinEvery {
		return fmt.Errorf("probe %s: every %v: want at least %v", s.Name(), s.Every, MinEvery)
	}
	if s.ExpectBacklog < 0 || (s.ExpectBacklog > 0 && s.Kind != Listen) {
		return fmt.Errorf("probe %s: expected backlog %d: only a listen probe takes one, positive", s.Name(), s.ExpectBacklog)
	}
	switch s.Kind {
	case Listen, UWSGI:
		if _, err := hostPort(s.Target); err != nil {
			return fmt.Errorf("probe %s: %v", s.Name(), err)
		}
	case Process:
		what, arg, ok := strings.Cut(s.Target, ":")
		switch {
		case !ok || arg == "":
			return fmt.Errorf("probe %s: want pid:N, name:NAME or cgroup:PATH", s.Name())
		case what == "pid":
			if n, err := strconv.Atoi(arg); err != nil || n < 1 {
				return fmt.Errorf("probe %s: pid %q: want a positive integer", s.Name(), arg)
			}
		case what == "name":
			if len(arg) > 15 || strings.ContainsAny(arg, "/\n") {
				return fmt.Errorf("probe %s: name %q: want a command name as /proc/PID/comm has it (at most 15 bytes, no '/')", s.Name(), arg)
			}
		case what == "cgroup":
			if !strings.HasPrefix(arg, "/") {
				return fmt.Errorf("probe %s: cgroup %q: want an absolute path (/sys/fs/cgroup/…)", s.Name(), arg)
			}
		default:
			return fmt.Errorf("probe %s: want pid:N, name:NAME or cgroup:PATH", s.Name())
		}
	default:
		return fmt.Errorf("probe kind %q: want listen, uwsgi or process", s.Kind)
	}
	return nil
}

// hostPort checks an IP:PORT (IPv6 in brackets); names are refused since
// /proc/net/tcp and sock_diag know addresses only.
func hostPort(target string) (*net.TCPAddr, error) {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("want IP:PORT ([IPv6]:PORT): %v", err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, fmt.Errorf("host %q: want an IP address, not a name", host)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return nil, fmt.Errorf("port %q: want 1-65535", port)
	}
	return &net.TCPAddr{IP: ip, Port: p}, nil
}
