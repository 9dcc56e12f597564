package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/queuegap/queuegap/sweep"
	"github.com/queuegap/queuegap/testbed/stack"
)

// sweepable skips (or, with QG_REQUIRE_TESTBED=1, fails) without the testbed's packages.
func sweepable(t *testing.T) {
	t.Helper()
	if err := stack.CheckPackages("uwsgi"); err != nil {
		if os.Getenv("QG_REQUIRE_TESTBED") == "1" {
			t.Fatalf("QG_REQUIRE_TESTBED=1: %v", err)
		}
		t.Skip(err)
	}
}

// A sweep of four cells on the testbed finishes within its estimate ± 20 %
// and names its best cell. With a 90/10 fast/slow mix the fast endpoint's
// p99 is made of waits behind slow requests: 2 workers are busy with slow
// ones most of the time (fast requests queue), 6 rarely are. No cell
// overloads its testbed: the estimate is for cells that keep up (one that
// overloads drains longer; the time left is re-estimated as cells finish).
func TestSweepFourCells(t *testing.T) {
	sweepable(t)
	bin := queuegapBinary(t)
	dir := filepath.Join(t.TempDir(), "sw")
	cmd := exec.Command(bin, "sweep", "--profile", "fast-slow-mix", "--duration", "2s",
		"--workers", "2,6", "--listen", "8,100", "--objective", "p99(total{name=fast})", "--out-dir", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("sweep: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	took := time.Since(start)
	t.Logf("%s%s", stdout.String(), stderr.String())
	m := regexp.MustCompile(`estimate (\d+)s`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no estimate printed: %s", stderr.String())
	}
	est, _ := time.ParseDuration(m[1] + "s")
	if took < est*8/10 || took > est*12/10 {
		t.Errorf("the sweep took %v; its estimate was %v (± 20 %%)", took, est)
	}
	best := regexp.MustCompile(`best: (.*) \(lowest`).FindStringSubmatch(stdout.String())
	if best == nil || !strings.Contains(best[1], "workers=6") {
		t.Errorf("best cell %v: want one with 6 workers", best)
	}
	cells, complete, err := sweep.ReadTable(filepath.Join(dir, "sweep.json"))
	if err != nil || !complete || len(cells) != 4 {
		t.Errorf("sweep.json: %v cells, complete %v, %v", cells, complete, err)
	}
	// The report puts the cells side by side, the best first.
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if best != nil {
		first := strings.Index(string(page), "workers-6")
		other := strings.Index(string(page), "workers-2")
		if first < 0 || other >= 0 && other < first {
			t.Errorf("report.html does not show the best cell (%s) first", best[1])
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "cell-*.jsonl"))
	if len(files) != 4 {
		t.Errorf("%d cell results files, want 4: %v", len(files), files)
	}
}

// Ctrl-C during a sweep ends it at once, keeping every finished cell.
func TestSweepInterruptKeepsFinishedCells(t *testing.T) {
	sweepable(t)
	bin := queuegapBinary(t)
	dir := filepath.Join(t.TempDir(), "sw")
	cmd := exec.Command(bin, "sweep", "--profile", "fast-slow-mix", "--duration", "2s", "--workers", "2,3,4", "--out-dir", dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	table := filepath.Join(dir, "sweep.json")
	if ok, why := waitFor(30*time.Second, func() (bool, string) {
		cells, _, err := sweep.ReadTable(table)
		return err == nil && len(cells) >= 1, "no finished cell in sweep.json"
	}); !ok {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("%s\n%s", why, out.String())
	}
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130\n%s", err, out.String())
	}
	if d := time.Since(sent); d > 5*time.Second {
		t.Errorf("the sweep took %v to stop", d)
	}
	cells, complete, err := sweep.ReadTable(table)
	if err != nil || complete || len(cells) < 1 || len(cells) > 2 {
		t.Fatalf("after Ctrl-C: cells %v, complete %v, %v", cells, complete, err)
	}
	if !strings.Contains(out.String(), "cells finished") {
		t.Errorf("no word of the finished cells: %s", out.String())
	}
	t.Logf("%s", out.String())
}
