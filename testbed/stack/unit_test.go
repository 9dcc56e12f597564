package stack

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCheckPackagesMessage(t *testing.T) {
	no := func() bool { return false }
	yes := func() bool { return true }
	err := missingError([]requirement{{"nginx", yes}, {"uwsgi", no}, {"uwsgi-plugin-python3", no}})
	want := "testbed needs Debian packages: missing uwsgi, uwsgi-plugin-python3; run: apt-get install -y uwsgi uwsgi-plugin-python3"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Error("message is not one line")
	}
	if err := missingError([]requirement{{"nginx", yes}}); err != nil {
		t.Errorf("all present: %v", err)
	}
	if err := CheckPackages("apache"); err == nil {
		t.Error("CheckPackages(apache) = nil")
	}
	// Each server's requirement list names the packages the Dockerfile installs.
	docker, err := os.ReadFile(filepath.Join(repoRoot, "testbed", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, server := range []string{"uwsgi", "gunicorn"} {
		for _, r := range requirements(server) {
			if !strings.Contains(string(docker), " "+r.pkg) {
				t.Errorf("%s needs %s but testbed/Dockerfile does not install it", server, r.pkg)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("Defaults: %v", err)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.Workers = 0 },
		func(c *Config) { c.Socket = "udp" },
		func(c *Config) { c.Harakiri = 1500 * time.Millisecond },
		func(c *Config) { c.Instances = 3 },
		func(c *Config) { c.LB = "ip_hash" },
		func(c *Config) { c.Server = "apache" },
		func(c *Config) { c.Listen = 1 << 30 },
		func(c *Config) { c.Dir = "/tmp/a b" },
		func(c *Config) { c.Front = "elb" },
		func(c *Config) { c.Front = FrontALB; c.FrontConnectTimeout = 0 },
		func(c *Config) { c.NginxWorkerConnections = 4 },
	} {
		c := Defaults()
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("multi-line error: %q", err)
		}
	}
}

func TestNginxTime(t *testing.T) {
	for d, want := range map[time.Duration]string{
		60 * time.Second: "60s", 1500 * time.Millisecond: "1500ms", 250 * time.Microsecond: "1ms",
	} {
		if got := nginxTime(d); got != want {
			t.Errorf("nginxTime(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestReadAppLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	data := `{"id":"r1-5","pid":123,"instance":"1","queue_ms":1.5,"app_ms":1000.25,"path":"/sleep","status":200,"start":1795320050.5,"end":1795320051.5,"request_start":1795320050.4985}
{"id":"","pid":124,"instance":"2","queue_ms":null,"app_ms":2,"path":"/fast","status":200,"start":1795320050.5,"end":1795320050.502,"request_start":null}
`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := ReadAppLog(path)
	if err != nil || len(lines) != 2 {
		t.Fatalf("ReadAppLog: %d lines, %v", len(lines), err)
	}
	if q, ok := lines[0].Queue(); !ok || q != 1500*time.Microsecond {
		t.Errorf("queue = %v %v", q, ok)
	}
	if lines[0].App() != 1000250*time.Microsecond || lines[0].ID != "r1-5" || lines[0].Pid != 123 {
		t.Errorf("line 0 = %+v", lines[0])
	}
	if _, ok := lines[1].Queue(); ok {
		t.Error("null queue_ms reads as known")
	}
	if got := lines[0].EndTime().Sub(lines[0].StartTime()); got != time.Second {
		t.Errorf("end-start = %v", got)
	}
	if l, err := ReadAppLog(filepath.Join(t.TempDir(), "none")); err != nil || l != nil {
		t.Errorf("missing file: %v %v", l, err)
	}
	os.WriteFile(path, []byte("{\"id\":\n"), 0o644)
	if _, err := ReadAppLog(path); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("bad line: %v", err)
	}
}

// TestAttachDownSparesOtherProcesses: a recorded pid that now names another process (the pid
// was handed out again) is neither signalled nor has its process group killed — whether the
// state file has start times or, from an older version, only command lines. The foreign
// process is checked right after it starts, while its command line may still read empty
// (exec in progress): that window once made Down kill it.
func TestAttachDownSparesOtherProcesses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		withStart bool
	}{{"start time", true}, {"command line only", false}} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("sleep", "30")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			if err := cmd.Start(); err != nil {
				t.Skip(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			pid := cmd.Process.Pid
			dir := t.TempDir()
			p := &proc{Name: "nginx", Pid: pid, Cmdline: "nginx: master process nginx -p " + dir}
			if tc.withStart {
				st, ok := readProcStat(pid)
				if !ok {
					t.Fatalf("no /proc/%d/stat", pid)
				}
				p.Start = st.Start + 1 // the process we "started" had this pid before
			}
			s := &Stack{dir: dir, sockDir: dir, procs: []*proc{p}}
			if err := s.writeState(); err != nil {
				t.Fatal(err)
			}
			a, err := Attach(dir)
			if err != nil {
				t.Fatal(err)
			}
			if st := a.Status(context.Background()); len(st.Procs) != 1 || st.Procs[0].Alive {
				t.Errorf("status calls a foreign process ours: %+v", st.Procs)
			}
			if err := a.Down(); err != nil {
				t.Fatal(err)
			}
			if st, ok := readProcStat(pid); !ok || st.State == 'Z' {
				t.Fatalf("Down killed an unrelated process (state %q)", st.State)
			}
			if !NotRunning(func() error { _, err := Attach(dir); return err }()) {
				t.Error("state file not removed")
			}
		})
	}
}

// TestAttachDownKillsOwnGroup: with the leader's start time matching, an attached Down stops
// the leader and its group: a leader that takes its workers down on TERM (as uWSGI's master
// does), and workers left behind by a leader that is already gone.
func TestAttachDownKillsOwnGroup(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		leaderAlive  bool
	}{
		{"leader alive", `trap 'trap - TERM; kill 0' TERM; sleep 30 & echo $!; wait`, true},
		{"leader gone", `sleep 30 & echo $!`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("/bin/sh", "-c", tc.script)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Skip(err)
			}
			leader := cmd.Process.Pid
			st, ok := readProcStat(leader) // before it can exit: our unreaped child
			var worker int
			if _, err := fmt.Fscan(out, &worker); err != nil {
				cmd.Process.Kill()
				t.Fatal(err)
			}
			defer syscall.Kill(-leader, syscall.SIGKILL)
			exited := make(chan struct{})
			go func() { cmd.Wait(); close(exited) }() // reap it, as its real parent would
			if !ok {
				t.Fatal("no stat for the leader")
			}
			if !tc.leaderAlive {
				<-exited
			}
			dir := t.TempDir()
			s := &Stack{dir: dir, sockDir: dir, procs: []*proc{{Name: "app1", Pid: leader, Start: st.Start}}}
			if err := s.writeState(); err != nil {
				t.Fatal(err)
			}
			a, err := Attach(dir)
			if err != nil {
				t.Fatal(err)
			}
			if st := a.Status(context.Background()); len(st.Procs) != 1 || st.Procs[0].Alive != tc.leaderAlive {
				t.Errorf("status: %+v, want alive=%v", st.Procs, tc.leaderAlive)
			}
			if err := a.Down(); err != nil {
				t.Fatal(err)
			}
			if ws, ok := readProcStat(worker); ok && ws.State != 'Z' {
				t.Errorf("worker %d survived Down (state %q)", worker, ws.State)
			}
			if groupAlive(leader) {
				t.Errorf("process group %d still has members", leader)
			}
		})
	}
}

func TestParseProcStat(t *testing.T) {
	tail := " 1 1 0 -1 4194304 98 0 0 0 0 0 0 0 20 0 1 0 843603 3133440 365"
	for _, tc := range []struct {
		in      string
		want    procStat
		wantErr bool
	}{
		{"24771 (cat) R 24768" + tail, procStat{'R', 1, 843603}, false},
		{"7 (a) b) c) Z 1" + tail, procStat{'Z', 1, 843603}, false}, // ')' inside the name
		{"7 (x y) S 1 5 5 0 -1 4194304 98 0 0 0 0 0 0 0 20 0 1 0 9 1 1", procStat{'S', 5, 9}, false},
		{"7 (cat) R 1 1 1", procStat{}, true},
		{"7 cat R 1" + tail, procStat{}, true},
		{"7 (cat) RR 1" + tail, procStat{}, true},
		{"7 (cat) R 1 1 1 0 -1 4194304 98 0 0 0 0 0 0 0 20 0 1 0 -5 1 1", procStat{}, true},
		{"", procStat{}, true},
	} {
		got, err := parseProcStat([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseProcStat(%q) = %+v, %v; want %+v, err %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	if st, ok := readProcStat(os.Getpid()); !ok || st.Start == 0 || st.State == 'Z' {
		t.Errorf("own stat: %+v %v", st, ok)
	}
	if _, ok := readProcStat(-1); ok {
		t.Error("stat of pid -1 reads as a process")
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("24771 (cat) R 24768 1 1 0 -1 4194304 98 0 0 0 0 0 0 0 20 0 1 0 843603 3133440 365"))
	f.Add([]byte("1 ()) Z"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseProcStat(b)
		if err != nil && st != (procStat{}) {
			t.Fatalf("error with a value: %+v", st)
		}
		if err == nil && (st.State == ' ' || !bytes.Contains(b, []byte(")"))) {
			t.Fatalf("accepted %q as %+v", b, st)
		}
	})
}
