package loadgen

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// allRuns is every mode on every engine that runs plain HTTP.
var allRuns = []struct {
	mode   ConnMode
	engine Engine
}{{NewConn, EngineGoroutines}, {NewConn, EngineLoop}, {KeepAlive, EngineGoroutines}, {KeepAlive, EngineLoop}}

// With Connection: close the server closes first, so TIME_WAIT stays on
// its side; the client waits for the FIN off the request's path: the
// record is complete long before the server closes.
func TestServerClosesFirst(t *testing.T) {
	const hold = 300 * time.Millisecond
	for _, engine := range keepAliveEngines {
		t.Run(engine.String(), func(t *testing.T) {
			var clientFirst, served atomic.Int64
			srv := newRawServer(t, func(c net.Conn) {
				defer c.Close()
				if _, err := readRequest(c); err != nil {
					return
				}
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"))
				served.Add(1)
				c.SetReadDeadline(time.Now().Add(hold / 3))
				var b [1]byte
				if _, err := c.Read(b[:]); !isTimeout(err) {
					clientFirst.Add(1) // EOF: the client closed before us
				}
			})
			recs, _ := collectWith(t, engine, ClientConfig{Request: Request{URL: srv.url()}, Mode: NewConn},
				Schedule{Burst{Size: 3, Every: 10 * time.Millisecond, Count: 2}})
			if len(recs) != 6 {
				t.Fatalf("%d records", len(recs))
			}
			for _, r := range recs {
				if r.Status != 200 || !r.NewConn {
					t.Fatalf("status %d new %v (%s)", r.Status, r.NewConn, r.ErrorText)
				}
				if r.Total() >= hold/3 {
					t.Fatalf("request took %v: it waited for the server's close", r.Total())
				}
			}
			if n := clientFirst.Load(); n != 0 {
				t.Fatalf("the client closed first on %d of %d connections", n, served.Load())
			}
		})
	}
}

// A connect that gets no answer (the accept queue is full: SYNs dropped)
// is a connect_timeout after ConnectTimeout, in every mode on every engine.
func TestConnectTimeoutEveryRun(t *testing.T) {
	for _, run := range allRuns {
		t.Run(run.mode.String()+"/"+run.engine.String(), func(t *testing.T) {
			addr := fullListener(t)
			const ct = 150 * time.Millisecond
			recs, _ := collectWith(t, run.engine, ClientConfig{Request: Request{URL: "http://" + addr + "/"}, Mode: run.mode, Connections: 2,
				Timeout: 5 * time.Second, ConnectTimeout: ct}, Schedule{Burst{Size: 2, Every: time.Millisecond, Count: 1}})
			if len(recs) != 2 {
				t.Fatalf("%d records", len(recs))
			}
			for _, r := range recs {
				if r.Error != ErrConnectTimeout || !r.NewConn {
					t.Fatalf("class %q (%s), want connect_timeout", r.Error, r.ErrorText)
				}
				if r.Total() < ct || r.Total() > 10*ct {
					t.Fatalf("failed after %v, connect timeout %v", r.Total(), ct)
				}
			}
		})
	}
}

// A dropped SYN is counted as the goroutine engine counts it (TCP_INFO
// right after connect), on the loop too: the queue frees after the first
// SYN was dropped, the retransmitted one gets through.
func TestSynRetransmitsEveryEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a SYN retransmit (1 s)")
	}
	for _, engine := range keepAliveEngines {
		t.Run(engine.String(), func(t *testing.T) {
			t.Parallel()
			var wg sync.WaitGroup
			t.Cleanup(wg.Wait) // last: after the listener and the fillers close
			ln, addr := fullNetListener(t)
			// Free the queue once the first SYN was dropped: accept and
			// answer everything from then on.
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(300 * time.Millisecond) // the server's state, not synchronisation: the SYN at 0 is dropped, the one at ≈1 s is not
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					wg.Add(1)
					go func() { defer wg.Done(); serveEach("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false)(c) }()
				}
			}()
			recs, _ := collectWith(t, engine, ClientConfig{Request: Request{URL: "http://" + addr + "/"}, Mode: NewConn, Timeout: 10 * time.Second},
				Schedule{Burst{Size: 1, Every: time.Millisecond, Count: 1}})
			if len(recs) != 1 || recs[0].Status != 200 {
				t.Fatalf("records %+v", recs)
			}
			if r := recs[0]; r.SynRetrans < 1 || r.Connect() < 500*time.Millisecond {
				t.Fatalf("syn retransmits %d, connect %v: the first SYN was dropped", r.SynRetrans, r.Connect())
			}
		})
	}
}

