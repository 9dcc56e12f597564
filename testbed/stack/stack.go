package stack

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed files
var embedded embed.FS

// Config is the testbed's shape. Start from Defaults.
type Config struct {
	Workers        int           // worker processes per app instance
	Listen         int           // app socket's listen backlog (uWSGI listen / gunicorn --backlog)
	Socket         string        // nginx → app transport: "tcp" or "unix"
	Harakiri       time.Duration // uWSGI harakiri / gunicorn --timeout, whole seconds; 0 = off
	ConnectTimeout time.Duration // nginx uwsgi_connect_timeout / proxy_connect_timeout
	ReadTimeout    time.Duration // nginx uwsgi_read_timeout / proxy_read_timeout (and send)
	Instances      int           // app instances behind nginx: 1 or 2
	LB             string        // "round_robin" (nginx default) or "least_conn"
	Server         string        // "uwsgi" or "gunicorn" (sync workers)
	NginxBacklog   int           // nginx listen backlog
	Port           int           // nginx port on 127.0.0.1; 0 = pick a free one
	Dir            string        // run directory; "" = a new temporary directory
	// HTTPSocket also exposes each app instance's workers over plain HTTP on their own port
	// (uWSGI --http-socket, a second gunicorn --bind), sharing the same listen backlog, so
	// clients can bypass nginx. See AppURLs.
	HTTPSocket bool
	// NginxWorkerConnections is the pod nginx's worker_connections (one worker). Each proxied
	// request holds two (client and upstream) plus a few nginx keeps for itself.
	NginxWorkerConnections int
	// Front puts a tier in front of the pod nginx: "" (none) or "alb", an nginx that acts like
	// an AWS ALB — it accepts every client connection at once, tries for FrontConnectTimeout
	// to connect to the pod nginx (no retry) and answers 504 if it cannot. With a front, Port
	// (and URL) is the front's; the pod nginx listens on a port of its own (NginxURL).
	Front               string
	FrontConnectTimeout time.Duration // the front's proxy_connect_timeout (ALB: 10 s)
}

// FrontALB is Config.Front's ALB-like tier.
const FrontALB = "alb"

// Defaults: 4 workers, listen 100, tcp, harakiri off, connect and read timeouts 60s,
// 1 instance, round_robin, uwsgi, nginx backlog 511 and worker_connections 4096, no front
// (an ALB-like front would wait 10 s to connect).
func Defaults() Config {
	return Config{
		Workers:        4,
		Listen:         100,
		Socket:         "tcp",
		ConnectTimeout: 60 * time.Second,
		ReadTimeout:    60 * time.Second,
		Instances:      1,
		LB:             "round_robin",
		Server:         "uwsgi",
		NginxBacklog:   511,

		NginxWorkerConnections: 4096,
		FrontConnectTimeout:    10 * time.Second,
	}
}

// Validate reports the first problem with c, as one line.
func (c Config) Validate() error {
	switch {
	case c.Workers < 1:
		return fmt.Errorf("workers %d: want at least 1", c.Workers)
	case c.Listen < 1:
		return fmt.Errorf("listen %d: want at least 1", c.Listen)
	case c.Socket != "tcp" && c.Socket != "unix":
		return fmt.Errorf("socket %q: want tcp or unix", c.Socket)
	case c.Harakiri < 0 || c.Harakiri%time.Second != 0:
		return fmt.Errorf("harakiri %v: want whole seconds (0 = off)", c.Harakiri)
	case c.ConnectTimeout < time.Millisecond:
		return fmt.Errorf("connect timeout %v: want at least 1ms", c.ConnectTimeout)
	case c.ReadTimeout < time.Millisecond:
		return fmt.Errorf("read timeout %v: want at least 1ms", c.ReadTimeout)
	case c.Instances != 1 && c.Instances != 2:
		return fmt.Errorf("instances %d: want 1 or 2", c.Instances)
	case c.LB != "round_robin" && c.LB != "least_conn":
		return fmt.Errorf("lb %q: want round_robin or least_conn", c.LB)
	case c.Server != "uwsgi" && c.Server != "gunicorn":
		return fmt.Errorf("server %q: want uwsgi or gunicorn", c.Server)
	case c.NginxBacklog < 1:
		return fmt.Errorf("nginx backlog %d: want at least 1", c.NginxBacklog)
	case c.NginxWorkerConnections < minWorkerConnections:
		return fmt.Errorf("nginx worker connections %d: want at least %d", c.NginxWorkerConnections, minWorkerConnections)
	case c.Front != "" && c.Front != FrontALB:
		return fmt.Errorf("front %q: want none (\"\") or alb", c.Front)
	case c.Front != "" && c.FrontConnectTimeout < time.Millisecond:
		return fmt.Errorf("front connect timeout %v: want at least 1ms", c.FrontConnectTimeout)
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("port %d: want 0 (pick) or 1-65535", c.Port)
	case strings.ContainsAny(c.Dir, "|&\\\n\"' $`"):
		return fmt.Errorf("dir %q: must not contain spaces, quotes or any of | & \\ $ `", c.Dir)
	}
	// uWSGI refuses a listen above somaxconn; gunicorn and nginx would be silently clamped.
	if max, err := somaxconn(); err == nil {
		for _, b := range []struct {
			what string
			n    int
		}{{"listen", c.Listen}, {"nginx backlog", c.NginxBacklog}} {
			if b.n > max {
				return fmt.Errorf("%s %d > net.core.somaxconn %d: lower it or run: sysctl -w net.core.somaxconn=%d",
					b.what, b.n, max, b.n)
			}
		}
	}
	return nil
}

