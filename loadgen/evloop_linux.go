//go:build linux

package loadgen

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event-loop engine runs a plain-HTTP run (keep-alive or a new
// connection per request, to an IP address or a host name) from one goroutine
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
	lcResolving                       // a request waiting for the host name's addresses
	lcConnecting                      // non-blocking connect under way, a request waiting on it
	lcIdle                            // connected, no request
	lcBusy                            // a request written or being written, response awaited
)

// Epoll event tags (EpollEvent.Pad): what EpollEvent.Fd indexes.
const (
	tagConn  int32 = iota // l.conns
	tagDrain              // l.drains
	tagWake               // the resolver's eventfd
)

// loopDrainWait is how long a connection the server said it would close
// waits for the server's FIN before the loop closes it, as closeConn does on
// goroutines: the server closing first keeps TIME_WAIT on its side.
const loopDrainWait = 200 * time.Millisecond

// loopDNSRefresh is how long a host name's addresses are used before they
// are looked up again (in the background: no request waits for a refresh).
// Go's resolver does not report record TTLs; 30 s is what browsers and
// most HTTP clients' DNS caches use. loopDNSRetry: a failed refresh keeps
// the old addresses and tries again after this.
const (
	loopDNSRefresh = 30 * time.Second
	loopDNSRetry   = time.Second
)

type loopConn struct {
	fd      int
	state   loopConnState
	rec     *Record
	addr    string // the address dialled, for error texts
	req     []byte // the current request's bytes
	out     []byte // the part of req not yet written
	wantOut bool   // EPOLLOUT registered
	gotByte bool
	parser  respParser
}

// loopAddr is one address to connect to, its sockaddr prepared for raw
// connect(2).
type loopAddr struct {
	family int
	raw    unix.RawSockaddrInet6 // or a RawSockaddrInet4 in its first bytes
	rawLen uint32
	text   string // host:port, for error texts
}

// drainConn is a socket waiting for the server's FIN after its last
// response; gen tells its reuses apart in the deadline queue.
type drainConn struct {
	fd  int
	gen uint32
}

type drainDue struct {
	i   int32
	gen uint32
	due time.Duration
}

// eventLoop is the state of one run of the event-loop engine.
type eventLoop struct {
	c           *Client
	ep          int
	addrs       []loopAddr // where new connections go, in turn
	nextAddr    int
	maxConns    int         // Connections with keep-alive; no bound with new connections (MaxInflight bounds them)
	conns       []*loopConn // slots grow on demand up to maxConns
	idle        []int       // indexes of idle connections
	empty       []int       // indexes of connection slots without a socket
	drains      []drainConn // sockets waiting for the server's FIN
	freeDrains  []int32
	drainQ      []drainDue // by due time (every wait is loopDrainWait)
	drainHead   int
	events      []unix.EpollEvent
	rbuf        []byte
	oob         []byte
	msg         unix.Msghdr
	iov         unix.Iovec
	origin      time.Time     // the run's clock origin
	inflight    int           // requests started and not finished (pending included)
	nConnecting int           // connections with a connect (or a resolve) under way
	pending     recQueue      // requests waiting for a connection
	nextDue     time.Duration // earliest request or connect deadline among busy connections
	pwait2      bool          // epoll_pwait2 works (Linux ≥ 5.11)
	lastYield   time.Duration
	finish      func(*Record)
	res         *loopResolver // nil for an IP address
}

func loopPlatform() error { return nil }

// newEventLoop prepares a run of c's requests; finish receives each
// finished record. A host name's lookup starts at once, in the background.
func newEventLoop(c *Client, start time.Time, finish func(*Record)) (*eventLoop, error) {
	l := &eventLoop{c: c, origin: start, finish: finish, pwait2: true, maxConns: c.cfg.Connections,
		events: make([]unix.EpollEvent, 256),
		rbuf:   make([]byte, 64<<10),
		oob:    make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))*2),
	}
	if c.cfg.Mode == NewConn {
		l.maxConns = math.MaxInt
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("event loop: epoll: %w", err)
	}
	l.ep = ep
	if ip := net.ParseIP(c.host); ip != nil {
		l.addrs = []loopAddr{makeLoopAddr(ip, c.port)}
	} else if err := l.startResolver(); err != nil {
		unix.Close(ep)
		return nil, err
	}
	l.iov.Base = &l.rbuf[0]
	l.iov.SetLen(len(l.rbuf))
	l.msg.Iov = &l.iov
	l.msg.Iovlen = 1
	return l, nil
}

