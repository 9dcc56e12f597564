package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/testbed/stack"
)

// A refresh storm: nginx gives up on the app after 1 s (504) while the worker runs on, and
// partner SDKs retry a 504 after a short backoff. Two workers serve a 700 ms view; 4 requests/s
// is above their 2.9/s, so the queue grows and 504s begin. With retries on, each 504 sends
// another request into the same queue: more work reaches the workers (whose time is spent on
// answers nobody waits for) and more 504s come back than without. Every retry is its own
// request in the results file, linked to the scheduled request its chain began with.
func TestRefreshStormRetriesAmplifyTheOverload(t *testing.T) {
	cfg := stack.Defaults()
	cfg.Workers = 2
	cfg.ReadTimeout = time.Second
	s := up(t, cfg)

	sched := loadgen.Schedule{loadgen.Constant{Rate: 4, Duration: 4 * time.Second}}
	retry := loadgen.Retry{OnStatus: 2, Statuses: []int{502, 503, 504}, Backoff: 200 * time.Millisecond}
	type outcome struct {
		gateway  int           // 502/503/504 answers
		busy     time.Duration // worker time the app logged for the run's requests
		requests int
		results  string
	}
	measure := func(name string, r loadgen.Retry) outcome {
		t.Helper()
		o := outcome{results: filepath.Join(t.TempDir(), name+".jsonl")}
		rn := drive(t, load{URL: s.URL() + "/sleep?ms=700", Schedule: sched, Mode: loadgen.NewConn, Retry: r, Out: o.results})
		o.requests = len(rn.Results)
		var ids []string
		for i := range rn.Results {
			res := &rn.Results[i]
			if res.Status == 502 || res.Status == 503 || res.Status == 504 {
				o.gateway++
			}
			ids = append(ids, res.RequestID)
		}
		// Abandoned requests still run to the end in their worker: wait until the app has
		// logged every request it got (the queue drains within a few seconds), then sum.
		drained := func() (bool, string) {
			by := loggedIDs(t, s)
			n := 0
			for _, id := range ids {
				if by[id] {
					n++
				}
			}
			return n == len(ids), ""
		}
		waitFor(15*time.Second, drained)
		lines, err := stack.ReadAppLog(s.AppLog())
		if err != nil {
			t.Fatal(err)
		}
		mine := map[string]bool{}
		for _, id := range ids {
			mine[id] = true
		}
		for _, l := range lines {
			if mine[l.ID] {
				o.busy += time.Duration(l.AppMS * float64(time.Millisecond))
			}
		}
		t.Logf("%s: %d requests, %d gateway errors, %v of worker time", name, o.requests, o.gateway, o.busy.Round(time.Millisecond))
		return o
	}
	off := measure("retry-off", loadgen.Retry{})
	on := measure("retry-on", retry)

	if off.gateway == 0 {
		t.Fatalf("without retries no 502/503/504 at all: the overload this test needs did not happen")
	}
	if on.gateway <= off.gateway {
		t.Errorf("gateway errors with retries %d, without %d: want more with", on.gateway, off.gateway)
	}
	if on.busy <= off.busy {
		t.Errorf("worker time with retries %v, without %v: want more with", on.busy, off.busy)
	}

	// Every retry in the results file names the scheduled request its chain began with, and
	// was sent no sooner than the backoff after the attempt before it ended.
	f, err := os.Open(on.results)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type attempt struct {
		attempt  int
		intended time.Duration
		done     time.Duration
		status   int
	}
	chains := map[uint64][]attempt{}
	retries := 0
	if _, err := analyze.ReadResults(f, func(_ *analyze.RunInfo, r *analyze.Result) error {
		origin := r.Seq
		if r.Attempt > 0 {
			retries++
			origin = r.RetryOf
		}
		chains[origin] = append(chains[origin], attempt{int(r.Attempt), r.Intended, r.Done, r.Status})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if retries == 0 || retries != on.requests-int(sched.Planned()) {
		t.Fatalf("%d retries in the results file; the run sent %d requests for %d scheduled", retries, on.requests, sched.Planned())
	}
	for seq, c := range chains {
		byAttempt := map[int]attempt{}
		for _, a := range c {
			byAttempt[a.attempt] = a
		}
		if _, ok := byAttempt[0]; !ok {
			t.Errorf("retries linked to %d, which is not a scheduled request of the run", seq)
			continue
		}
		for k := 1; k < len(c); k++ {
			cur, ok1 := byAttempt[k]
			prev, ok2 := byAttempt[k-1]
			if !ok1 || !ok2 {
				t.Errorf("chain %d: attempts %v are not 0..%d", seq, c, len(c)-1)
				break
			}
			if prev.status != 502 && prev.status != 503 && prev.status != 504 {
				t.Errorf("chain %d: attempt %d followed status %d, which is not retried", seq, k, prev.status)
			}
			if cur.intended < prev.done+retry.Backoff {
				t.Errorf("chain %d: attempt %d intended at %v, before attempt %d's end %v + backoff", seq, k, cur.intended, k-1, prev.done)
			}
		}
		if len(c) > retry.OnStatus+1 {
			t.Errorf("chain %d has %d attempts, more than 1 + %d retries", seq, len(c), retry.OnStatus)
		}
	}
}
