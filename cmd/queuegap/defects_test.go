package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
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

// TestHostileUserDefects is the table of what a hostile new user found in
// the first release (issue 7), one row per defect, each named for what it
// guards. Rows that live closer to their code (loadgen's engines, analyze's
// readers) have their own tests there; these drive the command line.
func TestHostileUserDefects(t *testing.T) {
	for _, d := range []struct {
		defect int
		name   string
		test   func(*testing.T)
	}{
		{1, "a pool of 100 million connections is a one-line error", testHugePoolRejected},
		{1, "SIGINT ends a run whose requests all hang within a second", testSIGINTEndsHangingRun},
		{2, "rejected input leaves existing files and starts no target", TestRejectedRunTouchesNothing},
		{3, "compare --json still applies --fail-if", testCompareJSONChecks},
		{3, "a check on a metric with no samples fails and says no data", testNoDataChecksFail},
		{14, "HDR logs follow the reference tools' conventions", testHDRLogConventions},
		{4, "a 100 MB body is read, counted and not held", testLargeBodyStreamed},
		{5, "a full disk stops the run with exit 1 and whole lines", testDiskFull},
		{6, "the scheduled rate comes from the schedule after a stall", testScheduledRateAfterStall},
		{7, "analyze reports a cut trailer, gaps and duplicates and still reports", testAnalyzeIntegrity},
		{7, "analyze refuses to merge different runs unless asked", testAnalyzeRefusesMixedRuns},
		{8, "running out of descriptors is the generator's limit, with a warning", testFDLimit},
		{8, "a descriptor limit too small to start is a one-line error", testTinyFDLimit},
		{9, "a bare-LF response is read, on both engines", testBareLF},
		{10, "both engines report the same outcome, status and bytes", testEnginesAgree},
		{11, "a password in the URL is sent as Basic auth and never written", testSecrets},
		{12, "an unknown testbed command is an error", testTestbedBogus},
		{12, "demo shows the backlog the kernel honours", testDemoBacklogCapped},
	} {
		t.Run(fmt.Sprintf("defect %d: %s", d.defect, d.name), d.test)
	}
}

func testHugePoolRejected(t *testing.T) {
	var stderr bytes.Buffer
	cmd := queuegap("run", "--rate", "10", "--duration", "1s", "--connections", "100000000", "http://127.0.0.1:1/")
	cmd.Stderr = &stderr
	_ = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(stderr.String(), "--connections") {
		t.Fatalf("exit %d, stderr %q: want exit 2 naming --connections", code, stderr.String())
	}
}

// hangingServer accepts connections and never answers; accepted receives
// one value per connection.
func hangingServer(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 1000)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String() + "/", accepted
}

func testSIGINTEndsHangingRun(t *testing.T) {
	for _, c := range []struct{ name, engine, mode string }{
		{"loop engine, keep-alive", "loop", "keepalive"},
		{"goroutines engine, keep-alive", "goroutines", "keepalive"},
		{"new connections", "goroutines", "new"},
	} {
		t.Run(c.name, func(t *testing.T) {
			url, accepted := hangingServer(t)
			out := filepath.Join(t.TempDir(), "r.jsonl")
			cmd := queuegap("run", "-q", "--rate", "200", "--duration", "30s", "--engine", c.engine, "--conn-mode", c.mode, "--out", out, url)
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			for range 20 { // requests are in flight and hanging
				select {
				case <-accepted:
				case <-time.After(10 * time.Second):
					cmd.Process.Kill()
					t.Fatal("the server accepted fewer than 20 connections in 10 s")
				}
			}
			waited := make(chan error, 1)
			sent := time.Now()
			cmd.Process.Signal(os.Interrupt)
			go func() { waited <- cmd.Wait() }()
			select {
			case <-waited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatal("run did not end within 10 s of SIGINT")
			}
			if took := time.Since(sent); took > time.Second {
				t.Errorf("run ended %v after SIGINT, want within 1 s", took)
			}
			if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
				t.Errorf("exit %d, want %d", code, exitInterrupted)
			}
			st, err := readResultsFile(out)
			if err != nil || len(st.Runs) != 1 || !st.Runs[0].Complete || st.Results != st.Runs[0].Started {
				t.Fatalf("results file after SIGINT: %v, %+v", err, st)
			}
			if !strings.Contains(stdout.String(), "canceled") {
				t.Errorf("summary does not count the hanging requests as canceled:\n%s", stdout.String())
			}
		})
	}
}

