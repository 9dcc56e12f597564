package e2e

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/testbed/stack"
)

// burstOf fires n requests at once.
func burstOf(n int) loadgen.Schedule {
	return loadgen.Schedule{loadgen.Burst{Size: n, Every: time.Second, Count: 1}}
}

// Scenario 2: nginx → uWSGI over a unix socket with listen 4. The 4 workers take 4 requests,
// the socket's queue holds a few more, and nginx's connect() for the rest fails at once with
// EAGAIN: a 502 within milliseconds that queuegap classifies proxy_refused — one per
// "Resource temporarily unavailable" line in nginx's error log.
func TestUnixBacklogFullProxyRefused(t *testing.T) {
	cfg := stack.Defaults()
	cfg.Workers = 4
	cfg.Listen = 4
	cfg.Socket = "unix"
	s := up(t, cfg)

	const n = 20
	r := drive(t, load{URL: s.URL() + "/sleep?ms=1500", Schedule: burstOf(n), Mode: loadgen.NewConn})
	refused := countOutcome(r.Results, analyze.OutcomeProxyRefused)
	ok := countOutcome(r.Results, analyze.OutcomeOK)
	if refused == 0 {
		t.Fatalf("no proxy_refused among %v", r.Summary.Outcomes)
	}
	if refused+ok != n {
		t.Errorf("outcomes %v: want only ok and proxy_refused", r.Summary.Outcomes)
	}
	var slowest time.Duration
	for i := range r.Results {
		res := &r.Results[i]
		if res.Outcome != analyze.OutcomeProxyRefused {
			continue
		}
		if res.Status != 502 {
			t.Errorf("%s: proxy_refused with status %d", res.RequestID, res.Status)
		}
		slowest = max(slowest, res.Total())
	}
	// nginx writes the error line before it answers; poll anyway, bounded.
	var lines int
	same, why := waitFor(5*time.Second, func() (bool, string) {
		b, err := os.ReadFile(s.NginxErrorLog())
		if err != nil {
			return false, err.Error()
		}
		lines = strings.Count(string(b), "Resource temporarily unavailable")
		return lines == refused, fmt.Sprintf("%d EAGAIN lines in %s", lines, s.NginxErrorLog())
	})
	t.Logf("%d ok, %d proxy_refused (slowest %v), %d \"Resource temporarily unavailable\" lines in nginx's error log",
		ok, refused, slowest.Round(time.Millisecond), lines)
	if !same {
		t.Errorf("%d proxy_refused vs %s", refused, why)
	}
	if slowest > 300*time.Millisecond {
		t.Errorf("slowest proxy_refused took %v: nginx should refuse within milliseconds", slowest)
	}
	// The refused requests never reached the app; the others each left a line.
	var served []string
	for i := range r.Results {
		if r.Results[i].Outcome == analyze.OutcomeOK {
			served = append(served, r.Results[i].RequestID)
		}
	}
	byID := appLines(t, s, served, 5*time.Second)
	for i := range r.Results {
		if res := &r.Results[i]; res.Outcome == analyze.OutcomeProxyRefused {
			if _, ok := byID[res.RequestID]; ok {
				t.Errorf("%s: proxy_refused but the app logged it", res.RequestID)
			}
		}
	}
}

// Scenario 3: nginx → uWSGI over TCP with listen 4. The SYNs of nginx's connects that find
// the accept queue full are dropped and retried by nginx's kernel (1 s, 2 s, … with linear
// timeouts): nginx reports it as X-Upstream-Connect-Time ≈ 1–3 s, and the app's queue time
// includes it. queuegap must put that in syn_retry and keep it out of backlog.
func TestTCPBacklogFullUpstreamSynRetry(t *testing.T) {
	cfg := stack.Defaults()
	cfg.Workers = 4
	cfg.Listen = 4
	cfg.Socket = "tcp"
	s := up(t, cfg)

	const n = 20
	r := drive(t, load{URL: s.URL() + "/sleep?ms=1500", Schedule: burstOf(n), Mode: loadgen.NewConn})
	// nginx's connect timeout is 60 s, so every request is answered — unless
	// nginx's own final ACK was dropped and uWSGI closed the connection before
	// the request bytes came (nginx then answers 502 after a long wait).
	answered := okOrLostBeforeApp(t, s, r, analyze.OutcomeWorkerKilled)
	byID := appLines(t, s, ids(answered), 10*time.Second)
	access := accessLines(t, s, ids(answered), 10*time.Second)
	retried := 0
	var synErr, backlogErr []float64
	var detail []string
	for i := range answered {
		res := &answered[i]
		if res.SynRetrans != 0 {
			t.Errorf("%s: the client's own connect to nginx retransmitted a SYN (%d)", res.RequestID, res.SynRetrans)
		}
		uc, ok := access[res.RequestID].connect()
		if !ok {
			t.Fatalf("%s: no upstream_connect_time in %+v", res.RequestID, access[res.RequestID])
		}
		q, _ := byID[res.RequestID].Queue()
		syn, backlog := part(res, analyze.CompSynRetry), part(res, analyze.CompBacklog)
		if uc < 900*time.Millisecond {
			if syn != 0 {
				t.Errorf("%s: syn_retry %v although nginx connected in %v", res.RequestID, syn, uc)
			}
			continue
		}
		retried++
		detail = append(detail, fmt.Sprintf("%.2fs/%.2fs", uc.Seconds(), backlog.Seconds()))
		synErr = append(synErr, math.Abs(ms(syn-uc)))
		backlogErr = append(backlogErr, math.Abs(ms(backlog-(q-uc))))
		if syn < 900*time.Millisecond {
			t.Errorf("%s: nginx's connect took %v but syn_retry is %v", res.RequestID, uc, syn)
		}
		// Not inflated: the backlog is the app's queue minus the connect, not the whole queue.
		if backlog > q-uc+20*time.Millisecond {
			t.Errorf("%s: backlog %v > app queue %v − upstream connect %v", res.RequestID, backlog, q, uc)
		}
	}
	t.Logf("%d of %d requests had nginx's SYN retried (upstream connect/backlog: %s); syn_retry share %.1f %%, backlog %.1f %%; "+
		"|syn_retry − upstream connect| max %.2f ms, |backlog − (queue − connect)| max %.2f ms",
		retried, n, strings.Join(detail, " "), 100*r.Summary.Attribution[analyze.CompSynRetry].Share,
		100*r.Summary.Attribution[analyze.CompBacklog].Share, quantile(synErr, 1), quantile(backlogErr, 1))
	if retried == 0 {
		t.Fatalf("no request saw nginx's connect to uWSGI take ≥ 0.9 s: the accept queue never overflowed")
	}
	if m := quantile(synErr, 0.5); m > 5 {
		t.Errorf("syn_retry vs nginx's upstream_connect_time: median error %.2f ms > 5 ms", m)
	}
	if m := quantile(backlogErr, 0.5); m > 5 {
		t.Errorf("backlog vs app queue − upstream connect: median error %.2f ms > 5 ms", m)
	}
}