// fullNetListener is fullListener as a net.Listener (backlog 0, its queue
// filled), so a test can start accepting later.
func fullNetListener(t *testing.T) (net.Listener, string) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	addr := ln.Addr().String()
	for i := 0; i < 2; i++ { // fill the queue (backlog+1)
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	return ln, addr
}

// Host names run on the loop: the first requests wait for the lookup (a
// DNS phase), later ones use its answer; every request succeeds.
func TestHostNameEveryRun(t *testing.T) {
	for _, run := range allRuns {
		t.Run(run.mode.String()+"/"+run.engine.String(), func(t *testing.T) {
			srv := newRawServer(t, serveEach("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false))
			_, port, _ := net.SplitHostPort(srv.ln.Addr().String())
			cc := ClientConfig{Request: Request{URL: "http://localhost:" + port + "/"}, Mode: run.mode, Connections: 2}
			c, _ := NewClient(cc)
			if run.engine == EngineLoop && run.mode == KeepAlive {
				if got, err := c.EngineFor(EngineAuto); err != nil || got != EngineLoop {
					t.Fatalf("EngineFor(auto) = %s %v, want loop", got, err)
				}
			}
			recs, _ := collectWith(t, run.engine, cc, Schedule{Burst{Size: 2, Every: 20 * time.Millisecond, Count: 3}})
			if len(recs) != 6 {
				t.Fatalf("%d records", len(recs))
			}
			dns := 0
			for _, r := range recs {
				if r.Status != 200 {
					t.Fatalf("status %d class %q (%s)", r.Status, r.Error, r.ErrorText)
				}
				if r.DNSDone > 0 {
					dns++
					if r.DNSDone < r.Start || r.ConnectDone < r.DNSDone {
						t.Fatalf("phases out of order: start %v dns %v connect %v", r.Start, r.DNSDone, r.ConnectDone)
					}
				}
			}
			if dns == 0 {
				t.Fatal("no request has a DNS phase")
			}
		})
	}
}

// withLookup replaces the resolver for one test.
func withLookup(t *testing.T, f func(ctx context.Context, host string) ([]net.IPAddr, error)) {
	old := lookupIPAddr
	lookupIPAddr = f
	t.Cleanup(func() { lookupIPAddr = old })
}

// A failed lookup is a dns error for each request waiting on it, on both
// engines, with the resolver's text; a lookup that never answers is one
// too, at the request's timeout.
func TestLookupFailuresEveryRun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lookup func(ctx context.Context, host string) ([]net.IPAddr, error)
		text   string
	}{
		{"no such host", func(ctx context.Context, host string) ([]net.IPAddr, error) {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}, "lookup nowhere.test: no such host"},
		{"no addresses", func(ctx context.Context, host string) ([]net.IPAddr, error) { return nil, nil }, "no addresses"},
		{"never answers", func(ctx context.Context, host string) ([]net.IPAddr, error) {
			<-ctx.Done()
			return nil, &net.DNSError{Err: "i/o timeout", Name: host, IsTimeout: true}
		}, "i/o timeout"},
	} {
		for _, run := range allRuns {
			t.Run(tc.name+"/"+run.mode.String()+"/"+run.engine.String(), func(t *testing.T) {
				withLookup(t, tc.lookup)
				recs, _ := collectWith(t, run.engine, ClientConfig{Request: Request{URL: "http://nowhere.test:80/"}, Mode: run.mode, Connections: 2,
					Timeout: 200 * time.Millisecond}, Schedule{Burst{Size: 3, Every: time.Millisecond, Count: 1}})
				if len(recs) != 3 {
					t.Fatalf("%d records", len(recs))
				}
				for _, r := range recs {
					if r.Error != ErrDNS || !strings.Contains(r.ErrorText, tc.text) {
						t.Fatalf("class %q (%s), want dns mentioning %q", r.Error, r.ErrorText, tc.text)
					}
					if r.Total() > 2*time.Second {
						t.Fatalf("took %v", r.Total())
					}
				}
			})
		}
	}
}

