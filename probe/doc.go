// Package probe samples the server side of the queue during a run, on the
// run's clock: a local listening socket's accept queue and effective
// backlog (/proc/net/tcp, tcp6) with the kernel's ListenOverflows and
// ListenDrops (/proc/net/netstat); a uWSGI stats server's listen queue and
// busy workers; a process's or cgroup's CPU and memory. It imports nothing
// of queuegap above loadgen; session runs the samplers and hands each
// sample to the outputs (results file, Prometheus).
package probe
