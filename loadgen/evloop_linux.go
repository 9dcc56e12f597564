//go:build linux

package loadgen

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event-loop engine runs a keep-alive, plain-HTTP run from one goroutine
// that owns its sockets, its epoll set and its sleeps, the way wrk2's
// threads do. Why: at a few thousand requests per second a generator is idle most
// of the time, and on small VMs each wake-up of an idle thread is the
// dominant cost. With a goroutine per connection every response wakes a
// thread, and Go's scheduler adds hand-offs around each blocking syscall
// (bench/README.md has the profiles). Here one wake-up serves a whole batch:
//
//   - the loop sleeps until the next batch of sends is due and then reads
//     every response that arrived meanwhile; responses are timed by the
//     kernel's receive timestamp (SO_TIMESTAMPNS), so reading them later
//     does not make them later;
//   - it waits for responses as they come (epoll) only when no send is due
//     within the batch window, or while a connect is in progress;
//   - short waits and the socket I/O use raw syscalls, which keep the
//     thread out of the scheduler's syscall bookkeeping; waits longer than
//     loopRawWaitMax go through the scheduler so other goroutines keep their
//     processor.
//
// Phases mean the same as in the goroutine engine; only FirstByte and Done
// come from the kernel's receive time rather than the moment of the read.

// loopRawWaitMax: waits up to this long are raw syscalls (the goroutine
// keeps its P; a garbage collection may wait that long for it).
const loopRawWaitMax = 2 * time.Millisecond

// loopYieldEvery: how often the loop offers its processor to other goroutines.
const loopYieldEvery = 2 * time.Millisecond

// loopMaxWait bounds any wait, so cancellation is seen promptly.
const loopMaxWait = maxWait

type loopConnState uint8

const (
	lcEmpty      loopConnState = iota // no socket
	lcConnecting                      // non-blocking connect under way, a request waiting on it
	lcIdle                            // connected, no request
	lcBusy                            // a request written or being written, response awaited
)

type loopConn struct {
	fd      int
	state   loopConnState
	rec     *Record
	req     []byte // the current request's bytes
	out     []byte // the part of req not yet written
	wantOut bool   // EPOLLOUT registered
	gotByte bool
	parser  respParser
}

// eventLoop is the state of one run of the event-loop engine.
type eventLoop struct {
	c           *Client
	ep          int
	sa          unix.Sockaddr
	family      int
	addr        string
	conns       []*loopConn // slots grow on demand up to Connections
	idle        []int       // indexes of idle connections
	empty       []int       // indexes of connection slots without a socket
	events      []unix.EpollEvent
	rbuf        []byte
	oob         []byte
	msg         unix.Msghdr
	iov         unix.Iovec
	origin      time.Time     // the run's clock origin
	inflight    int           // requests started and not finished (pending included)
	nConnecting int           // connections with a connect under way
	pending     recQueue      // requests waiting for a connection
	nextDue     time.Duration // earliest request or connect deadline among busy connections
	pwait2      bool          // epoll_pwait2 works (Linux ≥ 5.11)
	lastYield   time.Duration
	finish      func(*Record)
}

func loopPlatform() error { return nil }

// newEventLoop prepares a run of c's requests; finish receives each
// finished record.
func newEventLoop(c *Client, start time.Time, finish func(*Record)) (*eventLoop, error) {
	ip := net.ParseIP(c.host)
	port, _ := strconv.Atoi(c.port)
	l := &eventLoop{c: c, origin: start, finish: finish, pwait2: true,
		events: make([]unix.EpollEvent, 256),
		rbuf:   make([]byte, 64<<10),
		oob:    make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))*2),
		addr:   net.JoinHostPort(c.host, c.port),
	}
	if ip4 := ip.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: port}
		copy(sa.Addr[:], ip4)
		l.sa, l.family = sa, unix.AF_INET
	} else {
		sa := &unix.SockaddrInet6{Port: port}
		copy(sa.Addr[:], ip.To16())
		l.sa, l.family = sa, unix.AF_INET6
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("event loop: epoll: %w", err)
	}
	l.ep = ep
	l.iov.Base = &l.rbuf[0]
	l.iov.SetLen(len(l.rbuf))
	l.msg.Iov = &l.iov
	l.msg.Iovlen = 1
	return l, nil
}

