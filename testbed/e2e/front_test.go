package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/testbed/stack"
)

// Scenario 6 (issue 8, the field report): AWS ALB → nginx → uWSGI. The ALB accepts every
// client at once, tries for 10 s to connect to the pod's nginx, never retries, and answers 504
// when it cannot; clients saw ≈ 10 s while the app logged 2 s.
//
// Here the ALB is the testbed's front tier (Config.Front "alb", a second nginx with
// proxy_connect_timeout 10s, proxy_next_upstream off) and the pod nginx stops accepting: its
// accept queue (backlog 8, so 9 connections) fills and the front's further SYNs are dropped
// and retried by the front's kernel (1, 2, 3, 4, 5, 7, 11 s on this kernel).
//
// How the pod nginx is made to stop accepting: it is stalled (SIGSTOP on its process group for
// podStall, as a CPU-throttled or descheduled pod would be). A small worker_connections does
// not do it — measured with nginx 1.22 and one worker: when the connections run out nginx
// still accepts and then closes at once ("24 worker_connections are not enough"), and the
// front answers 502 (connection reset) within ms. A small worker_rlimit_nofile neither:
// accept() failing with EMFILE pauses accepting for only 500 ms, and the upstream socket()
// fails too (500s).
//
// Timeline (t = 0 at the stall): burst A (40) at 0 s — 9 fit the pod's queue, the other 31
// SYNs retry at 1…7 s into a stalled pod and the front gives up at 10 s: 504. Burst B (20) at
// 3 s — their retry at 3+7 = 10 s finds the pod running again (resumed at 9 s): a front
// connect of ≈ 7 s, then 2 s in the app (and some queueing behind 4 workers): clients ≥ 9 s.
// The app logs ≈ 2 s for every request it saw.
const (
	podStall = 9 * time.Second
	burstA   = 40
	burstB   = 20
)

