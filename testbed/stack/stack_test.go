package stack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// requirePackages skips the test when the testbed's packages are missing, unless
// QG_REQUIRE_TESTBED is set, in which case that is a failure.
func requirePackages(t *testing.T, server string) {
	t.Helper()
	if err := CheckPackages(server); err != nil {
		if os.Getenv("QG_REQUIRE_TESTBED") != "" {
			t.Fatalf("QG_REQUIRE_TESTBED is set: %v", err)
		}
		t.Skip(err)
	}
}

func up(t *testing.T, cfg Config) *Stack {
	t.Helper()
	requirePackages(t, cfg.Server)
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	start := time.Now()
	s, err := Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("up in %v: %s (dir %s, pids %v)", time.Since(start).Round(time.Millisecond), s.URL(), s.Dir(), s.Pids())
	t.Cleanup(func() { s.Down() })
	return s
}

var client = &http.Client{Timeout: 10 * time.Second}

type answer struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, url, id string) answer {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request-Id", id)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// serverTiming parses "queue;dur=1.2, app;dur=3.4" into name -> dur.
func serverTiming(h string) map[string]float64 {
	m := map[string]float64{}
	for _, metric := range strings.Split(h, ",") {
		parts := strings.Split(strings.TrimSpace(metric), ";")
		for _, p := range parts[1:] {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "dur="); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					m[parts[0]] = f
				}
			}
		}
	}
	return m
}

// checkThroughNginx sends GET path with a fresh X-Request-Id and checks the headers and the
// app's log line. It returns the answer and the log line.
func checkThroughNginx(t *testing.T, s *Stack, path string) (answer, AppLogLine) {
	t.Helper()
	id := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	a := get(t, s.URL()+path, id)
	if a.status != 200 {
		t.Fatalf("GET %s: %d %s", path, a.status, a.body)
	}
	st := serverTiming(a.header.Get("Server-Timing"))
	if _, ok := st["queue"]; !ok {
		t.Errorf("Server-Timing %q: no queue", a.header.Get("Server-Timing"))
	}
	if _, ok := st["app"]; !ok {
		t.Errorf("Server-Timing %q: no app", a.header.Get("Server-Timing"))
	}
	if xrs := a.header.Get("X-Request-Start"); !strings.HasPrefix(xrs, "t=") {
		t.Errorf("X-Request-Start = %q, want t=<epoch s>", xrs)
	}
	if _, err := strconv.ParseFloat(a.header.Get("X-Upstream-Connect-Time"), 64); err != nil {
		t.Errorf("X-Upstream-Connect-Time = %q", a.header.Get("X-Upstream-Connect-Time"))
	}
	if a.header.Get("X-Upstream-Header-Time") == "" || a.header.Get("X-Worker-Pid") == "" {
		t.Errorf("missing X-Upstream-Header-Time or X-Worker-Pid: %v", a.header)
	}
	if got := a.header.Get("X-Request-Id"); got != id {
		t.Errorf("X-Request-Id = %q, want %q", got, id)
	}
	// The worker writes its line before answering: no waiting needed.
	lines, err := ReadAppLog(s.AppLog())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if l.ID == id {
			if strconv.Itoa(l.Pid) != a.header.Get("X-Worker-Pid") || l.Status != 200 {
				t.Errorf("log line %+v does not match answer %v", l, a.header)
			}
			if q, ok := l.Queue(); !ok || q < 0 || q > 5*time.Second {
				t.Errorf("log queue = %v %v", q, ok)
			}
			return a, l
		}
	}
	t.Fatalf("no line with id %s in %s (%d lines)", id, s.AppLog(), len(lines))
	return a, AppLogLine{}
}

// groupMembers lists the pids whose process group is one of pgids.
func groupMembers(pgids map[string]int) []int {
	want := map[int]bool{}
	for _, g := range pgids {
		want[g] = true
	}
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, ok := pgidOf(pid); ok && want[g] {
			pids = append(pids, pid)
		}
	}
	return pids
}

func pgidOf(pid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // state ppid pgrp ...
	if len(f) < 3 {
		return 0, false
	}
	g, err := strconv.Atoi(f[2])
	return g, err == nil
}

// downAndCheck stops s and checks no process of its groups survived.
func downAndCheck(t *testing.T, s *Stack, wantProcs int) {
	t.Helper()
	pgids := s.Pids()
	members := groupMembers(pgids)
	if len(members) < wantProcs {
		t.Errorf("only %d processes in groups %v before Down, want ≥ %d", len(members), pgids, wantProcs)
	}
	start := time.Now()
	if err := s.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	t.Logf("down in %v (%d processes)", time.Since(start).Round(time.Millisecond), len(members))
	for _, pid := range members {
		if g, ok := pgidOf(pid); ok && g == pgidForPid(pgids, g) {
			t.Errorf("pid %d (group %d) still alive after Down", pid, g)
		}
	}
	if err := s.Down(); err != nil {
		t.Errorf("second Down: %v", err)
	}
	if _, err := os.Stat(s.Dir() + "/" + stateFile); !os.IsNotExist(err) {
		t.Errorf("state file left behind: %v", err)
	}
}