func (l *eventLoop) since() time.Duration { return time.Since(l.origin) }

// free reports whether a request started now gets a connection at once.
func (l *eventLoop) free() bool {
	return l.pending.len() == 0 && (len(l.idle) > 0 || len(l.empty) > 0 || len(l.conns) < l.c.cfg.Connections)
}

// start queues rec for a connection and starts what can start.
func (l *eventLoop) start(rec *Record) {
	l.inflight++
	l.pending.push(rec)
	l.assign()
}

// sleep waits for the next send at until. It waits for responses as they
// come when nothing is to be sent within a window (or a connect is under
// way: its time is taken when it is seen); otherwise it sleeps to the send
// time and collects what arrived on the way, timed by the kernel.
func (l *eventLoop) sleep(until, window time.Duration) {
	now := l.tick()
	if until <= now {
		l.poll(0)
		return
	}
	busy := l.inflight - l.pending.len()
	deadline := until
	if busy > 0 && l.nextDue > 0 && l.nextDue < deadline {
		deadline = max(l.nextDue, now)
	}
	if busy > 0 && (until-now > window || l.connecting()) {
		l.poll(deadline - now)
	} else {
		rawSleep(deadline - now)
		l.poll(0)
	}
}

// await waits for responses (or the next request deadline), boundedly.
func (l *eventLoop) await() {
	now := l.tick()
	deadline := now + loopMaxWait
	if l.nextDue > 0 && l.nextDue < deadline {
		deadline = max(l.nextDue, now)
	}
	if l.inflight-l.pending.len() > 0 {
		l.poll(deadline - now)
	} else {
		rawSleep(deadline - now)
		l.poll(0)
	}
}

// tick fails requests past their deadlines and now and then yields the
// processor. Raw waits keep the processor, so the loop offers it to other
// goroutines (progress, results writer, signals) and to sysmon's
// preemption. Not on every pass: a yield can wake another thread. The
// thread is not locked either: a locked goroutine's yield hands its
// processor to another thread and back, two wake-ups each time.
func (l *eventLoop) tick() time.Duration {
	now := l.since()
	l.checkDeadlines(now)
	if now-l.lastYield >= loopYieldEvery {
		l.lastYield = now
		runtime.Gosched()
		now = l.since()
	}
	return now
}

func (l *eventLoop) stop(ctx context.Context) { l.shutdown(ctx) }

// connecting reports whether a connect is in progress.
func (l *eventLoop) connecting() bool { return l.nConnecting > 0 }

// assign starts pending requests on free connections: idle ones first,
// then slots without a socket, then new slots up to Connections.
func (l *eventLoop) assign() {
	for l.pending.len() > 0 {
		var i int
		switch {
		case len(l.idle) > 0:
			i = l.idle[len(l.idle)-1]
			l.idle = l.idle[:len(l.idle)-1]
		case len(l.empty) > 0:
			i = l.empty[len(l.empty)-1]
			l.empty = l.empty[:len(l.empty)-1]
		case len(l.conns) < l.c.cfg.Connections:
			i = len(l.conns)
			l.conns = append(l.conns, &loopConn{fd: -1})
		default:
			return
		}
		l.begin(i, l.pending.pop())
	}
}

// begin starts rec on connection slot i: dial if it has no socket, else write.
func (l *eventLoop) begin(i int, rec *Record) {
	cn := l.conns[i]
	cn.rec = rec
	cn.gotByte = false
	cn.parser.reset(l.c.reqs[rec.Mix].skipBody, int64(l.c.cfg.MaxBodyBytes))
	rec.Start = l.since()
	if t := rec.Start + l.c.cfg.Timeout; t < l.nextDue || l.nextDue == 0 {
		l.nextDue = t
	}
	if cn.state == lcIdle {
		cn.state = lcBusy
		l.send(i)
		return
	}
	rec.NewConn = true
	if err := l.dial(i); err != nil {
		l.fail(i, classifyDialError(err), err)
	}
}

