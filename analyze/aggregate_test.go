package analyze

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/queuegap/queuegap/loadgen"
)

// summarizeRecords runs records through an Analyzer into an Aggregator
// with a timeline, then summarizes.
func summarizeRecords(t *testing.T, info RunInfo, recs []loadgen.Record) Summary {
	t.Helper()
	a := newStreamAnalyzer(TimingConfig{}, testRunStart, "s")
	agg := NewAggregator(NewTimeline(time.Second, 100))
	var res Result
	for i := range recs {
		recs[i].Seq = uint64(i + 1)
		a.Analyze(&recs[i], &res)
		checkInvariant(t, &res)
		agg.Add(&res)
	}
	if agg.Count() != int64(len(recs)) {
		t.Fatalf("Count() = %d, want %d", agg.Count(), len(recs))
	}
	return agg.Summarize(info, a.estimates())
}

func shareSum(s Summary) float64 {
	var sum float64
	for _, c := range Components {
		sum += s.Attribution[c].Share
	}
	return sum
}

// backlogRun is 40 requests in 10 waves of 4 behind 4 workers, 100 ms
// each, reported with Server-Timing queue+app; plus 2 refused connects
// and a fast 502.
func backlogRun() []loadgen.Record {
	var recs []loadgen.Record
	for i := range 40 {
		wave := float64(i / 4)
		recs = append(recs, newConnRec(ms(1), 0, ms(0.2), ms(100.5+100*wave), ms(0.1),
			hdrs(HeaderServerTiming, "queue;dur="+ftoa(100*wave)+", app;dur=100")))
	}
	for range 2 {
		recs = append(recs, loadgen.Record{Intended: ms(1), Start: ms(1), Done: ms(1.1), NewConn: true,
			Error: loadgen.ErrRefused, ErrorText: "refused"})
	}
	r := newConnRec(ms(1), 0, ms(0.2), ms(2), ms(0.1), nil)
	r.Status = 502
	recs = append(recs, r)
	return recs
}

