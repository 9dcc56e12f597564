package probe

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want ProcStat
		err  bool
	}{
		{name: "captured uwsgi worker",
			in:   "26040 (uwsgi) S 26038 26038 2596 0 -1 4194368 2841 0 0 0 12 3 0 0 20 0 1 0 57350912 60071936 5120 18446744073709551615 1 1 0 0 0 0 0 4096 17475 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
			want: ProcStat{Comm: "uwsgi", State: 'S', Ppid: 26038, Utime: 12, Stime: 3, StartTicks: 57350912, RSSPages: 5120}},
		{name: "comm with spaces and parens",
			in:   "7 (a b) c)) R 1 7 7 0 -1 0 0 0 0 0 100 200 0 0 20 0 1 0 99 0 -1 0\n",
			want: ProcStat{Comm: "a b) c)", State: 'R', Ppid: 1, Utime: 100, Stime: 200, StartTicks: 99, RSSPages: -1}},
		{name: "no comm", in: "7 R 1 2 3", err: true},
		{name: "short", in: "7 (x) R 1 2 3", err: true},
		{name: "bad utime", in: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 x 200 0 0 20 0 1 0 99 0 5 0", err: true},
		{name: "bad state", in: "7 (x) RR 1 7 7 0 -1 0 0 0 0 0 1 200 0 0 20 0 1 0 99 0 5 0", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProcStat([]byte(tc.in))
			if tc.err {
				if err == nil {
					t.Fatalf("no error: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseKeyedFile(t *testing.T) {
	m, err := ParseKeyedFile([]byte("usage_usec 1234\nuser_usec 1000\n\nsystem_usec 234\n"))
	if err != nil || m["usage_usec"] != 1234 || len(m) != 3 {
		t.Errorf("%v %v", m, err)
	}
	for _, bad := range []string{"usage_usec\n", "usage_usec x\n", "a 1 2\n", "a -1\n"} {
		if _, err := ParseKeyedFile([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// startShell runs script under sh in its own process group, killed in Cleanup.
func startShell(t *testing.T, script string) int {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}

// cpuOver samples twice, 600 ms apart, and returns the second reading.
func cpuOver(t *testing.T, s Sampler) map[string]float64 {
	t.Helper()
	if _, err := s.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // the measured interval itself, not synchronisation
	rd, err := s.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return values(rd)
}

// TestProcessCPU: a busy loop in a child of the probed shell shows as about
// a core (generously bounded: two shared cores); a sleeping tree as ~0.
func TestProcessCPU(t *testing.T) {
	busy := startShell(t, "sleep 30 & while :; do :; done")
	idle := startShell(t, "sleep 30 & sleep 30")
	// Wait (bounded) until the shells have forked their children.
	for _, pid := range []int{busy, idle} {
		s, _ := New(Spec{Kind: Process, Target: fmt.Sprintf("pid:%d", pid)})
		deadline := time.Now().Add(5 * time.Second)
		for {
			rd, err := s.Sample(context.Background())
			if err == nil && values(rd)["processes"] >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d never had a child: %+v %v", pid, rd, err)
			}
			time.Sleep(10 * time.Millisecond) // poll interval
		}
	}
	sb, _ := New(Spec{Kind: Process, Target: fmt.Sprintf("pid:%d", busy)})
	si, _ := New(Spec{Kind: Process, Target: fmt.Sprintf("pid:%d", idle)})
	vb, vi := cpuOver(t, sb), cpuOver(t, si)
	t.Logf("busy loop: %v; sleeping: %v", vb, vi)
	if vb["cpu"] < 0.3 || vb["cpu"] > 1.3 {
		t.Errorf("busy loop cpu %.2f cores, want about 1", vb["cpu"])
	}
	if vi["cpu"] > 0.05 {
		t.Errorf("sleeping tree cpu %.2f cores, want about 0", vi["cpu"])
	}
	// sh forks both sleeps: sh and two children.
	if vi["rss"] < 100<<10 || vi["processes"] != 3 {
		t.Errorf("sleeping tree %v: want the rss of sh and two sleeps, 3 processes", vi)
	}
}

func TestProcessByName(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Skip(err)
	}
	name := strings.TrimSpace(string(comm))
	s, err := New(Spec{Kind: Process, Target: "name:" + name})
	if err != nil {
		t.Fatalf("%s (%s): %v", name, exe, err)
	}
	rd, err := s.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v := values(rd); v["processes"] < 1 || v["rss"] <= 0 || !strings.Contains(rd.Note, "cores") {
		t.Errorf("by name %q: %v note %q", name, v, rd.Note)
	}
	gone, _ := New(Spec{Kind: Process, Target: "name:no-such-qg"})
	if _, err := gone.Sample(context.Background()); err == nil {
		t.Error("no error for a name nothing has")
	}
}

func TestCgroup(t *testing.T) {
	bad, _ := New(Spec{Kind: Process, Target: "cgroup:/nonexistent/qg"})
	if _, err := bad.Sample(context.Background()); err == nil || !strings.Contains(err.Error(), "cgroup v2") {
		t.Errorf("error %v", err)
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skip(err)
	}
	path, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "0::")
	if !ok || strings.Contains(path, "\n") {
		t.Skipf("not cgroup v2: %q", b)
	}
	dir := "/sys/fs/cgroup" + path
	if _, err := os.Stat(dir + "/cpu.stat"); err != nil {
		t.Skip(err)
	}
	s, err := New(Spec{Kind: Process, Target: "cgroup:" + dir})
	if err != nil {
		t.Fatal(err)
	}
	v := cpuOver(t, s)
	t.Logf("cgroup %s: %v", dir, v)
	if _, ok := v["cpu"]; !ok {
		t.Errorf("no cpu from %s: %v", dir, v)
	}
}
