package stack

import (
	"bufio"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/prom"
)

// observability says whether a compose service belongs to the
// observability profile (Prometheus, Grafana: pulled images, no testbed
// knobs).
func observability(profiles []string) bool { return slices.Contains(profiles, "observability") }

// The observability profile's services: only in that profile, pulled
// images, every mounted file present, ports on loopback, and a Prometheus
// scraping queuegap's documented port and accepting remote write.
func TestObservabilityServices(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image    string   `yaml:"image"`
			Profiles []string `yaml:"profiles"`
			Command  []string `yaml:"command"`
			Volumes  []string `yaml:"volumes"`
			Ports    []string `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"prometheus", "grafana"} {
		svc, ok := c.Services[name]
		if !ok {
			t.Errorf("no %s service", name)
			continue
		}
		if !slices.Equal(svc.Profiles, []string{"observability"}) {
			t.Errorf("%s: profiles %v, want [observability] only", name, svc.Profiles)
		}
		if svc.Image == "" {
			t.Errorf("%s: no image", name)
		}
		for _, v := range svc.Volumes {
			if host, _, _ := strings.Cut(v, ":"); strings.HasPrefix(host, ".") {
				mustExist(t, name+" volume", filepath.Join(repoRoot, host))
			}
		}
		for _, p := range svc.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s: port %q not on loopback", name, p)
			}
		}
	}
	if cmd := c.Services["prometheus"].Command; !slices.Contains(cmd, "--web.enable-remote-write-receiver") {
		t.Errorf("prometheus command %v: no remote-write receiver", cmd)
	}
	var pc struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	pb, err := os.ReadFile(filepath.Join(repoRoot, "testbed/prometheus/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(pb, &pc); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	if len(pc.ScrapeConfigs) != 1 || len(pc.ScrapeConfigs[0].StaticConfigs) != 1 ||
		!slices.Equal(pc.ScrapeConfigs[0].StaticConfigs[0].Targets, []string{"host.docker.internal:9464"}) {
		t.Errorf("prometheus.yml scrapes %+v, want host.docker.internal:9464", pc.ScrapeConfigs)
	}
}

// exportedNames are the series names prom serves once a run has started,
// added a result and a probe sample, and ended: histograms with their
// _bucket, _sum and _count.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	o := prom.New(prom.Options{Progress: func() *loadgen.Progress { return &loadgen.Progress{} }})
	info := analyze.RunInfo{RunID: "r", Start: time.Now()}
	o.Start(&info)
	var r analyze.Result
	r.Intended, r.Start, r.ConnectDone, r.FirstByte, r.Done, r.NewConn = 1e6, 2e6, 3e6, 9e6, 10e6, true
	r.Outcome = analyze.OutcomeOK
	o.Add(&r)
	o.Probe(&analyze.ProbeSample{Probe: "p", Kind: "listen", Values: []analyze.ProbeValue{{Name: "queue", Value: 1}}})
	o.Close(&info)
	rec := httptest.NewRecorder()
	o.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	names := map[string]bool{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		names[f[2]] = true
		if f[3] == "histogram" || f[3] == "summary" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f[2]+s] = true
			}
		}
	}
	if len(names) < 20 {
		t.Fatalf("only %d names exported: %v", len(names), names)
	}
	return names
}

// dashboardExprs walks the dashboard JSON and returns every target's expr.
func dashboardExprs(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		if e, ok := x["expr"].(string); ok {
			*out = append(*out, e)
		}
		for _, c := range x {
			dashboardExprs(c, out)
		}
	case []any:
		for _, c := range x {
			dashboardExprs(c, out)
		}
	}
}

// The Grafana dashboard parses, and every metric its PromQL names is one
// prom exports (a renamed series would leave a panel silently empty); the
// panels the issue asks for are there.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "testbed/grafana/queuegap.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("queuegap.json: %v", err)
	}
	var exprs []string
	dashboardExprs(d, &exprs)
	if len(exprs) < 10 {
		t.Fatalf("%d PromQL expressions in the dashboard", len(exprs))
	}
	names := exportedNames(t)
	metric := regexp.MustCompile(`\b(?:queuegap|process|go)_[a-z0-9_]+\b`)
	used := map[string]bool{}
	for _, e := range exprs {
		for _, m := range metric.FindAllString(e, -1) {
			used[m] = true
			if !names[m] {
				t.Errorf("dashboard uses %s (in %q), which prom does not export", m, e)
			}
		}
	}
	for _, want := range []string{"queuegap_scheduled_requests_total", "queuegap_sent_requests_total", "queuegap_phase_seconds_bucket",
		"queuegap_attribution_seconds_sum", "queuegap_requests_total", "queuegap_probe_value", "queuegap_in_flight_requests"} {
		if !used[want] {
			t.Errorf("dashboard has no panel on %s", want)
		}
	}
}