func makeLoopAddr(ip net.IP, port string) loopAddr {
	p, _ := strconv.Atoi(port)
	a := loopAddr{text: net.JoinHostPort(ip.String(), port)}
	if ip4 := ip.To4(); ip4 != nil {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&a.raw))
		sa.Family = unix.AF_INET
		copy(sa.Addr[:], ip4)
		pb := (*[2]byte)(unsafe.Pointer(&sa.Port))
		pb[0], pb[1] = byte(p>>8), byte(p)
		a.family, a.rawLen = unix.AF_INET, unix.SizeofSockaddrInet4
		return a
	}
	a.raw.Family = unix.AF_INET6
	copy(a.raw.Addr[:], ip.To16())
	pb := (*[2]byte)(unsafe.Pointer(&a.raw.Port))
	pb[0], pb[1] = byte(p>>8), byte(p)
	a.family, a.rawLen = unix.AF_INET6, unix.SizeofSockaddrInet6
	return a
}

// loopAddrs orders a lookup's answer the way new connections take it: the
// IPv4 addresses in turn when there are any (as the goroutine engine's
// pickAddr prefers them: a service on localhost often listens on
// 127.0.0.1 only), else the IPv6 ones.
func loopAddrs(ips []net.IPAddr, port string) []loopAddr {
	var v4, v6 []loopAddr
	for _, ip := range ips {
		if ip.IP.To4() != nil {
			v4 = append(v4, makeLoopAddr(ip.IP, port))
		} else if ip.Zone == "" { // a link-local address needs a zone a raw sockaddr here does not carry
			v6 = append(v6, makeLoopAddr(ip.IP, port))
		}
	}
	if len(v4) > 0 {
		return v4
	}
	return v6
}

// loopResolver looks the host name up off the loop's goroutine; the loop
// waits for its answer on an eventfd in its epoll set.
type loopResolver struct {
	host      string
	efd       int
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	busy      bool          // a lookup is under way (loop side)
	refreshAt time.Duration // when the addresses are looked up again (loop side)
	lastAt    time.Duration // when the last lookup returned (loop side)

	mu     sync.Mutex // the answer, from the lookup goroutine
	answer []net.IPAddr
	err    error
	at     time.Duration // run offset when the lookup returned
}

func (l *eventLoop) startResolver() error {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("event loop: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Pad: tagWake}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		unix.Close(efd)
		return fmt.Errorf("event loop: epoll_ctl: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.res = &loopResolver{host: l.c.host, efd: efd, ctx: ctx, cancel: cancel}
	l.lookup()
	return nil
}

// lookup starts a lookup unless one is under way.
func (l *eventLoop) lookup() {
	r := l.res
	if r.busy {
		return
	}
	r.busy = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(r.ctx, l.c.cfg.Timeout)
		ips, err := lookupIPAddr(ctx, r.host)
		cancel()
		if err == nil && len(loopAddrs(ips, l.c.port)) == 0 {
			err = &net.DNSError{Err: "no addresses", Name: r.host}
		}
		r.mu.Lock()
		r.answer, r.err, r.at = ips, err, l.since()
		r.mu.Unlock()
		one := [8]byte{1}
		unix.Write(r.efd, one[:])
	}()
}

// resolved applies a finished lookup: requests waiting for it dial, each
// with its DNS phase ending when the answer came, or fail as dns errors.
// A failed refresh keeps the addresses in use.
func (l *eventLoop) resolved() {
	r := l.res
	var b [8]byte
	unix.Read(r.efd, b[:])
	r.mu.Lock()
	ips, err, at := r.answer, r.err, r.at
	r.answer, r.err = nil, nil
	r.mu.Unlock()
	if !r.busy || (ips == nil && err == nil) {
		return
	}
	r.busy = false
	r.lastAt = at
	if err == nil {
		l.addrs, l.nextAddr = loopAddrs(ips, l.c.port), 0
		r.refreshAt = at + loopDNSRefresh
	} else {
		r.refreshAt = at + loopDNSRetry
	}
	for i, cn := range l.conns {
		if cn.state != lcResolving {
			continue
		}
		l.nConnecting--
		cn.state = lcEmpty
		if err != nil && len(l.addrs) == 0 {
			l.fail(i, ErrDNS, err)
			continue
		}
		cn.rec.DNSDone = max(at, cn.rec.Start)
		if derr := l.dial(i); derr != nil {
			l.fail(i, classifyDialError(derr), derr)
		}
	}
}

func (l *eventLoop) since() time.Duration { return time.Since(l.origin) }

// free reports whether a request started now gets a connection at once.
func (l *eventLoop) free() bool {
	return l.pending.len() == 0 && (len(l.idle) > 0 || len(l.empty) > 0 || len(l.conns) < l.maxConns)
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
	if d, ok := l.drainDeadline(); ok && d < deadline {
		deadline = max(d, now)
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
	if d, ok := l.drainDeadline(); ok && d < deadline {
		deadline = max(d, now)
	}
	if l.inflight-l.pending.len() > 0 {
		l.poll(deadline - now)
	} else {
		rawSleep(deadline - now)
		l.poll(0)
	}
}

// tick fails requests past their deadlines, closes connections whose FIN
// did not come, and now and then yields the processor. Raw waits keep the
// processor, so the loop offers it to other goroutines (progress, results
// writer, signals) and to sysmon's preemption. Not on every pass: a yield
// can wake another thread. The thread is not locked either: a locked
// goroutine's yield hands its processor to another thread and back, two
// wake-ups each time.
func (l *eventLoop) tick() time.Duration {
	now := l.since()
	l.checkDeadlines(now)
	l.expireDrains(now)
	if now-l.lastYield >= loopYieldEvery {
		l.lastYield = now
		runtime.Gosched()
		now = l.since()
	}
	return now
}

func (l *eventLoop) stop(ctx context.Context) { l.shutdown(ctx) }

// connecting reports whether a connect (or a lookup a request waits for)
// is in progress: its end is timed when it is seen, so the loop waits in
// epoll.
func (l *eventLoop) connecting() bool { return l.nConnecting > 0 }

// assign starts pending requests on free connections: idle ones first,
// then slots without a socket, then new slots up to maxConns.
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
		case len(l.conns) < l.maxConns:
			i = len(l.conns)
			l.conns = append(l.conns, &loopConn{fd: -1})
		default:
			return
		}
		l.begin(i, l.pending.pop())
	}
}

