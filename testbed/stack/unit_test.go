package stack

import (
	"context"
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

// TestAttachDownSparesOtherProcesses: a recorded pid whose command line no longer matches
// (reused by another program) is neither signalled nor has its process group killed.
func TestAttachDownSparesOtherProcesses(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer cmd.Process.Kill()
	dir := t.TempDir()
	s := &Stack{dir: dir, sockDir: dir, procs: []*proc{{Name: "nginx", Pid: cmd.Process.Pid,
		Cmdline: "nginx: master process nginx -p " + dir}}}
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
	if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
		t.Fatalf("Down killed an unrelated process: %v", err)
	}
	if !NotRunning(func() error { _, err := Attach(dir); return err }()) {
		t.Error("state file not removed")
	}
}
