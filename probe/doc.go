// Package probe samples the server side of the queue during a run, on the
// run's clock: a local listening socket's accept queue and effective
// backlog (NETLINK_SOCK_DIAG, as ss reads them; /proc/net/tcp and tcp6
// give the queue but print no backlog for a listener) with the kernel's
// ListenOverflows and ListenDrops (/proc/net/netstat, namespace-wide); a
// uWSGI stats server's listen queue and busy workers; a process tree's or
// cgroup's CPU and memory. Parse reads the --probe syntax, New makes a
// Sampler. It imports nothing of queuegap; session runs the samplers and
// hands each sample to the outputs (results file, Prometheus). Linux only.
package probe