// begin starts rec on connection slot i: dial if it has no socket (after a
// lookup if the host name has no addresses yet), else write.
func (l *eventLoop) begin(i int, rec *Record) {
	cn := l.conns[i]
	cn.rec = rec
	cn.gotByte = false
	cn.parser.reset(l.c.reqs[rec.Mix].skipBody, int64(l.c.cfg.MaxBodyBytes))
	rec.Start = l.since()
	l.due(rec.Start + l.c.cfg.Timeout)
	if cn.state == lcIdle {
		cn.state = lcBusy
		l.send(i)
		return
	}
	rec.NewConn = true
	if r := l.res; r != nil {
		if len(l.addrs) == 0 {
			cn.state = lcResolving
			l.nConnecting++
			l.lookup()
			return
		}
		if rec.Start >= r.refreshAt {
			l.lookup() // in the background: the old addresses serve meanwhile
		}
	}
	if err := l.dial(i); err != nil {
		l.fail(i, classifyDialError(err), err)
	}
}

// due notes a deadline for checkDeadlines.
func (l *eventLoop) due(t time.Duration) {
	if t < l.nextDue || l.nextDue == 0 {
		l.nextDue = t
	}
}

// dial starts a non-blocking connect on slot i to the next address.
// Raw syscalls: none of them blocks, and each would otherwise pass
// through the scheduler's syscall bookkeeping (a burst of 5 000 connects
// is 25 000 syscalls).
func (l *eventLoop) dial(i int) error {
	cn := l.conns[i]
	a := &l.addrs[l.nextAddr%len(l.addrs)]
	l.nextAddr++
	cn.addr = a.text
	r, _, e := syscall.RawSyscall(unix.SYS_SOCKET, uintptr(a.family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return fmt.Errorf("dial tcp %s: %w", a.text, os.NewSyscallError("socket", e))
	}
	fd := int(r)
	rawSetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	rawSetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	_, _, e = syscall.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&a.raw)), uintptr(a.rawLen))
	if e != 0 && e != unix.EINPROGRESS {
		unix.Close(fd)
		if l.res != nil && (e == unix.ECONNREFUSED || e == unix.ENETUNREACH || e == unix.EHOSTUNREACH) {
			l.suspectAddrs() // the name may point elsewhere now
		}
		return fmt.Errorf("dial tcp %s: %w", a.text, os.NewSyscallError("connect", e))
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP, Fd: int32(i), Pad: tagConn}
	_, _, e = syscall.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(l.ep), unix.EPOLL_CTL_ADD, uintptr(fd), uintptr(unsafe.Pointer(&ev)), 0, 0)
	if e != 0 {
		unix.Close(fd)
		return fmt.Errorf("dial tcp %s: %w", a.text, os.NewSyscallError("epoll_ctl", e))
	}
	cn.fd, cn.state, cn.wantOut = fd, lcConnecting, true
	l.nConnecting++
	l.due(l.connectStart(cn.rec) + l.c.cfg.ConnectTimeout)
	return nil
}

