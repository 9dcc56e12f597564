package whatif

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// SynSchedule is when a connecting kernel retransmits a dropped SYN,
// counted from the first SYN, and when it gives up (ETIMEDOUT).
type SynSchedule struct {
	Retries []time.Duration
	GiveUp  time.Duration
	// Slack is how late each retransmission timer may fire: the kernel's
	// timer wheel rounds a 1–2 s timeout up to its level's granularity
	// (8 jiffies, 32 ms at HZ 250). Measured on the testbed: nginx's
	// connects after one retry took 1.006–1.031 s, after two 2.03–2.05 s.
	// Each retransmission is late by a uniform draw from [0, Slack).
	Slack time.Duration
}

// DefaultSlack is SynSchedule.Slack as measured (see there).
const DefaultSlack = 32 * time.Millisecond

// LinuxSYN is Linux's schedule for net.ipv4.tcp_syn_retries = retries and
// tcp_syn_linear_timeouts = linear (Linux ≥ 6.5; 0 before): the initial
// RTO of 1 s is kept for the first linear retransmits, then doubles. With
// the defaults (6, 4): retries at 1, 2, 3, 4, 5, 7 s, giving up at 11 s —
// as measured in the testbed; older kernels (6, 0): 1, 3, 7, 15, 31, 63 s,
// giving up at 127 s.
func LinuxSYN(retries, linear int) SynSchedule {
	var s SynSchedule
	t, rto := time.Duration(0), time.Second
	for k := 1; k <= retries+1; k++ {
		t += rto
		if k <= retries {
			s.Retries = append(s.Retries, t)
		} else {
			s.GiveUp = t
		}
		if k > linear {
			rto = min(2*rto, 120*time.Second)
		}
	}
	return s
}

