package stack

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const repoRoot = "../.."

type composeFile struct {
	Services map[string]struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Entrypoint  []string          `yaml:"entrypoint"`
		Environment map[string]string `yaml:"environment"`
		EnvFile     []string          `yaml:"env_file"`
		Volumes     []string          `yaml:"volumes"`
		Profiles    []string          `yaml:"profiles"`
	} `yaml:"services"`
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

// TestComposeFilesExist checks every host path docker-compose.yaml and the Dockerfile refer to.
func TestComposeFilesExist(t *testing.T) {
	c := loadCompose(t)
	for name, svc := range c.Services {
		if observability(svc.Profiles) {
			continue // pulled images, checked in observability_test.go
		}
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
	for name, svc := range c.Services {
		if observability(svc.Profiles) {
			continue // no testbed knobs: Prometheus and Grafana
		}
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
	for _, profiles := range [][]string{nil, {"two"}, {"alb"}, {"two", "alb"}, {"observability"}} {
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