// suspectAddrs has the addresses looked up again soon: a refused or
// unreachable address may be one the name no longer points to. At most
// once per loopDNSRetry, so a target that is down is not also flooded with
// lookups.
func (l *eventLoop) suspectAddrs() {
	r := l.res
	r.refreshAt = min(r.refreshAt, r.lastAt+loopDNSRetry)
}

// connectStart is when rec's connect began: after its lookup, if it waited
// for one (as the goroutine engine's dialer times only the connect).
func (l *eventLoop) connectStart(rec *Record) time.Duration {
	return max(rec.Start, rec.DNSDone)
}

func rawSetsockoptInt(fd, level, opt, v int) {
	v32 := int32(v)
	syscall.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&v32)), 4, 0)
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
		if l.res != nil && (err == unix.ECONNREFUSED || err == unix.ENETUNREACH || err == unix.EHOSTUNREACH) {
			l.suspectAddrs()
		}
		l.fail(i, classifyDialError(err), fmt.Errorf("dial tcp %s: %w", cn.addr, os.NewSyscallError("connect", err)))
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
			l.fail(i, classifyExchangeError(errno, false), fmt.Errorf("write tcp %s: %w", cn.addr, os.NewSyscallError("write", errno)))
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
		switch ev.Pad {
		case tagDrain:
			l.drainEvent(int(ev.Fd))
			continue
		case tagWake:
			l.resolved()
			continue
		}
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
			l.fail(i, classifyExchangeError(errno, cn.gotByte), fmt.Errorf("read tcp %s: %w", cn.addr, os.NewSyscallError("read", errno)))
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
	switch {
	case extra || len(cn.out) > 0:
		l.closeConn(i)
	case cn.parser.close:
		// The server said it closes (as it should to our Connection:
		// close): let it close first.
		l.linger(i)
	case l.c.cfg.Mode == NewConn:
		l.closeConn(i) // a server ignoring Connection: close
	default:
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
	l.release(i)
}

// release empties slot i (its socket closed or handed to the drains).
func (l *eventLoop) release(i int) {
	cn := l.conns[i]
	if cn.state == lcConnecting || cn.state == lcResolving {
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

// linger hands connection i's socket, whose server said it closes, to the
// drains: it waits up to loopDrainWait for the server's FIN, off the
// request's path (its record is done), so TIME_WAIT lands on the server as
// it does on goroutines. The slot is free at once. A FIN already in is
// read right here.
func (l *eventLoop) linger(i int) {
	cn := l.conns[i]
	fd := cn.fd
	l.release(i)
	if l.drainRead(fd) {
		unix.Close(fd)
		return
	}
	var k int32
	if n := len(l.freeDrains); n > 0 {
		k = l.freeDrains[n-1]
		l.freeDrains = l.freeDrains[:n-1]
	} else {
		k = int32(len(l.drains))
		l.drains = append(l.drains, drainConn{fd: -1})
	}
	dc := &l.drains[k]
	dc.fd = fd
	dc.gen++
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: k, Pad: tagDrain}
	_, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(l.ep), unix.EPOLL_CTL_MOD, uintptr(fd), uintptr(unsafe.Pointer(&ev)), 0, 0)
	if e != 0 {
		l.closeDrain(k)
		return
	}
	if l.drainHead > 0 && l.drainHead == len(l.drainQ) {
		l.drainQ, l.drainHead = l.drainQ[:0], 0
	} else if l.drainHead > 1024 && l.drainHead*2 >= len(l.drainQ) {
		n := copy(l.drainQ, l.drainQ[l.drainHead:])
		l.drainQ, l.drainHead = l.drainQ[:n], 0
	}
	l.drainQ = append(l.drainQ, drainDue{i: k, gen: dc.gen, due: l.since() + loopDrainWait})
}

