package e2e

import (
	"math"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/testbed/stack"
)

// Scenario 1: 4 workers, listen 100 over TCP, 40 concurrent clients each opening its own
// connection (the field's case: partner automations waking up on a timer) asking for a 1 s
// view. The requests are served in waves of 4; the app says 1 s each while the clients wait
// up to 10 s, and queuegap puts the difference in backlog — matching, request by request,
// what the app itself measured.
func TestBurstBacklogUWSGI(t *testing.T) { testBurstBacklog(t, "uwsgi") }

// Scenario 7: the same with gunicorn's sync workers behind nginx's proxy_pass.
func TestBurstBacklogGunicorn(t *testing.T) { testBurstBacklog(t, "gunicorn") }

func testBurstBacklog(t *testing.T, server string) {
	cfg := stack.Defaults()
	cfg.Server = server
	cfg.Workers = 4
	cfg.Listen = 100
	cfg.Socket = "tcp"
	s := up(t, cfg)

	const n = 40
	r := drive(t, load{
		URL:      s.URL() + "/sleep?ms=1000",
		Schedule: loadgen.Schedule{loadgen.Burst{Size: n, Every: time.Second, Count: 1}},
		Mode:     loadgen.NewConn,
	})
	sum := r.Summary
	if got := sum.Outcomes[analyze.OutcomeOK]; got != n {
		t.Fatalf("outcomes %v: want %d ok", sum.Outcomes, n)
	}

	// The gap: clients' p90 against the app's p90, from the Summary and from the app's log.
	byID := appLines(t, s, ids(r.Results), 10*time.Second)
	var appMs []float64
	for _, l := range byID {
		appMs = append(appMs, l.AppMS)
	}
	appP90Log := quantile(appMs, 0.9)
	clientP90 := sum.Phases[analyze.PhaseTotal].P90
	appP90 := sum.Server.App.P90
	t.Logf("client p90 %.0f ms, app p90 %.0f ms (Summary) / %.0f ms (app log): %.1f×; backlog share %.1f %%, processing %.1f %%",
		clientP90, appP90, appP90Log, clientP90/appP90Log,
		100*sum.Attribution[analyze.CompBacklog].Share, 100*sum.Attribution[analyze.CompProcessing].Share)
	if sum.Server.WithTiming != n || sum.Server.App.Count != n {
		t.Errorf("server timing on %d responses (app on %d), want %d", sum.Server.WithTiming, sum.Server.App.Count, n)
	}
	if math.Abs(appP90-appP90Log) > 20 {
		t.Errorf("Summary's app p90 %.1f ms vs the app log's %.1f ms", appP90, appP90Log)
	}
	if clientP90 < 5*appP90Log {
		t.Errorf("client p90 %.0f ms < 5 × app p90 %.0f ms: the backlog gap did not show", clientP90, appP90Log)
	}
	if share := sum.Attribution[analyze.CompBacklog].Share; share < 0.70 {
		t.Errorf("backlog share %.3f < 0.70 (attribution %+v)", share, sum.Attribution)
	}
	if sum.Estimated != 0 {
		t.Errorf("%d requests with estimated attribution: the app's queue time was not used", sum.Estimated)
	}

	// Request by request, against the app's own line (joined by X-Request-Id) and nginx's
	// $upstream_connect_time. The app's queue runs from nginx's receive time, so it includes
	// nginx's connect to the app: backlog = queue − upstream connect.
	access := accessLines(t, s, ids(r.Results), 10*time.Second)
	var backlogErr, procErr, wallErr []float64
	for i := range r.Results {
		res := &r.Results[i]
		l := byID[res.RequestID]
		q, ok := l.Queue()
		if !ok {
			t.Fatalf("%s: app log line without queue_ms: %+v", res.RequestID, l)
		}
		uc, ok := access[res.RequestID].connect()
		if !ok {
			t.Fatalf("%s: nginx access line without upstream_connect_time: %+v", res.RequestID, access[res.RequestID])
		}
		backlogErr = append(backlogErr, math.Abs(ms(part(res, analyze.CompBacklog))-ms(q-uc)))
		procErr = append(procErr, math.Abs(ms(part(res, analyze.CompProcessing))-l.AppMS))
		// Independent of any header: client and app share this machine's clock, so the app's
		// start minus the client's send time is the wait before the app (plus the trip
		// through nginx and its connect to the app).
		wait := l.StartTime().Sub(r.Start.Add(res.Ready())) - uc
		wallErr = append(wallErr, math.Abs(ms(part(res, analyze.CompBacklog))-ms(wait)))
	}
	bMed, pMed := quantile(backlogErr, 0.5), quantile(procErr, 0.5)
	t.Logf("per request vs ground truth: |backlog − (queue_ms − upstream connect)| median %.3f ms, max %.3f ms; |processing − app_ms| median %.3f ms, max %.3f ms",
		bMed, quantile(backlogErr, 1), pMed, quantile(procErr, 1))
	if bMed > 5 {
		t.Errorf("backlog vs app queue − upstream connect: median error %.3f ms > 5 ms", bMed)
	}
	if pMed > 5 {
		t.Errorf("processing vs app_ms: median error %.3f ms > 5 ms", pMed)
	}
	wMed := quantile(wallErr, 0.5)
	t.Logf("|backlog − (app start − client send − upstream connect)| median %.3f ms, p90 %.3f ms", wMed, quantile(wallErr, 0.9))
	if wMed > 10 {
		t.Errorf("backlog vs the app's start time on the shared clock: median error %.3f ms > 10 ms", wMed)
	}
}
