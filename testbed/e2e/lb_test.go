package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/testbed/stack"
)

// Scenario 6: two instances of 2 workers each, instance 1 tied up by two long requests that
// reach it directly (its --http-socket, so nginx does not count them), and the same open-loop
// stream of quick requests (/fast, 60/s for 8 s) through nginx under round_robin and under
// least_conn.
//
// round_robin keeps sending every other request to instance 1, where it waits in the backlog
// until the long requests end: half the stream is seconds late, and so is its p99. least_conn
// counts the connections nginx itself has open: the first request it sends to instance 1
// stays open there, so from then on instance 2 (with 0 open, a quick request being over long
// before the next arrives) is strictly the least loaded; only a tie (instance 2 still busy
// when the next request comes) can send another one to instance 1. The stream (480 requests)
// is long enough that the one or two caught stay beyond the 99th percentile: least_conn's p99
// is the quick request's own time, round_robin's the tie-up's — a large, robust ratio rather
// than a marginal one that CPU noise on a 2-core machine could flip.
func TestLeastConnBeatsRoundRobin(t *testing.T) {
	const (
		pin      = 12 * time.Second // each of the two tie-up requests
		rate     = 60.0             // short requests per second through nginx
		duration = 8 * time.Second
	)
	type lbRun struct {
		p99, p50   float64
		onPinned   int // short requests the app served on the tied-up instance
		total      int
		pinnedTill time.Time
		streamEnd  time.Time
	}
	results := map[string]lbRun{}
	for _, lb := range []string{"round_robin", "least_conn"} {
		t.Run(lb, func(t *testing.T) {
			cfg := stack.Defaults()
			cfg.Instances = 2
			cfg.Workers = 2
			cfg.Listen = 1024 // room for every request caught behind the tie-up: no SYN retries
			cfg.Socket = "tcp"
			cfg.LB = lb
			cfg.HTTPSocket = true
			s := up(t, cfg)
			if len(s.AppURLs()) != 2 || len(s.StatsAddrs()) != 2 {
				t.Fatalf("AppURLs %v, StatsAddrs %v: want two each", s.AppURLs(), s.StatsAddrs())
			}

			// Tie up instance 1's two workers.
			pinDone := make(chan error, 2)
			hc := &http.Client{Timeout: pin + 20*time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			for i := range 2 {
				go func() {
					req, _ := http.NewRequest("GET", fmt.Sprintf("%s/sleep?ms=%d", s.AppURLs()[0], pin.Milliseconds()), nil)
					req.Header.Set("X-Request-Id", fmt.Sprintf("pin-%s-%d", lb, i))
					resp, err := hc.Do(req)
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							err = fmt.Errorf("tie-up request: %s", resp.Status)
						}
					}
					pinDone <- err
				}()
			}
			if ok, why := waitFor(5*time.Second, func() (bool, string) {
				return busyWorkers(s.StatsAddrs()[0])
			}); !ok {
				t.Fatalf("instance 1 not tied up: %s", why)
			}

			r := drive(t, load{
				URL:      s.URL() + "/fast",
				Schedule: loadgen.Schedule{loadgen.Constant{Rate: rate, Duration: duration}},
				Mode:     loadgen.NewConn,
			})
			streamEnd := r.Start.Add(duration)
			for range 2 {
				if err := <-pinDone; err != nil {
					t.Fatal(err)
				}
			}
			pinnedTill := time.Now()
			if got := r.Summary.Outcomes[analyze.OutcomeOK]; got != int64(len(r.Results)) {
				t.Fatalf("outcomes %v: want all ok", r.Summary.Outcomes)
			}
			byID := appLines(t, s, ids(r.Results), 10*time.Second)
			onPinned := 0
			var caught []string
			for i := range r.Results {
				res := &r.Results[i]
				if byID[res.RequestID].Instance == "1" {
					onPinned++
					if len(caught) < 5 {
						caught = append(caught, fmt.Sprintf("#%d sent at %v waited %v", res.Seq,
							res.Intended.Round(time.Millisecond), res.Total().Round(time.Millisecond)))
					}
				}
			}
			t.Logf("first requests caught on the tied-up instance: %v", caught)
			tot := r.Summary.Phases[analyze.PhaseTotal]
			results[lb] = lbRun{p99: tot.P99, p50: tot.P50, onPinned: onPinned, total: len(r.Results),
				pinnedTill: pinnedTill, streamEnd: streamEnd}
			t.Logf("%s: p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d of %d short requests served by the tied-up instance",
				lb, tot.P50, tot.P99, tot.Max, onPinned, len(r.Results))
			if pinnedTill.Before(streamEnd) {
				t.Fatalf("the tie-up ended (%v) before the stream did (%v): lengthen it", pinnedTill, streamEnd)
			}
		})
	}
	rr, lc := results["round_robin"], results["least_conn"]
	if rr.total == 0 || lc.total == 0 {
		t.Fatal("a run is missing")
	}
	t.Logf("p99 least_conn %.1f ms vs round_robin %.1f ms: %.1f %% of it (%.0f %% less); caught on the tied-up instance: %d vs %d",
		lc.p99, rr.p99, 100*lc.p99/rr.p99, 100*(1-lc.p99/rr.p99), lc.onPinned, rr.onPinned)
	if lc.p99 > 0.5*rr.p99 {
		t.Errorf("p99 least_conn %.1f ms > 0.5 × round_robin %.1f ms", lc.p99, rr.p99)
	}
	// How each balancer spread the stream: round_robin ignores the tie-up, least_conn avoids it.
	if rr.onPinned < rr.total/3 {
		t.Errorf("round_robin sent only %d of %d to the tied-up instance, want about half", rr.onPinned, rr.total)
	}
	if lc.onPinned > lc.total/50 {
		t.Errorf("least_conn sent %d of %d to the tied-up instance, want at most 2 %%", lc.onPinned, lc.total)
	}
}

// busyWorkers reads a uWSGI stats server and says whether every worker is busy.
func busyWorkers(addr string) (bool, string) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false, err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	var st struct {
		Workers []struct {
			Pid    int    `json:"pid"`
			Status string `json:"status"`
		} `json:"workers"`
	}
	if err := json.NewDecoder(c).Decode(&st); err != nil {
		return false, fmt.Sprintf("stats %s: %v", addr, err)
	}
	busy := 0
	for _, w := range st.Workers {
		if w.Status == "busy" {
			busy++
		}
	}
	return len(st.Workers) > 0 && busy == len(st.Workers), fmt.Sprintf("%d of %d workers busy", busy, len(st.Workers))
}
