package loadgen

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serveEach answers every request on a connection with resp (raw bytes),
// keeping the connection open unless close is set.
func serveEach(resp string, close bool) func(net.Conn) { return serveEachAfter(0, resp, close) }

// serveEachAfter is serveEach answering each request after delay.
func serveEachAfter(delay time.Duration, resp string, close bool) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				c.Close()
				return
			}
			time.Sleep(delay) // the server's service time
			c.Write([]byte(resp))
			if close {
				c.Close()
				return
			}
		}
	}
}

// Every way an HTTP/1.1 response can be framed, on both keep-alive engines:
// the status, the bytes counted, and whether the connection could be reused
// (three sequential requests on one connection: 1 accept when reusable).
func TestResponseFraming(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		resp     string
		close    bool
		reusable bool
		status   int
	}{
		{"content-length", "", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, true, 200},
		{"empty body", "", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, true, 200},
		{"chunked with extension and trailer", "", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n", false, true, 200},
		{"interim 100 then 200", "", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, true, 200},
		{"HEAD has no body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, true, 200},
		{"204 has no body", "", "HTTP/1.1 204 No Content\r\n\r\n", false, true, 204},
		{"connection close", "", "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy", true, false, 503},
		{"body until close", "", "HTTP/1.1 200 OK\r\n\r\nuntil the end", true, false, 200},
		{"bytes after the response", "", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", false, false, 200},
	}
	for _, tt := range tests {
		forEachEngine(t, func(t *testing.T, engine Engine) {
			t.Run(tt.name, func(t *testing.T) {
				srv := newRawServer(t, serveEach(tt.resp, tt.close))
				recs, _ := collectWith(t, engine, ClientConfig{Request: Request{URL: srv.url(), Method: tt.method}, Mode: KeepAlive, Connections: 1},
					Schedule{Constant{Rate: 50, Duration: 60 * time.Millisecond}})
				if len(recs) != 3 {
					t.Fatalf("%d records, want 3", len(recs))
				}
				for _, r := range recs {
					if r.Error != ErrNone || r.Status != tt.status {
						t.Fatalf("status %d, class %q (%s); want %d", r.Status, r.Error, r.ErrorText, tt.status)
					}
					want := int64(len(strings.TrimSuffix(tt.resp, "EXTRA")))
					if r.BytesIn != want {
						t.Errorf("bytes in %d, the response's own bytes are %d", r.BytesIn, want)
					}
					if !(r.Written <= r.FirstByte && r.FirstByte <= r.Done) {
						t.Errorf("phases out of order: written %v first byte %v done %v", r.Written, r.FirstByte, r.Done)
					}
				}
				want := int64(3)
				if tt.reusable {
					want = 1
				}
				if got := srv.accepts.Load(); got != want {
					t.Fatalf("%d connections for 3 requests, want %d", got, want)
				}
			})
		})
	}
}

// Failures after connect: on new connections, and on keep-alive ones on
// both engines. One request, one connection, one classified outcome.
func TestErrorClasses(t *testing.T) {
	tests := []struct {
		name    string
		handle  func(net.Conn)
		maxBody int
		want    ErrorClass
	}{
		{"garbage response", func(c net.Conn) { readRequest(c); c.Write([]byte("HELLO WORLD\r\n\r\n")); c.Close() }, 0, ErrProtocol},
		{"truncated body", func(c net.Conn) {
			readRequest(c)
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"))
			c.Close()
		}, 0, ErrProtocol},
		{"bad chunk size", func(c net.Conn) {
			readRequest(c)
			c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"))
		}, 0, ErrProtocol},
		{"body over the limit", func(c net.Conn) {
			readRequest(c)
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100)))
		}, 10, ErrProtocol},
		{"chunked body over the limit", func(c net.Conn) {
			readRequest(c)
			c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + strings.Repeat("x", 100) + "\r\n0\r\n\r\n"))
		}, 10, ErrProtocol},
		{"closed before answering", func(c net.Conn) { readRequest(c); c.Close() }, 0, ErrClosed},
		{"reset", func(c net.Conn) {
			readRequest(c)
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}, 0, ErrReset},
		{"hang", func(c net.Conn) { readRequest(c); time.Sleep(time.Second); c.Close() }, 0, ErrTimeout},
		{"headers never end", func(c net.Conn) {
			readRequest(c)
			c.Write([]byte("HTTP/1.1 200 OK\r\n"))
			for i := 0; i < 2000; i++ {
				if _, err := c.Write([]byte("X-Filler: " + strings.Repeat("y", 60) + "\r\n")); err != nil {
					break
				}
			}
			c.Close()
		}, 0, ErrProtocol},
	}
	for _, tt := range tests {
		for _, run := range []struct {
			mode   ConnMode
			engine Engine
		}{{NewConn, EngineGoroutines}, {NewConn, EngineLoop}, {KeepAlive, EngineGoroutines}, {KeepAlive, EngineLoop}} {
			t.Run(run.mode.String()+"/"+run.engine.String()+"/"+tt.name, func(t *testing.T) {
				srv := newRawServer(t, tt.handle)
				recs, _ := collectWith(t, run.engine, ClientConfig{Request: Request{URL: srv.url()}, Mode: run.mode, Connections: 1,
					Timeout: 300 * time.Millisecond, MaxBodyBytes: tt.maxBody},
					Schedule{Burst{Size: 1, Every: time.Millisecond, Count: 1}})
				if len(recs) != 1 {
					t.Fatalf("%d records", len(recs))
				}
				if recs[0].Error != tt.want {
					t.Fatalf("class %q (%s), want %q", recs[0].Error, recs[0].ErrorText, tt.want)
				}
				if recs[0].ErrorText == "" || strings.Contains(recs[0].ErrorText, "\n") {
					t.Fatalf("error text %q: want one line", recs[0].ErrorText)
				}
				if srv.accepts.Load() != 1 {
					t.Fatalf("%d connections for one request", srv.accepts.Load())
				}
			})
		}
	}
}