func TestALBFrontReproducesTheFieldReport(t *testing.T) {
	cfg := stack.Defaults()
	cfg.Front = stack.FrontALB
	cfg.FrontConnectTimeout = 10 * time.Second // an ALB's
	cfg.Workers = 4
	cfg.Listen = 4
	cfg.Socket = "tcp"
	cfg.NginxBacklog = 8
	s := up(t, cfg)

	pgid := s.Pids()["nginx"]
	if pgid == 0 {
		t.Fatalf("no pod nginx among %v", s.Pids())
	}
	resume := func() { _ = syscall.Kill(-pgid, syscall.SIGCONT) }
	t.Cleanup(resume) // before Down (cleanups run last-in first-out): a stopped nginx ignores TERM
	if err := syscall.Kill(-pgid, syscall.SIGSTOP); err != nil {
		t.Fatalf("stall the pod nginx: %v", err)
	}
	stalled := time.Now()
	timer := time.AfterFunc(podStall, resume) // the scenario's clock, not synchronization
	defer timer.Stop()

	sched := loadgen.Schedule{
		loadgen.Burst{Size: burstA, Every: 3 * time.Second, Count: 1},
		loadgen.Burst{Size: burstB, Every: time.Second, Count: 1},
	}
	r := drive(t, load{URL: s.URL() + "/sleep?ms=2000", Schedule: sched, Mode: loadgen.NewConn, Timeout: 40 * time.Second})
	if d := r.Start.Sub(stalled); d > time.Second {
		t.Fatalf("the run started %v after the stall: the timeline above no longer holds", d)
	}

	// Outcomes: a 200 or the front's 504. A 502 is tolerated only as a request lost before
	// the app (pod nginx → uWSGI final ACK dropped; see okOrLostBeforeApp).
	var okIDs, gwIDs, lostIDs []string
	for i := range r.Results {
		res := &r.Results[i]
		switch {
		case res.Outcome == analyze.OutcomeOK:
			okIDs = append(okIDs, res.RequestID)
		case res.Outcome == analyze.OutcomeGatewayTimeout && res.Status == 504:
			gwIDs = append(gwIDs, res.RequestID)
		case res.Outcome == analyze.OutcomeWorkerKilled:
			lostIDs = append(lostIDs, res.RequestID)
		default:
			t.Errorf("%s: outcome %s (status %d, error %q); want ok or the front's 504", res.RequestID, res.Outcome, res.Status, res.ErrorText)
		}
	}
	front := frontAccessLines(t, s, ids(r.Results), 10*time.Second)
	app := appLines(t, s, okIDs, 10*time.Second)

	// The field report's shape.
	var totals []float64
	n504, nSlow := 0, 0
	for i := range r.Results {
		res := &r.Results[i]
		total := res.Total()
		totals = append(totals, total.Seconds())
		switch {
		case res.Status == 504:
			n504++
			if total < 9*time.Second || total > 12*time.Second {
				t.Errorf("%s: 504 after %v, want ≈ the front's 10 s connect timeout (9–12 s)", res.RequestID, total)
			}
		case res.Outcome == analyze.OutcomeOK && total >= 8*time.Second:
			nSlow++
		}
	}
	// The slowest quarter: all near 10 s or beyond, or a 504 at ≈ 10 s.
	byTotal := slices.Clone(r.Results)
	slices.SortFunc(byTotal, func(a, b analyze.Result) int { return int(b.Total() - a.Total()) })
	for _, res := range byTotal[:len(byTotal)/4] {
		if res.Total() < 8*time.Second {
			t.Errorf("%s: among the slowest quarter but %v (%s): want ≥ 8 s or a 504 at ≈ 10 s", res.RequestID, res.Total(), res.Outcome)
		}
	}
	var appMax float64
	for _, id := range okIDs {
		l := app[id]
		appMax = max(appMax, l.AppMS)
		if l.AppMS > 2500 {
			t.Errorf("%s: the app logged %.0f ms, want ≈ 2000 (≤ 2500)", id, l.AppMS)
		}
	}
	// The 504s never reached the app: the front's connect was what timed out.
	logged := loggedIDs(t, s)
	for _, id := range append(slices.Clone(gwIDs), lostIDs...) {
		if logged[id] {
			t.Errorf("%s: %s from the front, but the app logged the request", id, r.ByID[id].Outcome)
		}
	}
	for _, id := range gwIDs {
		l := front[id]
		// nginx sets $upstream_connect_time only once a connect completed: "-" = it never did.
		if l.Status != 504 || l.UpstreamConnect != "-" || l.RequestTime < 9 || l.RequestTime > 12 {
			t.Errorf("%s: front access line %+v: want status 504, upstream_connect_time \"-\" (never connected) after ≈ 10 s", id, l)
		}
	}
	timedOut := 0
	if ok, why := waitFor(5*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(s.FrontErrorLog())
		timedOut = strings.Count(string(b), "upstream timed out (110: Connection timed out) while connecting to upstream")
		return timedOut == len(gwIDs), fmt.Sprintf("%d \"upstream timed out (110: Connection timed out) while connecting to upstream\" lines in %s for %d 504s",
			timedOut, s.FrontErrorLog(), len(gwIDs))
	}); !ok {
		t.Errorf("%s", why)
	}
	// The pod nginx itself never gave up: every 504 is the front's.
	if b, err := os.ReadFile(s.NginxAccessLog()); err == nil && strings.Contains(string(b), `"status":504`) {
		t.Errorf("the pod nginx answered a 504 itself: %s", s.NginxAccessLog())
	}
	// The front's slow connects: SYNs retried into the stalled pod, then accepted.
	var slowConnects []string
	frontConnect := map[string]time.Duration{}
	for _, id := range okIDs {
		if c, ok := front[id].connect(); ok {
			frontConnect[id] = c
			if c >= 900*time.Millisecond {
				slowConnects = append(slowConnects, fmt.Sprintf("%.2f", c.Seconds()))
			}
		}
	}

	t.Logf("field report reproduced: %d requests (%d + %d, pod nginx stalled %v): client p50 %.2f s, p90 %.2f s, max %.2f s; "+
		"app max %.0f ms; %d × 504 from the front (%d connect time-outs in its error log), %d × 200 after ≥ 8 s, %d lost before the app; "+
		"front connects ≥ 0.9 s (s): %s",
		len(r.Results), burstA, burstB, podStall, quantile(totals, 0.5), quantile(totals, 0.9), quantile(totals, 1),
		appMax, n504, timedOut, nSlow, len(lostIDs), strings.Join(slowConnects, " "))
	if n504 == 0 {
		t.Error("no 504 from the front: its connects never timed out")
	}
	if nSlow == 0 {
		t.Error("no 200 took ≥ 8 s")
	}
	if len(slowConnects) == 0 {
		t.Error("no front connect took ≥ 0.9 s: the front's SYNs were never dropped and retried")
	}

	// queuegap's attribution of the same run. It needs the analyzer to read the front's
	// X-Front-Upstream-Connect-Time (being added in parallel): a front connect ≥ 0.5 s is
	// syn_retry. Until then the client does not even keep the header.
	t.Run("attribution", func(t *testing.T) {
		if !slices.Contains(analyze.TimingConfig{}.KeepHeaders(), "X-Front-Upstream-Connect-Time") {
			t.Skip("analyzer does not read the front tier's headers yet")
		}
		syn, backlog := r.Summary.Attribution[analyze.CompSynRetry].Share, r.Summary.Attribution[analyze.CompBacklog].Share
		t.Logf("headline: %s; syn_retry share %.1f %%, backlog %.1f %%", r.Summary.Headline, 100*syn, 100*backlog)
		if syn+backlog <= 0.5 {
			t.Errorf("syn_retry %.1f %% + backlog %.1f %% of the gap ≤ 50 %%: the headline misses the dropped SYNs", 100*syn, 100*backlog)
		}
		// At the right tier: the front's connects to nginx, not the client's
		// own (which connected to the front at once), and nothing left over
		// as "network" on loopback.
		if !strings.Contains(r.Summary.Headline, "front tier") {
			t.Errorf("headline %q does not name the front tier", r.Summary.Headline)
		}
		if net := r.Summary.Attribution[analyze.CompNetwork].Share; net > 0.1 {
			t.Errorf("%.1f %% of client time is network on loopback", 100*net)
		}
		for id, c := range frontConnect {
			if c < 500*time.Millisecond {
				continue
			}
			if got := part(r.ByID[id], "syn_retry"); float64(got) < 0.9*float64(c) {
				t.Errorf("%s: the front's connect took %v, syn_retry is %v (want ≥ 90 %%)", id, c, got)
			}
		}
	})
}

// frontAccessLines waits (bounded) until the front's access log (the same JSON fields as
// the pod nginx's) has a line for every id.
func frontAccessLines(t *testing.T, s *stack.Stack, ids []string, d time.Duration) map[string]accessLine {
	t.Helper()
	return accessLog(t, "front access log", s.FrontAccessLog(), ids, d)
}
