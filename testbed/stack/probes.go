package stack

import (
	"fmt"
	"strings"
)

// AppAddrs are the app instances' sockets nginx connects to (host:port),
// one per instance over TCP; none over unix sockets.
func (s *Stack) AppAddrs() []string { return append([]string(nil), s.appAddrs...) }

// ProbeSpecs are the queuegap probes (in --probe syntax, without the flag)
// that fit the stack: nginx's listening port (against its configured
// backlog) and the front's, each app socket over TCP (against --listen),
// each uWSGI stats server, and each app instance's process tree (master
// and workers).
func (s *Stack) ProbeSpecs() []string {
	var out []string
	port := func(u string) string { return strings.TrimPrefix(u, "http://") }
	if s.cfg.Front != "" {
		out = append(out, "listen="+port(s.url))
	}
	out = append(out, fmt.Sprintf("listen=%s,expect=%d", port(s.nginxURL), s.cfg.NginxBacklog))
	for _, a := range s.appAddrs {
		out = append(out, fmt.Sprintf("listen=%s,expect=%d", a, s.cfg.Listen))
	}
	for _, a := range s.statsAddrs {
		out = append(out, "uwsgi="+a)
	}
	for _, p := range s.procs {
		if strings.HasPrefix(p.Name, "app") {
			out = append(out, fmt.Sprintf("process=%d", p.Pid))
		}
	}
	return out
}
