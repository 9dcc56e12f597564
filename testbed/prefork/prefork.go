// Package prefork is queuegap's embedded target: a prefork-style HTTP/1.1
// server with a real kernel listen backlog.
//
// Like uWSGI or gunicorn sync workers, each of its W workers calls accept
// only when idle and then serves one request at a time, so connections that
// arrive while every worker is busy wait in the kernel's accept queue, and
// once that queue (backlog+1 entries) is full the kernel drops SYNs and the
// client retries them 1 s, 2 s, 3 s… later. The application's own timing
// never sees that wait; the client does.
//
// The server stamps every request with the kernel's receive time of its
// first bytes (SO_TIMESTAMPNS), the moment a worker picked it up, and its
// service time, and reports them as response headers in the styles real
// stacks use (Server-Timing, X-Request-Start, X-Runtime, X-Response-Time).
// Each request's ground truth is also handed to an optional callback, so
// tests can check the client's attribution against it.
package prefork

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// HeaderStyle selects which timing headers responses carry.
type HeaderStyle uint

const (
	// ServerTimingApp: "Server-Timing: app;dur=<ms>" (what an app alone can say).
	ServerTimingApp HeaderStyle = 1 << iota
	// ServerTimingQueue adds "queue;dur=<ms>" to Server-Timing (as the testbed's Django middleware does).
	ServerTimingQueue
	// RequestStart echoes "X-Request-Start: t=<µs since epoch>" (the receive time a proxy would stamp).
	RequestStart
	// Runtime adds Rails-style "X-Runtime: <seconds>".
	Runtime
	// ResponseTime adds express-style "X-Response-Time: <ms>ms".
	ResponseTime

	// NoHeaders sends no timing header at all, as an app that reports
	// nothing (the zero HeaderStyle means DefaultHeaders).
	NoHeaders HeaderStyle = 1 << 30

	// DefaultHeaders is what an app that reports only its own time sends, plus the receive time.
	DefaultHeaders = ServerTimingApp | RequestStart
	// AllHeaders turns on every style.
	AllHeaders = ServerTimingApp | ServerTimingQueue | RequestStart | Runtime | ResponseTime
)

// Config configures a Server. Zero values pick the defaults in brackets.
type Config struct {
	Addr        string        // listen address [127.0.0.1:0]
	Workers     int           // concurrent workers [4]
	Backlog     int           // listen(2) backlog; the queue holds Backlog+1 [16]
	ServiceTime time.Duration // per request unless ?ms=N overrides it (/fast: 0, like the testbed app's) [100ms]
	KeepAlive   bool          // serve further requests on a connection (holding the worker) [close after each]
	Headers     HeaderStyle   // timing headers [DefaultHeaders]
	// ClockSkew shifts the absolute times the server reports
	// (X-Request-Start), as a server whose clock runs that far ahead of the
	// client's would; durations are unaffected. Served keeps true times.
	ClockSkew time.Duration
	// OnRequest, if set, receives each served request's ground truth. It is
	// called from worker goroutines and must be safe for concurrent use.
	OnRequest func(Served)
}

// Served is the server's own accounting of one request.
type Served struct {
	RequestID string    // the X-Request-Id request header, if any
	Worker    int       // which worker served it
	Received  time.Time // kernel receive time of the request's first bytes
	Picked    time.Time // worker began reading it: the end of the backlog wait
	Done      time.Time // response written
	Service   time.Duration
}

// Queue is how long the request waited before a worker picked it up.
func (s Served) Queue() time.Duration { return max(0, s.Picked.Sub(s.Received)) }

// Server is a running prefork target.
type Server struct {
	cfg   Config
	ln    *net.TCPListener
	wg    sync.WaitGroup
	stop  chan struct{}
	mu    sync.Mutex
	conns map[net.Conn]struct{}

	closeOnce sync.Once
	closeErr  error
}

// Start listens with an explicit backlog and starts the workers.
func Start(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = 16
	}
	if cfg.ServiceTime < 0 {
		return nil, fmt.Errorf("service time must not be negative")
	}
	if cfg.ServiceTime == 0 {
		cfg.ServiceTime = 100 * time.Millisecond
	}
	if cfg.Headers == 0 {
		cfg.Headers = DefaultHeaders
	}
	ln, err := listenBacklog(cfg.Addr, cfg.Backlog)
	if err != nil {
		return nil, fmt.Errorf("prefork target: listen on %s: %w", cfg.Addr, err)
	}
	s := &Server{cfg: cfg, ln: ln, stop: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	for w := 1; w <= cfg.Workers; w++ {
		s.wg.Add(1)
		go s.worker(w)
	}
	return s, nil
}

// Addr is the listening address, e.g. 127.0.0.1:41234.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the base URL of the server.
func (s *Server) URL() string { return "http://" + s.Addr() + "/" }

// Close stops accepting, ends open connections and waits for the workers.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.closeErr = s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	s.wg.Wait()
	return s.closeErr
}