func ftoa(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

func TestSummarizeBacklogRun(t *testing.T) {
	recs := backlogRun()
	s := summarizeRecords(t, RunInfo{RunID: "s", Planned: 43, SendWindow: time.Second}, recs)
	if s.Requests != 43 || s.Planned != 43 {
		t.Errorf("requests %d planned %d", s.Requests, s.Planned)
	}
	wantOutcomes := map[string]int64{OutcomeOK: 40, "refused": 2, OutcomeProxyRefused: 1}
	if len(s.Outcomes) != len(wantOutcomes) {
		t.Errorf("outcomes %v, want %v", s.Outcomes, wantOutcomes)
	}
	for k, v := range wantOutcomes {
		if s.Outcomes[k] != v {
			t.Errorf("outcome %s = %d, want %d", k, s.Outcomes[k], v)
		}
	}
	if s.Errors != 3 {
		t.Errorf("errors %d, want 3", s.Errors)
	}
	if got := s.SortedOutcomes(); len(got) != 3 || got[0] != OutcomeOK || got[1] != "refused" || got[2] != OutcomeProxyRefused {
		t.Errorf("SortedOutcomes() = %v", got)
	}
	if sum := shareSum(s); math.Abs(sum-1) > 0.004 {
		t.Errorf("shares sum to %v, want ≈1: %+v", sum, s.Attribution)
	}
	// Queue waits 0..900 ms over 40 requests: mean 450 of ≈550 ms total.
	if b, p := s.Attribution[CompBacklog], s.Attribution[CompProcessing]; b.Share < 0.75 || b.Share > 0.85 || p.Share < 0.15 || p.Share > 0.2 {
		t.Errorf("backlog share %v, processing share %v; want ≈0.8 and ≈0.18", b.Share, p.Share)
	}
	if b := s.Attribution[CompBacklog]; math.Abs(b.Max-900) > 1 || math.Abs(b.TotalS-18) > 0.01 {
		t.Errorf("backlog max %v ms total %v s, want 900 ms and 18 s", b.Max, b.TotalS)
	}
	if !strings.Contains(s.Headline, "backlog wait") || strings.Contains(s.Headline, "estimated") {
		t.Errorf("headline %q should name backlog wait as the top component", s.Headline)
	}
	if !strings.Contains(s.Headline, "app p99 100") {
		t.Errorf("headline %q should give the app's p99", s.Headline)
	}
	if s.Server.WithTiming != 40 || s.Server.App.Count != 40 || s.Server.Queue.Count != 40 {
		t.Errorf("server stats %+v", s.Server)
	}
	if math.Abs(s.Server.App.P50-100) > 0.2 {
		t.Errorf("server app p50 %v", s.Server.App.P50)
	}
	if s.Generator.FellBehind || s.Generator.SlotWaits != 0 {
		t.Errorf("generator %+v: should not have fallen behind", s.Generator)
	}
	if s.NewConns != 41 { // 40 + the 502; the refused ones never connected
		t.Errorf("new conns %d, want 41", s.NewConns)
	}
	if p99 := s.Phases[PhaseTotal].P99; p99 < 995 || p99 > 1005 {
		t.Errorf("total p99 %v ms, want ≈1000.8", p99)
	}
	if s.ClockOffset.Known {
		t.Errorf("clock offset known without any receive time: %+v", s.ClockOffset)
	}
	// All intended at 1 ms; the last wave completes just after 1 s.
	if len(s.Timeline) != 2 || s.Timeline[0].Scheduled != 43 || s.Timeline[0].Errors != 3 || s.Timeline[1].Completed != 4 || s.Timeline[1].InFlight != 0 {
		t.Errorf("timeline %+v", s.Timeline)
	}
	if s.AchievedRate != 43 {
		t.Errorf("achieved rate %v over a 1 s window, want 43", s.AchievedRate)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Errorf("summary does not marshal: %v", err)
	}
}

func TestSummarizeHeadlines(t *testing.T) {
	t.Run("SYN retries dominate", func(t *testing.T) {
		var recs []loadgen.Record
		for range 10 {
			r := newConnRec(ms(1), 0, ms(3000), ms(100.5), ms(0.1), hdrs(HeaderServerTiming, "queue;dur=0, app;dur=100"))
			r.SynRetrans = 3
			recs = append(recs, r)
		}
		s := summarizeRecords(t, RunInfo{}, recs)
		if !strings.Contains(s.Headline, "SYN retries") {
			t.Errorf("headline %q", s.Headline)
		}
		if s.SynRetrans != 10 {
			t.Errorf("syn retransmits %d, want 10", s.SynRetrans)
		}
		if sum := shareSum(s); math.Abs(sum-1) > 0.004 {
			t.Errorf("shares sum to %v", sum)
		}
	})
	t.Run("estimated backlog without server timing", func(t *testing.T) {
		var recs []loadgen.Record
		for i := range 20 {
			recs = append(recs, newConnRec(ms(1), 0, ms(0.2), ms(100+100*float64(i/4)), ms(0.1), nil))
		}
		s := summarizeRecords(t, RunInfo{}, recs)
		if !strings.Contains(s.Headline, "estimated backlog wait") || !strings.Contains(s.Headline, "no processing time") {
			t.Errorf("headline %q", s.Headline)
		}
		if s.Estimated != 20 {
			t.Errorf("estimated %d, want 20", s.Estimated)
		}
	})
	t.Run("processing dominates", func(t *testing.T) {
		var recs []loadgen.Record
		for range 20 {
			recs = append(recs, newConnRec(ms(1), 0, ms(0.2), ms(500.3), ms(0.1), hdrs(HeaderServerTiming, "queue;dur=0.1, app;dur=500")))
		}
		s := summarizeRecords(t, RunInfo{}, recs)
		if !strings.Contains(s.Headline, "to processing") {
			t.Errorf("headline %q", s.Headline)
		}
	})
	t.Run("nothing", func(t *testing.T) {
		s := NewAggregator(nil).Summarize(RunInfo{}, nil)
		if s.Requests != 0 || s.Headline == "" || s.Timeline != nil {
			t.Errorf("empty summary %+v", s)
		}
	})
}

func TestSummarizeFellBehind(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(r *loadgen.Record, i int)
		want   bool
	}{
		{"on time", func(*loadgen.Record, int) {}, false},
		// Waiting for a slot the target holds is client queueing, not the generator behind.
		{"one slot wait", func(r *loadgen.Record, i int) { r.WaitedSlot = i == 3 }, false},
		{"late starts", func(r *loadgen.Record, i int) { startLate(r, ms(50)) }, true},
		{"small lag", func(r *loadgen.Record, i int) { startLate(r, ms(2)) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var recs []loadgen.Record
			for i := range 10 {
				r := newConnRec(ms(1+float64(i)*10), 0, ms(0.2), ms(10.3), ms(0.1), hdrs(HeaderServerTiming, "queue;dur=0, app;dur=10"))
				c.mutate(&r, i)
				recs = append(recs, r)
			}
			s := summarizeRecords(t, RunInfo{MaxInflight: 5}, recs)
			if s.Generator.FellBehind != c.want {
				t.Errorf("FellBehind = %v, want %v (generator %+v)", s.Generator.FellBehind, c.want, s.Generator)
			}
			if s.Generator.MaxInflight != 5 {
				t.Errorf("max inflight %d", s.Generator.MaxInflight)
			}
		})
	}
}