// minWorkerConnections: below this nginx cannot even hold its listening socket, the readiness
// probe and one proxied request.
const minWorkerConnections = 8

func somaxconn() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// Stack is a running testbed. Its methods are safe for concurrent use.
type Stack struct {
	cfg        Config
	dir        string
	url        string // the public URL: the front's when there is one, else the pod nginx's
	nginxURL   string // the pod nginx's
	appURLs    []string
	statsAddrs []string
	appAddrs   []string // the app sockets (tcp only): probes.go
	sockDir    string
	ownSockDir bool
	procs      []*proc

	downOnce sync.Once
	downErr  error
}

// proc is one process group the stack started: nginx, the front or an app instance's master.
type proc struct {
	Name    string `json:"name"`    // "nginx", "front", "app1", "app2"
	Pid     int    `json:"pid"`     // also its process group and session id
	Cmdline string `json:"cmdline"` // /proc/PID/cmdline once ready (NULs as spaces)
	// Start is its start time from /proc/PID/stat, which with Pid names exactly this
	// process; 0 in state files written before it was recorded.
	Start uint64 `json:"start_ticks,omitempty"`
	Log   string `json:"log"` // its stdout+stderr

	cmd  *exec.Cmd     // nil when attached from a state file
	done chan struct{} // closed when cmd.Wait returned (own children only)
}

// URL is the stack's public base URL, http://127.0.0.1:PORT: the front's when Config.Front
// is set, else the pod nginx's.
func (s *Stack) URL() string { return s.url }

// NginxURL is the pod nginx's base URL; the same as URL without a front.
func (s *Stack) NginxURL() string { return s.nginxURL }

// AppURLs are the app instances' direct HTTP URLs (Config.HTTPSocket), one per instance.
func (s *Stack) AppURLs() []string { return append([]string(nil), s.appURLs...) }

// StatsAddrs are the uWSGI stats servers (host:port), one per instance; none for gunicorn.
func (s *Stack) StatsAddrs() []string { return append([]string(nil), s.statsAddrs...) }

// Config is the configuration the stack runs with (Port and Dir filled in).
func (s *Stack) Config() Config { return s.cfg }

// Dir is the run directory.
func (s *Stack) Dir() string { return s.dir }

// AppLog is the app's JSON-lines ground-truth log (see ReadAppLog).
func (s *Stack) AppLog() string { return filepath.Join(s.dir, "app.log") }

// NginxErrorLog is nginx's error log (level error).
func (s *Stack) NginxErrorLog() string { return filepath.Join(s.dir, "nginx-error.log") }

// NginxAccessLog is nginx's access log: one JSON object per request with $upstream_* times.
func (s *Stack) NginxAccessLog() string { return filepath.Join(s.dir, "nginx-access.log") }

// FrontAccessLog is the front's access log (Config.Front): one JSON object per request, the
// same fields as NginxAccessLog's, its $upstream_* times being its connect to the pod nginx.
func (s *Stack) FrontAccessLog() string { return filepath.Join(s.dir, "front-access.log") }

// FrontErrorLog is the front's error log (level error): "upstream timed out (110: Connection
// timed out) while connecting to upstream" for each 504 it made.
func (s *Stack) FrontErrorLog() string { return filepath.Join(s.dir, "front-error.log") }

// Pids are the process-group leaders the stack started, by name ("nginx", "front", "app1", "app2").
// Each leader's workers are in its process group.
func (s *Stack) Pids() map[string]int {
	m := make(map[string]int, len(s.procs))
	for _, p := range s.procs {
		m[p.Name] = p.Pid
	}
	return m
}