func pgidForPid(pgids map[string]int, g int) int {
	for _, p := range pgids {
		if p == g {
			return g
		}
	}
	return -1
}

func TestUpDefaults(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	s := up(t, cfg)
	a, l := checkThroughNginx(t, s, "/sleep?ms=50")
	if l.AppMS < 50 || l.Path != "/sleep" {
		t.Errorf("app_ms %.1f path %s, want ≥ 50 /sleep", l.AppMS, l.Path)
	}
	if st := serverTiming(a.header.Get("Server-Timing")); st["app"] < 50 {
		t.Errorf("Server-Timing app %.1f < 50", st["app"])
	}
	checkThroughNginx(t, s, "/cpu?ms=20")
	checkThroughNginx(t, s, "/fast")
	if a := get(t, s.URL()+"/sleep?ms=x", "bad"); a.status != 400 {
		t.Errorf("/sleep?ms=x: %d", a.status)
	}
	st := s.Status(context.Background())
	if !st.Healthy || len(st.Stats) != 1 || st.Stats[0].Err != "" || st.Stats[0].Workers != 4 {
		t.Errorf("status: %+v", st)
	}
	for _, p := range st.Procs {
		if !p.Alive {
			t.Errorf("status: %s not alive", p.Name)
		}
	}
	downAndCheck(t, s, 1+4+2) // uWSGI master + 4 workers, nginx master + worker
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL(), "http://"), time.Second); err == nil {
		t.Error("nginx port still accepts after Down")
	}
}

func TestUpUnixSocketWithHTTPSocket(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.Workers = 2
	cfg.Socket = "unix"
	cfg.HTTPSocket = true
	s := up(t, cfg)
	checkThroughNginx(t, s, "/fast")
	if len(s.AppURLs()) != 1 {
		t.Fatalf("AppURLs = %v", s.AppURLs())
	}
	// Straight to uWSGI: no nginx, so no X-Request-Start and no queue.
	a := get(t, s.AppURLs()[0]+"/fast", "direct")
	if a.status != 200 || a.header.Get("X-Worker-Pid") == "" {
		t.Errorf("direct: %d %v", a.status, a.header)
	}
	if st := serverTiming(a.header.Get("Server-Timing")); len(st) != 1 || st["app"] <= 0 {
		t.Errorf("direct Server-Timing %q, want app only", a.header.Get("Server-Timing"))
	}
	sock := s.Dir() + "/app1.sock"
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("unix socket %s: %v", sock, err)
	}
	downAndCheck(t, s, 1+2+2)
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestUpGunicorn(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.Server = "gunicorn"
	cfg.Workers = 2
	cfg.Harakiri = 5 * time.Second
	s := up(t, cfg)
	_, l := checkThroughNginx(t, s, "/sleep?ms=20")
	if l.AppMS < 20 {
		t.Errorf("app_ms %.1f < 20", l.AppMS)
	}
	if len(s.StatsAddrs()) != 0 {
		t.Errorf("gunicorn has stats addrs %v", s.StatsAddrs())
	}
	downAndCheck(t, s, 1+2+2)
}

func TestUpTwoInstancesLeastConn(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.Workers = 2
	cfg.Instances = 2
	cfg.LB = "least_conn"
	s := up(t, cfg)
	seen := map[string]bool{}
	for i := 0; i < 6; i++ {
		_, l := checkThroughNginx(t, s, "/fast")
		seen[l.Instance] = true
	}
	if !seen["1"] || !seen["2"] {
		t.Errorf("instances answering: %v, want 1 and 2", seen)
	}
	conf, err := os.ReadFile(s.Dir() + "/nginx.conf")
	if err != nil || !strings.Contains(string(conf), "least_conn;") {
		t.Errorf("nginx.conf has no least_conn: %v", err)
	}
	downAndCheck(t, s, 2*(1+2)+2)
}