func (l *eventLoop) dial(i int) error {
	cn := l.conns[i]
	fd, err := unix.Socket(l.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("dial tcp %s: %w", l.addr, os.NewSyscallError("socket", err))
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	err = unix.Connect(fd, l.sa)
	if err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return fmt.Errorf("dial tcp %s: %w", l.addr, os.NewSyscallError("connect", err))
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP, Fd: int32(i)}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		return fmt.Errorf("dial tcp %s: %w", l.addr, os.NewSyscallError("epoll_ctl", err))
	}
	cn.fd, cn.state, cn.wantOut = fd, lcConnecting, true
	l.nConnecting++
	return nil
}

// connected finishes a non-blocking connect.
func (l *eventLoop) connected(i int) {
	cn := l.conns[i]
	l.nConnecting--
	cn.state = lcBusy
	soErr, err := unix.GetsockoptInt(cn.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soErr != 0 {
		err = syscall.Errno(soErr)
	}
	if err != nil {
		l.fail(i, classifyDialError(err), fmt.Errorf("dial tcp %s: %w", l.addr, os.NewSyscallError("connect", err)))
		return
	}
	rec := cn.rec
	rec.ConnectDone = l.since()
	rec.SynRetrans = tcpRetrans(cn.fd)
	l.send(i)
}

// send writes the request of connection i (or what is left of it).
func (l *eventLoop) send(i int) {
	cn := l.conns[i]
	rec := cn.rec
	if len(cn.out) == 0 && rec.Written == 0 {
		cn.req = l.c.appendRequest(cn.req[:0], rec.Seq, rec.Mix)
		cn.out = cn.req
	}
	for len(cn.out) > 0 {
		n, errno := rawWrite(cn.fd, cn.out)
		if errno == unix.EINTR {
			continue
		}
		if errno == unix.EAGAIN {
			l.setWantOut(i, true)
			return
		}
		if errno != 0 {
			rec.BytesOut = int64(len(cn.req) - len(cn.out))
			l.fail(i, classifyExchangeError(errno, false), fmt.Errorf("write tcp %s: %w", l.addr, os.NewSyscallError("write", errno)))
			return
		}
		cn.out = cn.out[n:]
	}
	rec.BytesOut = int64(len(cn.req))
	rec.Written = l.since()
	l.setWantOut(i, false)
}

func (l *eventLoop) setWantOut(i int, want bool) {
	cn := l.conns[i]
	if cn.wantOut == want {
		return
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(i)}
	if want {
		ev.Events |= unix.EPOLLOUT
	}
	_ = unix.EpollCtl(l.ep, unix.EPOLL_CTL_MOD, cn.fd, &ev)
	cn.wantOut = want
}

// poll waits up to d (0: just looks) for socket events and handles them.
func (l *eventLoop) poll(d time.Duration) {
	n := l.epollWait(d)
	for _, ev := range l.events[:n] {
		i := int(ev.Fd)
		cn := l.conns[i]
		switch cn.state {
		case lcConnecting:
			if ev.Events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				l.connected(i)
			}
		case lcBusy:
			if ev.Events&unix.EPOLLOUT != 0 && len(cn.out) > 0 {
				l.send(i)
			}
			if cn.state == lcBusy && ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				l.receive(i)
			}
		case lcIdle:
			// Data or EOF on an idle connection: the server closed it
			// (keep-alive timeout) or sent bytes nobody asked for. It must
			// not carry a request.
			l.closeConn(i)
		}
	}
	l.assign()
}

