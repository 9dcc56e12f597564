package report_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/report"
	"github.com/queuegap/queuegap/report/reporttest"
	"github.com/queuegap/queuegap/session"
	"github.com/queuegap/queuegap/testbed/prefork"
)

// realRun sends a short schedule to the embedded prefork target (2
// workers, a small backlog: requests queue) and returns its results file.
func realRun(t *testing.T, dir, name string, workers int) string {
	t.Helper()
	out := filepath.Join(dir, name)
	s, err := session.New(session.Plan{
		Clients: []session.ClientPlan{{
			Schedule: loadgen.Schedule{loadgen.Constant{Rate: 40, Duration: 1500 * time.Millisecond}},
			Client:   loadgen.ClientConfig{Mode: loadgen.NewConn, KeepHeaders: analyze.TimingConfig{}.KeepHeaders(), Timeout: 10 * time.Second},
		}},
		Target: &prefork.Config{Addr: "127.0.0.1:0", Workers: workers, Backlog: 8, ServiceTime: 40 * time.Millisecond},
		Out:    out,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Run(ctx); err != nil {
		t.Fatalf("run: %v", err)
	}
	return out
}

func load(t *testing.T, name string, paths ...string) *report.Run {
	t.Helper()
	r := report.NewRun(name)
	sum, err := session.Read(paths, session.ReadOptions{Timeline: true, Final: r.Final, Probe: r.Probe})
	if err != nil {
		t.Fatal(err)
	}
	r.Finish(sum)
	return r
}

// TestReportInChromium: a report of two real runs, side by side, opened
// in headless Chromium: it loads, fetches nothing, and draws every chart.
func TestReportInChromium(t *testing.T) {
	if reporttest.Chromium() == "" && os.Getenv("QG_REQUIRE_TESTBED") != "1" {
		t.Skip("no chromium on PATH (apt-get install chromium)")
	}
	dir := t.TempDir()
	a := load(t, "A: 2 workers", realRun(t, dir, "a.jsonl", 2))
	b := load(t, "B: 4 workers", realRun(t, dir, "b.jsonl", 4))
	path := filepath.Join(dir, "report.html")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := report.Write(f, []*report.Run{a, b}, report.Options{Title: "2 vs 4 workers", Compare: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := reporttest.CheckSelfContained(page); err != nil {
		t.Fatal(err)
	}

	pg := reporttest.Open(t, path, 1400)
	shot := pg.SaveScreenshot(t, dir, "report.png")
	t.Logf("%d charts, %d bytes of HTML, screenshot %s (%d bytes)", len(pg.Charts), len(page), shot, len(pg.PNG))
	if pg.Title != "2 vs 4 workers" {
		t.Errorf("page title %q", pg.Title)
	}
	if pg.Resources != 0 {
		t.Errorf("the page fetched %d resources, want none", pg.Resources)
	}
	// Four request charts per run, no probes in these runs.
	if len(pg.Charts) != 8 {
		t.Errorf("%d charts drawn, want 8", len(pg.Charts))
	}
	if err := pg.CheckDrawn(); err != nil {
		t.Error(err)
	}
	if len(pg.PNG) < 10000 || string(pg.PNG[1:4]) != "PNG" {
		t.Errorf("screenshot is %d bytes, not a PNG of a page", len(pg.PNG))
	}
}