// New connections take a name's IPv4 addresses in turn, on both engines,
// and never its IPv6 ones while it has IPv4 ones.
func TestAddressesInTurn(t *testing.T) {
	ln1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln1.Addr().(*net.TCPAddr).Port
	ln2, err := net.Listen("tcp", "127.0.0.2:"+strconv.Itoa(port))
	ln1.Close()
	if err != nil {
		t.Skipf("127.0.0.2:%d: %v", port, err)
	}
	ln2.Close()
	var per [2]atomic.Int64
	for k, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		ln, err := net.Listen("tcp", ip+":"+strconv.Itoa(port))
		if err != nil {
			t.Skipf("%s:%d: %v", ip, port, err)
		}
		s := &rawServer{ln: ln}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				per[k].Add(1)
				s.wg.Add(1)
				go func() { defer s.wg.Done(); serveEach("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false)(c) }()
			}
		}()
		t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	}
	withLookup(t, func(ctx context.Context, host string) ([]net.IPAddr, error) {
		return []net.IPAddr{{IP: net.ParseIP("::1")}, {IP: net.ParseIP("127.0.0.1")}, {IP: net.ParseIP("127.0.0.2")}}, nil
	})
	for _, engine := range keepAliveEngines {
		t.Run(engine.String(), func(t *testing.T) {
			per[0].Store(0)
			per[1].Store(0)
			recs, _ := collectWith(t, engine, ClientConfig{Request: Request{URL: "http://both.test:" + strconv.Itoa(port) + "/"}, Mode: NewConn},
				Schedule{Constant{Rate: 200, Duration: 100 * time.Millisecond}})
			for _, r := range recs {
				if r.Status != 200 {
					t.Fatalf("class %q (%s): an IPv6 address was used?", r.Error, r.ErrorText)
				}
			}
			if a, b := per[0].Load(), per[1].Load(); a+b != int64(len(recs)) || a < 8 || b < 8 || a-b > 1 || b-a > 1 {
				t.Fatalf("connections per address %d and %d for %d requests: want them in turn", a, b, len(recs))
			}
		})
	}
}

// A burst's spread is reported: first to last start of each burst's
// requests, on every engine; bursts of new connections on the loop leave
// together (bound generous: a shared machine).
func TestBurstSpreadEveryRun(t *testing.T) {
	for _, run := range allRuns {
		t.Run(run.mode.String()+"/"+run.engine.String(), func(t *testing.T) {
			srv := fastServer(t)
			const size = 200
			recs, st := collectWith(t, run.engine, ClientConfig{Request: Request{URL: srv.url()}, Mode: run.mode, Connections: size},
				Schedule{Burst{Size: size, Every: 100 * time.Millisecond, Count: 3}})
			if len(recs) != 3*size {
				t.Fatalf("%d records", len(recs))
			}
			if st.Bursts != 3 {
				t.Fatalf("%d bursts, want 3", st.Bursts)
			}
			var lo, hi time.Duration = time.Hour, 0
			for _, r := range recs {
				if r.Intended == 0 {
					lo, hi = min(lo, r.Start), max(hi, r.Start)
				}
			}
			if st.BurstSpreadMax < hi-lo || st.BurstSpreadMax <= 0 {
				t.Fatalf("spread max %v, the first burst alone spread %v", st.BurstSpreadMax, hi-lo)
			}
			if run.engine == EngineLoop && st.BurstSpreadMax > 100*time.Millisecond {
				t.Fatalf("a burst of %d took %v to leave", size, st.BurstSpreadMax)
			}
		})
	}
}