// DefaultDir is the run directory the CLI uses: $XDG_RUNTIME_DIR/queuegap-testbed when that
// is set, else queuegap-testbed under the temporary directory.
func DefaultDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "queuegap-testbed")
	}
	return filepath.Join(os.TempDir(), "queuegap-testbed")
}

const (
	readyTimeout = 30 * time.Second
	stateFile    = "state.json"
)

// Up renders the configuration into cfg.Dir, starts the app instance(s), nginx and the front
// (Config.Front) if any, each in its
// own session and process group (they outlive the caller unless Down is called), writes the
// state file and waits — at most 30s, less if ctx ends sooner — until GET /fast through nginx
// answers 200 from every instance. On failure it stops whatever it started and returns an error
// that includes the tails of the logs. ctx bounds only the start-up, not the processes' life.
func Up(ctx context.Context, cfg Config) (st *Stack, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CheckPackages(cfg.Server); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "queuegap-testbed-")
		if err != nil {
			return nil, err
		}
		cfg.Dir = d
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if old, err := Attach(dir); err == nil && len(old.alive()) > 0 {
		return nil, fmt.Errorf("a testbed is already running from %s (pids %v): stop it first (queuegap testbed down --dir %s)", dir, old.alive(), dir)
	}
	if err := prepareDir(dir); err != nil {
		return nil, err
	}

	s := &Stack{cfg: cfg, dir: dir, sockDir: dir}
	if cfg.Socket == "unix" && len(filepath.Join(dir, "app2.sock")) > 100 {
		// sun_path holds 108 bytes: keep long run dirs working.
		d, err := os.MkdirTemp("", "qg-sock-")
		if err != nil {
			return nil, err
		}
		s.sockDir, s.ownSockDir = d, true
	}
	p, err := pickPorts(cfg)
	if err != nil {
		return nil, err
	}
	public := p.Nginx
	if cfg.Front != "" {
		public = p.Front
	}
	cfg.Port = public
	s.cfg.Port = public
	s.url = fmt.Sprintf("http://127.0.0.1:%d", public)
	s.nginxURL = fmt.Sprintf("http://127.0.0.1:%d", p.Nginx)
	for _, h := range p.HTTP {
		s.appURLs = append(s.appURLs, fmt.Sprintf("http://127.0.0.1:%d", h))
	}
	for _, sp := range p.Stats {
		s.statsAddrs = append(s.statsAddrs, fmt.Sprintf("127.0.0.1:%d", sp))
	}
	for _, ap := range p.App {
		s.appAddrs = append(s.appAddrs, fmt.Sprintf("127.0.0.1:%d", ap))
	}

	defer func() {
		if err != nil {
			tails := s.logTails()
			if ctx.Err() != nil {
				_ = s.Abort() // given up on: a half-started app need not be shut down gracefully
			} else {
				_ = s.Down()
			}
			err = fmt.Errorf("testbed up: %w%s", err, tails)
			st = nil
		}
	}()
	filesDir := filepath.Join(dir, "files")
	for i := 1; i <= cfg.Instances; i++ {
		name := fmt.Sprintf("app%d", i)
		env := processEnv(knobEnv(cfg, p, dir, s.sockDir, i))
		if err := s.start(name, filepath.Join(filesDir, "run-app.sh"), env); err != nil {
			return nil, err
		}
	}
	env := processEnv(knobEnv(cfg, p, dir, s.sockDir, 0))
	if err := s.start("nginx", filepath.Join(filesDir, "run-nginx.sh"), env); err != nil {
		return nil, err
	}
	if cfg.Front != "" {
		// The same knobs: run-front.sh reads QG_FRONT_* and the pod nginx's QG_NGINX_HOST:QG_PORT.
		if err := s.start("front", filepath.Join(filesDir, "run-front.sh"), env); err != nil {
			return nil, err
		}
	}
	if err := s.writeState(); err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	for _, pr := range s.procs {
		pr.Cmdline = readCmdline(pr.Pid)
	}
	if err := s.writeState(); err != nil {
		return nil, err
	}
	return s, nil
}

// prepareDir writes the embedded files into dir/files and removes the previous run's logs.
func prepareDir(dir string) error {
	for _, name := range []string{"app.log", "nginx-error.log", "nginx-access.log", "nginx.out",
		"app1.out", "app2.out", "nginx.pid", "app1.sock", "app2.sock", stateFile,
		"front-error.log", "front-access.log", "front.out", "front.pid"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	filesDir := filepath.Join(dir, "files")
	if err := os.RemoveAll(filesDir); err != nil {
		return err
	}
	return fs.WalkDir(embedded, "files", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := embedded.ReadFile(path)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(path, ".sh") {
			mode = 0o755
		}
		return os.WriteFile(target, b, mode)
	})
}

