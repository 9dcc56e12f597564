package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/queuegap/queuegap/testbed/prefork"
)

// run --report writes the HTML report at the end of the run, from --out or
// from a results file of its own that it removes afterwards.
func TestRunWritesReport(t *testing.T) {
	srv := target(t, prefork.Config{Workers: 4, Backlog: 64, ServiceTime: 5 * time.Millisecond})
	dir := t.TempDir()
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "queuegap-report-*"))
	for _, withOut := range []bool{false, true} {
		html := filepath.Join(dir, "r.html")
		args := []string{"run", "--rate", "50", "--duration", "1s", "-q", "--report", html}
		if withOut {
			args = append(args, "--out", filepath.Join(dir, "r.jsonl"))
		}
		if out, err := queuegap(append(args, srv.URL())...).CombinedOutput(); err != nil {
			t.Fatalf("run: %v\n%s", err, out)
		}
		b, err := os.ReadFile(html)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "50 requests") && !strings.Contains(string(b), ">50<") {
			t.Errorf("report (with --out %v) has no chart or no request count", withOut)
		}
		os.Remove(html)
	}
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "queuegap-report-*"))
	if len(after) > len(before) {
		t.Errorf("results files made for --report were left behind: %v", after)
	}
	// A report path that cannot be written is refused before the run.
	out := filepath.Join(dir, "never.jsonl")
	if err := queuegap("run", "--rate", "5", "--duration", "1s", "-q", "--out", out, "--report", filepath.Join(dir, "no", "r.html"), srv.URL()).Run(); err == nil {
		t.Fatal("a report in a missing directory was accepted")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("--out was created by a rejected run: %v", err)
	}
}
