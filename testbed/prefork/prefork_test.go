package prefork

import (
	"context"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/queuegap/queuegap/loadgen"
)

func burst(t *testing.T, url string, n int) []loadgen.Record {
	t.Helper()
	return burstWithin(t, url, n, 0)
}

// burstWithin is burst with a per-request timeout (0: the client's default).
func burstWithin(t *testing.T, url string, n int, timeout time.Duration) []loadgen.Record {
	t.Helper()
	c, err := loadgen.NewClient(loadgen.ClientConfig{Request: loadgen.Request{URL: url}, Mode: loadgen.NewConn, RunID: "t", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	var recs []loadgen.Record
	r, err := loadgen.NewRunner(loadgen.Config{Schedule: loadgen.Schedule{loadgen.Burst{Size: n, Every: time.Second, Count: 1}}, Client: c,
		Sink: loadgen.SinkFunc(func(rec *loadgen.Record) {
			mu.Lock()
			recs = append(recs, *rec)
			mu.Unlock()
		})})
	if err != nil {
		t.Fatal(err)
	}
	r.Run(context.Background())
	return recs
}

// waves groups sorted totals: a gap of more than half a service time
// starts a new wave.
func waves(totals []time.Duration, service time.Duration) [][]time.Duration {
	sort.Slice(totals, func(i, j int) bool { return totals[i] < totals[j] })
	var out [][]time.Duration
	for i, d := range totals {
		if i == 0 || d-totals[i-1] > service/2 {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], d)
	}
	return out
}

func TestBurstCompletesInWaves(t *testing.T) {
	const workers = 4
	service := 300 * time.Millisecond
	var served sync.Map
	srv, err := Start(Config{Workers: workers, Backlog: 64, ServiceTime: service,
		OnRequest: func(s Served) { served.Store(s.RequestID, s) }})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	recs := burst(t, srv.URL(), 3*workers)
	var totals []time.Duration
	for _, r := range recs {
		if r.Status != 200 {
			t.Fatalf("status %d (%s %s)", r.Status, r.Error, r.ErrorText)
		}
		if r.SynRetrans != 0 || r.Connect() > 500*time.Millisecond {
			t.Fatalf("connect %v with %d SYN retransmits: the backlog of 64 should hold 12", r.Connect(), r.SynRetrans)
		}
		totals = append(totals, r.Total())
	}
	ws := waves(totals, service)
	if len(ws) != 3 {
		t.Fatalf("%d waves (%v), want 3", len(ws), ws)
	}
	for i, w := range ws {
		if len(w) != workers {
			t.Fatalf("wave %d has %d responses, want %d: %v", i+1, len(w), workers, ws)
		}
		// Wave k ends after about k service times: generous ratio bounds.
		mid := w[len(w)/2]
		if k := float64(i + 1); mid.Seconds() < 0.8*k*service.Seconds() || mid.Seconds() > k*service.Seconds()+0.5 {
			t.Fatalf("wave %d at %v, want ≈ %v", i+1, mid, time.Duration(k*float64(service)))
		}
	}
	// The app's own accounting sees the queue the clients waited in. A
	// worker accounts a request just after sending its response; Close
	// waits for the workers, so every OnRequest has returned.
	srv.Close()
	n := 0
	served.Range(func(_, v any) bool {
		s := v.(Served)
		if s.Service < service*9/10 || s.Service > 2*service {
			t.Errorf("served service %v", s.Service)
		}
		n++
		return true
	})
	if n != 3*workers {
		t.Fatalf("server accounted %d requests, want %d", n, 3*workers)
	}
}

func TestBacklogOverflowCausesSynRetries(t *testing.T) {
	srv, err := Start(Config{Workers: 2, Backlog: 2, ServiceTime: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// An overflowing accept queue also drops the handshake's last ACK: the
	// client believes it is connected and sends its request, which is
	// dropped too; the server later completes the connection from a SYN-ACK
	// retransmit, and the request waits for the client's data retransmit,
	// whose backoff can pass any timeout. That loss is real (it is what
	// clients see) but rare; bound the test's time and tolerate a few.
	recs := burstWithin(t, srv.URL(), 20, 15*time.Second)
	slow, retrans, lost := 0, 0, 0
	for _, r := range recs {
		if r.Error == loadgen.ErrTimeout && r.Connect() > 0 {
			lost++
			t.Logf("connected in %v (%d SYN retransmits), then no response within 15 s", r.Connect(), r.SynRetrans)
			continue
		}
		if r.Status != 200 {
			t.Fatalf("status %d (%s %s)", r.Status, r.Error, r.ErrorText)
		}
		if r.Connect() >= 900*time.Millisecond {
			slow++
			if r.SynRetrans == 0 {
				t.Errorf("connect %v without a SYN retransmit in TCP_INFO", r.Connect())
			}
		}
		if r.SynRetrans > 0 {
			retrans++
		}
		// TCP_INFO's count only grows: re-read at the first byte it can
		// never be below the count right after connect.
		if r.Retrans < r.SynRetrans {
			t.Errorf("retransmits at first byte %d < at connect %d", r.Retrans, r.SynRetrans)
		}
	}
	// The accept queue holds backlog+1 = 3 beside 2 busy workers: most of
	// the burst's SYNs are dropped and retried after ≥ 1 s.
	if lost > 4 {
		t.Fatalf("%d of 20 requests lost after connecting: more than a rare dropped-ACK loss", lost)
	}
	if slow < 5 || retrans < slow {
		t.Fatalf("%d connects ≥ 0.9 s, %d with SYN retransmits; want most of 20", slow, retrans)
	}
}

func TestHeadersAndQueryServiceTime(t *testing.T) {
	srv, err := Start(Config{Workers: 1, ServiceTime: time.Second, Headers: AllHeaders})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	start := time.Now()
	resp, err := http.Get(srv.URL() + "x?ms=20")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if el := time.Since(start); el > 800*time.Millisecond {
		t.Fatalf("?ms=20 took %v: the query should override the 1 s service time", el)
	}
	start = time.Now()
	fast, err := http.Get(srv.URL() + "fast")
	if err != nil {
		t.Fatal(err)
	}
	fast.Body.Close()
	if el := time.Since(start); el > 800*time.Millisecond {
		t.Fatalf("/fast took %v: like the testbed app's it should answer at once", el)
	}
	h := resp.Header
	if st := h.Get("Server-Timing"); !strings.Contains(st, "queue;dur=") || !strings.Contains(st, "app;dur=") {
		t.Errorf("Server-Timing %q", st)
	}
	for _, name := range []string{"X-Request-Start", "X-Runtime", "X-Response-Time", "X-Worker"} {
		if h.Get(name) == "" {
			t.Errorf("missing %s", name)
		}
	}
	if !strings.HasPrefix(h.Get("X-Request-Start"), "t=") {
		t.Errorf("X-Request-Start %q", h.Get("X-Request-Start"))
	}
}

func TestBadRequestAndClose(t *testing.T) {
	srv, err := Start(Config{Workers: 1, ServiceTime: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("NOT HTTP\r\n\r\n"))
	buf := make([]byte, 64)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := c.Read(buf)
	if !strings.Contains(string(buf[:n]), "400") {
		t.Errorf("garbage request answered %q, want a 400", buf[:n])
	}
	c.Close()
	// A client that connects and never sends must not keep Close waiting.
	idle, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung on an idle connection")
	}
	if _, err := Start(Config{Addr: "127.0.0.1:99999"}); err == nil {
		t.Error("bad address accepted")
	}
}
