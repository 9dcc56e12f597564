// Package e2e holds queuegap's end-to-end tests: each runs the real testbed (nginx in front of
// uWSGI or gunicorn serving the Django app, started by package testbed/stack on 127.0.0.1),
// drives it with queuegap's own load generator and analyzer, and checks what queuegap reports
// against the servers' ground truth — the app's JSON log (joined by X-Request-Id), nginx's
// access and error logs and the kernel's SYN retransmit counters.
//
// The scenarios are the ones the issue describes:
//
//   - a burst bigger than the workers behind a roomy TCP backlog: the clients wait many times
//     what the app reports, and queuegap attributes that to backlog, request by request
//     (uWSGI and gunicorn);
//   - a full unix-socket backlog: nginx answers 502 at once, classified proxy_refused, one per
//     "Resource temporarily unavailable" in nginx's error log;
//   - a full TCP backlog behind nginx: nginx's SYNs to the app are retried, seen through
//     X-Upstream-Connect-Time and attributed to syn_retry, not to backlog;
//   - a full TCP backlog hit directly (uWSGI --http-socket): the client's own SYN retries;
//   - harakiri (worker_killed) and nginx's read timeout (gateway_timeout, the worker keeps
//     running);
//   - two instances, one of them tied up: least_conn against round_robin.
//
// Tests only (and this file). They need the testbed's Debian packages and skip without them
// unless QG_REQUIRE_TESTBED=1, which turns a missing package into a failure. They run one at a
// time and check at the end that no server process they started is left.
package e2e
