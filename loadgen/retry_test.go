package loadgen

import (
	"context"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// retryRuns are the engine and connection mode pairs retries are tested on.
var retryRuns = []struct {
	mode   ConnMode
	engine Engine
}{{KeepAlive, EngineGoroutines}, {KeepAlive, EngineLoop}, {NewConn, EngineGoroutines}, {NewConn, EngineLoop}}

// chains groups records by the chain they belong to, each in attempt order.
func chains(t *testing.T, recs []Record) map[uint64][]Record {
	t.Helper()
	out := map[uint64][]Record{}
	for _, r := range recs {
		first := r.RetryOf
		if r.Attempt == 0 {
			if r.RetryOf != 0 {
				t.Fatalf("seq %d: attempt 0 retries %d", r.Seq, r.RetryOf)
			}
			first = r.Seq
		}
		out[first] = append(out[first], r)
	}
	for _, c := range out {
		sort.Slice(c, func(i, j int) bool { return c[i].Attempt < c[j].Attempt })
	}
	return out
}

// A server that never answers: each scheduled request times out and is
// retried OnTimeout times, each retry its own request intended After the
// previous attempt ended, linked to the chain's first Seq.
func TestRetryOnTimeout(t *testing.T) {
	for _, run := range retryRuns {
		t.Run(run.mode.String()+"/"+run.engine.String(), func(t *testing.T) {
			var got atomic.Int64
			srv := newRawServer(t, func(c net.Conn) {
				if _, err := readRequest(c); err == nil {
					got.Add(1)
				}
				c.Read(make([]byte, 1)) // hang until the client gives up
				c.Close()
			})
			c, err := NewClient(ClientConfig{Request: Request{URL: srv.url()}, Mode: run.mode, Connections: 8, Timeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			const after = 30 * time.Millisecond
			recs, st := runLanes(t, run.engine, []Lane{{Client: c, Schedule: Schedule{Burst{Size: 3, Every: time.Second, Count: 1}},
				Retry: Retry{OnTimeout: 2, After: after}}})
			if len(recs) != 9 || st.Started != 9 || st.Retries != 6 || st.RetriesDropped != 0 {
				t.Fatalf("%d records, stats %+v", len(recs), st)
			}
			if got.Load() != 9 {
				t.Fatalf("server saw %d requests, want 9", got.Load())
			}
			cs := chains(t, recs)
			if len(cs) != 3 {
				t.Fatalf("%d chains", len(cs))
			}
			seqs := map[uint64]bool{}
			for first, c := range cs {
				if len(c) != 3 {
					t.Fatalf("chain %d: %d attempts", first, len(c))
				}
				for k, r := range c {
					if seqs[r.Seq] {
						t.Fatalf("seq %d twice", r.Seq)
					}
					seqs[r.Seq] = true
					if int(r.Attempt) != k || r.Error != ErrTimeout {
						t.Fatalf("chain %d: attempt %d is %d, error %q", first, k, r.Attempt, r.Error)
					}
					if k > 0 && r.Intended < c[k-1].Done+after {
						t.Fatalf("retry intended at %v, the attempt before ended at %v", r.Intended, c[k-1].Done)
					}
					if k > 0 && r.Seq <= c[k-1].Seq {
						t.Fatalf("retry seq %d not after %d", r.Seq, c[k-1].Seq)
					}
				}
			}
		})
	}
}

// 503 then 200: one retry, Backoff after the 503 ended.
func TestRetryOnStatusThenSuccess(t *testing.T) {
	for _, run := range retryRuns {
		t.Run(run.mode.String()+"/"+run.engine.String(), func(t *testing.T) {
			var mu sync.Mutex
			seen := map[string]int{}
			srv := newRawServer(t, serveRequests(func(req *http.Request) string {
				mu.Lock()
				defer mu.Unlock()
				seen[req.URL.Path]++
				if seen[req.URL.Path] == 1 {
					return "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"
				}
				return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
			}))
			c, err := NewClient(ClientConfig{Request: Request{URL: srv.url()}, Mode: run.mode})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			const backoff = 40 * time.Millisecond
			recs, st := runLanes(t, run.engine, []Lane{{Client: c, Schedule: Schedule{Burst{Size: 1, Every: time.Second, Count: 1}},
				Retry: Retry{OnStatus: 5, Statuses: []int{502, 503, 504}, Backoff: backoff}}})
			if len(recs) != 2 || st.Retries != 1 {
				t.Fatalf("%d records, stats %+v", len(recs), st)
			}
			c0 := chains(t, recs)[1]
			if len(c0) != 2 || c0[0].Status != 503 || c0[1].Status != 200 || c0[1].RetryOf != 1 || c0[1].Seq != RetrySeqBase+1 {
				t.Fatalf("chain %+v", c0)
			}
			if c0[1].Intended != c0[0].Done+backoff {
				t.Fatalf("retry intended at %v, want the 503's end %v + %v", c0[1].Intended, c0[0].Done, backoff)
			}
		})
	}
}

// A server that always says 503: retries stop at the bound, with the
// backoff doubling up to its cap; a 500 (not listed) is never retried.
func TestRetryOnStatusBounded(t *testing.T) {
	for _, run := range retryRuns {
		t.Run(run.mode.String()+"/"+run.engine.String(), func(t *testing.T) {
			srv := newRawServer(t, serveRequests(func(req *http.Request) string {
				if req.URL.Path == "/other" {
					return "HTTP/1.1 500 No\r\nContent-Length: 0\r\n\r\n"
				}
				return "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"
			}))
			base := "http://" + srv.ln.Addr().String()
			c, err := NewClient(ClientConfig{Mode: run.mode, Mix: []Request{{Weight: 1, URL: base + "/x"}, {Weight: 1, URL: base + "/other"}}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			trace := sliceTrace{{0, 0}, {5 * time.Millisecond, 1}, {10 * time.Millisecond, 0}}
			recs, st := runLanes(t, run.engine, []Lane{{Client: c, Schedule: Schedule{Replay{Trace: trace}},
				Retry: Retry{OnStatus: 3, Statuses: []int{503}, Backoff: 10 * time.Millisecond, MaxBackoff: 25 * time.Millisecond}}})
			if len(recs) != 9 || st.Retries != 6 {
				t.Fatalf("%d records, stats %+v", len(recs), st)
			}
			want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 25 * time.Millisecond}
			for first, c := range chains(t, recs) {
				if c[0].Mix == 1 {
					if len(c) != 1 || c[0].Status != 500 {
						t.Fatalf("the 500 chain: %+v", c)
					}
					continue
				}
				if len(c) != 4 {
					t.Fatalf("chain %d: %d attempts, want 1 + 3 retries", first, len(c))
				}
				for k := 1; k < len(c); k++ {
					if c[k].Mix != 0 || c[k].Intended-c[k-1].Done != want[k-1] {
						t.Fatalf("chain %d retry %d: mix %d, delay %v, want %v", first, k, c[k].Mix, c[k].Intended-c[k-1].Done, want[k-1])
					}
				}
			}
		})
	}
}

// Cancelling drops pending retries and counts them.
func TestRetryDroppedOnCancel(t *testing.T) {
	srv := newRawServer(t, serveRequests(func(*http.Request) string {
		return "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"
	}))
	c, err := NewClient(ClientConfig{Request: Request{URL: srv.url()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	r, err := NewRunner(Config{Lanes: []Lane{{Client: c, Schedule: Schedule{Burst{Size: 2, Every: time.Hour, Count: 1}},
		Retry: Retry{OnStatus: 1, Statuses: []int{503}, Backoff: time.Hour}}},
		Sink: SinkFunc(func(*Record) {
			if n.Add(1) == 2 {
				cancel() // both retries are pending, an hour away
			}
		})})
	if err != nil {
		t.Fatal(err)
	}
	st := r.Run(ctx)
	if st.RetriesDropped != 2 || st.Retries != 0 || st.Lanes[0].RetriesDropped != 2 || st.NotSent != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// The backoff schedule, unit by unit.
func TestRetryDelay(t *testing.T) {
	p := newRetryPolicy(Retry{OnTimeout: 1, After: time.Second, OnStatus: 4, Statuses: []int{502, 503}, Backoff: 100 * time.Millisecond, Factor: 3, MaxBackoff: time.Second})
	for _, tc := range []struct {
		rec  Record
		want time.Duration
		ok   bool
	}{
		{Record{Error: ErrTimeout}, time.Second, true},
		{Record{Error: ErrConnectTimeout}, time.Second, true},
		{Record{Error: ErrTimeout, Attempt: 1}, 0, false},
		{Record{Error: ErrReset}, 0, false},
		{Record{Status: 503}, 100 * time.Millisecond, true},
		{Record{Status: 502, Attempt: 1}, 300 * time.Millisecond, true},
		{Record{Status: 502, Attempt: 2}, 900 * time.Millisecond, true},
		{Record{Status: 502, Attempt: 3}, time.Second, true},
		{Record{Status: 502, Attempt: 4}, 0, false},
		{Record{Status: 504}, 0, false},
		{Record{Status: 200}, 0, false},
		{Record{Status: 639}, 0, false},
	} {
		d, ok := p.delay(&tc.rec)
		if ok != tc.ok || ok && d != tc.want {
			t.Errorf("%+v: %v, %v; want %v, %v", tc.rec, d, ok, tc.want, tc.ok)
		}
	}
	if p := newRetryPolicy(Retry{}); p.on {
		t.Fatal("the zero Retry retries")
	}
}

// The retry heap pops in intended order.
func TestRetryQueueOrder(t *testing.T) {
	var q retryQueue
	for _, at := range []time.Duration{5, 3, 9, 1, 7, 3, 0, 8} {
		q.push(retryEntry{at: at})
	}
	var got []time.Duration
	for q.pending.Load() > 0 {
		got = append(got, q.pop().at)
	}
	if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i] < got[j] }) || len(got) != 8 {
		t.Fatalf("popped %v", got)
	}
}
