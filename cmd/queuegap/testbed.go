package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/queuegap/queuegap/testbed/stack"
	"github.com/spf13/cobra"
)

// newTestbedCmd is `queuegap testbed up|down|status`: a local nginx → uWSGI/gunicorn → Django
// stack to aim queuegap at (package testbed/stack).
func newTestbedCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "testbed",
		Short: "Run a local nginx → uWSGI/gunicorn → Django target (up, down, status)",
		Long: `testbed runs a real target on this machine, on 127.0.0.1 only: nginx in front of one
or two uWSGI (or gunicorn) instances serving a small Django app with

  /fast            answers at once
  /sleep?ms=N      waits N ms (I/O: the worker is busy, the CPU idle)
  /cpu?ms=N        burns N ms of CPU

Every answer carries Server-Timing: queue;dur=<ms>, app;dur=<ms> (queue = time between
nginx receiving the request and the app starting it), X-Request-Start, X-Worker-Pid,
X-Upstream-Connect-Time and X-Upstream-Header-Time; the app logs one JSON line per
request (its ground truth) to app.log in the run directory.

Needs Debian packages: apt-get install -y nginx uwsgi uwsgi-plugin-python3 python3-django gunicorn
The same stack runs under docker compose (docker-compose.yaml, same QG_* knobs).`,
		Example: `  queuegap testbed up                              # 4 uWSGI workers, listen 100, over TCP
  queuegap testbed up --workers 4 --listen 4       # a tiny backlog: watch SYN retries
  queuegap testbed up --socket unix --listen 4     # a full unix backlog: 502 within ms
  queuegap testbed up --server gunicorn --harakiri 5s
  queuegap testbed up --instances 2 --lb least_conn
  queuegap testbed up --front alb                  # an ALB-like front: 10 s to connect, then 504
  queuegap testbed status
  queuegap testbed down`,
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = needsSubcommand
	cmd.AddCommand(newTestbedUpCmd(), newTestbedDownCmd(), newTestbedStatusCmd())
	return cmd
}

