// Package whatif is queuegap's capacity model: a discrete-event simulation
// of the prefork queue (nginx → the app's listen backlog → W workers) that
// replays a measured run's arrivals against other settings, and an
// autoscaling simulation on top of it.
//
// Input is a Workload: the arrivals (when each request was meant to be
// sent, and its endpoint), each endpoint's processing times as the server
// itself reported them (Server-Timing app; an empirical distribution kept
// as a bounded reservoir and sampled with a seeded RNG), and the client's
// own overhead (connect, network, transfer: what a response costs beyond
// the server). A Recorder builds it from analyze.Results; FromSchedule from
// a profile's timeline with fixed processing times.
//
// The model, and what it assumes (also in `queuegap whatif --help`):
//   - Open loop: arrivals do not depend on the answers (no client pool
//     limits, no retries: a measured run's retries are not replayed).
//   - Each replica has W×T slots (workers × threads) taking connections
//     from one FIFO accept queue that holds listen+1 (Linux:
//     sk_acceptq_is_full is "more than the backlog").
//   - TCP: a connect that finds the queue full has its SYN dropped and the
//     connecting kernel retries on Linux's schedule (tcp_syn_retries,
//     tcp_syn_linear_timeouts: 1, 2, 3, 4, 5, 7 s, giving up at 11 s on
//     ≥ 6.5; 1, 3, 7, 15, 31, 63 s, 127 s before). Behind nginx the retries
//     are nginx's, past its connect timeout nginx answers 504; the kernel
//     giving up is a slow 502. Unix socket: a full queue is a 502 at once.
//   - nginx's read timeout counts from the connect: past it the client gets
//     a 504 while the request stays queued or running (the worker still
//     does the work). A client timeout ends the request for the client the
//     same way. Connections given up on stay in the queue until accepted.
//   - Harakiri H: a request still running H (plus up to 1 s: uWSGI checks
//     once a second) after a worker took it kills the worker: 502, and the
//     worker is back after a respawn delay. Backlog time never counts.
//   - Processing is I/O wait except an endpoint's CPU share; the CPU part
//     runs processor-shared on the replica's cores (time stretches when
//     more requests compute than there are cores); 0 cores: unlimited.
//   - Replicas behind round robin or least outstanding requests (nginx's
//     least_conn: fewest open connections, ties in round-robin order).
//   - No network, nginx or generator limits beyond the sampled overhead.
//
// Everything is deterministic given the seed, and fast: one pass over the
// arrivals with an event heap whose size is the requests in flight.
package whatif
