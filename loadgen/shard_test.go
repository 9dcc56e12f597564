package loadgen

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// Shards of a run together send exactly the single run's requests: every
// scheduled Seq once, at the same intended time, with the same pick from
// the mix; each shard its share, all on one clock.
func TestShardsTogetherAreTheSingleRun(t *testing.T) {
	srv := newRawServer(t, serveRequests(func(*http.Request) string { return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" }))
	sched := Schedule{
		Burst{Size: 10, Every: 50 * time.Millisecond, Count: 2},
		Poisson{Rate: 200, Duration: 200 * time.Millisecond, Seed: 7},
		Constant{Rate: 100, Duration: 100 * time.Millisecond},
	}
	mix := []Request{{Name: "a", Weight: 3, URL: srv.url() + "a"}, {Name: "b", Weight: 1, URL: srv.url() + "b"}}
	type key struct {
		seq      uint64
		intended time.Duration
		mix      uint16
		lane     uint16
	}
	run := func(shard Shard, start time.Time) ([]key, Stats) {
		var lanes []Lane
		for range 2 {
			c, err := NewClient(ClientConfig{Mix: mix, Connections: 4})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			lanes = append(lanes, Lane{Schedule: sched, Client: c, Seed: 11})
		}
		var mu sync.Mutex
		var keys []key
		r, err := NewRunner(Config{Lanes: lanes, Shard: shard, Start: start, Sink: SinkFunc(func(rec *Record) {
			mu.Lock()
			keys = append(keys, key{rec.Seq, rec.Intended, rec.Mix, rec.Lane})
			mu.Unlock()
		})})
		if err != nil {
			t.Fatal(err)
		}
		st := r.Run(context.Background())
		slices.SortFunc(keys, func(a, b key) int { return int(a.seq) - int(b.seq) })
		return keys, st
	}
	whole, wst := run(Shard{}, time.Time{})
	start := time.Now().Add(100 * time.Millisecond)
	var union []key
	var mu sync.Mutex
	var wg sync.WaitGroup
	const n = 3
	starts := make([]Stats, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys, st := run(Shard{Index: i, Count: n}, start)
			for _, k := range keys {
				if int((k.seq-1)/2)%n != i {
					t.Errorf("shard %d sent seq %d (lane %d's request %d)", i, k.seq, k.lane, (k.seq-1)/2)
				}
			}
			mu.Lock()
			union = append(union, keys...)
			starts[i] = st
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.SortFunc(union, func(a, b key) int { return int(a.seq) - int(b.seq) })
	if len(union) != len(whole) {
		t.Fatalf("shards sent %d requests, the single run %d", len(union), len(whole))
	}
	for i := range whole {
		if union[i] != whole[i] {
			t.Fatalf("request %d: shards %+v, single run %+v", i, union[i], whole[i])
		}
	}
	var planned int64
	for i, st := range starts {
		if planned >= 0 && st.Planned >= 0 {
			planned += st.Planned
		} else {
			planned = -1 // a Poisson stage: statistical, in the single run too
		}
		if st.RunStart.Sub(start).Abs() > time.Millisecond {
			t.Errorf("shard %d's clock origin %v is not the shared start %v", i, st.RunStart, start)
		}
	}
	if wst.Planned != planned {
		t.Errorf("shards planned %d, the single run %d", planned, wst.Planned)
	}
}

func TestShardPlannedShare(t *testing.T) {
	for _, c := range []struct {
		n    int64
		s    Shard
		want int64
	}{
		{10, Shard{0, 3}, 4}, {10, Shard{1, 3}, 3}, {10, Shard{2, 3}, 3},
		{2, Shard{2, 3}, 0}, {-1, Shard{0, 3}, -1}, {7, Shard{}, 7},
	} {
		if got := c.s.Of(c.n); got != c.want {
			t.Errorf("%v of %d: %d, want %d", c.s, c.n, got, c.want)
		}
	}
	for _, bad := range []string{"3/3", "-1/2", "1", "a/b", "0/0", "1/20000"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
	if s, err := ParseShard("2/5"); err != nil || s != (Shard{2, 5}) {
		t.Errorf("ParseShard(2/5) = %v, %v", s, err)
	}
}

// A run started after its shared start measures from it: the requests
// due meanwhile are late, and their lag says so.
func TestLateStartIsLag(t *testing.T) {
	srv := newRawServer(t, serveRequests(func(*http.Request) string { return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" }))
	c, err := NewClient(ClientConfig{Request: Request{URL: srv.url()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var lags []time.Duration
	r, err := NewRunner(Config{Schedule: Schedule{Burst{Size: 3, Every: time.Second, Count: 1}}, Client: c,
		Start: time.Now().Add(-300 * time.Millisecond),
		Sink:  SinkFunc(func(rec *Record) { lags = append(lags, rec.Lag()) })})
	if err != nil {
		t.Fatal(err)
	}
	st := r.Run(context.Background())
	if st.LateStart < 300*time.Millisecond {
		t.Errorf("LateStart %v, want ≥ 300ms", st.LateStart)
	}
	for _, l := range lags {
		if l < 300*time.Millisecond {
			t.Errorf("lag %v of a request due 300 ms before the run began", l)
		}
	}
}