func TestSummarizeClockOffset(t *testing.T) {
	var recs []loadgen.Record
	for i := range 10 {
		r := newConnRec(ms(1+float64(i)*100), 0, ms(0.2), ms(30.2), ms(0.1), nil)
		r.Headers = hdrs(HeaderRequestStart, reqStartAt(r.ConnectDone+ms(0.1), 250*time.Millisecond), HeaderServerTiming, "queue;dur=10, app;dur=20")
		recs = append(recs, r)
	}
	s := summarizeRecords(t, RunInfo{}, recs)
	co := s.ClockOffset
	// 0.1 ms each way: the interval [249.9, 250.1] has the true 250 ms in
	// its middle and a one-way delay of half its width.
	if !co.Known || co.Samples != 10 || !co.Consistent || math.Abs(co.OffsetMs-250) > 0.01 || co.UncertaintyMs > 0.25 ||
		math.Abs(co.OneWayMs-0.1) > 0.01 || co.Wide || math.Abs(co.LoMs-249.9) > 0.01 || math.Abs(co.HiMs-250.1) > 0.01 {
		t.Errorf("clock offset %+v, want 250 ms in [249.9, 250.1], one way 0.1 ms, from 10 samples", co)
	}
}

// startLate moves every reached phase of r later by lag, as a generator that
// started it late would.
func startLate(r *loadgen.Record, lag time.Duration) {
	r.Start += lag

	r.ConnectDone += lag
	r.Written += lag
	r.FirstByte += lag
	r.Done += lag
}

// Crossed offset bounds (the server's timestamps are coarser than the
// interval they bound) print in order, with the reason, never upside down.
func TestClockOffsetCrossedBoundsPrintInOrder(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   string
		note   bool
	}{
		{-0.86, -0.50, "within [-0.86ms, -0.50ms] (12 samples)", false},
		{-0.50, -0.86, "within [-0.86ms, -0.50ms] (12 samples, bounds crossed by 0.36ms", true},
	} {
		s := Summary{Phases: map[string]PhaseStats{}, ClockOffset: ClockOffset{Known: true, LoMs: c.lo, HiMs: c.hi, OffsetMs: (c.lo + c.hi) / 2, Samples: 12, Consistent: true}}
		var b strings.Builder
		if err := s.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), c.want) || strings.Contains(b.String(), "crossed") != c.note {
			t.Errorf("bounds [%v, %v]: %q lacks %q", c.lo, c.hi, b.String(), c.want)
		}
	}
}
