package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/testbed/stack"
)

// Scenario 5a: uWSGI harakiri 2 s and a 6 s view. uWSGI checks harakiri about once a second,
// so the worker dies 2–4 s in; nginx answers 502 ("upstream prematurely closed connection")
// after a long wait with no app timing: worker_killed. The app never logs the request.
func TestHarakiriWorkerKilled(t *testing.T) {
	cfg := stack.Defaults()
	cfg.Workers = 4
	cfg.Harakiri = 2 * time.Second
	cfg.ReadTimeout = 30 * time.Second
	s := up(t, cfg)

	const n = 2
	r := drive(t, load{URL: s.URL() + "/sleep?ms=6000", Schedule: burstOf(n), Mode: loadgen.NewConn})
	for i := range r.Results {
		res := &r.Results[i]
		t.Logf("%s: status %d after %v: %s", res.RequestID, res.Status, res.Total().Round(time.Millisecond), res.Outcome)
		if res.Outcome != analyze.OutcomeWorkerKilled || res.Status != 502 {
			t.Errorf("%s: outcome %s (status %d, error %q), want worker_killed (502)", res.RequestID, res.Outcome, res.Status, res.ErrorText)
		}
		if res.Total() < 2*time.Second || res.Total() > 5500*time.Millisecond {
			t.Errorf("%s: answered after %v, want between harakiri (2 s) and the view's end (6 s)", res.RequestID, res.Total())
		}
	}
	// Ground truth: uWSGI says it killed them, nginx saw the connection close, the app logged nothing.
	uwsgiOut := filepath.Join(s.Dir(), "app1.out")
	if ok, why := waitFor(5*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(uwsgiOut)
		c := strings.Count(string(b), "HARAKIRI ON WORKER")
		return c >= n, fmt.Sprintf("%d \"HARAKIRI ON WORKER\" lines in %s", c, uwsgiOut)
	}); !ok {
		t.Errorf("uWSGI output: %s", why)
	}
	if ok, why := waitFor(5*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(s.NginxErrorLog())
		c := strings.Count(string(b), "upstream prematurely closed connection")
		return c == n, fmt.Sprintf("%d \"upstream prematurely closed connection\" lines in nginx's error log", c)
	}); !ok {
		t.Errorf("%s", why)
	}
	lines, err := stack.ReadAppLog(s.AppLog())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if _, ok := r.ByID[l.ID]; ok {
			t.Errorf("the app logged killed request %s: %+v", l.ID, l)
		}
	}
}

// Scenario 5b: nginx's uwsgi_read_timeout 1 s and a 2.5 s view: nginx answers 504 at 1 s
// (gateway_timeout) while the worker keeps running — the app logs the request, as a success,
// 1.5 s after the client got its 504.
func TestReadTimeoutGatewayTimeout(t *testing.T) {
	cfg := stack.Defaults()
	cfg.Workers = 4
	cfg.ReadTimeout = time.Second
	s := up(t, cfg)

	type at504 struct {
		wall   time.Time
		logged bool // the app's line was already there when the 504 came
	}
	seen := map[string]at504{}
	r := drive(t, load{
		URL:      s.URL() + "/sleep?ms=2500",
		Schedule: burstOf(1),
		Mode:     loadgen.NewConn,
		OnResult: func(res *analyze.Result, wall time.Time) {
			lines, _ := stack.ReadAppLog(s.AppLog())
			logged := false
			for _, l := range lines {
				logged = logged || l.ID == res.RequestID
			}
			seen[res.RequestID] = at504{wall, logged}
		},
	})
	res := &r.Results[0]
	if res.Outcome != analyze.OutcomeGatewayTimeout || res.Status != 504 {
		t.Fatalf("%s: outcome %s (status %d, error %q), want gateway_timeout (504)", res.RequestID, res.Outcome, res.Status, res.ErrorText)
	}
	if res.Total() < 900*time.Millisecond || res.Total() > 2*time.Second {
		t.Errorf("504 after %v, want ≈ 1 s (the read timeout)", res.Total())
	}
	got := seen[res.RequestID]
	if got.logged {
		t.Errorf("the app had already logged %s when the 504 arrived", res.RequestID)
	}
	line := appLines(t, s, []string{res.RequestID}, 10*time.Second)[res.RequestID]
	after := line.EndTime().Sub(got.wall)
	t.Logf("%s: 504 after %v; the worker (pid %d) finished %v later with status %d, app_ms %.0f",
		res.RequestID, res.Total().Round(time.Millisecond), line.Pid, after.Round(time.Millisecond), line.Status, line.AppMS)
	if line.AppMS < 2400 {
		t.Errorf("app_ms %.1f < 2400: the worker did not run the view to its end", line.AppMS)
	}
	if after <= 0 {
		t.Errorf("the app's line ends at %v, not after the 504 at %v", line.EndTime(), got.wall)
	}
	if line.Status != 200 {
		t.Errorf("the app logged status %d, want 200 (it never knew nginx gave up)", line.Status)
	}
	b, _ := os.ReadFile(s.NginxErrorLog())
	if !strings.Contains(string(b), "upstream timed out (110") {
		t.Errorf("nginx's error log has no \"upstream timed out (110\": %s", b)
	}
}
