package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bad metrics flags, and a metrics port in use, stop the run before it
// touches anything: exit 2, one line, no results file.
func TestMetricsFlagsRejected(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "r.jsonl")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics-addr", busy.Addr().String()}, "address already in use"},
		{[]string{"--metrics-addr", "256.1.1.1:80"}, "--metrics-addr"},
		{[]string{"--metrics-grace", "5s"}, "needs --metrics-addr"},
		{[]string{"--metrics-addr", "127.0.0.1:0", "--metrics-grace", "-1s"}, "0 or more"},
		{[]string{"--prom-remote-write", "ftp://x/"}, "http(s)"},
		{[]string{"--prom-remote-write-interval", "1s"}, "needs --prom-remote-write"},
		{[]string{"--prom-remote-write", "http://127.0.0.1:1/api/v1/write", "--prom-remote-write-interval", "1ms"}, "at least"},
	} {
		var stderr bytes.Buffer
		cmd := queuegap(append([]string{"run", "--rate", "10", "--duration", "1s", "--out", out}, c.args...)...)
		cmd.Stderr = &stderr
		cmd.Run()
		msg := strings.TrimSpace(stderr.String())
		if code := cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(msg, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 mentioning %q", c.args, code, msg, c.want)
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%v: want one line, got %q", c.args, msg)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v: %s was created", c.args, out)
		}
	}
}

var servingLine = regexp.MustCompile(`serving final metrics on (http://\S+/metrics) for 1m0s; Ctrl-C to stop`)

// After the run, /metrics keeps serving the final values (equal to the
// printed summary) until the grace ends — or at once on Ctrl-C.
func TestMetricsGraceServesFinalValues(t *testing.T) {
	cmd := queuegap("run", "--rate", "200", "--duration", "500ms", "--target-service", "2ms", "--json", "-q",
		"--metrics-addr", "127.0.0.1:0", "--metrics-grace", "1m")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				url <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	var u string
	select {
	case u = <-url:
	case err := <-exited:
		t.Fatalf("run ended without a grace period: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no 'serving final metrics' line within 30 s")
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	// Ctrl-C during the grace ends it at once, with the run's exit code.
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after Ctrl-C in the grace period: %v", err)
		}
		if d := time.Since(sent); d > 10*time.Second {
			t.Errorf("Ctrl-C took %s to end the grace period", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Ctrl-C did not end the grace period")
	}
	var sum struct {
		Requests int64            `json:"requests"`
		Outcomes map[string]int64 `json:"outcomes"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, stdout.String())
	}
	got := map[string]int64{}
	var total int64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "queuegap_requests_total{") {
			continue
		}
		oc := regexp.MustCompile(`outcome="([^"]*)"`).FindStringSubmatch(line)
		n, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if oc == nil || err != nil {
			t.Fatalf("bad line %q", line)
		}
		got[oc[1]] += int64(n)
		total += int64(n)
	}
	if total != sum.Requests || sum.Requests != 100 {
		t.Errorf("final scrape counts %d requests, summary %d (want 100)", total, sum.Requests)
	}
	for oc, n := range sum.Outcomes {
		if got[oc] != n {
			t.Errorf("outcome %s: scraped %d, summary %d", oc, got[oc], n)
		}
	}
	for _, want := range []string{"queuegap_run_done 1", "queuegap_sent_requests_total 100", "queuegap_scheduled_requests_total 100", "queuegap_in_flight_requests 0"} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("final scrape lacks %q", want)
		}
	}
}
