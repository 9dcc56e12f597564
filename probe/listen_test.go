package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rawListener listens on addr (127.0.0.1 or ::1, port 0) with the given
// backlog and never accepts: the kernel completes handshakes into the
// accept queue until it holds backlog+1.
func rawListener(t *testing.T, family int, backlog int) netip.AddrPort {
	t.Helper()
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	var sa unix.Sockaddr = &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if family == unix.AF_INET6 {
		sa = &unix.SockaddrInet6{Addr: [16]byte{15: 1}}
	}
	if err := unix.Bind(fd, sa); err != nil {
		t.Skipf("bind: %v", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	t.Fatalf("sockname %T", got)
	return netip.AddrPort{}
}

// dial opens n connections that the kernel completes into the queue.
func dial(t *testing.T, addr netip.AddrPort, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr.String(), 2*time.Second)
		if err != nil {
			t.Fatalf("dial %d of %d: %v", i+1, n, err)
		}
		t.Cleanup(func() { c.Close() })
	}
}

func values(rd Reading) map[string]float64 {
	m := map[string]float64{}
	for _, v := range rd.Values {
		m[v.Name] = v.Value
	}
	return m
}

// pollListen samples until cond holds or a bounded deadline passes.
func pollListen(t *testing.T, s Sampler, cond func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rd, err := s.Sample(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		v := values(rd)
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition never held; last reading %v", v)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// ssListen is `ss -lnt` for one port: Recv-Q and Send-Q.
func ssListen(t *testing.T, addr netip.AddrPort) (recvQ, sendQ int, ok bool) {
	out, err := exec.Command("ss", "-Hlnt", fmt.Sprintf("sport = :%d", addr.Port())).Output()
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		return 0, 0, false
	}
	r, _ := strconv.Atoi(f[1])
	s, _ := strconv.Atoi(f[2])
	return r, s, true
}

// TestListenAcceptQueue fills a real accept queue: listen(N), never accept,
// N+1 connections (the queue holds backlog+1). The reader must say queue
// N+1 and backlog N, like ss -lnt and /proc/net/tcp; one more connection
// overflows (its SYN is dropped), counted in ListenOverflows.
func TestListenAcceptQueue(t *testing.T) {
	for _, tc := range []struct {
		name    string
		family  int
		backlog int
	}{
		{"ipv4 backlog 5", unix.AF_INET, 5},
		{"ipv4 backlog 1", unix.AF_INET, 1},
		{"ipv6 backlog 3", unix.AF_INET6, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawListener(t, tc.family, tc.backlog)
			sp, err := Parse("listen=" + addr.String() + ",expect=" + strconv.Itoa(tc.backlog))
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(sp)
			if err != nil {
				t.Fatal(err)
			}
			rd, err := s.Sample(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if v := values(rd); v["queue"] != 0 || v["backlog"] != float64(tc.backlog) || v["overflows"] != 0 {
				t.Errorf("empty queue: %v, want queue 0, backlog %d, overflows 0", v, tc.backlog)
			}
			if !strings.Contains(rd.Note, "network namespace") {
				t.Errorf("first reading's note %q does not say the counters are namespace-wide", rd.Note)
			}
			want := tc.backlog + 1
			dial(t, addr, want)
			v := pollListen(t, s, func(v map[string]float64) bool { return v["queue"] == float64(want) })
			if v["backlog"] != float64(tc.backlog) || v["expected_backlog"] != float64(tc.backlog) {
				t.Errorf("full queue: %v, want backlog %d", v, tc.backlog)
			}
			if r, sq, ok := ssListen(t, addr); ok {
				t.Logf("ss -lnt: Recv-Q %d Send-Q %d; probe: %v", r, sq, v)
				if r != want || sq != tc.backlog {
					t.Errorf("ss -lnt says Recv-Q %d Send-Q %d, want %d %d", r, sq, want, tc.backlog)
				}
			}
			// /proc/net/tcp(6) agrees on the queue (and shows no backlog).
			ls := s.(*listenSampler)
			ls.noDiag = true
			q, b, found, err := ls.read()
			if err != nil || !found || q != want || b != -1 {
				t.Errorf("/proc/net/tcp reader: queue %d backlog %d found %v err %v, want %d, -1", q, b, found, err, want)
			}
			ls.noDiag = false

			// One more: the queue is full, the SYN is dropped and retried.
			c, err := net.DialTimeout("tcp", addr.String(), 300*time.Millisecond)
			if err == nil {
				c.Close()
				t.Fatalf("connection %d to a full queue succeeded", want+1)
			}
			v = pollListen(t, s, func(v map[string]float64) bool { return v["overflows"] >= 1 })
			if v["queue"] != float64(want) {
				t.Errorf("after the overflow: %v, want queue still %d", v, want)
			}
			t.Logf("after one dropped SYN: %v", v)
		})
	}
}

// TestListenBacklogCapped: listen() asking for more than net.core.somaxconn
// gets somaxconn, silently; the probe reads the effective backlog.
func TestListenBacklogCapped(t *testing.T) {
	max, err := Somaxconn()
	if err != nil {
		t.Skip(err)
	}
	addr := rawListener(t, unix.AF_INET, max+1000)
	s, err := New(Spec{Kind: Listen, Target: addr.String(), ExpectBacklog: max + 1000})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := s.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v := values(rd)
	if v["backlog"] != float64(max) || v["somaxconn"] != float64(max) || v["expected_backlog"] != float64(max+1000) {
		t.Errorf("listen(%d) with somaxconn %d: %v, want backlog %d", max+1000, max, v, max)
	}
}

// TestListenCappedInNamespace is the container trap end to end: in a
// network namespace of its own with net.core.somaxconn 16 (as a container
// without the sysctl in its security context has the host's default, or
// whatever it was given), listen(2048) gets 16, and the queue fills at 17.
// It re-runs this test binary under unshare -n; root only.
func TestListenCappedInNamespace(t *testing.T) {
	if os.Getenv("QG_PROBE_NETNS_CHILD") == "1" {
		netnsChild(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-n", os.Args[0], "-test.run=^TestListenCappedInNamespace$", "-test.v")
	cmd.Env = append(os.Environ(), "QG_PROBE_NETNS_CHILD=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a new network namespace:\n%s", out)
	if err != nil {
		if strings.Contains(string(out), "unshare failed") || strings.Contains(string(out), "Operation not permitted") {
			t.Skipf("no network namespace here: %v", err)
		}
		t.Fatalf("child: %v", err)
	}
}

func netnsChild(t *testing.T) {
	// lo is down in a new namespace: bring it up without ip(8).
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		t.Fatal(err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if err := os.WriteFile("/proc/sys/net/core/somaxconn", []byte("16\n"), 0o644); err != nil {
		t.Fatalf("set somaxconn in the namespace: %v", err)
	}
	addr := rawListener(t, unix.AF_INET, 2048)
	s, err := New(Spec{Kind: Listen, Target: addr.String(), ExpectBacklog: 2048})
	if err != nil {
		t.Fatal(err)
	}
	dial(t, addr, 17)
	v := pollListen(t, s, func(v map[string]float64) bool { return v["queue"] == 17 })
	if v["backlog"] != 16 || v["somaxconn"] != 16 || v["expected_backlog"] != 2048 {
		t.Errorf("listen(2048) under somaxconn 16: %v, want backlog 16", v)
	}
	t.Logf("listen(2048) with somaxconn 16, 17 connections: %v", v)
}

// TestListenNotListening: a port nobody listens on is a failed reading
// (the session reports it once and keeps trying), not a panic or a zero.
func TestListenNotListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s, err := New(Spec{Kind: Listen, Target: addr})
	if err != nil {
		t.Fatal(err)
	}
	if rd, err := s.Sample(context.Background()); err == nil || !strings.Contains(err.Error(), "nothing listens") {
		t.Errorf("reading %+v, error %v: want nothing listens", rd, err)
	}
}

// TestListenWildcard: a probe of 127.0.0.1:P finds a listener on 0.0.0.0:P.
func TestListenWildcard(t *testing.T) {
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	s, err := New(Spec{Kind: Listen, Target: fmt.Sprintf("127.0.0.1:%d", port)})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := s.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v := values(rd); v["backlog"] < 1 {
		t.Errorf("reading %v: want Go's backlog (somaxconn)", v)
	}
}