func readResultsFile(path string) (analyze.ReadStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return analyze.ReadStats{}, err
	}
	defer f.Close()
	return analyze.ReadResults(f, func(*analyze.RunInfo, *analyze.Result) error { return nil })
}

func testCompareJSONChecks(t *testing.T) {
	srv := target(t, prefork.Config{Workers: 2, Backlog: 64, ServiceTime: 20 * time.Millisecond})
	a := filepath.Join(t.TempDir(), "a.jsonl")
	if err := queuegap("run", "-q", "--burst", "4", "--out", a, srv.URL()).Run(); err != nil {
		t.Fatal(err)
	}
	cmd := queuegap("analyze", "--compare", "--json", a, a, "--fail-if", "p99(total) > 1ms")
	out, _ := cmd.Output()
	if code := cmd.ProcessState.ExitCode(); code != exitCheckFailed {
		t.Fatalf("compare --json with a failing check: exit %d, want %d", code, exitCheckFailed)
	}
	if !json.Valid(out) {
		t.Fatalf("compare --json printed no JSON: %q", out)
	}
}

func testDiskFull(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=96k"); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	srv := target(t, prefork.Config{Workers: 8, Backlog: 512, ServiceTime: time.Millisecond, KeepAlive: true})
	out := filepath.Join(dir, "r.jsonl")
	var stderr bytes.Buffer
	cmd := queuegap("run", "-q", "--rate", "1000", "--duration", "30s", "--connections", "8", "--out", out, srv.URL())
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != exitFailure {
		t.Fatalf("exit %d (%v), want %d; stderr %q", code, err, exitFailure, stderr.String())
	}
	// ≈ 450 B per line at 1000/s fills 96 KiB in well under a second; the
	// run must stop within about a second of that, not run its 30 s.
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("run took %v on a full disk, want it to stop within seconds", took)
	}
	if !strings.Contains(stderr.String(), "--out") || strings.Count(strings.TrimSpace(stderr.String()), "\n") > 0 {
		t.Errorf("stderr %q: want one line naming --out", stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		t.Fatalf("the file does not end in a whole line (%d bytes)", len(data))
	}
	for i, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if !json.Valid(l) {
			t.Fatalf("line %d is not whole JSON: %.80q", i+1, l)
		}
	}
	if _, err := readResultsFile(out); err != nil {
		t.Errorf("the file does not read back: %v", err)
	}
}

func testScheduledRateAfterStall(t *testing.T) {
	srv := target(t, prefork.Config{Workers: 8, Backlog: 512, ServiceTime: time.Millisecond, KeepAlive: true})
	cmd := queuegap("run", "-q", "--json", "--rate", "200", "--duration", "2s", "--connections", "8", srv.URL())
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A stall that covers the end of the schedule stretches the send window:
	// the time it waits is the stall being tested, not synchronisation.
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGSTOP)
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGCONT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run: %v", err)
	}
	var s analyze.Summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if s.TargetRate != 200 {
		t.Errorf("scheduled rate %v after a stall, want the schedule's 200/s", s.TargetRate)
	}
	if s.AchievedRate >= 190 {
		t.Errorf("achieved %v/s although the generator was stopped past the end of its 2 s schedule", s.AchievedRate)
	}
}

