package loadgen

import (
	"context"
	"iter"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Two lanes on one clock: a new-connection lane on goroutines next to a
// keep-alive lane (the loop where it applies). Seqs are unique and follow
// (k−1)·lanes+lane+1, each record names its lane, Sink calls never
// overlap, and the stats add up per lane.
func TestLanesShareClockSinkAndSeqs(t *testing.T) {
	pc := newPathCounter(t)
	a, err := NewClient(ClientConfig{Request: Request{URL: pc.base() + "/a"}, Mode: NewConn})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewClient(ClientConfig{Request: Request{URL: pc.base() + "/b"}, Connections: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var inSink atomic.Int32
	var overlap atomic.Bool
	var mu sync.Mutex
	var recs []Record
	starts := 0
	r, err := NewRunner(Config{
		Lanes: []Lane{
			{Client: a, Schedule: Schedule{Constant{Rate: 200, Duration: 250 * time.Millisecond}}, MaxInflight: 7},
			{Client: b, Schedule: Schedule{Burst{Size: 20, Every: 100 * time.Millisecond, Count: 3}}},
		},
		Sink: SinkFunc(func(rec *Record) {
			if inSink.Add(1) != 1 {
				overlap.Store(true)
			}
			mu.Lock()
			recs = append(recs, *rec)
			mu.Unlock()
			inSink.Add(-1)
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.OnStart = func(time.Time) { starts++ }
	st := r.Run(context.Background())
	if overlap.Load() {
		t.Fatal("sink calls overlapped across lanes")
	}
	if starts != 1 {
		t.Fatalf("OnStart called %d times", starts)
	}
	if len(recs) != 110 || st.Started != 110 || st.Completed != 110 || st.Planned != 110 {
		t.Fatalf("%d records, stats %+v", len(recs), st)
	}
	if len(st.Lanes) != 2 || st.Lanes[0] != (LaneStats{Planned: 50, Started: 50}) || st.Lanes[1] != (LaneStats{Planned: 60, Started: 60}) {
		t.Fatalf("lane stats %+v", st.Lanes)
	}
	if st.MaxInflight != 7+DefaultMaxInflight {
		t.Fatalf("max in flight %d, want the lanes' sum", st.MaxInflight)
	}
	if st.SendWindow < 300*time.Millisecond {
		t.Fatalf("send window %v, want the longest lane's 300ms", st.SendWindow)
	}
	seen := map[uint64]bool{}
	perLane := [2][]uint64{}
	for _, rec := range recs {
		if seen[rec.Seq] {
			t.Fatalf("seq %d twice", rec.Seq)
		}
		seen[rec.Seq] = true
		if rec.Seq%2 != uint64(rec.Lane+1)%2 {
			t.Fatalf("seq %d from lane %d", rec.Seq, rec.Lane)
		}
		if rec.Status != 200 || rec.Lane == 0 && !rec.NewConn {
			t.Fatalf("lane %d: status %d, new conn %v", rec.Lane, rec.Status, rec.NewConn)
		}
		perLane[rec.Lane] = append(perLane[rec.Lane], rec.Seq)
	}
	got := pc.counts()
	if got["GET /a"] != 50 || got["GET /b"] != 60 {
		t.Fatalf("server saw %v", got)
	}
	// Lane 0 sent k = 1..50: seqs 1, 3, …, 99.
	for _, s := range perLane[0] {
		if s > 99 {
			t.Fatalf("lane 0 seq %d beyond its 50th", s)
		}
	}
}

// Cancelling the run ends every lane, in flight requests recorded.
func TestLanesCancelEndsAll(t *testing.T) {
	block := make(chan struct{})
	srv := newRawServer(t, func(c net.Conn) {
		readRequest(c)
		<-block
		c.Close()
	})
	defer close(block)
	var lanes []Lane
	for _, mode := range []ConnMode{NewConn, KeepAlive} {
		c, err := NewClient(ClientConfig{Request: Request{URL: srv.url()}, Mode: mode, Connections: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		lanes = append(lanes, Lane{Client: c, Schedule: Schedule{Constant{Rate: 100, Duration: time.Hour}}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	var total, canceled atomic.Int64
	r, err := NewRunner(Config{Lanes: lanes, Sink: countCanceled(&total, &canceled)})
	if err != nil {
		t.Fatal(err)
	}
	r.OnStart = func(time.Time) {
		go func() {
			for r.Progress.Started.Load() < 8 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
	}
	done := make(chan Stats)
	go func() { done <- r.Run(ctx) }()
	var st Stats
	select {
	case st = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not end on cancel")
	}
	if !st.Interrupted || st.Lanes[0].Started == 0 || st.Lanes[1].Started == 0 {
		t.Fatalf("stats %+v", st)
	}
	if total.Load() != st.Started || canceled.Load() != st.Started {
		t.Fatalf("%d records, %d canceled, %d started", total.Load(), canceled.Load(), st.Started)
	}
	if age, ok := r.Progress.OldestAge(); ok {
		t.Fatalf("oldest in flight %v after the run", age)
	}
}

// NewRunner names the lane whose setup is wrong.
func TestLanesValidation(t *testing.T) {
	c, err := NewClient(ClientConfig{Request: Request{URL: "http://127.0.0.1:1/"}})
	if err != nil {
		t.Fatal(err)
	}
	nc, _ := NewClient(ClientConfig{Request: Request{URL: "http://127.0.0.1:1/"}, Mode: NewConn})
	tc, _ := NewClient(ClientConfig{Request: Request{URL: "https://127.0.0.1:1/"}, Mode: NewConn})
	mixed, _ := NewClient(ClientConfig{Mix: []Request{{Weight: 1, URL: "http://127.0.0.1:1/a"}, {Weight: 1, URL: "http://127.0.0.1:1/b"}}})
	sched := Schedule{Constant{Rate: 1, Duration: time.Second}}
	good := Lane{Client: c, Schedule: sched}
	trace := sliceTrace{{0, 0}, {time.Second, 1}, {2 * time.Second, 7}}
	for _, tc := range []struct {
		name   string
		engine Engine
		lane   Lane
		want   string
	}{
		{"no client", EngineAuto, Lane{Schedule: sched}, "lane 1: no client"},
		{"empty schedule", EngineAuto, Lane{Client: c}, "lane 1: schedule is empty"},
		{"loop needs http", EngineLoop, Lane{Client: tc, Schedule: sched}, "lane 1: --engine loop: the event-loop engine does not speak TLS"},
		{"loop runs new connections", EngineLoop, Lane{Client: nc, Schedule: sched}, ""},
		{"negative retries", EngineAuto, Lane{Client: c, Schedule: sched, Retry: Retry{OnTimeout: -1}}, "lane 1: retry: a number of retries must not be negative"},
		{"negative delay", EngineAuto, Lane{Client: c, Schedule: sched, Retry: Retry{OnTimeout: 1, After: -time.Second}}, "lane 1: retry: delays must not be negative"},
		{"status out of range", EngineAuto, Lane{Client: c, Schedule: sched, Retry: Retry{OnStatus: 1, Statuses: []int{503, 99}}}, "lane 1: retry: status 99 is not an HTTP status (100–599)"},
		{"status 600", EngineAuto, Lane{Client: c, Schedule: sched, Retry: Retry{OnStatus: 1, Statuses: []int{600}}}, "lane 1: retry: status 600 is not an HTTP status (100–599)"},
		{"no statuses", EngineAuto, Lane{Client: c, Schedule: sched, Retry: Retry{OnStatus: 2}}, "lane 1: retry: retries on status need the statuses to retry (e.g. 502, 503, 504)"},
		{"shrinking factor", EngineAuto, Lane{Client: c, Schedule: sched, Retry: Retry{OnStatus: 2, Statuses: []int{503}, Factor: 0.5}}, "lane 1: retry: backoff factor 0.5 must be ≥ 1 (0: the default, 2)"},
		{"replay beyond the mix", EngineAuto, Lane{Client: mixed, Schedule: Schedule{Replay{Trace: trace}}}, "lane 1: stage 1 (replay:3:2s:x1:1): replay arrival 3 names request 7, the mix has 2"},
		{"replay out of order", EngineAuto, Lane{Client: mixed, Schedule: Schedule{Replay{Trace: sliceTrace{{0, 0}, {2 * time.Second, 1}, {time.Second, 0}}}}}, "lane 1: stage 1 (replay:3:1s:x1:1): replay arrival 3 at 1s is before the one before it (2s)"},
		{"fine", EngineAuto, Lane{Client: c, Schedule: sched, Retry: Retry{OnTimeout: 1, OnStatus: 3, Statuses: []int{502, 503, 504}, Backoff: time.Second}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRunner(Config{Lanes: []Lane{good, tc.lane}, Engine: tc.engine})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want %s", err, tc.want)
			}
		})
	}
}

// sliceTrace is a TraceSource from a slice of (offset, mix index).
type sliceTrace []struct {
	at  time.Duration
	mix int
}

func (s sliceTrace) Len() int { return len(s) }
func (s sliceTrace) Span() time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1].at - s[0].at
}
func (s sliceTrace) Arrivals() iter.Seq2[time.Duration, int] {
	return func(yield func(time.Duration, int) bool) {
		for _, a := range s {
			if !yield(a.at, a.mix) {
				return
			}
		}
	}
}

// A replay sends each arrival at its offset, with the request it names.
func TestReplayRun(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine Engine) {
		pc := newPathCounter(t)
		c, err := NewClient(ClientConfig{Mix: []Request{{Weight: 1, URL: pc.base() + "/zero"}, {Weight: 1, URL: pc.base() + "/one"}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		trace := sliceTrace{{0, 1}, {10 * time.Millisecond, 1}, {30 * time.Millisecond, 0}, {31 * time.Millisecond, 1}}
		recs, st := runLanes(t, engine, []Lane{{Client: c, Schedule: Schedule{Replay{Trace: trace, Speed: 2, Loops: 2}}}})
		if len(recs) != 8 || st.Planned != 8 {
			t.Fatalf("%d records, planned %d", len(recs), st.Planned)
		}
		got := map[time.Duration]uint16{}
		for _, r := range recs {
			got[r.Intended] = r.Mix
		}
		// Speed 2 halves every offset; the second loop starts a span plus a
		// mean gap (31 + 31/3 ms) later, also halved.
		spacing := 31*time.Millisecond + 31*time.Millisecond/3
		for loop := range 2 {
			for _, a := range trace {
				at := (a.at + time.Duration(loop)*spacing) / 2
				if mix, ok := got[at]; !ok || int(mix) != a.mix {
					t.Fatalf("no arrival at %v with request %d: %v", at, a.mix, got)
				}
			}
		}
		if n := pc.counts(); n["GET /one"] != 6 || n["GET /zero"] != 2 {
			t.Fatalf("server saw %v", n)
		}
	})
}
