package loadgen

import (
	"context"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Engines must agree: the same bytes on the wire give the same status,
// error class and byte count on both keep-alive engines.
func TestEnginesAgreeOnTheWire(t *testing.T) {
	interims := strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 1000)
	tests := []struct {
		name    string
		resp    string
		status  int
		class   ErrorClass
		bytesIn int64 // -1: len(resp)
		text    string
	}{
		{"1000 interim responses then 200", interims + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, ErrNone, -1, ""},
		{"101 switching protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 0, ErrProtocol, -1, "101 Switching Protocols"},
		{"bytes after a Content-Length body", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokSTRAY BYTES", 200, ErrNone, int64(len("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")), ""},
		{"identical duplicate Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", 200, ErrNone, -1, ""},
		{"differing duplicate Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", 0, ErrProtocol, int64(len("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n")), "Content-Length"},
		{"bare LF line ends", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 200, ErrNone, -1, ""},
		{"bare LF then CRLF blank line", "HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok", 200, ErrNone, -1, ""},
		{"bare LF chunked", "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n", 200, ErrNone, -1, ""},
		{"interim with headers then 204", "HTTP/1.1 100 Continue\r\nX-A: 1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 204, ErrNone, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [2]Record
			for k, engine := range keepAliveEngines {
				srv := newRawServer(t, serveEach(tt.resp, false))
				start := time.Now()
				recs, _ := collectWith(t, engine, ClientConfig{Request: Request{URL: srv.url()}, Connections: 1, Timeout: 5 * time.Second},
					Schedule{Burst{Size: 1, Every: time.Millisecond, Count: 1}})
				if len(recs) != 1 {
					t.Fatalf("%s: %d records", engine, len(recs))
				}
				r := recs[0]
				if r.Status != tt.status || r.Error != tt.class {
					t.Fatalf("%s: status %d class %q (%s); want %d %q", engine, r.Status, r.Error, r.ErrorText, tt.status, tt.class)
				}
				if !strings.Contains(r.ErrorText, tt.text) {
					t.Fatalf("%s: error text %q, want it to mention %q", engine, r.ErrorText, tt.text)
				}
				want := tt.bytesIn
				if want < 0 {
					want = int64(len(tt.resp))
				}
				if int64(r.BytesIn) != want {
					t.Errorf("%s: bytes in %d, want %d", engine, r.BytesIn, want)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("%s: took %v: the response was complete long before", engine, d)
				}
				got[k] = r
			}
			if got[0].Status != got[1].Status || got[0].Error != got[1].Error || got[0].BytesIn != got[1].BytesIn {
				t.Fatalf("engines disagree: %s %d %q %d, %s %d %q %d", keepAliveEngines[0], got[0].Status, got[0].Error, got[0].BytesIn,
					keepAliveEngines[1], got[1].Status, got[1].Error, got[1].BytesIn)
			}
		})
	}
}

// A server that sends interim responses forever cannot hold a request
// until its timeout: past the bound it is a protocol_error, on both engines.
func TestEndlessInterimResponsesAreBounded(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine Engine) {
		srv := newRawServer(t, func(c net.Conn) {
			readRequest(c)
			hint := []byte(strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", 100))
			for {
				if _, err := c.Write(hint); err != nil {
					c.Close()
					return
				}
			}
		})
		recs, _ := collectWith(t, engine, ClientConfig{Request: Request{URL: srv.url()}, Connections: 1, Timeout: 20 * time.Second},
			Schedule{Burst{Size: 1, Every: time.Millisecond, Count: 1}})
		if len(recs) != 1 || recs[0].Error != ErrProtocol || !strings.Contains(recs[0].ErrorText, "interim") {
			t.Fatalf("records %+v: want one protocol_error about interim responses", recs)
		}
		if recs[0].Total() > 10*time.Second {
			t.Fatalf("took %v", recs[0].Total())
		}
	})
}

// A 100 MB body is streamed through, never held: ok on both engines, with
// its bytes counted and little memory allocated on the way.
func TestLargeBodyIsStreamed(t *testing.T) {
	const size = 100_000_000
	forEachEngine(t, func(t *testing.T, engine Engine) {
		chunk := make([]byte, 64<<10)
		srv := newRawServer(t, func(c net.Conn) {
			defer c.Close()
			if _, err := readRequest(c); err != nil {
				return
			}
			if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n")); err != nil {
				return
			}
			for left := size; left > 0; {
				n := min(left, len(chunk))
				if _, err := c.Write(chunk[:n]); err != nil {
					return
				}
				left -= n
			}
		})
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		recs, _ := collectWith(t, engine, ClientConfig{Request: Request{URL: srv.url()}, Connections: 1, Timeout: 60 * time.Second},
			Schedule{Burst{Size: 1, Every: time.Millisecond, Count: 1}})
		runtime.ReadMemStats(&after)
		if len(recs) != 1 || recs[0].Error != ErrNone || recs[0].Status != 200 {
			t.Fatalf("records %+v: want one 200", recs)
		}
		if int64(recs[0].BytesIn) <= size {
			t.Fatalf("bytes in %d, body alone is %d", recs[0].BytesIn, size)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 50<<20 {
			t.Fatalf("allocated %d MB reading a %d MB body: it was held, not streamed", alloc>>20, size/1_000_000)
		}
	})
}