// TestAttachDown is what `queuegap testbed status|down` does from another process.
func TestAttachDown(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.Workers = 1
	s := up(t, cfg)
	if _, err := Up(context.Background(), s.Config()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Up in the same dir: %v", err)
	}
	a, err := Attach(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if a.URL() != s.URL() || len(a.Pids()) != 2 {
		t.Errorf("attached %s %v, want %s %v", a.URL(), a.Pids(), s.URL(), s.Pids())
	}
	if st := a.Status(context.Background()); !st.Healthy || len(st.Stats) != 1 {
		t.Errorf("attached status: %+v", st)
	}
	members := groupMembers(s.Pids())
	if err := a.Down(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range members {
		if err := syscall.Kill(pid, 0); err == nil {
			if g, ok := pgidOf(pid); ok && pgidForPid(s.Pids(), g) == g {
				// Our own child stays a zombie until s reaps it; everything else must be gone.
				if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(b), ") Z ") {
					t.Errorf("pid %d alive after attached Down", pid)
				}
			}
		}
	}
	if _, err := Attach(s.Dir()); err == nil {
		t.Error("state file still there after Down")
	}
}

func TestUpFailsWithLogTail(t *testing.T) {
	t.Parallel()
	requirePackages(t, "uwsgi")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := Defaults()
	cfg.Workers = 1
	cfg.Port = l.Addr().(*net.TCPAddr).Port // taken: nginx cannot bind
	cfg.Dir = t.TempDir()
	_, err = Up(context.Background(), cfg)
	if err == nil {
		t.Fatal("Up succeeded on a taken port")
	}
	if !strings.Contains(err.Error(), "Address already in use") {
		t.Errorf("error lacks nginx's log tail: %v", err)
	}
	if _, serr := os.Stat(cfg.Dir + "/" + stateFile); !os.IsNotExist(serr) {
		t.Errorf("state file left after failed Up")
	}
	t.Logf("error: %v", err)
}

// TestUpALBFront: with Front "alb" the public URL is the front's; both tiers' timing headers
// reach the client, distinct; the front logs the request under the client's id; its 504 (pod
// nginx unreachable) carries the front's headers; Down stops the front too.
func TestUpALBFront(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.Workers = 1
	cfg.Front = FrontALB
	cfg.FrontConnectTimeout = 2 * time.Second
	cfg.NginxWorkerConnections = 64
	s := up(t, cfg)
	if s.URL() == s.NginxURL() || s.Config().Port == 0 || !strings.HasSuffix(s.URL(), fmt.Sprint(":", s.Config().Port)) {
		t.Fatalf("URL %s, NginxURL %s, Port %d: want the front on Port, nginx elsewhere", s.URL(), s.NginxURL(), s.Config().Port)
	}
	a, _ := checkThroughNginx(t, s, "/sleep?ms=20") // through the front, then the pod nginx
	for _, h := range []string{"X-Front-Upstream-Connect-Time", "X-Front-Upstream-Header-Time", "X-Upstream-Connect-Time"} {
		if _, err := strconv.ParseFloat(a.header.Get(h), 64); err != nil {
			t.Errorf("%s = %q, want seconds", h, a.header.Get(h))
		}
	}
	// The front's header time includes the pod's whole answer (≥ the 20 ms view); the pod's
	// connect to uWSGI is its own header.
	if f, _ := strconv.ParseFloat(a.header.Get("X-Front-Upstream-Header-Time"), 64); f < 0.02 {
		t.Errorf("X-Front-Upstream-Header-Time %v < 0.020 s", f)
	}
	if n := len(a.header.Values("X-Request-Id")); n != 1 {
		t.Errorf("%d X-Request-Id headers, want 1: %v", n, a.header)
	}
	conf, err := os.ReadFile(s.Dir() + "/nginx.conf")
	if err != nil || !strings.Contains(string(conf), "worker_connections 64;") {
		t.Errorf("pod nginx.conf has no worker_connections 64: %v", err)
	}
	front, err := os.ReadFile(s.Dir() + "/front.conf")
	if err != nil || !strings.Contains(string(front), "proxy_connect_timeout 2s;") {
		t.Errorf("front.conf has no proxy_connect_timeout 2s: %v", err)
	}
	// nginx writes the access line after the answer: poll, bounded.
	id := a.header.Get("X-Request-Id")
	var log []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if log, _ = os.ReadFile(s.FrontAccessLog()); strings.Contains(string(log), `"id":"`+id+`"`) {
			break
		}
	}
	if !strings.Contains(string(log), `"id":"`+id+`"`) || !strings.Contains(string(log), `"upstream_addr":"`+strings.TrimPrefix(s.NginxURL(), "http://")) {
		t.Errorf("front access log has no line for %s via %s:\n%s", id, s.NginxURL(), log)
	}
	if st := s.Status(context.Background()); !st.Healthy || len(st.Procs) != 3 {
		t.Errorf("status: %+v", st)
	}
	if a, err := Attach(s.Dir()); err != nil || a.NginxURL() != s.NginxURL() || a.URL() != s.URL() {
		t.Errorf("attached: %v %+v", err, a)
	}

	// The pod nginx gone: the front's connect is refused at once, and it answers 502 with its
	// own headers (a 504 needs SYNs that go unanswered; the e2e tests show that).
	for _, p := range s.procs {
		if p.Name == "nginx" {
			if err := p.stop(); err != nil { // graceful: its master reaps its worker
				t.Fatal(err)
			}
		}
	}
	ok := false
	for deadline := time.Now().Add(5 * time.Second); !ok && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b := get(t, s.URL()+"/fast", "after-kill")
		ok = b.status == 502 && b.header.Get("X-Front-Upstream-Connect-Time") != "" && b.header.Get("X-Upstream-Connect-Time") == ""
	}
	if !ok {
		t.Error("no 502 from the front with X-Front-Upstream-Connect-Time after the pod nginx died")
	}
	downAndCheck(t, s, 1+1+2) // uWSGI master + worker, the front's master + worker (pod nginx stopped)
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL(), "http://"), time.Second); err == nil {
		t.Error("the front's port still accepts after Down")
	}
}