// pickPorts binds 127.0.0.1:0 for every port needed, holding them all until the last is picked.
func pickPorts(cfg Config) (ports, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	pick := func() (int, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pick a free port: %w", err)
		}
		held = append(held, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	var p ports
	var err error
	// cfg.Port is the public port: the front's when there is one.
	if cfg.Front != "" {
		p.Front = cfg.Port
		if p.Front == 0 {
			if p.Front, err = pick(); err != nil {
				return p, err
			}
		}
		if p.Nginx, err = pick(); err != nil {
			return p, err
		}
	} else {
		p.Nginx = cfg.Port
		if p.Nginx == 0 {
			if p.Nginx, err = pick(); err != nil {
				return p, err
			}
		}
	}
	for i := 0; i < cfg.Instances; i++ {
		if cfg.Socket == "tcp" {
			n, err := pick()
			if err != nil {
				return p, err
			}
			p.App = append(p.App, n)
		}
		if cfg.Server == "uwsgi" {
			n, err := pick()
			if err != nil {
				return p, err
			}
			p.Stats = append(p.Stats, n)
		}
		if cfg.HTTPSocket {
			n, err := pick()
			if err != nil {
				return p, err
			}
			p.HTTP = append(p.HTTP, n)
		}
	}
	return p, nil
}

// start runs script in a new session with its output in dir/NAME.out.
func (s *Stack) start(name, script string, env []string) error {
	logPath := filepath.Join(s.dir, name+".out")
	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command("/bin/sh", script)
	cmd.Dir = s.dir
	cmd.Env = env
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{Name: name, Pid: cmd.Process.Pid, Log: logPath, cmd: cmd, done: make(chan struct{})}
	if st, ok := readProcStat(p.Pid); ok {
		p.Start = st.Start // our unreaped child: the pid is still this process
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	s.procs = append(s.procs, p)
	return nil
}

// waitReady polls GET /fast through nginx (and the front) until every instance has answered 200.
func (s *Stack) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	seen := map[string]bool{}
	var last string
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for n := 1; ; n++ {
		for _, p := range s.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s (pid %d) exited during start-up: %s", p.Name, p.Pid, p.cmd.ProcessState)
			default:
			}
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/fast", nil)
		req.Header.Set("X-Queuegap-Probe", "1")
		req.Header.Set("X-Request-Id", fmt.Sprintf("queuegap-ready-%d", n))
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				seen[resp.Header.Get("X-Instance")] = true
				ok := true
				for i := 1; i <= s.cfg.Instances; i++ {
					ok = ok && seen[strconv.Itoa(i)]
				}
				last = fmt.Sprintf("200 from instances %v", keys(seen))
				if ok {
					// Every worker forked (gunicorn spawns them one by one after the first answers).
					short := s.shortOfWorkers()
					if short == "" {
						return nil
					}
					last += "; " + short
				}
			} else {
				last = resp.Status
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: GET %s/fast: last answer: %s (%w)", s.url, last, ctx.Err())
		case <-tick.C:
		}
	}
}

// shortOfWorkers names an app instance whose process group has fewer than 1+Workers live
// processes ("" when none, or when /proc cannot tell).
func (s *Stack) shortOfWorkers() string {
	for _, p := range s.procs {
		if p.Name == "nginx" || p.Name == "front" {
			continue
		}
		n, err := groupSize(p.Pid)
		if err != nil {
			return ""
		}
		if n < 1+s.cfg.Workers {
			return fmt.Sprintf("%s has %d of %d workers", p.Name, n-1, s.cfg.Workers)
		}
	}
	return ""
}

// groupSize counts the live (non-zombie) processes in process group pgid, from /proc.
func groupSize(pgid int) (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		st := string(b)
		f := strings.Fields(st[strings.LastIndexByte(st, ')')+1:]) // state ppid pgrp ...
		if len(f) >= 3 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			n++
		}
	}
	return n, nil
}

func keys(m map[string]bool) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

