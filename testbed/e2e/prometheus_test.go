package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// prometheusBin finds Debian's prometheus: skip without it, fail with
// QG_REQUIRE_TESTBED=1.
func prometheusBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("QG_REQUIRE_TESTBED") == "1" {
			t.Fatalf("QG_REQUIRE_TESTBED=1: no prometheus binary (apt-get install prometheus): %v", err)
		}
		t.Skip("no prometheus binary (apt-get install prometheus)")
	}
	return p
}

// freePort is a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// buildQueuegap builds the CLI from this module into dir: the flags under
// test are the real ones.
func buildQueuegap(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "queuegap")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/queuegap/queuegap/cmd/queuegap").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startPrometheus runs a Prometheus on 127.0.0.1 with its storage in dir,
// scraping the queuegap at scrapePort every second, accepting remote
// write; it is killed (its whole process group) in t.Cleanup.
func startPrometheus(t *testing.T, bin, dir string, scrapePort int) string {
	t.Helper()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: queuegap
    static_configs:
      - targets: ["127.0.0.1:%d"]
`, scrapePort)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--web.enable-remote-write-receiver")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "QG_RUN_DIR="+dir) // found by the leftover check if it outlives us
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started.Lock()
	started.pgids = append(started.pgids, cmd.Process.Pid)
	started.Unlock()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		logf.Close()
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("prometheus not ready within 30 s:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// promQuery is an instant query's single value; ok is false when the
// result is empty.
func promQuery(t *testing.T, base, q string) (v float64, ok bool) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s %s", q, err, r.Status, r.Error)
	}
	if len(r.Data.Result) == 0 {
		return 0, false
	}
	if len(r.Data.Result) > 1 {
		t.Fatalf("query %s: %d series, want 1", q, len(r.Data.Result))
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err = strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("query %s: value %q", q, s)
	}
	return v, true
}

// waitQuery polls q until it returns want (bounded), and returns the last
// value seen.
func waitQuery(t *testing.T, base, q string, want float64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, ok := promQuery(t, base, q)
		if ok && v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v (present %v) after %s, want %v", q, v, ok, within, want)
		}
		time.Sleep(250 * time.Millisecond) // polling interval
	}
}

type runSummary struct {
	RunID    string           `json:"run_id"`
	Requests int64            `json:"requests"`
	Outcomes map[string]int64 `json:"outcomes"`
}

// A real Prometheus scrapes one run (the grace period covers its last
// scrape) and receives another's remote write; its query API returns each
// run's request count exactly.
func TestPrometheusScrapeAndRemoteWrite(t *testing.T) {
	promBin := prometheusBin(t)
	dir := filepath.Join(baseDir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	qg := buildQueuegap(t, dir)
	metricsPort := freePort(t)
	base := startPrometheus(t, promBin, dir, metricsPort)

	// Run 1, scraped. The summary is printed before the grace period
	// begins; while it lasts Prometheus must reach the final count.
	cmd := exec.Command(qg, "run", "--rate", "100", "--duration", "2s", "--target-service", "5ms", "--json", "-q",
		"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", metricsPort), "--metrics-grace", "30s")
	cmd.Env = append(os.Environ(), "QG_RUN_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var scraped runSummary
	decoded := make(chan error, 1)
	go func() { decoded <- json.NewDecoder(bufio.NewReader(stdout)).Decode(&scraped) }()
	select {
	case err := <-decoded:
		if err != nil {
			t.Fatalf("run 1 summary: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("run 1 printed no summary within 60 s")
	}
	if scraped.Requests != 200 {
		t.Fatalf("run 1: %d requests, want 200", scraped.Requests)
	}
	job := `{job="queuegap"}`
	waitQuery(t, base, "queuegap_run_done"+job, 1, 20*time.Second)
	waitQuery(t, base, "sum(queuegap_requests_total"+job+")", float64(scraped.Requests), 10*time.Second)
	for oc, n := range scraped.Outcomes {
		waitQuery(t, base, fmt.Sprintf(`sum(queuegap_requests_total{job="queuegap",outcome=%q})`, oc), float64(n), 5*time.Second)
	}
	waitQuery(t, base, "queuegap_sent_requests_total"+job, float64(scraped.Requests), 5*time.Second)
	waitQuery(t, base, `queuegap_phase_seconds_count{job="queuegap",phase="total"}`, float64(scraped.Requests), 5*time.Second)
	cmd.Process.Signal(syscall.SIGINT) // ends the grace period
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("run 1 after Ctrl-C in its grace period: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("run 1 did not end on Ctrl-C during its grace period")
	}

	// Run 2, remote write only: no scrape target, the final push carries
	// the final values.
	out, err := exec.Command(qg, "run", "--rate", "50", "--duration", "1s", "--target-service", "5ms", "--json", "-q",
		"--prom-remote-write", base+"/api/v1/write", "--prom-remote-write-interval", "300ms").Output()
	if err != nil {
		t.Fatalf("run 2: %v", err)
	}
	var pushed runSummary
	if err := json.Unmarshal(out, &pushed); err != nil || pushed.RunID == "" {
		t.Fatalf("run 2 summary: %v\n%s", err, out)
	}
	if pushed.Requests != 50 {
		t.Fatalf("run 2: %d requests, want 50", pushed.Requests)
	}
	sel := fmt.Sprintf(`{job="queuegap",run_id=%q}`, pushed.RunID)
	waitQuery(t, base, "sum(queuegap_requests_total"+sel+")", float64(pushed.Requests), 10*time.Second)
	waitQuery(t, base, "queuegap_run_done"+sel, 1, 5*time.Second)
	if v, ok := promQuery(t, base, `count(queuegap_phase_seconds_bucket{run_id="`+pushed.RunID+`",phase="total"})`); !ok || v < 10 {
		t.Errorf("remote write carried %v total-phase buckets, want the classic buckets", v)
	}

	// Every PromQL expression of the Grafana dashboard is valid for this
	// Prometheus and, over these two runs, returns data (probe panels
	// aside: no run here had --probe).
	b, err := os.ReadFile("../grafana/queuegap.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range regexp.MustCompile(`"expr": "((?:[^"\\]|\\.)*)"`).FindAllSubmatch(b, -1) {
		var expr string
		if err := json.Unmarshal([]byte(`"`+string(e[1])+`"`), &expr); err != nil {
			t.Fatal(err)
		}
		q := strings.NewReplacer("$job", ".*", "$__rate_interval", "1m").Replace(expr)
		resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil || r.Status != "success" {
			t.Errorf("dashboard query %s: %v %s", q, err, r.Error)
		} else if len(r.Data.Result) == 0 && !strings.Contains(q, "probe") {
			t.Errorf("dashboard query %s: no data after two runs", q)
		}
	}
}
