package probe

import "time"

// Kind is what a probe samples.
type Kind string

const (
	Listen  Kind = "listen"  // a local listening TCP port: accept queue, backlog, overflows
	UWSGI   Kind = "uwsgi"   // a uWSGI stats server: listen queue, busy/idle workers, harakiri
	Process Kind = "process" // a process (pid) or cgroup: CPU %, RSS
)

// Spec is one --probe: what to sample and how often.
type Spec struct {
	Kind   Kind
	Target string // "127.0.0.1:8080" | "127.0.0.1:9191" | "pid:1234" | "cgroup:/sys/fs/cgroup/…"
	// ExpectBacklog is the backlog the server was configured with (a
	// listen probe compares it with the effective one: the somaxconn
	// trap); 0 when unknown.
	ExpectBacklog int
	Every         time.Duration // 0: the session's default interval
}
