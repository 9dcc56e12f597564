package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/probe"
	"github.com/queuegap/queuegap/report"
	"github.com/queuegap/queuegap/report/reporttest"
	"github.com/queuegap/queuegap/session"
	"github.com/queuegap/queuegap/testbed/stack"
)

// The HTML report of a real testbed run, as README shows it (make the
// picture with QG_SCREENSHOT=docs/report.png): 4 uWSGI workers, 12 req/s
// of a 500 ms view, 8/s of capacity. The report must open in Chromium with
// every chart drawn, fetch nothing, and carry the run's figures.
func TestReportOfTestbedRun(t *testing.T) {
	if reporttest.Chromium() == "" && os.Getenv("QG_REQUIRE_TESTBED") != "1" {
		t.Skip("no chromium on PATH (apt-get install chromium)")
	}
	cfg := stack.Defaults()
	cfg.Workers = 4
	cfg.Listen = 100
	cfg.Socket = "tcp"
	s := up(t, cfg)
	dir := t.TempDir()
	out := filepath.Join(dir, "results.jsonl")
	// The probes 'testbed up' prints, so the report shows the queue filling.
	var probes []probe.Spec
	for _, raw := range s.ProbeSpecs() {
		sp, err := probe.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		probes = append(probes, sp)
	}
	r := drive(t, load{
		URL:      s.URL() + "/sleep?ms=500",
		Schedule: loadgen.Schedule{loadgen.Constant{Rate: 12, Duration: 4 * time.Second}},
		Mode:     loadgen.NewConn,
		Out:      out,
		Probes:   probes,
	})

	run := report.NewRun("results.jsonl")
	sum, err := session.Read([]string{out}, session.ReadOptions{Timeline: true, Final: run.Final, Probe: run.Probe})
	if err != nil {
		t.Fatal(err)
	}
	run.Finish(sum)
	if sum.Requests != r.Summary.Requests || run.Requests() != sum.Requests {
		t.Fatalf("report read %d requests (summary %d), the run sent %d", run.Requests(), sum.Requests, r.Summary.Requests)
	}
	path := filepath.Join(dir, "report.html")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	title := "queuegap report: testbed, 4 uWSGI workers, 12 req/s of /sleep?ms=500 (capacity 8/s)"
	if err := report.Write(f, []*report.Run{run}, report.Options{Title: title}); err != nil {
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
	pg := reporttest.Open(t, path, 1000)
	pg.SaveScreenshot(t, dir, "report.png")
	if pg.Resources != 0 {
		t.Errorf("the page fetched %d resources", pg.Resources)
	}
	if len(pg.Charts) < 4 {
		t.Errorf("%d charts, want the 4 request charts at least (more with probes)", len(pg.Charts))
	}
	if err := pg.CheckDrawn(); err != nil {
		t.Error(err)
	}
	t.Logf("report: %d charts, %d bytes; %s", len(pg.Charts), len(page), sum.Headline)
}
