package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// UWSGIStats is what the probe takes from a uWSGI stats server's JSON
// (the `stats` option: it writes one JSON document on connect and closes).
type UWSGIStats struct {
	ListenQueue       int           `json:"listen_queue"`
	ListenQueueErrors int           `json:"listen_queue_errors"`
	Sockets           []UWSGISocket `json:"sockets"`
	Workers           []UWSGIWorker `json:"workers"`
}

// UWSGISocket is one of uWSGI's listening sockets.
type UWSGISocket struct {
	Name     string `json:"name"`
	Proto    string `json:"proto"`
	Queue    int    `json:"queue"`
	MaxQueue int    `json:"max_queue"`
}

// UWSGIWorker is one worker process.
type UWSGIWorker struct {
	ID            int    `json:"id"`
	Pid           int    `json:"pid"`
	Status        string `json:"status"` // idle, busy, cheap, pause, sig…
	Requests      int64  `json:"requests"`
	HarakiriCount int64  `json:"harakiri_count"`
}

// maxUWSGIStats bounds the document read: a few KB per worker.
const maxUWSGIStats = 16 << 20

// ParseUWSGIStats decodes a stats document.
func ParseUWSGIStats(b []byte) (UWSGIStats, error) {
	var st UWSGIStats
	if err := json.Unmarshal(b, &st); err != nil {
		return UWSGIStats{}, fmt.Errorf("uWSGI stats: %v", err)
	}
	if st.Workers == nil {
		return UWSGIStats{}, fmt.Errorf("uWSGI stats: no \"workers\": not a uWSGI stats server")
	}
	return st, nil
}

// UnixSocket says whether a uWSGI socket name is a unix socket (a path,
// unix:…, or an abstract @name).
func UnixSocket(name string) bool {
	return strings.HasPrefix(name, "/") || strings.HasPrefix(name, "unix:") || strings.HasPrefix(name, "@") ||
		strings.HasPrefix(name, "./") || !strings.Contains(name, ":")
}

// Values are the probe's readings: queue (omitted when every socket is a
// unix socket — uWSGI reads the queue with TCP_INFO, which says 0 there),
// queue_errors, busy, idle, workers, harakiri (summed over workers).
// note is set when the queue is unknown or covers only some sockets.
func (st *UWSGIStats) Values() (vs []Value, note string) {
	var unix, tcp []string
	for _, s := range st.Sockets {
		if UnixSocket(s.Name) {
			unix = append(unix, s.Name)
		} else {
			tcp = append(tcp, s.Name)
		}
	}
	switch {
	case len(unix) > 0 && len(tcp) == 0:
		note = fmt.Sprintf("listen queue unknown: uWSGI reads it with TCP_INFO, which reports 0 on unix socket %s (use a listen probe on a TCP socket, or watch nginx's 502s)", strings.Join(unix, ", "))
	case len(unix) > 0:
		note = fmt.Sprintf("listen queue counts TCP socket %s only: uWSGI reports 0 for unix socket %s", strings.Join(tcp, ", "), strings.Join(unix, ", "))
		fallthrough
	default:
		vs = append(vs, Value{"queue", float64(st.ListenQueue)})
	}
	var busy, idle int
	var harakiri int64
	for _, w := range st.Workers {
		switch w.Status {
		case "busy":
			busy++
		case "idle":
			idle++
		}
		harakiri += w.HarakiriCount
	}
	vs = append(vs,
		Value{"queue_errors", float64(st.ListenQueueErrors)},
		Value{"busy", float64(busy)},
		Value{"idle", float64(idle)},
		Value{"workers", float64(len(st.Workers))},
		Value{"harakiri", float64(harakiri)},
	)
	return vs, note
}

type uwsgiSampler struct {
	spec  Spec
	noted map[string]bool
}

func newUWSGI(s Spec) *uwsgiSampler { return &uwsgiSampler{spec: s, noted: map[string]bool{}} }

func (u *uwsgiSampler) Spec() Spec   { return u.spec }
func (u *uwsgiSampler) Close() error { return nil }

// statsTimeout bounds one read of the stats server: it answers in
// microseconds unless its master is stuck.
const statsTimeout = time.Second

func (u *uwsgiSampler) Sample(ctx context.Context) (Reading, error) {
	b, err := ReadUWSGIStats(ctx, u.spec.Target)
	if err != nil {
		return Reading{}, err
	}
	st, err := ParseUWSGIStats(b)
	if err != nil {
		return Reading{}, fmt.Errorf("%s: %w", u.spec.Target, err)
	}
	vs, note := st.Values()
	rd := Reading{Values: vs}
	if note != "" && !u.noted[note] {
		u.noted[note] = true
		rd.Note = note
	}
	return rd, nil
}

// ReadUWSGIStats connects to a stats server and reads its document
// (bounded in size and time).
func ReadUWSGIStats(ctx context.Context, addr string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	b, err := io.ReadAll(io.LimitReader(c, maxUWSGIStats+1))
	if err != nil {
		return nil, fmt.Errorf("reading uWSGI stats from %s: %w", addr, err)
	}
	if len(b) > maxUWSGIStats {
		return nil, fmt.Errorf("uWSGI stats from %s: more than %d MiB", addr, maxUWSGIStats>>20)
	}
	return b, nil
}
