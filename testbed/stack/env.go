package stack

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ports are the TCP ports a native stack listens on (all on 127.0.0.1).
type ports struct {
	Nginx int   `json:"nginx"`           // the pod nginx
	Front int   `json:"front,omitempty"` // the front (Config.Front), the public port then
	App   []int `json:"app,omitempty"`   // uwsgi/HTTP protocol socket per instance (tcp only)
	Stats []int `json:"stats,omitempty"` // uWSGI stats server per instance (uwsgi only)
	HTTP  []int `json:"http,omitempty"`  // direct HTTP socket per instance (HTTPSocket only)
}

// knobEnv is the one place that turns a Config into the QG_* variables read by
// files/run-app.sh, files/run-nginx.sh and files/run-front.sh. instance is 0 for nginx and the
// front, 1 or 2 for an app.
func knobEnv(c Config, p ports, runDir, sockDir string, instance int) map[string]string {
	hosts := make([]string, c.Instances)
	for i := range hosts {
		hosts[i] = "127.0.0.1"
	}
	harakiri := int(c.Harakiri / time.Second)
	front := c.Front
	if front == "" {
		front = "none" // an empty variable reads like a forgotten one
	}
	return map[string]string{
		"QG_SERVER":          c.Server,
		"QG_WORKERS":         strconv.Itoa(c.Workers),
		"QG_LISTEN":          strconv.Itoa(c.Listen),
		"QG_SOCKET":          c.Socket,
		"QG_HARAKIRI":        strconv.Itoa(harakiri),
		"QG_CONNECT_TIMEOUT": nginxTime(c.ConnectTimeout),
		"QG_READ_TIMEOUT":    nginxTime(c.ReadTimeout),
		"QG_INSTANCES":       strconv.Itoa(c.Instances),
		"QG_INSTANCE":        strconv.Itoa(instance),
		"QG_LB":              c.LB,
		"QG_NGINX_BACKLOG":   strconv.Itoa(c.NginxBacklog),
		"QG_PORT":            strconv.Itoa(p.Nginx),

		"QG_NGINX_WORKER_CONNECTIONS": strconv.Itoa(c.NginxWorkerConnections),
		"QG_NGINX_HOST":               "127.0.0.1", // where the front finds the pod nginx
		"QG_FRONT":                    front,
		"QG_FRONT_PORT":               strconv.Itoa(p.Front), // 0 without a front
		"QG_FRONT_CONNECT_TIMEOUT":    nginxTime(c.FrontConnectTimeout),

		"QG_BIND":        "127.0.0.1",
		"QG_APP_BIND":    "127.0.0.1",
		"QG_APP_HOSTS":   strings.Join(hosts, " "),
		"QG_APP_PORTS":   joinInts(p.App),
		"QG_STATS_PORTS": joinInts(p.Stats),
		"QG_HTTP_PORTS":  joinInts(p.HTTP),
		"QG_SOCKET_DIR":  sockDir,
		"QG_RUN_DIR":     runDir,
	}
}

// EnvKnobs returns the names of the QG_* environment variables the native runner passes to
// the entrypoint scripts, sorted. docker-compose.yaml sets exactly these.
func EnvKnobs() []string {
	m := knobEnv(Defaults(), ports{}, "", "", 0)
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// processEnv is the environment of a started script: ours minus PYTHONHOME/PYTHONPATH (a pyenv
// Python must not leak into Debian's libpython) and minus stray QG_*, plus the knobs.
func processEnv(knobs map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PYTHONHOME" || k == "PYTHONPATH" || strings.HasPrefix(k, "QG_") {
			continue
		}
		env = append(env, kv)
	}
	names := make([]string, 0, len(knobs))
	for k := range knobs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		env = append(env, k+"="+knobs[k])
	}
	return env
}

// nginxTime formats d in nginx's time syntax ("60s", "1500ms").
func nginxTime(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", (d+time.Millisecond-1)/time.Millisecond)
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " ")
}
