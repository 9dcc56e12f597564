package loadgen

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"
)

// fastServer answers every request (headers only, no body expected) at
// once without allocating, so a benchmark measures the generator.
func fastServer(tb testing.TB) *rawServer {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	return newRawServer(tb, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 4096)
		const end = "\r\n\r\n"
		match := 0
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			for _, ch := range buf[:n] {
				switch {
				case ch == end[match]:
					match++
				case ch == '\r':
					match = 1
				default:
					match = 0
				}
				if match == len(end) {
					c.Write(resp)
					match = 0
				}
			}
		}
	})
}

// processCPU is the process's user+system CPU time so far (the in-process
// server's included: the figure compares runs, it is not queuegap's cost).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRun is the generator's cost per request on each keep-alive
// engine: b.N requests at 100 000/s over 8 connections to a server that
// answers at once. ns/op is wall time per request (so bounded below by the
// rate, 10 µs), allocs/op includes the run's setup spread over b.N.
//
// The mix variants send three requests picked by weight, with a retry
// behaviour on that never fires: the cost of the pick and of the retry
// check on the hot path.
func BenchmarkRun(b *testing.B) {
	for _, engine := range keepAliveEngines {
		for _, mix := range []bool{false, true} {
			name := engine.String()
			if mix {
				name += "/mix"
			}
			b.Run(name, func(b *testing.B) { benchmarkRun(b, engine, mix) })
		}
	}
}

func benchmarkRun(b *testing.B, engine Engine, mix bool) {
	srv := fastServer(b)
	cc := ClientConfig{Request: Request{URL: srv.url()}, Connections: 8, RunID: "bench"}
	if mix {
		base := "http://" + srv.ln.Addr().String()
		cc.Mix = []Request{{Weight: 6, URL: base + "/a"}, {Weight: 3, URL: base + "/b?q=1"}, {Weight: 1, URL: base + "/c"}}
	}
	c, err := NewClient(cc)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const rate = 100000
	sched := Schedule{Constant{Rate: rate, Duration: time.Duration(b.N)*time.Second/rate + time.Microsecond}}
	cfg := Config{Schedule: sched, Client: c, Engine: engine}
	if mix {
		cfg = Config{Engine: engine, Lanes: []Lane{{Schedule: sched, Client: c, Retry: Retry{OnTimeout: 1, OnStatus: 2, Statuses: []int{503}}}}}
	}
	r, err := NewRunner(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	st := r.Run(context.Background())
	cpu := processCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/req")
	if st.Completed < int64(b.N) {
		b.Fatalf("%d of %d completed", st.Completed, b.N)
	}
}

// BenchmarkPick is one weighted pick from a mix of 20.
func BenchmarkPick(b *testing.B) {
	reqs := make([]Request, 20)
	for i := range reqs {
		reqs[i].Weight = float64(i + 1)
	}
	tab := newAliasTable(reqs)
	rng := newRNG(1)
	b.ReportAllocs()
	for b.Loop() {
		tab.pick(rng)
	}
}

// BenchmarkAppendRequest is the per-request cost of rendering the bytes.
func BenchmarkAppendRequest(b *testing.B) {
	c, err := NewClient(ClientConfig{Request: Request{URL: "http://127.0.0.1:1/x", Headers: [][2]string{{"X-A", "b"}}}, RunID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = c.appendRequest(buf[:0], uint64(i), 0)
	}
}