// drainRead reads (and drops) what a draining socket has; true when the
// server has closed it (EOF or an error).
func (l *eventLoop) drainRead(fd int) bool {
	for {
		r, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&l.rbuf[0])), uintptr(len(l.rbuf)))
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			return false
		case e != 0 || r == 0:
			return true
		}
	}
}

func (l *eventLoop) drainEvent(k int) {
	if dc := &l.drains[k]; dc.fd >= 0 && l.drainRead(dc.fd) {
		l.closeDrain(int32(k))
	}
}

func (l *eventLoop) closeDrain(k int32) {
	dc := &l.drains[k]
	unix.Close(dc.fd)
	dc.fd = -1
	l.freeDrains = append(l.freeDrains, k)
}

// detachDrains hands the sockets still waiting for the server's FIN to a
// goroutine that outlives the run, as the goroutine engine's drains do: the
// run ends now, the server still closes first.
func (l *eventLoop) detachDrains() {
	var fds []unix.PollFd
	var last time.Duration
	for l.drainHead < len(l.drainQ) {
		q := l.drainQ[l.drainHead]
		l.drainHead++
		if dc := &l.drains[q.i]; dc.fd >= 0 && dc.gen == q.gen {
			fds = append(fds, unix.PollFd{Fd: int32(dc.fd), Events: unix.POLLIN | unix.POLLRDHUP})
			dc.fd = -1
			last = q.due
		}
	}
	if len(fds) == 0 {
		return
	}
	deadline := l.origin.Add(last)
	go func() {
		var b [512]byte
		for open := len(fds); open > 0; {
			wait := time.Until(deadline)
			if wait <= 0 {
				break
			}
			n, err := unix.Poll(fds, int(wait/time.Millisecond)+1)
			if err != nil && err != unix.EINTR {
				break
			}
			for i := range fds {
				if n <= 0 {
					break
				}
				f := &fds[i]
				if f.Fd < 0 || f.Revents == 0 {
					continue
				}
				n--
				if k, err := unix.Read(int(f.Fd), b[:]); k > 0 || err == unix.EAGAIN {
					continue // bytes after the response, dropped: the FIN may follow
				}
				unix.Close(int(f.Fd))
				f.Fd = -1 // poll ignores negative descriptors
				open--
			}
		}
		for _, f := range fds {
			if f.Fd >= 0 {
				unix.Close(int(f.Fd))
			}
		}
	}()
}

// drainDeadline is the earliest drain's deadline.
func (l *eventLoop) drainDeadline() (time.Duration, bool) {
	for l.drainHead < len(l.drainQ) {
		q := l.drainQ[l.drainHead]
		if dc := &l.drains[q.i]; dc.fd >= 0 && dc.gen == q.gen {
			return q.due, true
		}
		l.drainHead++ // closed already
	}
	return 0, false
}

// expireDrains closes the drains whose FIN did not come in time.
func (l *eventLoop) expireDrains(now time.Duration) {
	for l.drainHead < len(l.drainQ) {
		q := l.drainQ[l.drainHead]
		if q.due > now {
			return
		}
		l.drainHead++
		if dc := &l.drains[q.i]; dc.fd >= 0 && dc.gen == q.gen {
			l.closeDrain(q.i)
		}
	}
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
		connectDue := l.connectStart(rec) + cfg.ConnectTimeout
		switch {
		case cn.state == lcResolving && now >= due:
			l.fail(i, ErrDNS, &net.DNSError{Err: "i/o timeout", Name: l.c.host, IsTimeout: true})
			continue
		case cn.state == lcConnecting && now >= connectDue:
			l.fail(i, ErrConnectTimeout, fmt.Errorf("dial tcp %s: connect: no answer within %v (i/o timeout)", cn.addr, cfg.ConnectTimeout))
			continue
		case now >= due:
			l.fail(i, ErrTimeout, fmt.Errorf("read tcp %s: no complete response within %v (i/o timeout)", cn.addr, cfg.Timeout))
			continue
		case cn.state == lcConnecting:
			due = min(due, connectDue)
		}
		if l.nextDue == 0 || due < l.nextDue {
			l.nextDue = due
		}
	}
	l.assign()
}

// shutdown ends the run: on cancellation every started request is recorded
// as canceled; every socket is closed, draining ones too, and a lookup
// under way is abandoned.
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
	l.detachDrains()
	if r := l.res; r != nil {
		r.cancel()
		r.wg.Wait() // before its eventfd closes: the lookup writes to it
		unix.Close(r.efd)
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
