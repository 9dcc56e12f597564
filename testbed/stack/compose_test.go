package stack

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const repoRoot = "../.."

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Build *struct {
		Context    string            `yaml:"context"`
		Dockerfile string            `yaml:"dockerfile"`
		Args       map[string]string `yaml:"args"`
	} `yaml:"build"`
	Image       string            `yaml:"image"`
	Sysctls     map[string]any    `yaml:"sysctls"`
	User        string            `yaml:"user"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	EnvFile     []string          `yaml:"env_file"`
	Volumes     []string          `yaml:"volumes"`
	Profiles    []string          `yaml:"profiles"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yaml: no services")
	}
	return c
}

// testbedDockerfile builds the image every testbed service (app, app2, nginx, front) runs;
// other services (loadgen: queuegap's own image) are checked by tests of their own.
const testbedDockerfile = "testbed/Dockerfile"

func (c composeFile) testbedServices() map[string]composeService {
	out := map[string]composeService{}
	for name, svc := range c.Services {
		if svc.Build != nil && svc.Build.Dockerfile == testbedDockerfile {
			out[name] = svc
		}
	}
	return out
}

// TestComposeFilesExist checks every host path docker-compose.yaml and the Dockerfile refer to.
func TestComposeFilesExist(t *testing.T) {
	c := loadCompose(t)
	if len(c.testbedServices()) < 4 {
		t.Errorf("testbed services %v: want app, app2, nginx, front built from %s", serviceNames(c.testbedServices()), testbedDockerfile)
	}
	for name, svc := range c.testbedServices() {
		if svc.Build == nil {
			t.Errorf("service %s: no build section", name)
			continue
		}
		ctx := filepath.Join(repoRoot, svc.Build.Context)
		mustExist(t, name+" build context", ctx)
		dockerfile := filepath.Join(ctx, svc.Build.Dockerfile)
		mustExist(t, name+" dockerfile", dockerfile)
		checkDockerfileCopies(t, dockerfile, ctx)
		for _, f := range svc.EnvFile {
			mustExist(t, name+" env_file", filepath.Join(repoRoot, f))
		}
		mounts := map[string]string{} // container path -> host path (bind mounts only)
		for _, v := range svc.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				t.Errorf("service %s: volume %q: want SRC:DST", name, v)
				continue
			}
			if strings.HasPrefix(parts[0], ".") || strings.HasPrefix(parts[0], "/") {
				host := filepath.Join(repoRoot, parts[0])
				mustExist(t, name+" volume", host)
				mounts[parts[1]] = host
			}
		}
		if len(svc.Entrypoint) == 0 {
			t.Errorf("service %s: no entrypoint", name)
		}
		for _, arg := range svc.Entrypoint {
			if !strings.HasPrefix(arg, "/opt/queuegap/") {
				continue
			}
			found := false
			for dst, host := range mounts {
				if rel, ok := strings.CutPrefix(arg, dst+"/"); ok {
					mustExist(t, name+" entrypoint "+arg, filepath.Join(host, rel))
					found = true
				}
			}
			if !found {
				t.Errorf("service %s: entrypoint %s is not under a bind-mounted directory", name, arg)
			}
		}
	}
	// The entrypoints must be the very scripts the native runner embeds.
	for _, f := range []string{"run-app.sh", "run-nginx.sh", "run-front.sh", "lib.sh", "nginx.conf.in",
		"front.conf.in", "uwsgi.ini.in", "app/qgapp.py"} {
		if _, err := embedded.ReadFile("files/" + f); err != nil {
			t.Errorf("embedded files/%s: %v", f, err)
		}
	}
}

func checkDockerfileCopies(t *testing.T, dockerfile, ctx string) {
	t.Helper()
	f, err := os.Open(dockerfile)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || (fields[0] != "COPY" && fields[0] != "ADD") {
			continue
		}
		for _, src := range fields[1 : len(fields)-1] {
			if !strings.HasPrefix(src, "--") {
				mustExist(t, "Dockerfile "+fields[0], filepath.Join(ctx, src))
			}
		}
	}
}