// Pools grow with use, not with their bound: a run configured for 10⁸
// connections and 10⁶ requests in flight that sends 20 requests is quick
// and small.
func TestHugePoolBoundsCostNothing(t *testing.T) {
	conns := int(1e8)
	if s := os.Getenv("QG_HUGE_POOL"); s != "" { // to check old code without exhausting the machine
		conns, _ = strconv.Atoi(s)
	}
	forEachEngine(t, func(t *testing.T, engine Engine) {
		srv := newRawServer(t, serveEach("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false))
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		c, err := NewClient(ClientConfig{Request: Request{URL: srv.url()}, Connections: conns})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var n, ok atomic.Int64
		r, err := NewRunner(Config{Schedule: Schedule{Constant{Rate: 200, Duration: 100 * time.Millisecond}}, Client: c, Engine: engine, MaxInflight: 1e6,
			Sink: SinkFunc(func(rec *Record) {
				n.Add(1)
				if rec.Status == 200 {
					ok.Add(1)
				}
			})})
		if err != nil {
			t.Fatal(err)
		}
		r.Run(context.Background())
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		if n.Load() != 20 || ok.Load() != 20 {
			t.Fatalf("%d records, %d ok; want 20 ok", n.Load(), ok.Load())
		}
		if elapsed > 3*time.Second {
			t.Fatalf("20 requests over 100 ms took %v", elapsed)
		}
		if grew := int64(after.Sys) - int64(before.Sys); grew > 50<<20 {
			t.Fatalf("memory from the OS grew by %d MB for 20 requests", grew>>20)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 50<<20 {
			t.Fatalf("allocated %d MB for 20 requests", alloc>>20)
		}
	})
}

// Goroutine engine with a large pool: workers start on demand, so the first
// requests are not late (spawning 10⁶ workers up front made every request
// ≈2 s late).
func TestLargePoolRequestsStartOnTime(t *testing.T) {
	srv := newRawServer(t, serveEach("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false))
	recs, _ := collectWith(t, EngineGoroutines, ClientConfig{Request: Request{URL: srv.url()}, Connections: 1_000_000},
		Schedule{Constant{Rate: 100, Duration: 100 * time.Millisecond}})
	if len(recs) != 10 {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		if r.Status != 200 || r.Lag() > 250*time.Millisecond {
			t.Fatalf("status %d lag %v: want 200, on time", r.Status, r.Lag())
		}
	}
}

// --max-inflight on keep-alive runs, both engines: with 2 slots and a slow
// server, requests wait for a slot, are flagged, and none is lost.
func TestMaxInflightKeepAlive(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine Engine) {
		srv := newRawServer(t, serveEachAfter(100*time.Millisecond, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false))
		c, err := NewClient(ClientConfig{Request: Request{URL: srv.url()}, Connections: 8})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var mu sync.Mutex
		var n, waited, maxInflight int
		var inflight atomic.Int64
		r, err := NewRunner(Config{Schedule: Schedule{Burst{Size: 6, Every: time.Millisecond, Count: 1}}, Client: c, Engine: engine, MaxInflight: 2,
			Sink: SinkFunc(func(rec *Record) {
				mu.Lock()
				defer mu.Unlock()
				n++
				if rec.WaitedSlot {
					waited++
				}
				if rec.Status != 200 {
					t.Errorf("seq %d: status %d class %q (%s)", rec.Seq, rec.Status, rec.Error, rec.ErrorText)
				}
			})})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { // the bound holds throughout
			defer close(done)
			for {
				select {
				case <-r.Done():
					return
				default:
				}
				if v := r.Progress.InFlight(); v > inflight.Load() {
					inflight.Store(v)
				}
				runtime.Gosched()
			}
		}()
		st := r.Run(context.Background())
		<-done
		maxInflight = int(inflight.Load())
		if n != 6 || st.Started != 6 || st.Completed != 6 {
			t.Fatalf("%d records, stats %+v: every request must be recorded", n, st)
		}
		if waited < 2 || int64(waited) != st.SlotWaits {
			t.Fatalf("%d records waited for a slot, stats say %d; want ≥ 2 and equal", waited, st.SlotWaits)
		}
		if maxInflight > 2 {
			t.Fatalf("%d in flight with --max-inflight 2", maxInflight)
		}
	})
}

// Cancelling a run whose requests all hang returns within a second on
// both engines, with every started request recorded as canceled: against
// a server that accepts and never answers, and one whose accept queue is
// full (connects hang in SYN retries). The schedule's next burst is an
// hour away: the dispatcher must not sleep through the cancel.
func TestCancelReturnsPromptly(t *testing.T) {
	type target struct {
		name string
		url  func(t *testing.T, accepted chan<- struct{}) string
	}
	targets := []target{
		{"accepts and never answers", func(t *testing.T, accepted chan<- struct{}) string {
			block := make(chan struct{})
			srv := newRawServer(t, func(c net.Conn) {
				accepted <- struct{}{}
				readRequest(c)
				<-block
				c.Close()
			})
			t.Cleanup(func() { close(block) }) // before the server's cleanup waits for its handlers
			return srv.url()
		}},
		{"accept queue full", func(t *testing.T, accepted chan<- struct{}) string {
			addr := fullListener(t)
			close(accepted) // nothing will ever be accepted
			return "http://" + addr + "/"
		}},
	}
	runs := []struct {
		mode   ConnMode
		engine Engine
	}{{NewConn, EngineGoroutines}, {NewConn, EngineLoop}, {KeepAlive, EngineGoroutines}, {KeepAlive, EngineLoop}}
	for _, tg := range targets {
		for _, run := range runs {
			t.Run(tg.name+"/"+run.mode.String()+"/"+run.engine.String(), func(t *testing.T) {
				const n = 4
				accepted := make(chan struct{}, 64)
				url := tg.url(t, accepted)
				c, err := NewClient(ClientConfig{Request: Request{URL: url}, Mode: run.mode, Connections: n, Timeout: time.Minute, ConnectTimeout: time.Minute})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				var total, canceled atomic.Int64
				r, err := NewRunner(Config{Schedule: Schedule{Burst{Size: n, Every: time.Hour, Count: 2}}, Client: c, Engine: run.engine,
					Sink: countCanceled(&total, &canceled)})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				returned := make(chan Stats, 1)
				go func() { returned <- r.Run(ctx) }()
				for i := 0; i < n; i++ {
					if _, ok := <-accepted; !ok {
						break
					}
				}
				for r.Progress.Started.Load() < n { // the burst is under way
					runtime.Gosched()
				}
				cancel()
				canceledAt := time.Now()
				var st Stats
				select {
				case st = <-returned:
				case <-time.After(10 * time.Second):
					t.Fatal("Run still going 10 s after cancel")
				}
				if d := time.Since(canceledAt); d > time.Second {
					t.Fatalf("Run returned %v after cancel, want < 1 s", d)
				}
				if st.Started != n || total.Load() != n || canceled.Load() != n {
					t.Fatalf("started %d, recorded %d, canceled %d; want %d each", st.Started, total.Load(), canceled.Load(), n)
				}
			})
		}
	}
}

// fullListener listens with a backlog of 0 (the kernel holds one
// connection) and never accepts; it fills the queue itself, so further
// SYNs are dropped and connects hang.
func fullListener(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
	for i := 0; i < 2; i++ { // fill the queue (backlog+1)
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr
}

// Credentials in the URL become Basic authorization, never part of an
// error text; an explicit Authorization header wins.
func TestURLUserInfo(t *testing.T) {
	var mu sync.Mutex
	var auths []string
	srv := newRawServer(t, serveRequests(func(req *http.Request) string {
		mu.Lock()
		auths = append(auths, req.Header.Get("Authorization"))
		mu.Unlock()
		return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	}))
	u := "http://user:secretpw@" + srv.ln.Addr().String() + "/x"
	collect(t, ClientConfig{Request: Request{URL: u}, Connections: 1}, Schedule{Burst{Size: 1, Every: time.Millisecond, Count: 1}})
	collect(t, ClientConfig{Request: Request{URL: u, Headers: [][2]string{{"Authorization", "Bearer tok"}}}, Connections: 1},
		Schedule{Burst{Size: 1, Every: time.Millisecond, Count: 1}})
	mu.Lock()
	got := append([]string(nil), auths...)
	mu.Unlock()
	if len(got) != 2 || got[0] != "Basic dXNlcjpzZWNyZXRwdw==" || got[1] != "Bearer tok" {
		t.Fatalf("Authorization sent: %q; want Basic user:secretpw, then the explicit header", got)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := ln.Addr().String()
	ln.Close()
	for _, engine := range []Engine{EngineGoroutines, EngineLoop} {
		recs, _ := collectWith(t, engine, ClientConfig{Request: Request{URL: "http://user:secretpw@" + refused + "/"}, Connections: 1},
			Schedule{Burst{Size: 1, Every: time.Millisecond, Count: 1}})
		if len(recs) != 1 || recs[0].ErrorText == "" || strings.Contains(recs[0].ErrorText, "secretpw") {
			t.Fatalf("%s: records %+v: want an error text without the password", engine, recs)
		}
	}
	for _, bad := range []string{"http://user:secretpw@127.0.0.1:99999/", "ftp://user:secretpw@x/", "http://user:secretpw@[::1/"} {
		if _, err := NewClient(ClientConfig{Request: Request{URL: bad}}); err == nil || strings.Contains(err.Error(), "secretpw") {
			t.Errorf("NewClient(%q): %v; want an error without the password", bad, err)
		}
	}
}

// X-Request-Id is queuegap's per request: a user's own is an error while
// the run sets it, and sent as given when it does not.
func TestUserRequestIDHeader(t *testing.T) {
	hdr := [][2]string{{"X-Request-Id", "mine"}}
	_, err := NewClient(ClientConfig{Request: Request{URL: "http://127.0.0.1:1/", Headers: hdr}, RunID: "run1"})
	want := `header "X-Request-Id" is set by queuegap per request (<run-id>-<seq>); use --no-request-id to send your own`
	if err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
	var mu sync.Mutex
	var ids []string
	srv := newRawServer(t, func(c net.Conn) {
		req, err := readRequest(c)
		if err == nil {
			mu.Lock()
			ids = append(ids, req.Header.Values("X-Request-Id")...)
			mu.Unlock()
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		c.Close()
	})
	collect(t, ClientConfig{Request: Request{URL: srv.url(), Headers: hdr}, Mode: NewConn}, Schedule{Burst{Size: 1, Every: time.Millisecond, Count: 1}})
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 1 || ids[0] != "mine" {
		t.Fatalf("server saw X-Request-Id %q, want [mine]", ids)
	}
}

// Steady keep-alive traffic allocates nothing per request on either
// engine: the marginal allocations of 3000 more requests stay near zero.
// The server answers without allocating, so the process count is ours.
func TestNoAllocationsPerRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates per request itself")
	}
	forEachEngine(t, func(t *testing.T, engine Engine) {
		srv := fastServer(t)
		assertFewAllocsPerRequest(t, func(n int, sink Sink) (Config, func()) {
			c, err := NewClient(ClientConfig{Request: Request{URL: srv.url()}, Connections: 4})
			if err != nil {
				t.Fatal(err)
			}
			return Config{Schedule: rate5000(n), Client: c, Engine: engine, Sink: sink}, c.Close
		})
	})
}

// assertFewAllocsPerRequest runs the config newRun makes for 500 and for
// 3 500 requests (at 5 000/s: rate5000(n)) and fails if the difference is
// more than 0.2 allocations per request. Mallocs counts the whole process:
// another test's goroutines winding down can add to one attempt, never take
// away, so the best of three is the run's own figure.
func assertFewAllocsPerRequest(t *testing.T, newRun func(n int, sink Sink) (Config, func())) {
	t.Helper()
	run := func(n int) uint64 {
		var got atomic.Int64
		cfg, done := newRun(n, SinkFunc(func(rec *Record) {
			if rec.Status == 200 {
				got.Add(1)
			}
		}))
		defer done()
		r, err := NewRunner(cfg)
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r.Run(context.Background())
		runtime.ReadMemStats(&after)
		if got.Load() != int64(n) {
			t.Fatalf("%d of %d ok", got.Load(), n)
		}
		return after.Mallocs - before.Mallocs
	}
	var small, large uint64
	perRequest := math.Inf(1)
	for try := 0; try < 3 && perRequest > 0.2; try++ {
		small, large = run(500), run(3500)
		perRequest = (float64(large) - float64(small)) / 3000
	}
	if perRequest > 0.2 {
		t.Fatalf("%.2f allocations per request (%d for 500, %d for 3500)", perRequest, small, large)
	}
}

// rate5000 is a schedule of n requests at 5 000/s.
func rate5000(n int) Schedule {
	return Schedule{Constant{Rate: 5000, Duration: time.Duration(n) * time.Second / 5000}}
}