// Scenario 4: clients straight to uWSGI's --http-socket with listen 4: now the client's own
// SYNs are dropped and retried. queuegap sees a connect ≥ 0.9 s with TCP_INFO's retransmit
// count > 0 and attributes it to syn_retry.
func TestDirectBacklogFullClientSynRetry(t *testing.T) {
	cfg := stack.Defaults()
	cfg.Workers = 4
	cfg.Listen = 4
	cfg.Socket = "tcp"
	cfg.HTTPSocket = true
	s := up(t, cfg)
	urls := s.AppURLs()
	if len(urls) != 1 {
		t.Fatalf("AppURLs() = %v, want one", urls)
	}

	const n = 20
	r := drive(t, load{URL: urls[0] + "/sleep?ms=1500", Schedule: burstOf(n), Mode: loadgen.NewConn,
		ConnectTimeout: 20 * time.Second})
	okOrLostBeforeApp(t, s, r, "closed")
	slow := 0
	var connects []string
	for i := range r.Results {
		res := &r.Results[i]
		syn := part(res, analyze.CompSynRetry)
		if res.Connect() < 900*time.Millisecond {
			if syn != 0 {
				t.Errorf("%s: syn_retry %v after a %v connect", res.RequestID, syn, res.Connect())
			}
			continue
		}
		slow++
		connects = append(connects, fmt.Sprintf("%.2fs", res.Connect().Seconds()))
		if res.SynRetrans == 0 {
			t.Errorf("%s: connect took %v but TCP_INFO counted no SYN retransmit", res.RequestID, res.Connect())
		}
		if d := syn - res.Connect(); d < 0 || d > 5*time.Millisecond {
			t.Errorf("%s: syn_retry %v, connect %v", res.RequestID, syn, res.Connect())
		}
	}
	t.Logf("%d of %d client connects took ≥ 0.9 s (%s); Summary: %d requests with SYN retransmits, syn_retry share %.1f %%",
		slow, n, strings.Join(connects, " "), r.Summary.SynRetrans, 100*r.Summary.Attribution[analyze.CompSynRetry].Share)
	if slow == 0 {
		t.Fatal("no client connect took ≥ 0.9 s: the accept queue never overflowed")
	}
	if r.Summary.SynRetrans == 0 {
		t.Error("Summary.SynRetrans = 0")
	}
	if r.Summary.Attribution[analyze.CompSynRetry].Share <= 0 {
		t.Error("no syn_retry share in the Summary")
	}
}

// okOrLostBeforeApp checks that every request either succeeded or ended as
// lost (an outcome class) without the app ever seeing it, and returns the
// successful ones.
//
// Why a request can be lost: when the accept queue fills between a SYN and
// its final ACK, the kernel drops the ACK; the connecting side thinks it is
// connected, but its request bytes sit in retransmission backoff. uWSGI
// accepts the connection later and, when the bytes do not arrive within its
// socket timeout (4 s), closes it unanswered: the client sees "closed", or,
// behind nginx, a late 502 ("worker_killed"). Seen under CI load (3 of 20);
// it is the real stack's behaviour, so it is allowed — but only for requests
// the app never logged.
func okOrLostBeforeApp(t *testing.T, s *stack.Stack, r *run, lost string) []analyze.Result {
	t.Helper()
	var ok []analyze.Result
	var lostIDs []string
	for _, res := range r.Results {
		switch res.Outcome {
		case analyze.OutcomeOK:
			ok = append(ok, res)
		case lost:
			lostIDs = append(lostIDs, res.RequestID)
		default:
			t.Fatalf("%s: outcome %s; want ok or %s (outcomes %v)", res.RequestID, res.Outcome, lost, r.Summary.Outcomes)
		}
	}
	if len(ok) == 0 {
		t.Fatalf("no request succeeded: outcomes %v", r.Summary.Outcomes)
	}
	if len(lostIDs) == 0 {
		return ok
	}
	// Wait until the app has logged every successful request, then check
	// that none of the lost ones is there.
	appLines(t, s, ids(ok), 10*time.Second)
	logged := loggedIDs(t, s)
	for _, id := range lostIDs {
		if logged[id] {
			t.Errorf("%s: outcome %s, but the app logged the request", id, lost)
		}
	}
	t.Logf("%d requests lost before the app (%s): final ACK dropped, request bytes past uWSGI's socket timeout", len(lostIDs), lost)
	return ok
}
