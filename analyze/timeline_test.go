package analyze

import (
	"github.com/queuegap/queuegap/loadgen"

	"math/rand/v2"
	"testing"
	"time"
)

// tlResult is a result intended at intended, started at start, done at
// done (seconds), with the given backlog and outcome.
func tlResult(intended, start, done float64, backlog time.Duration, outcome string) *Result {
	s := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	r := &Result{Record: loadgen.Record{Intended: s(intended), Start: s(start), Done: s(done)}, Outcome: outcome}
	r.Attr.Parts[iBacklog] = backlog
	r.Attr.Parts[iNetwork] = r.Total() - backlog
	return r
}

func TestTimelineBuckets(t *testing.T) {
	tl := NewTimeline(time.Second, 100)
	// Two requests intended in second 0: one done at once, one 2.5 s later
	// after 2 s of backlog; one intended at 1.5 s started late (2.1 s) and
	// failed at 3.2 s.
	tl.Add(tlResult(0.1, 0.1, 0.3, 0, OutcomeOK))
	tl.Add(tlResult(0.2, 0.2, 2.7, 2*time.Second, OutcomeOK))
	tl.Add(tlResult(1.5, 2.1, 3.2, 0, OutcomeProxyRefused))
	rows := tl.Rows()
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4: %+v", len(rows), rows)
	}
	type want struct {
		sched, sent, completed, inflight, errors int64
		meanBacklogMs                            float64
	}
	for i, w := range []want{
		{2, 2, 1, 1, 0, 1000}, // second 0: backlog (0+2000)/2
		{1, 0, 0, 1, 1, 0},    // second 1: intended here, sent in second 2
		{0, 1, 1, 1, 0, 0},    // second 2: the late start, the slow one done
		{0, 0, 1, 0, 0, 0},    // second 3: the failure done
	} {
		r := rows[i]
		if r.AtS != float64(i) || r.Scheduled != w.sched || r.Sent != w.sent || r.Completed != w.completed ||
			r.InFlight != w.inflight || r.Errors != w.errors || r.MeanBacklogMs != w.meanBacklogMs {
			t.Errorf("row %d = %+v, want %+v", i, r, w)
		}
	}
	// Latency goes to the intended bucket: second 0 holds a 0.2 s and a
	// 2.5 s request (coarse histogram: ≈6 %).
	if p99 := rows[0].TotalP99Ms; p99 < 2300 || p99 > 2700 {
		t.Errorf("row 0 p99 %v ms, want ≈2500", p99)
	}
	if p50 := rows[0].TotalP50Ms; p50 < 150 || p50 > 250 {
		t.Errorf("row 0 p50 %v ms, want ≈200", p50)
	}
	if rows[1].TotalP50Ms < 1500 || rows[2].TotalP50Ms != 0 {
		t.Errorf("row 1 p50 %v (want ≈1700), row 2 p50 %v (want 0: nothing intended there)", rows[1].TotalP50Ms, rows[2].TotalP50Ms)
	}
	if tl.Width() != time.Second {
		t.Errorf("width %v", tl.Width())
	}
}

func TestTimelineDefaults(t *testing.T) {
	tl := NewTimeline(0, 0)
	if tl.Width() != time.Second {
		t.Errorf("default width %v", tl.Width())
	}
	tl.Add(tlResult(599.5, 599.5, 599.6, 0, OutcomeOK))
	if tl.Width() != time.Second || len(tl.Rows()) != 600 {
		t.Errorf("600 s should fit 600 default rows: width %v, %d rows", tl.Width(), len(tl.Rows()))
	}
	tl.Add(tlResult(600.5, 600.5, 600.6, 0, OutcomeOK))
	if tl.Width() != 2*time.Second {
		t.Errorf("601st second should double the width, got %v", tl.Width())
	}
}

func TestTimelineCompaction(t *testing.T) {
	for _, c := range []struct {
		name      string
		maxRows   int
		spanS     float64
		wantWidth time.Duration
	}{
		{"fits", 10, 9.9, time.Second},
		{"one doubling", 10, 19.9, 2 * time.Second},
		{"two doublings", 10, 39.9, 4 * time.Second},
		{"many doublings", 4, 600, 256 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			tl := NewTimeline(time.Second, c.maxRows)
			rng := rand.New(rand.NewPCG(5, 6))
			var n, errs int64
			var backlog time.Duration
			for range 2000 {
				at := rng.Float64() * c.spanS
				done := at + rng.Float64()*0.1
				if done > c.spanS {
					done = c.spanS
				}
				outcome := OutcomeOK
				if rng.IntN(10) == 0 {
					outcome, errs = "timeout", errs+1
				}
				b := time.Duration(rng.IntN(1000)) * time.Millisecond
				backlog += b
				tl.Add(tlResult(at, at, done, b, outcome))
				n++
			}
			// The last bucket must be used, so the width is determined.
			tl.Add(tlResult(c.spanS, c.spanS, c.spanS, 0, OutcomeOK))
			n++
			if tl.Width() != c.wantWidth {
				t.Errorf("width %v, want %v", tl.Width(), c.wantWidth)
			}
			rows := tl.Rows()
			if len(rows) > c.maxRows {
				t.Errorf("%d rows, more than maxRows %d", len(rows), c.maxRows)
			}
			var sched, sent, completed, gotErrs int64
			var backlogMs float64
			for i, r := range rows {
				if want := (time.Duration(i) * tl.Width()).Seconds(); r.AtS != want {
					t.Errorf("row %d at %v s, want %v", i, r.AtS, want)
				}
				sched += r.Scheduled
				sent += r.Sent
				completed += r.Completed
				gotErrs += r.Errors
				backlogMs += r.MeanBacklogMs * float64(r.Scheduled)
				if r.InFlight < 0 {
					t.Errorf("row %d: negative in flight %d", i, r.InFlight)
				}
			}
			if sched != n || sent != n || completed != n || gotErrs != errs {
				t.Errorf("totals scheduled %d sent %d completed %d errors %d; want %d, %d, %d, %d", sched, sent, completed, gotErrs, n, n, n, errs)
			}
			if d := backlogMs - durMs(backlog); d > 1e-3*durMs(backlog) || d < -1e-3*durMs(backlog) {
				t.Errorf("backlog %v ms after compaction, want %v", backlogMs, durMs(backlog))
			}
			if last := rows[len(rows)-1]; last.InFlight != 0 {
				t.Errorf("everything completed, but %d in flight at the end", last.InFlight)
			}
		})
	}
}

// TestTimelineInFlight: in_flight is the running sum of sent − completed.
func TestTimelineInFlight(t *testing.T) {
	tl := NewTimeline(time.Second, 100)
	// 5 sent in second 0, 3 in second 1; completions: 1 in second 0, 2 in
	// second 2, 5 in second 4.
	for _, r := range [][2]float64{{0.1, 0.5}, {0.2, 2.1}, {0.3, 2.2}, {0.4, 4.1}, {0.5, 4.2}, {1.1, 4.3}, {1.2, 4.4}, {1.3, 4.5}} {
		tl.Add(tlResult(r[0], r[0], r[1], 0, OutcomeOK))
	}
	want := []int64{4, 7, 5, 5, 0}
	rows := tl.Rows()
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, w := range want {
		if rows[i].InFlight != w {
			t.Errorf("second %d: in flight %d, want %d (rows %+v)", i, rows[i].InFlight, w, rows)
		}
	}
}