// smallRun writes a results file of n requests to path.
func smallRun(t *testing.T, srv *prefork.Server, path string, n int) []byte {
	t.Helper()
	if err := queuegap("run", "-q", "--burst", fmt.Sprint(n), "--out", path, srv.URL()).Run(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func testAnalyzeIntegrity(t *testing.T) {
	srv := target(t, prefork.Config{Workers: 4, Backlog: 64, ServiceTime: 5 * time.Millisecond})
	dir := t.TempDir()
	data := smallRun(t, srv, filepath.Join(dir, "r.jsonl"), 20)
	lines := strings.SplitAfter(string(data), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	trailer := lines[len(lines)-1]
	for _, c := range []struct {
		name     string
		file     string
		requests int64
		warning  string
	}{
		{"cut trailer", strings.Join(lines[:len(lines)-1], "") + trailer[:len(trailer)/2], 20, "cut short"},
		{"five lines missing", strings.Join(lines[:5], "") + strings.Join(lines[10:], ""), 15, "5 requests are missing"},
		{"a line twice", strings.Join(lines[:3], "") + lines[2] + strings.Join(lines[3:], ""), 20, "repeat a request"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
			if err := os.WriteFile(path, []byte(c.file), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := queuegap("analyze", "--json", path)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("analyze: %v (%s)", err, stderr.String())
			}
			var s analyze.Summary
			if err := json.Unmarshal(out, &s); err != nil {
				t.Fatal(err)
			}
			if s.Requests != c.requests {
				t.Errorf("%d requests reported, want %d", s.Requests, c.requests)
			}
			if !strings.Contains(stderr.String(), c.warning) || !strings.Contains(strings.Join(s.Warnings, "\n"), c.warning) {
				t.Errorf("warnings %q / stderr %q: want %q", s.Warnings, stderr.String(), c.warning)
			}
		})
	}
}

func testAnalyzeRefusesMixedRuns(t *testing.T) {
	srv := target(t, prefork.Config{Workers: 4, Backlog: 64, ServiceTime: 5 * time.Millisecond})
	dir := t.TempDir()
	a := smallRun(t, srv, filepath.Join(dir, "a.jsonl"), 6)
	b := smallRun(t, srv, filepath.Join(dir, "b.jsonl"), 4)
	both := filepath.Join(dir, "both.jsonl")
	if err := os.WriteFile(both, append(a, b...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"analyze", both}, {"analyze", filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")}} {
		cmd := queuegap(args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		_ = cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(stderr.String(), "--merge") {
			t.Errorf("%v: exit %d, stderr %q: want exit 2 suggesting --merge", args, code, stderr.String())
		}
	}
	out, err := queuegap("analyze", "--json", "--merge", both).Output()
	if err != nil {
		t.Fatal(err)
	}
	var s analyze.Summary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	if s.Requests != 10 {
		t.Errorf("--merge: %d requests, want 10", s.Requests)
	}
}

func testTestbedBogus(t *testing.T) {
	for _, args := range [][]string{{"testbed", "bogus"}, {"testbed"}, {"bogus"}} {
		cmd := queuegap(args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		_ = cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != exitUsage || strings.Count(strings.TrimSpace(stderr.String()), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q: want exit 2 and one line", args, code, stderr.String())
		}
	}
}

func testDemoBacklogCapped(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		t.Skip(err)
	}
	max := strings.TrimSpace(string(b))
	cmd := queuegap("demo", "--backlog", "100000000", "--burst", "2", "--service", "10ms")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("demo: %v (%s)", err, stderr.String())
	}
	first, _, _ := strings.Cut(string(out), "\n")
	if !strings.Contains(first, "backlog "+max) || !strings.Contains(stderr.String(), "somaxconn") {
		t.Errorf("demo header %q, stderr %q: want backlog %s (net.core.somaxconn) and a note", first, stderr.String(), max)
	}
}

func testNoDataChecksFail(t *testing.T) {
	dir := t.TempDir()
	dead := filepath.Join(dir, "dead.jsonl")
	hlog := filepath.Join(dir, "dead.hlog")
	// Nothing listens on port 1: every request is refused, no byte comes back.
	cmd := queuegap("run", "-q", "--burst", "3", "--out", dead, "--hdr-log", hlog, "--fail-if", "p99(ttfb) > 100ms", "http://127.0.0.1:1/")
	out, _ := cmd.Output()
	if code := cmd.ProcessState.ExitCode(); code != exitCheckFailed || !strings.Contains(string(out), "no data") {
		t.Errorf("p99(ttfb) against a dead target: exit %d, output:\n%s\nwant exit 3 and 'no data'", code, out)
	}
	cmd = queuegap("analyze", "--fail-if", "rate(errors) > 0", hlog)
	out, _ = cmd.Output()
	if code := cmd.ProcessState.ExitCode(); code != exitCheckFailed || !strings.Contains(string(out), "no data") {
		t.Errorf("rate(errors) on an HDR log: exit %d, output:\n%s\nwant exit 3 and 'no data'", code, out)
	}
}

func testHDRLogConventions(t *testing.T) {
	srv := target(t, prefork.Config{Workers: 4, Backlog: 64, ServiceTime: 5 * time.Millisecond})
	hlog := filepath.Join(t.TempDir(), "r.hlog")
	if err := queuegap("run", "-q", "--burst", "8", "--hdr-log", hlog, srv.URL()).Run(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(hlog)
	if err != nil {
		t.Fatal(err)
	}
	log := string(data)
	if !strings.Contains(log, "#[BaseTime: ") || !strings.Contains(log, "unit=ns") {
		t.Errorf("log lacks a BaseTime or its unit:\n%s", log)
	}
	untagged := 0
	for _, l := range strings.Split(log, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "Tag=") && !strings.HasPrefix(l, "\"") {
			untagged++
		}
	}
	if untagged == 0 {
		t.Errorf("no untagged (total latency) interval, which HdrHistogram's own tools read by default:\n%s", log)
	}
	out, err := queuegap("analyze", "--json", hlog).Output()
	if err != nil {
		t.Fatal(err)
	}
	var s analyze.Summary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	if s.Requests != 8 || s.Phases["total"].Count != 8 {
		t.Errorf("HDR log read back %d requests (total count %d), want 8", s.Requests, s.Phases["total"].Count)
	}
}

// rawServer answers every request on a connection with resp and keeps it
// open (or closes it after one answer when closeAfter).
func rawServer(t *testing.T, resp func(w *bufio.Writer), closeAfter bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					bw := bufio.NewWriterSize(c, 64<<10)
					resp(bw)
					if bw.Flush() != nil || closeAfter {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

func testLargeBodyStreamed(t *testing.T) {
	const size = 100 << 20
	url := rawServer(t, func(w *bufio.Writer) {
		fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for n := 0; n < size; n += len(chunk) {
			w.Write(chunk)
		}
	}, true)
	out := filepath.Join(t.TempDir(), "r.jsonl")
	cmd := queuegap("run", "-q", "--burst", "3", "--conn-mode", "new", "--out", out, url)
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v", err)
	}
	var got []analyze.Result
	f, _ := os.Open(out)
	defer f.Close()
	analyze.ReadResults(f, func(_ *analyze.RunInfo, r *analyze.Result) error { got = append(got, *r); return nil })
	for _, r := range got {
		if r.Outcome != analyze.OutcomeOK || r.BytesIn < size {
			t.Errorf("seq %d: outcome %s, %d bytes in (%s)", r.Seq, r.Outcome, r.BytesIn, r.ErrorText)
		}
	}
	// Three bodies of 100 MB at once: held, they would need 300 MB.
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > 100<<10 {
		t.Errorf("peak RSS %d MB reading 3 × 100 MB bodies", ru.Maxrss>>10)
	}
}

// underLimit runs the CLI with RLIMIT_NOFILE (soft and hard) set to n.
func underLimit(n int, args ...string) *exec.Cmd {
	cmd := exec.Command("sh", append([]string{"-c", fmt.Sprintf("ulimit -n %d && exec \"$0\" \"$@\"", n), os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), "QUEUEGAP_TEST_MAIN=1")
	return cmd
}

func testFDLimit(t *testing.T) {
	srv := target(t, prefork.Config{Workers: 4, Backlog: 512, ServiceTime: 500 * time.Millisecond})
	cmd := underLimit(64, "run", "-q", "--json", "--burst", "200", "--conn-mode", "new", srv.URL())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run under ulimit -n 64: %v (%s)", err, stderr.String())
	}
	var s analyze.Summary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	if s.Outcomes["fds_exhausted"] == 0 || s.Outcomes["connect_error"] != 0 || s.Generator.LimitErrors != s.Outcomes["fds_exhausted"] {
		t.Errorf("outcomes %v, limit errors %d: want fds_exhausted, not connect_error", s.Outcomes, s.Generator.LimitErrors)
	}
	if !strings.Contains(strings.Join(s.Warnings, " "), "generator's own limits") {
		t.Errorf("no warning about the generator's limits: %q", s.Warnings)
	}
}

func testTinyFDLimit(t *testing.T) {
	cmd := underLimit(4, "run", "--burst", "5", "http://127.0.0.1:1/")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_ = cmd.Run()
	msg := strings.TrimSpace(stderr.String())
	if cmd.ProcessState.ExitCode() != exitFailure || strings.Contains(msg, "goroutine") || strings.Count(msg, "\n") > 0 || !strings.Contains(msg, "ulimit") {
		t.Errorf("exit %d, stderr %q: want exit 1 and one line about ulimit", cmd.ProcessState.ExitCode(), msg)
	}
}

func testBareLF(t *testing.T) {
	url := rawServer(t, func(w *bufio.Writer) { w.WriteString("HTTP/1.1 200 OK\nContent-Length: 2\n\nok") }, false)
	for _, engine := range []string{"loop", "goroutines"} {
		cmd := queuegap("run", "-q", "--json", "--burst", "3", "--timeout", "20s", "--engine", engine, url)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", engine, err)
		}
		var s analyze.Summary
		json.Unmarshal(out, &s)
		if s.Outcomes["ok"] != 3 || s.Phases["total"].Max > 5000 {
			t.Errorf("%s: outcomes %v, max total %v ms: want 3 ok, fast", engine, s.Outcomes, s.Phases["total"].Max)
		}
	}
}

func testEnginesAgree(t *testing.T) {
	for _, c := range []struct{ name, resp string }{
		{"1000 early hints then 200", strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 1000) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{"101 switching protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"},
		{"bytes after the body", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA-BYTES-THAT-ARE-NOT-OURS"},
		{"duplicate equal Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"},
		{"duplicate differing Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nok"},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := rawServer(t, func(w *bufio.Writer) { w.WriteString(c.resp) }, false)
			type seen struct {
				outcome string
				status  int
				bytesIn int64
			}
			var got []seen
			for _, engine := range []string{"loop", "goroutines"} {
				out := filepath.Join(t.TempDir(), engine+".jsonl")
				if err := queuegap("run", "-q", "--burst", "1", "--timeout", "5s", "--engine", engine, "--out", out, url).Run(); err != nil {
					t.Fatalf("%s: %v", engine, err)
				}
				f, _ := os.Open(out)
				analyze.ReadResults(f, func(_ *analyze.RunInfo, r *analyze.Result) error {
					got = append(got, seen{r.Outcome, r.Status, r.BytesIn})
					return nil
				})
				f.Close()
			}
			if len(got) != 2 || got[0] != got[1] {
				t.Errorf("loop and goroutines disagree: %+v", got)
			}
		})
	}
}

func testSecrets(t *testing.T) {
	auth := make(chan string, 10)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case auth <- r.Header.Get("Authorization"):
		default:
		}
		w.Write([]byte("ok"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	const secret = "s3cretPW"
	dir := t.TempDir()
	out, hlog := filepath.Join(dir, "r.jsonl"), filepath.Join(dir, "r.hlog")
	url := "http://alice:" + secret + "@" + ln.Addr().String() + "/"
	cmd := queuegap("run", "--burst", "2", "--out", out, "--hdr-log", hlog, url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v (%s)", err, stderr.String())
	}
	if got := <-auth; got != "Basic YWxpY2U6czNjcmV0UFc=" {
		t.Errorf("Authorization %q, want Basic for alice:%s", got, secret)
	}
	analyzed, _ := queuegap("analyze", out).CombinedOutput()
	files, _ := os.ReadFile(out)
	logs, _ := os.ReadFile(hlog)
	for name, text := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String(), "--out": string(files), "--hdr-log": string(logs), "analyze": string(analyzed)} {
		if strings.Contains(text, secret) {
			t.Errorf("the password appears in %s", name)
		}
	}
	if !strings.Contains(string(files), "alice:xxxxx@") {
		t.Errorf("the results file does not name the URL with its password redacted")
	}
}

// TestSaturationIsClientQueueNotGeneratorLag (issue 8): a keep-alive pool in
// front of a saturated target makes requests wait for a connection the
// target holds — client_queue, as a partner's pooled client sees it, and no
// "generator fell behind" warning. A dispatcher that really is starved of
// CPU still gets the warning.
func TestSaturationIsClientQueueNotGeneratorLag(t *testing.T) {
	t.Run("saturated target behind a pool", func(t *testing.T) {
		// 4 workers × 20 ms = 200/s; 600/s for 1 s over 8 connections.
		out, err := queuegap("run", "-q", "--json", "--rate", "600", "--duration", "1s", "--connections", "8",
			"--target-workers", "4", "--target-service", "20ms").Output()
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		var s analyze.Summary
		if err := json.Unmarshal(out, &s); err != nil {
			t.Fatal(err)
		}
		if s.Generator.FellBehind || !s.Generator.Saturated || s.Attribution[analyze.CompClientQueue].Share < 0.5 ||
			!strings.Contains(s.Headline, "the target was saturated and the pool (--connections 8) became the queue") {
			t.Errorf("generator %+v, client_queue share %.2f, headline %q: want the pool named as the queue, no fell-behind",
				s.Generator, s.Attribution[analyze.CompClientQueue].Share, s.Headline)
		}
		if lag := s.Attribution[analyze.CompLag].Share; lag > 0.05 {
			t.Errorf("%.1f %% of client time is the generator's lag", 100*lag)
		}
	})
	t.Run("starved dispatcher", func(t *testing.T) {
		// One core for everything, no batching, far more new connections
		// per second than it can start (to a port that refuses at once).
		cmd := queuegap("run", "-q", "--rate", "50000", "--duration", "1s", "--conn-mode", "new", "--batch-window", "0", "http://127.0.0.1:1/")
		cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		if !strings.Contains(string(out), "WARNING: the generator itself fell behind") || strings.Contains(string(out), "the target was saturated") {
			t.Errorf("no fell-behind warning for a starved dispatcher, or the target blamed:\n%s", out)
		}
	})
}
