package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/queuegap/queuegap/session"
)

// TestRejectedRunTouchesNothing: for every flag or combination that run
// rejects, the existing --out and --hdr-log files are byte-identical
// afterwards and no embedded target was started — validation comes before
// anything is created, truncated or started. Run in-process, so the
// target counter sees what a run would start.
func TestRejectedRunTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	out, hdr := filepath.Join(dir, "results.jsonl"), filepath.Join(dir, "hdr.log")
	outData, hdrData := []byte("{\"queuegap\":\"run\"} precious results\n"), []byte("#[precious HDR log]\n")
	const u = "http://127.0.0.1:1/"
	cases := []struct {
		name string
		args []string
	}{
		{"unknown engine", []string{"--engine", "bogus", "--rate", "10", u}},
		{"unknown engine, embedded target", []string{"--engine", "bogus", "--rate", "10"}},
		{"negative batch window", []string{"--batch-window", "-1ms", "--rate", "10", u}},
		{"loop engine with https and new connections", []string{"--engine", "loop", "--conn-mode", "new", "--rate", "10", "https://127.0.0.1:1/"}},
		{"loop engine with https", []string{"--engine", "loop", "--rate", "10", "https://127.0.0.1:1/"}},
		{"hdr log in a missing directory", []string{"--rate", "10", "--hdr-log", filepath.Join(dir, "nope", "x"), "--out", out, u}},
		{"hdr log is a directory", []string{"--rate", "10", "--hdr-log", dir, "--out", out, u}},
		{"out is a directory", []string{"--rate", "10", "--out", dir, "--hdr-log", hdr, u}},
		{"out and hdr log the same file", []string{"--rate", "10", "--out", out, "--hdr-log", out, u}},
		{"out and hdr log the same file by another path", []string{"--rate", "10", "--out", out, "--hdr-log", filepath.Join(dir, ".", "results.jsonl"), u}},
		{"a pool of 100 million connections", []string{"--rate", "10", "--duration", "1s", "--connections", "100000000", u}},
		{"100 million in flight", []string{"--rate", "10", "--max-inflight", "100000000", u}},
		{"--duration with a burst", []string{"--burst", "5", "--duration", "3s", u}},
		{"--every with a rate", []string{"--rate", "10", "--every", "3s", u}},
		{"--bursts with a rate", []string{"--rate", "10", "--bursts", "3", u}},
		{"--poisson with stages", []string{"--stage", "rate:10:1s", "--poisson", u}},
		{"--duration with stages", []string{"--stage", "rate:10:1s", "--duration", "5s", u}},
		{"--every without a schedule", []string{"--every", "2s", u}},
		{"embedded target flags with a URL", []string{"--rate", "10", "--target-workers", "0", u}},
		{"embedded target with no workers", []string{"--rate", "10", "--target-workers", "0"}},
		{"empty method", []string{"--rate", "10", "-X", "", u}},
		{"our X-Request-Id header", []string{"--rate", "10", "-H", "X-Request-Id: mine", u}},
		{"burst count that overflows", []string{"--burst", "4", "--bursts", "4611686018427387904", u}},
		{"a rate for one nanosecond", []string{"--rate", "10", "--duration", "1ns", u}},
		{"zero rate", []string{"--rate", "0", u}},
		{"rate and burst", []string{"--rate", "10", "--burst", "5", u}},
		{"no schedule", []string{u}},
		{"no schedule, embedded target", []string{"--out", out}},
		{"ftp URL", []string{"--rate", "10", "ftp://127.0.0.1/"}},
		{"URL without host", []string{"--rate", "10", "http://"}},
		{"two URLs", []string{"--rate", "10", u, u}},
		{"zero timeout", []string{"--rate", "10", "--timeout", "0", u}},
		{"bad --fail-if", []string{"--rate", "10", "--fail-if", "p99(total) >> 1s", u}},
		{"bad --timing-header", []string{"--rate", "10", "--timing-header", "bogus", u}},
		{"body and body file", []string{"--rate", "10", "--body", "x", "--body-file", out, u}},
		{"missing body file", []string{"--rate", "10", "--body-file", filepath.Join(dir, "nope"), u}},
		{"--insecure with http", []string{"--rate", "10", "--insecure", u}},
		{"--connections with new connections", []string{"--rate", "10", "--conn-mode", "new", "--connections", "5", u}},
		{"negative --max-body", []string{"--rate", "10", "--max-body", "-1", u}},
		{"unknown flag", []string{"--rate", "10", "--bogus", u}},
		{"bad header", []string{"--rate", "10", "-H", "NoColon", u}},
		{"unknown embedded target header style", []string{"--rate", "10", "--target-headers", "bogus"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(out, outData, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(hdr, hdrData, 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"run", "-q"}, c.args...)
			if !contains(c.args, "--out") && !strings.Contains(c.name, "out") {
				args = append(args[:2], append([]string{"--out", out, "--hdr-log", hdr}, args[2:]...)...)
			}
			before := session.TargetsStarted()
			code, stderr := executeCaptured(t, args)
			if code != exitUsage {
				t.Errorf("%v: exit %d, want %d; stderr %q", args, code, exitUsage, stderr)
			}
			if msg := strings.TrimSpace(stderr); strings.Count(msg, "\n") > 0 || !strings.HasPrefix(msg, "queuegap: ") {
				t.Errorf("%v: want one line starting 'queuegap: ', got %q", args, msg)
			}
			if got, _ := os.ReadFile(out); !bytes.Equal(got, outData) {
				t.Errorf("%v: --out file changed (%d bytes, was %d)", args, len(got), len(outData))
			}
			if got, _ := os.ReadFile(hdr); !bytes.Equal(got, hdrData) {
				t.Errorf("%v: --hdr-log file changed (%d bytes, was %d)", args, len(got), len(hdrData))
			}
			if n := session.TargetsStarted() - before; n != 0 {
				t.Errorf("%v: %d embedded targets started", args, n)
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// executeCaptured runs the CLI in this process and returns its exit code
// and what it wrote to stderr.
func executeCaptured(t *testing.T, args []string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved, savedOut := os.Stderr, os.Stdout
	os.Stderr = w
	if devnull, err := os.Open(os.DevNull); err == nil {
		os.Stdout = devnull
		defer devnull.Close()
	}
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	code := execute(args)
	os.Stderr, os.Stdout = saved, savedOut
	w.Close()
	return code, <-done
}