// Refused connects on keep-alive slots: one attempt per request.
func TestKeepAliveRefused(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	forEachEngine(t, func(t *testing.T, engine Engine) {
		recs, _ := collectWith(t, engine, ClientConfig{Request: Request{URL: "http://" + addr + "/"}, Mode: KeepAlive, Connections: 2},
			Schedule{Burst{Size: 5, Every: time.Millisecond, Count: 1}})
		if len(recs) != 5 {
			t.Fatalf("%d records, want 5", len(recs))
		}
		for _, r := range recs {
			if r.Error != ErrRefused || !r.NewConn || r.FirstByte != 0 {
				t.Fatalf("class %q (%s), new conn %v; want refused on a new connection", r.Error, r.ErrorText, r.NewConn)
			}
		}
	})
}

// The loop times a response by the kernel's receive time, not by when it
// reads it: with the server answering after a delay, TTFB covers the delay,
// and the receive time is never before the request was written.
func TestTTFBCoversServerDelay(t *testing.T) {
	const delay = 40 * time.Millisecond
	forEachEngine(t, func(t *testing.T, engine Engine) {
		srv := newRawServer(t, serveEachAfter(delay, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false))
		recs, _ := collectWith(t, engine, ClientConfig{Request: Request{URL: srv.url()}, Mode: KeepAlive, Connections: 4},
			Schedule{Constant{Rate: 100, Duration: 100 * time.Millisecond}})
		if len(recs) != 10 {
			t.Fatalf("%d records", len(recs))
		}
		for _, r := range recs {
			if got := r.FirstByte - r.Written; got < delay {
				t.Fatalf("first byte %v after the write, server waited %v", got, delay)
			}
			if r.TTFB() > 50*delay {
				t.Fatalf("TTFB %v for a %v delay", r.TTFB(), delay)
			}
		}
	})
}

// Cancelling a run records every started request — in flight, or waiting
// for a keep-alive connection — as canceled, in each mode and engine.
func TestCancelStopsRunAndRecordsInFlight(t *testing.T) {
	for _, run := range []struct {
		mode   ConnMode
		engine Engine
	}{{NewConn, EngineGoroutines}, {NewConn, EngineLoop}, {KeepAlive, EngineGoroutines}, {KeepAlive, EngineLoop}} {
		t.Run(run.mode.String()+"/"+run.engine.String(), func(t *testing.T) {
			block := make(chan struct{})
			srv := newRawServer(t, func(c net.Conn) {
				readRequest(c)
				<-block
				c.Close()
			})
			defer close(block)
			c, _ := NewClient(ClientConfig{Request: Request{URL: srv.url()}, Mode: run.mode, Connections: 3})
			defer c.Close()
			ctx, cancel := context.WithCancel(context.Background())
			var canceled, total atomic.Int64
			r, err := NewRunner(Config{Schedule: Schedule{Constant{Rate: 200, Duration: time.Hour}}, Client: c, Engine: run.engine,
				Sink: countCanceled(&total, &canceled)})
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				for r.Progress.Started.Load() < 6 { // keep-alive: 3 in flight, 3 waiting for a connection
					time.Sleep(time.Millisecond)
				}
				cancel()
			}()
			st := r.Run(ctx)
			if !st.Interrupted || st.Started < 6 || st.NotSent <= 0 {
				t.Fatalf("stats after cancel: %+v", st)
			}
			if total.Load() != st.Started || canceled.Load() != st.Started {
				t.Fatalf("%d records, %d canceled, %d started: every started request must be recorded", total.Load(), canceled.Load(), st.Started)
			}
		})
	}
}

// countCanceled is a sink counting records and canceled ones.
func countCanceled(total, canceled *atomic.Int64) Sink {
	return SinkFunc(func(rec *Record) {
		total.Add(1)
		if rec.Error == ErrCanceled {
			canceled.Add(1)
		}
	})
}

// --engine loop refuses what it cannot run, with a reason.
func TestEngineLoopRefusesUnsupported(t *testing.T) {
	for _, cfg := range []ClientConfig{
		{Request: Request{URL: "https://127.0.0.1:1/"}, Mode: NewConn},
		{Request: Request{URL: "https://127.0.0.1:1/"}},
		{Request: Request{URL: "https://localhost:1/"}},
	} {
		c, err := NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewRunner(Config{Schedule: Schedule{Burst{Size: 1, Every: time.Second, Count: 1}}, Client: c, Engine: EngineLoop})
		if err == nil || !strings.Contains(err.Error(), "engine") {
			t.Errorf("%s %s: err %v, want a refusal naming the engine", cfg.URL, cfg.Mode, err)
		}
	}
	for _, s := range []string{"auto", "LOOP", "goroutines"} {
		if _, err := ParseEngine(s); err != nil {
			t.Errorf("ParseEngine(%q): %v", s, err)
		}
	}
	if _, err := ParseEngine("threads"); err == nil {
		t.Error("ParseEngine accepted threads")
	}
}