func (s *Server) worker(id int) {
	defer s.wg.Done()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	for {
		// Accept only when idle: while every worker is busy, connections
		// wait in the kernel's accept queue.
		c, err := s.ln.AcceptTCP()
		if err != nil {
			select {
			case <-s.stop:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond) // e.g. EMFILE: back off, don't spin
			continue
		}
		if !s.track(c, true) {
			c.Close() // Close is under way: don't start serving
			return
		}
		s.serveConn(id, c, req)
		s.track(c, false)
		c.Close()
	}
}

// track registers (or forgets) a connection being served. Registering fails
// once Close has begun: Close marks stop before sweeping the registered
// connections under the same lock, so a connection accepted just as Close
// runs is either swept or refused here — never served while Close waits.
func (s *Server) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, c)
		return true
	}
	select {
	case <-s.stop:
		return false
	default:
	}
	s.conns[c] = struct{}{}
	return true
}

// serveConn serves requests on one connection until it closes, or just one
// unless KeepAlive is set.
func (s *Server) serveConn(worker int, c *net.TCPConn, req *fasthttp.Request) {
	enableRxTimestamps(c)
	rr := &stampReader{conn: c}
	br := bufio.NewReaderSize(rr, 8<<10)
	bw := bufio.NewWriterSize(c, 4<<10)
	for {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		rr.stamp = time.Time{}
		picked := time.Now()
		if _, err := br.Peek(1); err != nil {
			return
		}
		received := rr.stamp
		switch {
		case received.IsZero():
			// Bytes were buffered already (pipelined), or no timestamp.
			received = picked
		case received.After(picked):
			// The worker was idle, waiting for the bytes: the request did
			// not queue, it was picked up the moment it arrived.
			picked = received
		}
		req.Reset()
		if err := req.Read(br); err != nil {
			if !errors.Is(err, io.EOF) {
				writeError(bw, 400, "bad request")
			}
			return
		}
		service := s.cfg.ServiceTime
		if string(req.URI().Path()) == "/fast" {
			// The testbed app's /fast answers at once: a profile written for
			// the testbed runs unchanged here.
			service = 0
		}
		if v := req.URI().QueryArgs().Peek("ms"); v != nil {
			if ms, err := strconv.ParseFloat(string(v), 64); err == nil && ms >= 0 && ms <= 600_000 {
				service = time.Duration(ms * float64(time.Millisecond))
			}
		}
		appStart := time.Now()
		select {
		case <-time.After(service):
		case <-s.stop:
			return
		}
		appTime := time.Since(appStart)
		keep := s.cfg.KeepAlive && !req.Header.ConnectionClose()
		s.writeResponse(bw, worker, received, picked, appTime, keep)
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		err := bw.Flush()
		if s.cfg.OnRequest != nil {
			s.cfg.OnRequest(Served{
				RequestID: string(req.Header.Peek("X-Request-Id")),
				Worker:    worker,
				Received:  received,
				Picked:    picked,
				Done:      time.Now(),
				Service:   appTime,
			})
		}
		if err != nil || !keep {
			return
		}
	}
}

func (s *Server) writeResponse(bw *bufio.Writer, worker int, received, picked time.Time, app time.Duration, keep bool) {
	h := s.cfg.Headers
	queue := picked.Sub(received)
	bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n")
	if !keep {
		bw.WriteString("Connection: close\r\n")
	}
	var num [32]byte
	if h&(ServerTimingApp|ServerTimingQueue) != 0 {
		bw.WriteString("Server-Timing: ")
		if h&ServerTimingQueue != 0 {
			bw.WriteString("queue;dur=")
			bw.Write(strconv.AppendFloat(num[:0], ms(queue), 'f', 3, 64))
			if h&ServerTimingApp != 0 {
				bw.WriteString(", ")
			}
		}
		if h&ServerTimingApp != 0 {
			bw.WriteString("app;dur=")
			bw.Write(strconv.AppendFloat(num[:0], ms(app), 'f', 3, 64))
		}
		bw.WriteString("\r\n")
	}
	if h&RequestStart != 0 {
		bw.WriteString("X-Request-Start: t=")
		bw.Write(strconv.AppendInt(num[:0], received.Add(s.cfg.ClockSkew).UnixMicro(), 10))
		bw.WriteString("\r\n")
	}
	if h&Runtime != 0 {
		bw.WriteString("X-Runtime: ")
		bw.Write(strconv.AppendFloat(num[:0], app.Seconds(), 'f', 6, 64))
		bw.WriteString("\r\n")
	}
	if h&ResponseTime != 0 {
		bw.WriteString("X-Response-Time: ")
		bw.Write(strconv.AppendFloat(num[:0], ms(app), 'f', 3, 64))
		bw.WriteString("ms\r\n")
	}
	bw.WriteString("X-Worker: ")
	bw.Write(strconv.AppendInt(num[:0], int64(worker), 10))
	bw.WriteString("\r\n\r\nok\n")
}

func writeError(bw *bufio.Writer, code int, msg string) {
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", code, msg, len(msg), msg)
	bw.Flush()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