func newTestbedUpCmd() *cobra.Command {
	cfg := stack.Defaults()
	cfg.Dir = stack.DefaultDir()
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the testbed in the background and print its URL",
		Long: `up renders the configuration into the run directory (--dir), starts nginx and the app
server(s) detached from this command (they keep running after it exits), and returns once
GET /fast through nginx answers 200 from every instance (at most 30 s). Stop it with
'queuegap testbed down' (same --dir).

Knobs map onto the servers: --listen is uWSGI's listen / gunicorn's --backlog (must not
exceed net.core.somaxconn), --harakiri is uWSGI's harakiri / gunicorn's --timeout,
--connect-timeout and --read-timeout are nginx's uwsgi_*/proxy_* timeouts. nginx never retries
a failed request on the other instance, so every 502/504 reaches the client.

--front alb puts an ALB-like tier (a second nginx) on the public port: it accepts every
client connection at once, tries for --front-connect-timeout (an ALB's 10 s) to connect to
the pod nginx, which then listens on a port of its own, never retries, and answers 504 when
the connect does not complete. It adds X-Front-Upstream-Connect-Time and
X-Front-Upstream-Header-Time (its own connect and wait) next to the pod nginx's
X-Upstream-Connect-Time/X-Upstream-Header-Time (to the app), and logs front-access.log.`,
		Example: `  queuegap testbed up
  queuegap testbed up --workers 2 --listen 4 --http-socket   # also expose uWSGI directly
  queuegap testbed up --connect-timeout 3s --read-timeout 5s --harakiri 10s
  queuegap testbed up --server gunicorn --socket unix --port 8080
  queuegap testbed up --front alb --front-connect-timeout 10s --nginx-backlog 8`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Front == "none" {
				cfg.Front = ""
			}
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			s, err := stack.Up(ctx, cfg)
			if err != nil {
				msg, logs, _ := strings.Cut(err.Error(), "\n")
				if logs != "" {
					fmt.Fprintln(os.Stderr, logs)
				}
				return fmt.Errorf("%s", msg)
			}
			c := s.Config()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "testbed up: %s\n", s.URL())
			fmt.Fprintf(out, "  %s ×%d (%d workers, listen %d, %s socket, harakiri %v), nginx backlog %d, worker_connections %d, %s\n",
				c.Server, c.Instances, c.Workers, c.Listen, c.Socket, c.Harakiri, c.NginxBacklog, c.NginxWorkerConnections, c.LB)
			if c.Front != "" {
				fmt.Fprintf(out, "  front (%s):     %s → pod nginx %s, connect timeout %v, no retry\n", c.Front, s.URL(), s.NginxURL(), c.FrontConnectTimeout)
			}
			for _, u := range s.AppURLs() {
				fmt.Fprintf(out, "  app directly:   %s\n", u)
			}
			for _, a := range s.StatsAddrs() {
				fmt.Fprintf(out, "  uWSGI stats:    %s\n", a)
			}
			if ps := s.ProbeSpecs(); len(ps) > 0 {
				fmt.Fprintf(out, "  probe it with:  --probe %s\n", strings.Join(ps, " --probe "))
			}
			fmt.Fprintf(out, "  app log (JSON): %s\n", s.AppLog())
			fmt.Fprintf(out, "  nginx logs:     %s %s\n", s.NginxErrorLog(), s.NginxAccessLog())
			if c.Front != "" {
				fmt.Fprintf(out, "  front logs:     %s %s\n", s.FrontErrorLog(), s.FrontAccessLog())
			}
			fmt.Fprintf(out, "  stop with:      queuegap testbed down%s\n", dirFlag(s.Dir()))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Workers, "workers", cfg.Workers, "worker processes per app instance")
	f.IntVar(&cfg.Listen, "listen", cfg.Listen, "app socket listen backlog (uWSGI listen, gunicorn --backlog)")
	f.StringVar(&cfg.Socket, "socket", cfg.Socket, "nginx → app transport: tcp or unix")
	f.DurationVar(&cfg.Harakiri, "harakiri", cfg.Harakiri, "kill a worker stuck in one request this long, whole seconds (uWSGI harakiri, gunicorn --timeout); 0 = off")
	f.DurationVar(&cfg.ConnectTimeout, "connect-timeout", cfg.ConnectTimeout, "nginx uwsgi_connect_timeout / proxy_connect_timeout")
	f.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "nginx uwsgi_read_timeout / proxy_read_timeout")
	f.IntVar(&cfg.Instances, "instances", cfg.Instances, "app instances behind nginx: 1 or 2")
	f.StringVar(&cfg.LB, "lb", cfg.LB, "nginx balancing across instances: round_robin or least_conn")
	f.StringVar(&cfg.Server, "server", cfg.Server, "app server: uwsgi or gunicorn (sync workers)")
	f.IntVar(&cfg.NginxBacklog, "nginx-backlog", cfg.NginxBacklog, "nginx listen backlog")
	f.IntVar(&cfg.Port, "port", cfg.Port, "nginx port on 127.0.0.1 (0 = pick a free one)")
	f.StringVar(&cfg.Dir, "dir", cfg.Dir, "run directory: configs, logs, state")
	f.BoolVar(&cfg.HTTPSocket, "http-socket", cfg.HTTPSocket, "also serve each app instance over plain HTTP on its own port (bypassing nginx)")
	f.IntVar(&cfg.NginxWorkerConnections, "nginx-worker-connections", cfg.NginxWorkerConnections, "the pod nginx's worker_connections (each proxied request holds 2)")
	f.StringVar(&cfg.Front, "front", "none", "a tier in front of nginx on the public port: none or alb (accepts at once, connects within --front-connect-timeout or answers 504)")
	f.DurationVar(&cfg.FrontConnectTimeout, "front-connect-timeout", cfg.FrontConnectTimeout, "the front's connect timeout to the pod nginx (an ALB's is 10s)")
	return cmd
}

