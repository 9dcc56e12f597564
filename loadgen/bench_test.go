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
func BenchmarkRun(b *testing.B) {
	for _, engine := range keepAliveEngines {
		b.Run(engine.String(), func(b *testing.B) {
			srv := fastServer(b)
			c, err := NewClient(ClientConfig{Request: Request{URL: srv.url()}, Connections: 8, RunID: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			const rate = 100000
			r, err := NewRunner(Config{Schedule: Schedule{Constant{Rate: rate, Duration: time.Duration(b.N)*time.Second/rate + time.Microsecond}},
				Client: c, Engine: engine})
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
		})
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