// receive reads what connection i has and completes its response if it can.
func (l *eventLoop) receive(i int) {
	cn := l.conns[i]
	rec := cn.rec
	for cn.state == lcBusy {
		l.iov.SetLen(len(l.rbuf))
		l.msg.Control = &l.oob[0]
		l.msg.SetControllen(len(l.oob))
		n, errno := rawRecvmsg(cn.fd, &l.msg)
		if errno == unix.EINTR {
			continue
		}
		if errno == unix.EAGAIN {
			return
		}
		if errno != 0 {
			l.fail(i, classifyExchangeError(errno, cn.gotByte), fmt.Errorf("read tcp %s: %w", l.addr, os.NewSyscallError("read", errno)))
			return
		}
		at := l.receiveTime(rec)
		if n == 0 {
			l.eof(i, at)
			return
		}
		if !cn.gotByte {
			cn.gotByte = true
			rec.FirstByte = at
			if rec.NewConn {
				rec.Retrans = tcpRetrans(cn.fd)
			}
		}
		if l.consume(i, l.rbuf[:n], at) || n < len(l.rbuf) {
			return
		}
	}
}

// receiveTime converts the kernel's receive timestamp of the data just read
// to a run offset: the wall-clock difference to now, taken off the
// monotonic now. It stays within [Written, now]; without a timestamp it is
// now.
func (l *eventLoop) receiveTime(rec *Record) time.Duration {
	nowWall := time.Now()
	now := nowWall.Sub(l.origin)
	oob := l.oob[:l.msg.Controllen]
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if h.Len < unix.SizeofCmsghdr || int(h.Len) > len(oob) {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && int(h.Len) >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
			ts := (*unix.Timespec)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
			age := time.Duration(nowWall.UnixNano() - ts.Nano())
			t := now - age
			if t < rec.Written {
				t = rec.Written
			}
			if t > now || age < 0 {
				t = now
			}
			return t
		}
		oob = oob[min(len(oob), unix.CmsgSpace(int(h.Len)-unix.CmsgLen(0))):]
	}
	return now
}

// consume feeds response bytes to connection i's parser; it reports whether
// the request finished (completed or failed).
func (l *eventLoop) consume(i int, b []byte, at time.Duration) bool {
	cn := l.conns[i]
	used, done, err := cn.parser.feed(cn.rec, l.c.cfg.KeepHeaders, b)
	if err != nil {
		l.fail(i, ErrProtocol, err)
		return true
	}
	if done {
		l.complete(i, used < len(b), at)
	}
	return done
}

// eof handles the server closing connection i.
func (l *eventLoop) eof(i int, at time.Duration) {
	cn := l.conns[i]
	done, err := cn.parser.eof()
	if done {
		l.complete(i, false, at)
		return
	}
	l.fail(i, classifyExchangeError(err, cn.gotByte), err)
}

// complete records a full response; extra says bytes followed it, which
// makes the connection unusable.
func (l *eventLoop) complete(i int, extra bool, at time.Duration) {
	cn := l.conns[i]
	rec := cn.rec
	rec.Done = at
	if rec.Done < rec.FirstByte {
		rec.Done = rec.FirstByte
	}
	cn.rec = nil
	// A response that came before the request was fully written (a 413 to a
	// large body, say) leaves the connection mid-request: not reusable.
	if cn.parser.close || extra || len(cn.out) > 0 {
		l.closeConn(i)
	} else {
		cn.state = lcIdle
		l.idle = append(l.idle, i)
	}
	l.done(rec)
}

// fail ends connection i's request with an error and closes the connection.
func (l *eventLoop) fail(i int, class ErrorClass, err error) {
	cn := l.conns[i]
	rec := cn.rec
	cn.rec = nil
	rec.Done = l.since()
	rec.Error = class
	rec.ErrorText = err.Error()
	l.closeConn(i)
	l.done(rec)
}

func (l *eventLoop) done(rec *Record) {
	l.inflight--
	l.finish(rec)
}

// closeConn closes connection i's socket; the slot can dial again.
func (l *eventLoop) closeConn(i int) {
	cn := l.conns[i]
	if cn.fd >= 0 {
		unix.Close(cn.fd) // also leaves the epoll set
	}
	if cn.state == lcConnecting {
		l.nConnecting--
	}
	if cn.state == lcIdle {
		for k, j := range l.idle {
			if j == i {
				l.idle = append(l.idle[:k], l.idle[k+1:]...)
				break
			}
		}
	}
	cn.fd, cn.state, cn.wantOut, cn.out = -1, lcEmpty, false, nil
	l.empty = append(l.empty, i)
}