func mustExist(t *testing.T, what, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// TestComposeKnobsMatchRunner: every compose service sets exactly the QG_* variables the native
// runner passes (EnvKnobs, derived from the env builder), and the scripts require exactly those.
func TestComposeKnobsMatchRunner(t *testing.T) {
	want := EnvKnobs()
	if len(want) < 10 {
		t.Fatalf("EnvKnobs() = %v: suspiciously few", want)
	}
	c := loadCompose(t)
	for name, svc := range c.testbedServices() {
		var got []string
		for k := range svc.Environment {
			if strings.HasPrefix(k, "QG_") {
				got = append(got, k)
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("service %s sets %v\nnative runner passes %v", name, got, want)
		}
	}

	lib, err := embedded.ReadFile("files/lib.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)QG_KNOBS="([^"]*)"`).FindSubmatch(lib)
	if m == nil {
		t.Fatal("files/lib.sh: no QG_KNOBS=\"...\"")
	}
	script := strings.Fields(string(m[1]))
	sort.Strings(script)
	if !slices.Equal(script, want) {
		t.Errorf("lib.sh QG_KNOBS = %v\nnative runner passes %v", script, want)
	}

	// Every @QG_...@ placeholder in a template is a knob or one the scripts derive.
	derived := []string{"QG_UPSTREAM_SERVERS", "QG_LB_DIRECTIVE", "QG_STATS_PORT", "QG_APP_DIR"}
	for _, tmpl := range []string{"files/nginx.conf.in", "files/front.conf.in", "files/uwsgi.ini.in"} {
		b, _ := embedded.ReadFile(tmpl)
		for _, ph := range regexp.MustCompile(`@(QG_[A-Z_]+)@`).FindAllSubmatch(b, -1) {
			name := string(ph[1])
			if !slices.Contains(want, name) && !slices.Contains(derived, name) {
				t.Errorf("%s: placeholder @%s@ is neither a knob nor derived by the scripts", tmpl, name)
			}
		}
	}
}

// TestComposeFrontService: the ALB-like front is a compose service of its own, off by default
// (profile "alb"), running the native runner's run-front.sh and reaching the pod nginx by its
// service name.
func TestComposeFrontService(t *testing.T) {
	c := loadCompose(t)
	front, ok := c.Services["front"]
	if !ok {
		t.Fatal("docker-compose.yaml: no service front")
	}
	if !slices.Equal(front.Profiles, []string{"alb"}) {
		t.Errorf("service front: profiles %v, want [alb] (off unless asked for)", front.Profiles)
	}
	if !slices.Contains(front.Entrypoint, "/opt/queuegap/files/run-front.sh") {
		t.Errorf("service front: entrypoint %v, want run-front.sh", front.Entrypoint)
	}
	if front.Environment["QG_FRONT"] != "alb" {
		t.Errorf("service front: QG_FRONT=%q, want alb", front.Environment["QG_FRONT"])
	}
	if h := front.Environment["QG_NGINX_HOST"]; h != "nginx" {
		t.Errorf("service front: QG_NGINX_HOST=%q, want the pod nginx's service name", h)
	}
	if _, ok := c.Services[front.Environment["QG_NGINX_HOST"]]; !ok {
		t.Errorf("QG_NGINX_HOST=%q is no service", front.Environment["QG_NGINX_HOST"])
	}
}

// TestComposeConfigValid asks Debian's docker-compose (v1) to validate the file with every
// profile; it needs no Docker daemon. Skipped where docker-compose is not installed.
func TestComposeConfigValid(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose not installed")
	}
	for _, profiles := range [][]string{nil, {"two"}, {"alb"}, {"loadgen"}, {"two", "alb", "loadgen"}, {"observability"}} {
		args := []string{"-f", filepath.Join(repoRoot, "docker-compose.yaml")}
		for _, p := range profiles {
			args = append(args, "--profile", p)
		}
		cmd := exec.Command(bin, append(args, "config", "-q")...)
		cmd.Env = append(os.Environ(), "COMPOSE_PROJECT_NAME=qgtest")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("docker-compose %v config: %v: %s", profiles, err, strings.TrimSpace(string(out)))
		}
	}
}

func serviceNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestComposeSysctls: every testbed container raises net.core.somaxconn (a container's own
// network namespace starts at 4096 whatever the host has, and the kernel caps listen() at it:
// uWSGI refuses a larger listen, nginx silently cuts backlog=), so QG_LISTEN and
// QG_NGINX_BACKLOG take effect as given. The base build argument defaults to the registry's
// debian:12-slim, as users elsewhere build it.
func TestComposeSysctls(t *testing.T) {
	c := loadCompose(t)
	for name, svc := range c.testbedServices() {
		v, ok := svc.Sysctls["net.core.somaxconn"]
		n, _ := strconv.Atoi(fmt.Sprint(v))
		if !ok || n < 4096 {
			t.Errorf("service %s: sysctls net.core.somaxconn = %v, want ≥ 4096 (so listen takes effect)", name, v)
		}
		if base := svc.Build.Args["BASE"]; base != "${QG_BASE_IMAGE:-debian:12-slim}" {
			t.Errorf("service %s: build arg BASE = %q, want ${QG_BASE_IMAGE:-debian:12-slim}", name, base)
		}
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, testbedDockerfile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "ARG BASE=debian:12-slim\nFROM ${BASE}\n") {
		t.Errorf("%s: want ARG BASE=debian:12-slim then FROM ${BASE}", testbedDockerfile)
	}
}

// TestComposeLoadgenService: queuegap itself as a compose service, off unless asked for
// (profile "loadgen"), built from deploy/docker/Dockerfile.queuegap (FROM scratch: only its
// static binary, so no /opt/queuegap scripts), with profiles and results mounted.
func TestComposeLoadgenService(t *testing.T) {
	c := loadCompose(t)
	lg, ok := c.Services["loadgen"]
	if !ok {
		t.Fatal("docker-compose.yaml: no service loadgen")
	}
	if !slices.Equal(lg.Profiles, []string{"loadgen"}) {
		t.Errorf("service loadgen: profiles %v, want [loadgen] (off unless asked for)", lg.Profiles)
	}
	if lg.Build == nil || lg.Build.Dockerfile != "deploy/docker/Dockerfile.queuegap" || lg.Image != "queuegap:latest" {
		t.Fatalf("service loadgen: build %+v image %q, want deploy/docker/Dockerfile.queuegap as queuegap:latest", lg.Build, lg.Image)
	}
	df := filepath.Join(repoRoot, lg.Build.Context, lg.Build.Dockerfile)
	b, err := os.ReadFile(df)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^FROM scratch$`).Match(b) {
		t.Errorf("%s: want FROM scratch", df)
	}
	if !slices.Equal(lg.Entrypoint, []string{"/usr/local/bin/queuegap"}) {
		t.Errorf("service loadgen: entrypoint %v", lg.Entrypoint)
	}
	var dsts []string
	for _, v := range lg.Volumes {
		if i := strings.LastIndex(v, ":/"); i >= 0 {
			dsts = append(dsts, strings.SplitN(v[i+1:], ":", 2)[0])
		}
	}
	sort.Strings(dsts)
	if !slices.Equal(dsts, []string{"/profiles", "/results"}) {
		t.Errorf("service loadgen: mounts %v, want /profiles and /results", dsts)
	}
}
