package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// state is what dir/state.json records so another process can find and stop the stack.
type state struct {
	Config       Config   `json:"config"`
	URL          string   `json:"url"`
	NginxURL     string   `json:"nginx_url,omitempty"` // the pod nginx's, when a front has URL
	AppURLs      []string `json:"app_urls,omitempty"`
	StatsAddrs   []string `json:"stats_addrs,omitempty"`
	AppAddrs     []string `json:"app_addrs,omitempty"`
	SocketDir    string   `json:"socket_dir"`
	OwnSocketDir bool     `json:"own_socket_dir,omitempty"`
	Procs        []*proc  `json:"procs"`
	Written      string   `json:"written"`
}

func (s *Stack) writeState() error {
	st := state{
		Config: s.cfg, URL: s.url, NginxURL: s.nginxURL, AppURLs: s.appURLs, StatsAddrs: s.statsAddrs, AppAddrs: s.appAddrs,
		SocketDir: s.sockDir, OwnSocketDir: s.ownSockDir, Procs: s.procs,
		Written: time.Now().Format(time.RFC3339Nano),
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(s.dir, stateFile)
	if err := os.WriteFile(path+".tmp", append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// ErrNotRunning is returned by Attach when dir holds no state file.
var ErrNotRunning = errors.New("no testbed state file")

// NotRunning reports whether err (from Attach) means there is no state file: nothing runs.
func NotRunning(err error) bool { return errors.Is(err, ErrNotRunning) }

// Attach loads the stack recorded in dir's state file (written by Up, possibly in another
// process). Its Down stops only the recorded process groups whose /proc/PID/cmdline still
// matches what was recorded.
func Attach(dir string) (*Stack, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("%w in %s", ErrNotRunning, dir)
	}
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, stateFile), err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	nginxURL := st.NginxURL
	if nginxURL == "" { // written before fronts existed: the URL was nginx's
		nginxURL = st.URL
	}
	return &Stack{
		cfg: st.Config, dir: abs, url: st.URL, nginxURL: nginxURL, appURLs: st.AppURLs, statsAddrs: st.StatsAddrs, appAddrs: st.AppAddrs,
		sockDir: st.SocketDir, ownSockDir: st.OwnSocketDir, procs: st.Procs,
	}, nil
}

// alive returns the pids of the recorded leaders still running.
func (s *Stack) alive() []int {
	var pids []int
	for _, p := range s.procs {
		if p.alive() {
			pids = append(pids, p.Pid)
		}
	}
	return pids
}

// Status is a snapshot of a stack.
type Status struct {
	URL     string
	Dir     string
	Config  Config
	Procs   []ProcStatus
	Healthy bool   // GET /fast at URL (through the front, if any) answered 200
	Health  string // the answer, or the error
	Stats   []UWSGIStats
}

// ProcStatus is one recorded process group leader.
type ProcStatus struct {
	Name  string
	Pid   int
	Alive bool
}

// UWSGIStats is a summary of one uWSGI stats server's JSON.
type UWSGIStats struct {
	Addr              string
	ListenQueue       int // connections waiting in the accept queue (0 on unix sockets)
	ListenQueueErrors int // never incremented by uWSGI, reported anyway
	Workers           int
	Busy              int
	Idle              int
	Requests          int64
	HarakiriCount     int
	Err               string // set when the stats server could not be read
}

// Status reports the recorded processes, nginx's health and each uWSGI stats server.
func (s *Stack) Status(ctx context.Context) Status {
	st := Status{URL: s.url, Dir: s.dir, Config: s.cfg}
	for _, p := range s.procs {
		st.Procs = append(st.Procs, ProcStatus{Name: p.Name, Pid: p.Pid, Alive: p.alive()})
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/fast", nil)
	req.Header.Set("X-Queuegap-Probe", "1")
	if resp, err := client.Do(req); err != nil {
		st.Health = err.Error()
	} else {
		resp.Body.Close()
		st.Healthy = resp.StatusCode == 200
		st.Health = resp.Status
	}
	for _, addr := range s.statsAddrs {
		u, err := ReadUWSGIStats(ctx, addr)
		if err != nil {
			u = UWSGIStats{Addr: addr, Err: err.Error()}
		}
		st.Stats = append(st.Stats, u)
	}
	return st
}

// ReadUWSGIStats reads a uWSGI stats server (it writes its JSON on connect and closes).
// uWSGI refreshes these numbers about once a second.
func ReadUWSGIStats(ctx context.Context, addr string) (UWSGIStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return UWSGIStats{}, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	b, err := io.ReadAll(io.LimitReader(c, 16<<20))
	if err != nil {
		return UWSGIStats{}, err
	}
	var raw struct {
		ListenQueue       int `json:"listen_queue"`
		ListenQueueErrors int `json:"listen_queue_errors"`
		Workers           []struct {
			Status        string `json:"status"`
			Requests      int64  `json:"requests"`
			HarakiriCount int    `json:"harakiri_count"`
		} `json:"workers"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return UWSGIStats{}, fmt.Errorf("uWSGI stats from %s: %v", addr, err)
	}
	u := UWSGIStats{Addr: addr, ListenQueue: raw.ListenQueue, ListenQueueErrors: raw.ListenQueueErrors,
		Workers: len(raw.Workers)}
	for _, w := range raw.Workers {
		switch w.Status {
		case "busy":
			u.Busy++
		case "idle":
			u.Idle++
		}
		u.Requests += w.Requests
		u.HarakiriCount += w.HarakiriCount
	}
	return u, nil
}
