package e2e

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/session"
	"github.com/queuegap/queuegap/testbed/stack"
	"github.com/queuegap/queuegap/whatif"
)

// The capacity model against the real stack: measure one configuration (4 workers, listen
// 100 over TCP; /sleep?ms=300 at 30/s for 2 s, twice what 4 workers serve), predict others
// from that run alone, then run them for real. The bounds: client p50/p99 within
// 15 %, the 502/504/refused counts within ±10 % or ±3 requests.
//
// Why a rate and not a burst: a burst that overflows the queue at its first instant is a
// race the testbed itself does not repeat — which of 40 SYNs sent within a millisecond find
// the queue full depends on microseconds between nginx's connects and the handshakes
// completing. Measured with 40 at once and listen 8, identical runs gave a client p50 of
// 1.51–1.63 s or 1.93–1.95 s. Spread arrivals find the queue full one at a time.
func TestWhatifPredictsTheTestbed(t *testing.T) {
	const view = "/sleep?ms=300"
	schedule := loadgen.Schedule{loadgen.Constant{Rate: 30, Duration: 2 * time.Second}}
	measure := func(t *testing.T, cfg stack.Config, out string) *run {
		s := up(t, cfg)
		return drive(t, load{URL: s.URL() + view, Schedule: schedule, Mode: loadgen.NewConn, Out: out})
	}
	base := stack.Defaults()
	base.Workers, base.Listen, base.Socket = 4, 100, "tcp"
	file := filepath.Join(t.TempDir(), "measured.jsonl")
	var measured *run
	t.Run("measure", func(t *testing.T) { measured = measure(t, base, file) })
	if measured == nil || t.Failed() {
		t.Fatal("no measured run")
	}
	rec := whatif.NewRecorder(1)
	msum, err := session.Read([]string{file}, session.ReadOptions{Final: func(_ *analyze.RunInfo, r *analyze.Result) { rec.Add(r) }})
	if err != nil {
		t.Fatal(err)
	}
	w, err := rec.Workload()
	if err != nil {
		t.Fatal(err)
	}
	var acceptDelay time.Duration
	model := func(sc stack.Config) whatif.Config {
		c := whatif.DefaultConfig() // this machine's SYN schedule: the testbed's kernel
		c.Workers, c.Listen, c.Socket = sc.Workers, sc.Listen, sc.Socket
		c.ConnectTimeout, c.ReadTimeout, c.Harakiri = sc.ConnectTimeout, sc.ReadTimeout, sc.Harakiri
		c.AcceptDelay = acceptDelay
		return c
	}
	// The worker's time per request beyond the app's own timer, fitted to the measured run.
	acceptDelay, err = whatif.FitAcceptDelay(w, model(base), time.Duration(msum.Phases[analyze.PhaseTotal].Mean*float64(time.Millisecond)), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fitted accept delay %v (measured mean %.0f ms)", acceptDelay, msum.Phases[analyze.PhaseTotal].Mean)
	cases := []struct {
		name   string
		change func(c *stack.Config)
		tol    float64 // the bound on p50 and p99
	}{
		{"measured itself", func(c *stack.Config) {}, 0.15},
		{"6 workers", func(c *stack.Config) { c.Workers = 6 }, 0.15},
		// Which of the overflowing SYNs gets through at the first retry and which needs
		// a second (+3 s, not +1 s) is decided by microseconds: on the real kernel the
		// same settings gave p50 918–1081 ms and p99 2920–3690 ms from run to run (the
		// model says 1077/2955). Its outcome counts are held as tightly as the others'
		// (its attribution shares, logged, matched within 2 points each time); its
		// percentiles to 30 %. The two settings predicted within 15 % are 6 workers and
		// the unix socket.
		{"listen 8, SYN retries", func(c *stack.Config) { c.Listen = 8 }, 0.30},
		{"unix listen 4, 502s", func(c *stack.Config) { c.Socket, c.Listen = "unix", 4 }, 0.15},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := base
			tc.change(&sc)
			p, err := whatif.Predict(w, model(sc), 1)
			if err != nil {
				t.Fatal(err)
			}
			real := measured
			if tc.name != "measured itself" {
				real = measure(t, sc, "")
			}
			sum := real.Summary
			got := sum.Phases[analyze.PhaseTotal]
			o := sum.Outcomes
			counts := []struct {
				what            string
				predicted, real int64
			}{
				{"ok", p.Outcomes[analyze.OutcomeOK], o[analyze.OutcomeOK]},
				{"502", p.Count502, o[analyze.OutcomeProxyRefused] + o[analyze.OutcomeWorkerKilled]},
				{"504", p.Count504, o[analyze.OutcomeGatewayTimeout]},
				{"refused", p.Refused, o["refused"] + o["connect_timeout"]},
			}
			t.Logf("%s: predicted p50 %.0f ms p99 %.0f ms, outcomes %v, syn_retry %.0f %% backlog %.0f %%; measured p50 %.0f ms p99 %.0f ms, outcomes %v, syn_retry %.0f %% backlog %.0f %%",
				fmt.Sprintf("%d workers, listen %d, %s", sc.Workers, sc.Listen, sc.Socket), p.Total.P50, p.Total.P99, p.Outcomes, 100*p.Shares[analyze.CompSynRetry], 100*p.Shares[analyze.CompBacklog],
				got.P50, got.P99, o, 100*sum.Attribution[analyze.CompSynRetry].Share, 100*sum.Attribution[analyze.CompBacklog].Share)
			for _, q := range []struct {
				what            string
				predicted, real float64
				tol             float64
			}{{"p50", p.Total.P50, got.P50, tc.tol}, {"p99", p.Total.P99, got.P99, tc.tol}} {
				// A p50 that is a fast 502 (most requests refused) is milliseconds on both
				// sides: within the bound or 5 ms.
				if d := math.Abs(q.predicted - q.real); d > q.tol*q.real && d > 5 {
					t.Errorf("%s: predicted %s %.0f ms, measured %.0f ms (%+.0f %%)", tc.name, q.what, q.predicted, q.real, 100*(q.predicted-q.real)/q.real)
				}
			}
			for _, c := range counts {
				if d := math.Abs(float64(c.predicted - c.real)); d > 3 && d > 0.1*float64(c.real) {
					t.Errorf("%s: predicted %d %s, measured %d", tc.name, c.predicted, c.what, c.real)
				}
			}
		})
	}
}
