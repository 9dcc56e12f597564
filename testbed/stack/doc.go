// Package stack runs queuegap's testbed: nginx in front of one or two app instances (uWSGI or
// gunicorn) serving a small Django app, all on 127.0.0.1, as real processes on this machine.
//
// It owns:
//   - the testbed's files under files/ (embedded): the Django app (files/app/qgapp.py), the
//     nginx and uWSGI config templates, and the entrypoint scripts run-app.sh, run-nginx.sh
//     and run-front.sh
//     that render those templates from QG_* environment variables and exec the servers. The
//     native runner here and the top-level docker-compose.yaml run the very same scripts with
//     the same variables (EnvKnobs), so there is one source of truth for the configuration;
//   - the run directory: rendered configs, logs (the app's JSON ground-truth log, nginx's error
//     and access logs, each server's stdout/stderr) and a state file (state.json) naming the
//     processes it started, so another process can find, inspect and stop them (Attach);
//   - the lifecycle of those processes: Up starts them, each in its own session and process
//     group, and waits for an HTTP 200 through nginx; Down stops exactly those groups.
//
// The app answers /fast, /sleep?ms=N (I/O wait) and /cpu?ms=N (CPU burn) with
// "Server-Timing: queue;dur=<ms>, app;dur=<ms>" (queue = app start − nginx's X-Request-Start),
// echoes X-Request-Start, and adds X-Worker-Pid and X-Instance; nginx adds
// X-Upstream-Connect-Time, X-Upstream-Header-Time and X-Request-Id. Each request appends one
// JSON line to AppLog (see ReadAppLog).
//
// nginx is configured not to retry a failed request on the other instance
// (uwsgi_next_upstream/proxy_next_upstream off) and never to take an instance out of rotation
// (max_fails=0): every 502/504 reaches the client.
//
// Config.Front "alb" adds an ALB-like tier on the public port (URL): a second nginx
// (files/front.conf.in, run-front.sh, its own front.pid, front-*.log and front-tmp/ in the run
// directory, process "front") that accepts every client at once, connects to the pod nginx
// (NginxURL) within FrontConnectTimeout or answers 504, never retries, and adds
// X-Front-Upstream-Connect-Time and X-Front-Upstream-Header-Time (its own $upstream_* times)
// beside the pod nginx's X-Upstream-* headers, which pass through.
package stack
