package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/testbed/prefork"
)

// The test binary doubles as the queuegap binary for subprocess tests.
func TestMain(m *testing.M) {
	if os.Getenv("QUEUEGAP_TEST_MAIN") == "1" {
		os.Exit(execute(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func queuegap(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "QUEUEGAP_TEST_MAIN=1")
	return cmd
}

func target(t *testing.T, cfg prefork.Config) *prefork.Server {
	t.Helper()
	srv, err := prefork.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func TestUsageErrorsExit2(t *testing.T) {
	cases := [][]string{
		{"run"},
		{"run", "--rate", "10", "ftp://x/"},
		{"run", "--rate", "10", "--burst", "5", "http://127.0.0.1:1/"},
		{"run", "http://127.0.0.1:1/"},
		{"run", "--rate", "abc", "http://127.0.0.1:1/"},
		{"run", "--rate", "10", "-H", "NoColon", "http://127.0.0.1:1/"},
		{"run", "--rate", "10", "--conn-mode", "pipelined", "http://127.0.0.1:1/"},
		{"run", "--stage", "rate:10", "http://127.0.0.1:1/"},
		{"run", "--rate", "10", "--body-file", "/nonexistent/file", "http://127.0.0.1:1/"},
		{"run", "--rate", "10", "--timing-header", "bogus", "http://127.0.0.1:1/"},
		{"analyze", "/nonexistent/results.jsonl"},
		{"nosuchcommand"},
		{"demo", "--workers", "0"},
	}
	for _, args := range cases {
		var stderr bytes.Buffer
		cmd := queuegap(args...)
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := cmd.ProcessState.ExitCode()
		if code != exitUsage {
			t.Errorf("%v: exit %d (%v), want %d; stderr %q", args, code, err, exitUsage, stderr.String())
			continue
		}
		msg := strings.TrimSpace(stderr.String())
		if strings.Count(msg, "\n") > 0 || !strings.HasPrefix(msg, "queuegap: ") || strings.Contains(msg, "goroutine") {
			t.Errorf("%v: want one line starting 'queuegap: ', got %q", args, msg)
		}
	}
}

func TestRunJSONSummary(t *testing.T) {
	srv := target(t, prefork.Config{Workers: 4, Backlog: 64, ServiceTime: 10 * time.Millisecond})
	out, err := queuegap("run", "--rate", "100", "--duration", "500ms", "--json", "-q", srv.URL()).Output()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var s map[string]any
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("--json output is not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"requests", "duration_s", "achieved_rate", "outcomes", "phases"} {
		if _, ok := s[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	if s["requests"].(float64) != 50 {
		t.Errorf("requests %v, want 50", s["requests"])
	}
	if s["outcomes"].(map[string]any)["ok"].(float64) != 50 {
		t.Errorf("outcomes %v", s["outcomes"])
	}
	phases := s["phases"].(map[string]any)
	for _, p := range []string{"connect", "ttfb", "total", "lag"} {
		ps, ok := phases[p].(map[string]any)
		if !ok {
			t.Fatalf("phases lack %q", p)
		}
		for _, k := range []string{"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"} {
			if _, ok := ps[k].(float64); !ok {
				t.Errorf("phases.%s lacks %s", p, k)
			}
		}
	}
	total := phases["total"].(map[string]any)
	if total["p50_ms"].(float64) < 9 {
		t.Errorf("total p50 %v ms below the 10 ms service time", total["p50_ms"])
	}
}

// Ctrl-C mid run prints the summary and leaves a complete, parseable file.
func TestInterruptWritesSummaryAndResults(t *testing.T) {
	srv := target(t, prefork.Config{Workers: 8, Backlog: 64, ServiceTime: 20 * time.Millisecond})
	out := filepath.Join(t.TempDir(), "r.jsonl")
	var stdout, stderr bytes.Buffer
	cmd := queuegap("run", "--rate", "100", "--duration", "1m", "--out", out, "-q", srv.URL())
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until results are streaming (flushed at least every second).
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if bytes.Count(b, []byte("\n")) >= 20 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no results streamed within 20 s; stderr %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case <-waited:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("run did not end within 20 s of SIGINT")
	}
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stdout.String(), "requests in") || !strings.Contains(stdout.String(), "interrupted") {
		t.Fatalf("no summary after SIGINT:\n%s", stdout.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n int64
	st, err := analyze.ReadResults(f, func(*analyze.RunInfo, *analyze.Result) error { n++; return nil })
	if err != nil || st.Truncated || len(st.Runs) != 1 {
		t.Fatalf("results file does not parse cleanly: %v (truncated %v)", err, st.Truncated)
	}
	info := st.Runs[0]
	if !info.Complete || !info.Interrupted || info.NotSent <= 0 {
		t.Fatalf("trailer %+v: want complete, interrupted, with not-sent requests", info)
	}
	if n != info.Started || n < 20 {
		t.Fatalf("%d results for %d started requests", n, info.Started)
	}
}

func TestDemoShowsGap(t *testing.T) {
	out, err := queuegap("demo", "--workers", "2", "--backlog", "2", "--service", "100ms", "--burst", "12", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var s analyze.Summary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	if s.Requests != 12 || s.Outcomes["ok"] != 12 {
		t.Fatalf("requests %d, outcomes %v", s.Requests, s.Outcomes)
	}
	if s.Phases["total"].P99 < 3*s.Server.App.Max {
		t.Fatalf("client p99 %.1f ms is not several times the app's max %.1f ms", s.Phases["total"].P99, s.Server.App.Max)
	}
}

func TestAnalyzeFileMatchesRun(t *testing.T) {
	srv := target(t, prefork.Config{Workers: 2, Backlog: 64, ServiceTime: 30 * time.Millisecond, Headers: prefork.AllHeaders})
	out := filepath.Join(t.TempDir(), "r.jsonl")
	runOut, err := queuegap("run", "--burst", "10", "--conn-mode", "new", "--json", "-q", "--out", out, srv.URL()).Output()
	if err != nil {
		t.Fatal(err)
	}
	anOut, err := queuegap("analyze", "--json", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	var a, b analyze.Summary
	if err := json.Unmarshal(runOut, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(anOut, &b); err != nil {
		t.Fatal(err)
	}
	if a.Requests != b.Requests || a.Phases["total"] != b.Phases["total"] || a.Attribution["backlog"].TotalS != b.Attribution["backlog"].TotalS {
		t.Fatalf("analyze of the file differs from run:\nrun     %+v\nanalyze %+v", a.Phases["total"], b.Phases["total"])
	}
}

// --fail-if turns a check into exit code 3 with the measured value, on run
// and on analyze; --compare prints both runs with the change.
func TestFailIfAndCompare(t *testing.T) {
	srv := target(t, prefork.Config{Workers: 2, Backlog: 64, ServiceTime: 40 * time.Millisecond})
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")

	var stdout bytes.Buffer
	cmd := queuegap("run", "--burst", "8", "--conn-mode", "new", "-q", "--out", a,
		"--fail-if", "p99(total) > 1ms", "--fail-if", "rate(errors) > 50%", srv.URL())
	cmd.Stdout = &stdout
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != exitCheckFailed {
		t.Fatalf("run with a failing check: exit %d (%v), want %d\n%s", code, err, exitCheckFailed, stdout.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "FAIL: p99(total) > 1ms (measured ") || !strings.Contains(out, "pass: rate(errors) > 50% (measured 0.00%)") {
		t.Fatalf("check lines missing:\n%s", out)
	}
	// Same file, a check that holds: exit 0. A malformed check: exit 2.
	if err := queuegap("analyze", "--fail-if", "p99(total) > 1h", a).Run(); err != nil {
		t.Fatalf("analyze with a passing check: %v", err)
	}
	bad := queuegap("analyze", "--fail-if", "p99(total) >> 1s", a)
	bad.Run()
	if code := bad.ProcessState.ExitCode(); code != exitUsage {
		t.Fatalf("malformed --fail-if: exit %d, want %d", code, exitUsage)
	}

	// B: the same burst against twice the workers finishes sooner.
	srv2 := target(t, prefork.Config{Workers: 8, Backlog: 64, ServiceTime: 40 * time.Millisecond})
	if err := queuegap("run", "--burst", "8", "--conn-mode", "new", "-q", "--out", b, srv2.URL()).Run(); err != nil {
		t.Fatal(err)
	}
	cmpOut, err := queuegap("analyze", "--compare", a, b).Output()
	if err != nil {
		t.Fatalf("--compare: %v", err)
	}
	text := string(cmpOut)
	for _, want := range []string{"A: " + a, "B: " + b, "p99(total)", "share(backlog)"} {
		if !strings.Contains(text, want) {
			t.Errorf("--compare output lacks %q:\n%s", want, text)
		}
	}
	jsonOut, err := queuegap("analyze", "--compare", "--json", a, b).Output()
	if err != nil {
		t.Fatal(err)
	}
	var c analyze.Comparison
	if err := json.Unmarshal(jsonOut, &c); err != nil {
		t.Fatal(err)
	}
	for _, ch := range c.Changes {
		if ch.Metric == "p99(total)" && !(ch.B < ch.A) {
			t.Errorf("p99(total) with 8 workers (%v ms) not below 2 workers (%v ms)", ch.B, ch.A)
		}
	}
	if one := queuegap("analyze", "--compare", a); one.Run() == nil || one.ProcessState.ExitCode() != exitUsage {
		t.Error("--compare with one file accepted")
	}
}
