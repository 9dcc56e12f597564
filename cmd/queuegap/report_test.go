package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/queuegap/queuegap/report/reporttest"
	"github.com/queuegap/queuegap/testbed/prefork"
)

func TestReportCommand(t *testing.T) {
	srv := target(t, prefork.Config{Workers: 2, Backlog: 16, ServiceTime: 20 * time.Millisecond})
	dir := t.TempDir()
	res := filepath.Join(dir, "r.jsonl")
	if out, err := queuegap("run", "--rate", "50", "--duration", "600ms", "-q", "--out", res, srv.URL()).CombinedOutput(); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	hdr := filepath.Join(dir, "r.hdr")
	if out, err := queuegap("run", "--burst", "3", "-q", "--hdr-log", hdr, srv.URL()).CombinedOutput(); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	html := filepath.Join(dir, "report.html")
	if err := os.WriteFile(html, []byte("the previous report"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Bad input: exit 2, one line, and the existing report untouched.
	for _, args := range [][]string{
		{"report", res},        // no -o
		{"report", "-o", html}, // no input
		{"report", filepath.Join(dir, "none"), "-o", html}, // missing input
		{"report", dir, "-o", html},                        // a directory
		{"report", hdr, "-o", html},                        // an HDR log
		{"report", res, "-o", res},                         // -o is the input
		{"report", res, "-o", dir},                         // -o is a directory
		{"report", res, "-o", filepath.Join(dir, "no", "r.html")},
		{"report", "--compare", res, "-o", html},
		{"report", "--compare", "--merge", res, res, "-o", html},
		{"report", res, res, res, res, res, res, res, "-o", html},
	} {
		var stderr bytes.Buffer
		cmd := queuegap(args...)
		cmd.Stderr = &stderr
		_ = cmd.Run()
		msg := strings.TrimSpace(stderr.String())
		if code := cmd.ProcessState.ExitCode(); code != exitUsage || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "queuegap: ") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line", args[1:], code, msg, exitUsage)
		}
		if b, _ := os.ReadFile(html); string(b) != "the previous report" {
			t.Fatalf("%v touched the existing report", args[1:])
		}
	}

	for _, args := range [][]string{
		{"report", res, "-o", html},
		{"report", "--compare", res, res, "-o", html},
		{"report", "--merge", res, res, "-o", html},
	} {
		if out, err := queuegap(args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args[1:], err, out)
		}
		page, err := os.ReadFile(html)
		if err != nil {
			t.Fatal(err)
		}
		if err := reporttest.CheckSelfContained(page); err != nil {
			t.Errorf("%v: %v", args[1:], err)
		}
		want := 4 // request charts of one column
		if args[1] == "--compare" {
			want = 8
		}
		if n := strings.Count(string(page), "<svg "); n != want || !strings.Contains(string(page), "</html>") {
			t.Errorf("%v: %d charts (want %d), complete page %v", args[1:], n, want, strings.Contains(string(page), "</html>"))
		}
	}
	// Only the report and the inputs: no temporary file left beside it.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	if fi, err := os.Stat(html); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("report mode %v (%v), want 0644", fi.Mode(), err)
	}
}