// checkDeadlines fails requests past their timeout (connect or whole).
func (l *eventLoop) checkDeadlines(now time.Duration) {
	if l.nextDue == 0 || now < l.nextDue {
		return
	}
	l.nextDue = 0
	cfg := &l.c.cfg
	for i, cn := range l.conns {
		if cn.rec == nil {
			continue
		}
		rec := cn.rec
		due := rec.Start + cfg.Timeout
		switch {
		case cn.state == lcConnecting && now >= rec.Start+cfg.ConnectTimeout:
			l.fail(i, ErrConnectTimeout, fmt.Errorf("dial tcp %s: connect: no answer within %v (i/o timeout)", l.addr, cfg.ConnectTimeout))
			continue
		case now >= due:
			l.fail(i, ErrTimeout, fmt.Errorf("read tcp %s: no complete response within %v (i/o timeout)", l.addr, cfg.Timeout))
			continue
		case cn.state == lcConnecting:
			due = min(due, rec.Start+cfg.ConnectTimeout)
		}
		if l.nextDue == 0 || due < l.nextDue {
			l.nextDue = due
		}
	}
	l.assign()
}

// shutdown ends the run: on cancellation every started request is recorded
// as canceled; every socket is closed.
func (l *eventLoop) shutdown(ctx context.Context) {
	err := ctx.Err()
	if err == nil {
		err = context.Canceled
	}
	for i, cn := range l.conns {
		if cn.rec != nil {
			l.fail(i, ErrCanceled, err)
		}
	}
	for l.pending.len() > 0 {
		rec := l.pending.pop()
		rec.Start = l.since()
		rec.Done = rec.Start
		rec.Error = ErrCanceled
		rec.ErrorText = err.Error()
		l.done(rec)
	}
	for i, cn := range l.conns {
		if cn.fd >= 0 {
			l.closeConn(i)
		}
	}
	unix.Close(l.ep)
}

// epollWait waits up to d for events; short waits are raw syscalls.
func (l *eventLoop) epollWait(d time.Duration) int {
	d = min(d, loopMaxWait)
	if d <= 0 {
		r, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.ep), uintptr(unsafe.Pointer(&l.events[0])), uintptr(len(l.events)), 0, 0, 0)
		if e != 0 {
			return 0
		}
		return int(r)
	}
	if d <= loopRawWaitMax && l.pwait2 {
		ts := unix.NsecToTimespec(int64(d))
		r, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT2, uintptr(l.ep), uintptr(unsafe.Pointer(&l.events[0])), uintptr(len(l.events)), uintptr(unsafe.Pointer(&ts)), 0, 0)
		if e == 0 {
			return int(r)
		}
		if e != unix.ENOSYS {
			return 0 // EINTR: the caller loops
		}
		l.pwait2 = false
	}
	// Through the scheduler; millisecond resolution, rounded up.
	n, err := unix.EpollWait(l.ep, l.events, int((d+time.Millisecond-1)/time.Millisecond))
	if err != nil {
		return 0
	}
	return n
}

// rawSleep sleeps d; short sleeps keep the processor (see loopRawWaitMax).
func rawSleep(d time.Duration) {
	if d <= 0 {
		return
	}
	d = min(d, loopMaxWait)
	ts := unix.NsecToTimespec(int64(d))
	if d <= loopRawWaitMax {
		syscall.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
		return
	}
	_ = unix.Nanosleep(&ts, nil)
}

func rawWrite(fd int, b []byte) (int, unix.Errno) {
	r, _, e := syscall.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(r), unix.Errno(e)
}

func rawRecvmsg(fd int, msg *unix.Msghdr) (int, unix.Errno) {
	r, _, e := syscall.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(msg)), 0)
	return int(r), unix.Errno(e)
}