func newTestbedDownCmd() *cobra.Command {
	dir := stack.DefaultDir()
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the testbed started by 'up'",
		Long: `down stops exactly the processes recorded in the run directory's state file (each
named by its pid and start time, so a reused pid is left alone): SIGTERM, then SIGKILL for
anything left after 8 s.
Logs stay in the run directory. Nothing running is not an error.`,
		Example: `  queuegap testbed down
  queuegap testbed down --dir /tmp/tb`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := stack.Attach(dir)
			if err != nil {
				if stack.NotRunning(err) {
					fmt.Fprintf(cmd.OutOrStdout(), "no testbed running from %s\n", dir)
					return nil
				}
				return err
			}
			start := time.Now()
			if err := s.Down(); err != nil {
				return fmt.Errorf("testbed down: %v", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "testbed down (%s, %v); logs kept in %s\n",
				s.URL(), time.Since(start).Round(10*time.Millisecond), s.Dir())
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", dir, "run directory given to 'up'")
	return cmd
}

func newTestbedStatusCmd() *cobra.Command {
	dir := stack.DefaultDir()
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the testbed's URL, processes and uWSGI queue",
		Long: `status prints the URL, whether each recorded process is alive, whether GET /fast
through nginx answers, and each uWSGI instance's stats (listen_queue = connections waiting
in the kernel accept queue, busy workers). uWSGI refreshes its stats about once a second and
reports listen_queue 0 for unix sockets. Exits 1 when nothing is running.`,
		Example: `  queuegap testbed status
  watch -n1 queuegap testbed status`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := stack.Attach(dir)
			if err != nil {
				if stack.NotRunning(err) {
					return fmt.Errorf("no testbed running from %s", dir)
				}
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			st := s.Status(ctx)
			c := st.Config
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "testbed %s (dir %s)\n", st.URL, st.Dir)
			fmt.Fprintf(out, "  %s ×%d (%d workers, listen %d, %s socket, harakiri %v), nginx backlog %d, %s, timeouts connect %v read %v\n",
				c.Server, c.Instances, c.Workers, c.Listen, c.Socket, c.Harakiri, c.NginxBacklog, c.LB, c.ConnectTimeout, c.ReadTimeout)
			if c.Front != "" {
				fmt.Fprintf(out, "  front %s, connect timeout %v → pod nginx %s (worker_connections %d)\n",
					c.Front, c.FrontConnectTimeout, s.NginxURL(), c.NginxWorkerConnections)
			}
			fmt.Fprintf(out, "  GET /fast:      %s\n", st.Health)
			alive := 0
			for _, p := range st.Procs {
				state := "gone"
				if p.Alive {
					state = "alive"
					alive++
				}
				fmt.Fprintf(out, "  %-6s pid %-8d %s\n", p.Name, p.Pid, state)
			}
			for i, u := range st.Stats {
				if u.Err != "" {
					fmt.Fprintf(out, "  app%d uWSGI stats %s: %s\n", i+1, u.Addr, u.Err)
					continue
				}
				fmt.Fprintf(out, "  app%d uWSGI stats: listen_queue %d, busy %d/%d workers, %d requests, %d harakiri\n",
					i+1, u.ListenQueue, u.Busy, u.Workers, u.Requests, u.HarakiriCount)
			}
			if alive == 0 {
				return fmt.Errorf("no process of the testbed in %s is alive (stale state; 'queuegap testbed down%s' clears it)", dir, dirFlag(dir))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", dir, "run directory given to 'up'")
	return cmd
}

// noArgs rejects positional arguments with an error the root maps to exit 2.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments (got %q; see --help)", cmd.CommandPath(), args[0])
	}
	return nil
}

func dirFlag(dir string) string {
	if dir == stack.DefaultDir() {
		return ""
	}
	return " --dir " + dir
}