// logTails returns the last lines of every non-empty log, for error messages.
func (s *Stack) logTails() string {
	var b strings.Builder
	paths := []string{s.NginxErrorLog()}
	if s.cfg.Front != "" {
		paths = append(paths, s.FrontErrorLog())
	}
	for _, p := range s.procs {
		paths = append(paths, p.Log)
	}
	for _, path := range paths {
		if t := tail(path, 12); t != "" {
			fmt.Fprintf(&b, "\n--- %s (tail) ---\n%s", path, t)
		}
	}
	return b.String()
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

const (
	termWait = 8 * time.Second // uWSGI takes ≈ 3s on TERM, gunicorn up to its graceful timeout
	killWait = 3 * time.Second
)

// Down stops exactly the process groups the stack started — SIGTERM to each leader, then
// SIGKILL to whatever is left in its group after a bound — in parallel, and removes the
// sockets and the state file. Logs stay in Dir. It is idempotent: later calls return the first
// call's result.
func (s *Stack) Down() error { return s.down(false) }

// Abort is Down without the grace: SIGKILL to every group at once, for a
// stack being abandoned (an interrupted sweep) whose processes may still be
// starting — a uWSGI loading its app can take termWait to act on SIGTERM.
func (s *Stack) Abort() error { return s.down(true) }

func (s *Stack) down(now bool) error {
	s.downOnce.Do(func() {
		errs := make([]error, len(s.procs))
		var wg sync.WaitGroup
		for i, p := range s.procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if now {
					errs[i] = p.kill()
					return
				}
				errs[i] = p.stop()
			}()
		}
		wg.Wait()
		for _, name := range []string{"app1.sock", "app2.sock"} {
			os.Remove(filepath.Join(s.sockDir, name))
		}
		if s.ownSockDir {
			os.RemoveAll(s.sockDir)
		}
		os.Remove(filepath.Join(s.dir, "nginx.pid"))
		os.Remove(filepath.Join(s.dir, "front.pid"))
		if err := errors.Join(errs...); err != nil {
			s.downErr = err
			return
		}
		if err := os.Remove(filepath.Join(s.dir, stateFile)); err != nil && !os.IsNotExist(err) {
			s.downErr = err
		}
	})
	return s.downErr
}

// alive reports whether p (the leader) still runs, and is still the process we started.
func (p *proc) alive() bool {
	if p.cmd != nil {
		select {
		case <-p.done:
			return false
		default:
			return true
		}
	}
	st, ok := readProcStat(p.Pid)
	if !ok || st.State == 'Z' {
		return false
	}
	if p.Start != 0 {
		return st.Start == p.Start
	}
	// A state file without start times: fall back to the command line.
	cl := readCmdline(p.Pid)
	if p.Cmdline != "" {
		return cl == p.Cmdline
	}
	// Recorded before it was ready (its command line was not known yet).
	for _, s := range []string{"nginx", "uwsgi", "gunicorn", "run-app.sh", "run-nginx.sh", "run-front.sh"} {
		if strings.Contains(cl, s) {
			return true
		}
	}
	return false
}

// pidReused reports whether p's pid now belongs to a process other than the one we started.
// A zombie of our own leader is not a reuse: its group may still hold workers.
func (p *proc) pidReused() bool {
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return false // our unreaped child holds the pid until cmd.Wait returns
		}
	}
	st, ok := readProcStat(p.Pid)
	if !ok {
		return false
	}
	if p.Start != 0 {
		return st.Start != p.Start
	}
	return st.State != 'Z' && !p.alive()
}

func (p *proc) stop() error {
	if p.alive() {
		_ = syscall.Kill(p.Pid, syscall.SIGTERM)
		p.waitGone(termWait)
	}
	// Workers left in the group (leader killed or gone): the group id is the leader's pid,
	// which Linux does not hand out again while the group has members. So when some other
	// process now has the leader's pid, the group of that id is not ours.
	if p.pidReused() {
		return nil
	}
	if groupAlive(p.Pid) || p.alive() {
		_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		if !p.waitGone(killWait) {
			return fmt.Errorf("%s (pid %d): process group still alive after SIGKILL", p.Name, p.Pid)
		}
	}
	return nil
}

// kill ends p's group at once.
func (p *proc) kill() error {
	if p.pidReused() {
		return nil
	}
	if groupAlive(p.Pid) || p.alive() {
		_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		if !p.waitGone(killWait) {
			return fmt.Errorf("%s (pid %d): process group still alive after SIGKILL", p.Name, p.Pid)
		}
	}
	return nil
}

// waitGone waits until the leader is gone (reaped, for our own child) and its group is empty.
func (p *proc) waitGone(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !p.alive() && !groupAlive(p.Pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		if p.done != nil {
			select {
			case <-p.done:
			case <-time.After(20 * time.Millisecond):
			}
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// readCmdline returns /proc/PID/cmdline with NULs as spaces, "" if there is no such process.
func readCmdline(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}