// SystemSYN is LinuxSYN for this machine's sysctls (Linux's defaults, 6
// and 4, where they cannot be read).
func SystemSYN() SynSchedule {
	read := func(name string, def int) int {
		b, err := os.ReadFile("/proc/sys/net/ipv4/" + name)
		if err != nil {
			return def
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || n < 0 || n > 255 {
			return def
		}
		return n
	}
	s := LinuxSYN(read("tcp_syn_retries", 6), read("tcp_syn_linear_timeouts", 4))
	s.Slack = DefaultSlack
	return s
}

// Load balancing across replicas.
const (
	RoundRobin = "round_robin"
	LeastConn  = "least_conn"
)

// Config is one setting to simulate. Start from DefaultConfig.
type Config struct {
	Workers  int    `json:"workers"`  // worker processes per replica
	Threads  int    `json:"threads"`  // threads per worker: each worker takes this many requests at once
	Listen   int    `json:"listen"`   // the app socket's listen backlog: the queue holds Listen+1
	Socket   string `json:"socket"`   // nginx → app: "tcp" or "unix"
	Proxy    bool   `json:"proxy"`    // nginx in front; false: clients connect to the app itself
	Replicas int    `json:"replicas"` // app instances (pods)
	LB       string `json:"lb"`       // round_robin or least_conn
	// Harakiri kills a worker whose request has run this long (0: off).
	Harakiri time.Duration `json:"harakiri_ns,omitempty"`
	// ConnectTimeout and ReadTimeout are nginx's uwsgi_/proxy_ timeouts.
	ConnectTimeout time.Duration `json:"connect_timeout_ns"`
	ReadTimeout    time.Duration `json:"read_timeout_ns"`
	// ClientTimeout ends a request for the client (queuegap --timeout);
	// ClientConnectTimeout its connect, when there is no proxy.
	ClientTimeout        time.Duration `json:"client_timeout_ns"`
	ClientConnectTimeout time.Duration `json:"client_connect_timeout_ns"`
	// Cores per replica for the processing's CPU part (0: unlimited).
	Cores float64 `json:"cores,omitempty"`
	// AcceptDelay is how long a free worker takes to take a queued
	// connection: the worker's time outside the app's own timer (accept,
	// request parsing, response writing, waking up) — the connection keeps
	// its place in the queue meanwhile. Fitted from a measured run
	// (FitAcceptDelay); measured on the testbed ≈ 5–10 ms.
	AcceptDelay time.Duration `json:"accept_delay_ns"`
	// Respawn is how long a killed worker is gone.
	Respawn time.Duration `json:"respawn_ns"`
	SYN     SynSchedule   `json:"-"`
}

// DefaultConfig is the testbed's defaults: 4 workers, listen 100 over TCP
// behind nginx with 60 s timeouts, one replica, harakiri off; the client's
// 30 s timeout and 10 s connect timeout; this machine's SYN schedule.
func DefaultConfig() Config {
	return Config{
		Workers: 4, Threads: 1, Listen: 100, Socket: "tcp", Proxy: true, Replicas: 1, LB: RoundRobin,
		ConnectTimeout: 60 * time.Second, ReadTimeout: 60 * time.Second,
		ClientTimeout: 30 * time.Second, ClientConnectTimeout: 10 * time.Second,
		Respawn: 100 * time.Millisecond, SYN: SystemSYN(),
	}
}

// Validate reports the first problem with c, as one line.
func (c Config) Validate() error {
	switch {
	case c.Workers < 1 || c.Workers > 100000:
		return fmt.Errorf("workers %d: want 1 to 100000", c.Workers)
	case c.Threads < 1 || c.Threads > 10000:
		return fmt.Errorf("threads %d: want 1 to 10000", c.Threads)
	case c.Listen < 0 || c.Listen > 1<<20:
		return fmt.Errorf("listen %d: want 0 to %d", c.Listen, 1<<20)
	case c.Socket != "tcp" && c.Socket != "unix":
		return fmt.Errorf("socket %q: want tcp or unix", c.Socket)
	case c.Socket == "unix" && !c.Proxy:
		return fmt.Errorf("socket unix needs the proxy in front (clients connect over TCP)")
	case c.Replicas < 1 || c.Replicas > 10000:
		return fmt.Errorf("replicas %d: want 1 to 10000", c.Replicas)
	case c.LB != RoundRobin && c.LB != LeastConn:
		return fmt.Errorf("lb %q: want round_robin or least_conn", c.LB)
	case c.Harakiri < 0:
		return fmt.Errorf("harakiri %v: want ≥ 0 (0: off)", c.Harakiri)
	case c.ConnectTimeout <= 0 || c.ReadTimeout <= 0 || c.ClientTimeout <= 0 || c.ClientConnectTimeout <= 0:
		return fmt.Errorf("timeouts must be > 0 (connect %v, read %v, client %v, client connect %v)",
			c.ConnectTimeout, c.ReadTimeout, c.ClientTimeout, c.ClientConnectTimeout)
	case c.Cores < 0 || c.Cores > 1e6 || c.Cores != c.Cores:
		return fmt.Errorf("cores %v: want ≥ 0 (0: unlimited)", c.Cores)
	case c.AcceptDelay < 0 || c.AcceptDelay > time.Minute:
		return fmt.Errorf("accept delay %v: want 0 to 1m", c.AcceptDelay)
	case c.Respawn < 0:
		return fmt.Errorf("respawn %v: want ≥ 0", c.Respawn)
	case c.SYN.Slack < 0 || c.SYN.Slack > time.Second:
		return fmt.Errorf("SYN timer slack %v: want 0 to 1s", c.SYN.Slack)
	case len(c.SYN.Retries) > 64:
		return fmt.Errorf("SYN schedule of %d retries: at most 64", len(c.SYN.Retries))
	}
	return nil
}

// String is the setting in the flags' words, for tables.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "workers %d", c.Workers)
	if c.Threads > 1 {
		fmt.Fprintf(&b, "×%d", c.Threads)
	}
	fmt.Fprintf(&b, " listen %d %s", c.Listen, c.Socket)
	if !c.Proxy {
		b.WriteString(" direct")
	}
	if c.Replicas > 1 {
		fmt.Fprintf(&b, " replicas %d %s", c.Replicas, c.LB)
	}
	if c.Harakiri > 0 {
		fmt.Fprintf(&b, " harakiri %v", c.Harakiri)
	}
	if c.Cores > 0 {
		fmt.Fprintf(&b, " cores %g", c.Cores)
	}
	return b.String()
}
