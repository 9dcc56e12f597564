// Package compose holds the end-to-end check of the docker-compose testbed (make
// compose-check): check.sh builds the images offline, brings the compose testbed up, runs
// testbed scenario 1 (a burst of 40 one-second requests against 4 uWSGI workers) from the
// host and from the loadgen container, and tears everything down; this package's test
// (TestComposeResults, run by check.sh with QG_COMPOSE_RESULTS set, skipped otherwise) judges
// what those runs wrote, as the native e2e test does: the gap between the clients' p90 and
// the app's own p90, backlog as the dominant share, and request by request against the
// app's log and nginx's access log.
package compose
