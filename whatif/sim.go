package whatif

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/queuegap/queuegap/analyze"
)

// Outcomes the model predicts, by index (names are analyze's classes).
const (
	oOK = iota
	oProxyRefused
	oWorkerKilled
	oGatewayTimeout
	oTimeout
	oConnectTimeout
	oClosed
	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	oOK:             analyze.OutcomeOK,
	oProxyRefused:   analyze.OutcomeProxyRefused,
	oWorkerKilled:   analyze.OutcomeWorkerKilled,
	oGatewayTimeout: analyze.OutcomeGatewayTimeout,
	oTimeout:        "timeout",
	oConnectTimeout: "connect_timeout",
	oClosed:         "closed",
}

// Components of a predicted request's time.
const (
	cSyn = iota
	cBacklog
	cProcessing
	cNetwork
	cUnanswered
	numComps
)

var compNames = [numComps]string{analyze.CompSynRetry, analyze.CompBacklog, analyze.CompProcessing, analyze.CompNetwork, analyze.CompUnanswered}

// Event kinds.
const (
	evSyn      uint8 = iota // a dropped SYN is retransmitted
	evGiveUp                // the connecting kernel gives up (ETIMEDOUT)
	evConnT                 // nginx's connect timeout
	evCliConnT              // the client's connect timeout (no proxy)
	evRead                  // nginx's read timeout
	evCli                   // the client's timeout
	evCPU                   // a replica's processor-shared CPU work: the next completion
	evDone                  // a request's processing ends
	evKill                  // harakiri
	evRespawn               // a killed worker is back
	evTick                  // the autoscaler's period
	evReady                 // a new replica is ready
	evAccept                // a worker takes the oldest queued connection
)

// Request phases.
const (
	pConnecting uint8 = iota
	pQueued
	pRunning
	pGone // off the server: done, killed, refused or abandoned while connecting
	// pHalfOpen: the SYN got through but the final ACK found the queue full
	// and was dropped; the connecting side thinks it is connected and its
	// request waits for a retransmission to find room. Measured on the
	// testbed, such connections joined the queue as fast as the workers
	// emptied it (the waves went on without a gap), not on the 200 ms,
	// 400 ms … of a data retransmission: the model moves them in as soon as
	// there is room, oldest first.
	pHalfOpen
)

type event struct {
	t    time.Duration
	seq  uint64
	id   int32 // request slot or replica
	gen  uint32
	kind uint8
}

type rq struct {
	gen        uint32
	at         time.Duration
	ep         uint16
	rep        int32
	io         time.Duration
	cpu        float64 // CPU work left, ns
	over       time.Duration
	est, start time.Duration
	syn        uint8
	slack      time.Duration // the SYN retransmissions' accumulated lateness
	phase      uint8
	answered   bool
	hasEst     bool
	started    bool
	inCPU      bool
}

type replica struct {
	queue     []int32 // ring
	qhead     int
	qn        int
	qcap      int
	free      int // idle workers
	accepting int // workers about to take a queued connection (Config.AcceptDelay)
	conns     int // nginx's open connections to it (least_conn)
	cpuSet    []int32
	cpuLast   time.Duration
	cpuGen    uint32
	cpuUsed   float64 // core-ns used
	ready     bool
	draining  bool
	// The SYN retransmissions a kernel timer fires at one instant are all
	// checked against the queue before any of their handshakes completes
	// (seen on the testbed: 30 retransmitted SYNs of a burst all connected
	// at 1.03 s into a queue with room for 9): when the first of an instant
	// found room, the rest pass too and those beyond the room are half-open.
	batchT   time.Duration
	batchOK  bool
	halfOpen []slot // FIFO of half-open connections
}

// slot names a request slot as it was (a slot is reused once released).
type slot struct {
	id  int32
	gen uint32
}

// sim is one simulation run.
type sim struct {
	cfg  Config
	w    *Workload
	rng  *rand.Rand
	now  time.Duration
	reqs []rq
	free []int32
	heap []event
	seq  uint64
	// lanes hold the events that are always scheduled a fixed delay after
	// something that happens in time order (timeouts, the k-th SYN retry):
	// each is a FIFO already in time order, so only the rest need the heap.
	// Under overload nearly every pending event is a timeout: this keeps
	// 100k requests well under a second.
	lanes []fifo
	reps  []*replica
	rr    int

	inflight int // requests not yet answered (at the client)

	// results
	total    *hdrhistogram.Histogram
	byEP     []*hdrhistogram.Histogram
	outcomes [numOutcomes]int64
	comps    [numComps]time.Duration
	answered int64

	onAnswer func(at, total time.Duration, outcome int)
	onTick   func(s *sim) (next time.Duration, ok bool)
}

func newSim(w *Workload, cfg Config, seed uint64) *sim {
	s := &sim{cfg: cfg, w: w, rng: rand.New(rand.NewPCG(seed, seed^0xda942042e4dd58b5)),
		total: hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3),
		lanes: make([]fifo, laneSyn+len(cfg.SYN.Retries))}
	for range w.Endpoints {
		s.byEP = append(s.byEP, hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 2))
	}
	for range cfg.Replicas {
		s.addReplica(true)
	}
	return s
}

func (s *sim) addReplica(ready bool) int {
	cap := s.cfg.Listen + 1
	s.reps = append(s.reps, &replica{queue: make([]int32, min(cap, 1024)), qcap: cap,
		free: s.cfg.Workers * s.cfg.Threads, ready: ready, cpuLast: s.now})
	return len(s.reps) - 1
}

// fifo is a queue of events in non-decreasing time.
type fifo struct {
	ev   []event
	head int
}

func (f *fifo) push(e event) {
	if f.head > 1024 && f.head > len(f.ev)/2 {
		n := copy(f.ev, f.ev[f.head:])
		f.ev, f.head = f.ev[:n], 0
	}
	f.ev = append(f.ev, e)
}

// Lanes by kind; the k-th SYN retry has lane laneSyn+k.
const (
	laneCli = iota
	laneCliConn
	laneRead
	laneConnT
	laneGiveUp
	laneSyn
)

// pushLane schedules an event on a time-ordered lane.
func (s *sim) pushLane(lane int, e event) {
	s.seq++
	e.seq = s.seq
	s.lanes[lane].push(e)
}

// next is the earliest pending event: the heap's top or a lane's head
// (-1: the heap's; ok false: none).
func (s *sim) next() (lane int, e *event, ok bool) {
	lane = -2
	if len(s.heap) > 0 {
		lane, e = -1, &s.heap[0]
	}
	for i := range s.lanes {
		f := &s.lanes[i]
		if f.head < len(f.ev) && (e == nil || less(&f.ev[f.head], e)) {
			lane, e = i, &f.ev[f.head]
		}
	}
	return lane, e, e != nil
}

func (s *sim) take(lane int) event {
	if lane < 0 {
		return s.pop()
	}
	f := &s.lanes[lane]
	e := f.ev[f.head]
	f.head++
	if f.head == len(f.ev) {
		f.ev, f.head = f.ev[:0], 0
	}
	return e
}

// push schedules an event; ties run in the order they were scheduled.
func (s *sim) push(e event) {
	s.seq++
	e.seq = s.seq
	h := append(s.heap, e)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(&h[i], &h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	s.heap = h
}

func less(a, b *event) bool { return a.t < b.t || (a.t == b.t && a.seq < b.seq) }

func (s *sim) pop() event {
	h := s.heap
	e := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	i := 0
	for {
		l, m := 2*i+1, i
		if l < n && less(&h[l], &h[m]) {
			m = l
		}
		if r := l + 1; r < n && less(&h[r], &h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.heap = h
	return e
}

func (s *sim) run() {
	arr := s.w.Arrivals
	i := 0
	if s.onTick != nil {
		s.push(event{t: 0, kind: evTick})
	}
	for {
		lane, top, ok := s.next()
		if i < len(arr) && (!ok || arr[i].At <= top.t) {
			s.now = arr[i].At
			s.arrive(arr[i])
			i++
			continue
		}
		if !ok {
			return
		}
		e := s.take(lane)
		s.now = e.t
		s.handle(e, i < len(arr))
	}
}

func (s *sim) sample(ep *Endpoint) time.Duration {
	if ep.Fixed > 0 || len(ep.Samples) == 0 {
		return ep.Fixed
	}
	return ep.Samples[s.rng.IntN(len(ep.Samples))]
}

func (s *sim) arrive(a Arrival) {
	var id int32
	if n := len(s.free); n > 0 {
		id = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		s.reqs = append(s.reqs, rq{})
		id = int32(len(s.reqs) - 1)
	}
	q := &s.reqs[id]
	ep := &s.w.Endpoints[a.Endpoint]
	proc := s.sample(ep)
	cpu := time.Duration(float64(proc) * ep.CPUShare)
	over := time.Duration(0)
	if o := s.w.Overhead; len(o) > 0 {
		over = o[s.rng.IntN(len(o))]
	}
	*q = rq{gen: q.gen + 1, at: a.At, ep: a.Endpoint, io: proc - cpu, cpu: float64(cpu), over: over}
	s.inflight++
	q.rep = int32(s.pick())
	s.reps[q.rep].conns++
	s.pushLane(laneCli, event{t: a.At + s.cfg.ClientTimeout, kind: evCli, id: id, gen: q.gen})
	if !s.cfg.Proxy {
		s.pushLane(laneCliConn, event{t: a.At + s.cfg.ClientConnectTimeout, kind: evCliConnT, id: id, gen: q.gen})
	}
	s.connect(id, false)
}

// pick chooses a replica the way nginx does.
func (s *sim) pick() int {
	n := len(s.reps)
	best := -1
	for k := range n {
		i := (s.rr + k) % n
		r := s.reps[i]
		if !r.ready || r.draining {
			continue
		}
		if s.cfg.LB != LeastConn {
			best = i
			break
		}
		if best < 0 || r.conns < s.reps[best].conns {
			best = i
		}
	}
	if best < 0 { // nothing routable (the autoscaler's replicas all starting): the first
		best = 0
	}
	s.rr = best + 1
	return best
}

// connect is one SYN reaching the app's listening socket; retrans says
// it is a retransmission (fired by a timer, with others due then).
func (s *sim) connect(id int32, retrans bool) {
	q := &s.reqs[id]
	r := s.reps[q.rep]
	batch := retrans && s.cfg.Socket == "tcp" && r.batchT == s.now
	if retrans && !batch {
		r.batchT, r.batchOK = s.now, r.qn < r.qcap
	}
	if r.qn < r.qcap || (batch && r.batchOK) {
		q.est, q.hasEst = s.now, true
		if s.cfg.Proxy {
			s.pushLane(laneRead, event{t: s.now + s.cfg.ReadTimeout, kind: evRead, id: id, gen: q.gen})
		}
		if r.qn >= r.qcap {
			q.phase = pHalfOpen
			r.halfOpen = append(r.halfOpen, slot{id, q.gen})
			return
		}
		s.enqueue(r, id)
		return
	}
	if s.cfg.Socket == "unix" {
		q.phase = pGone
		s.answer(id, oProxyRefused, true)
		return
	}
	if q.syn == 0 && s.cfg.Proxy {
		s.pushLane(laneConnT, event{t: q.at + s.cfg.ConnectTimeout, kind: evConnT, id: id, gen: q.gen})
	}
	if sl := s.cfg.SYN.Slack; sl > 0 {
		q.slack += time.Duration(s.rng.Int64N(int64(sl)))
	}
	if k := int(q.syn); k < len(s.cfg.SYN.Retries) {
		q.syn++
		e := event{t: q.at + s.cfg.SYN.Retries[k] + q.slack, kind: evSyn, id: id, gen: q.gen}
		if q.slack > 0 {
			s.push(e) // late by a draw each: no longer in arrival order
		} else {
			s.pushLane(laneSyn+k, e)
		}
		return
	}
	e := event{t: q.at + s.cfg.SYN.GiveUp + q.slack, kind: evGiveUp, id: id, gen: q.gen}
	if q.slack > 0 {
		s.push(e)
	} else {
		s.pushLane(laneGiveUp, e)
	}
}

// refill moves half-open connections into the room the queue has.
func (s *sim) refill(r *replica) {
	k := 0
	for k < len(r.halfOpen) && r.qn < r.qcap {
		h := r.halfOpen[k]
		k++
		if q := &s.reqs[h.id]; q.gen == h.gen && q.phase == pHalfOpen {
			q.phase = pQueued
			if r.qn == len(r.queue) {
				r.grow()
			}
			r.queue[(r.qhead+r.qn)%len(r.queue)] = h.id
			r.qn++
		}
	}
	if k > 0 {
		r.halfOpen = append(r.halfOpen[:0], r.halfOpen[k:]...)
	}
}

// enqueue puts an established connection at the back of the accept queue.
func (s *sim) enqueue(r *replica, id int32) {
	s.reqs[id].phase = pQueued
	if r.qn == len(r.queue) {
		r.grow()
	}
	r.queue[(r.qhead+r.qn)%len(r.queue)] = id
	r.qn++
	s.dispatch(r)
}

func (r *replica) grow() {
	nq := make([]int32, 2*len(r.queue))
	for k := range r.qn {
		nq[k] = r.queue[(r.qhead+k)%len(r.queue)]
	}
	r.queue, r.qhead = nq, 0
}

// dispatch hands queued connections to free workers, oldest first; with
// an accept delay each takes its connection that much later, the
// connection holding its place in the queue meanwhile.
func (s *sim) dispatch(r *replica) {
	if d := s.cfg.AcceptDelay; d > 0 {
		for r.free > 0 && r.qn > r.accepting {
			r.free--
			r.accepting++
			s.push(event{t: s.now + d, kind: evAccept, id: s.repIndex(r)})
		}
		return
	}
	for r.free > 0 && r.qn > 0 {
		r.free--
		s.take1(r)
	}
}

// take1 starts the oldest queued connection on a worker already counted busy.
func (s *sim) take1(r *replica) {
	id := r.queue[r.qhead]
	r.qhead = (r.qhead + 1) % len(r.queue)
	r.qn--
	s.refill(r)
	q := &s.reqs[id]
	q.phase, q.start, q.started = pRunning, s.now, true
	if h := s.cfg.Harakiri; h > 0 {
		// uWSGI's master looks once a second: the kill comes within a second after H.
		s.push(event{t: s.now + h + time.Duration(s.rng.Int64N(int64(time.Second))), kind: evKill, id: id, gen: q.gen})
	}
	if q.cpu > 0 {
		s.cpuAdvance(r)
		q.inCPU = true
		r.cpuSet = append(r.cpuSet, id)
		s.cpuSchedule(r)
		return
	}
	s.push(event{t: s.now + q.io, kind: evDone, id: id, gen: q.gen})
}

func (s *sim) cpuRate(n int) float64 {
	if c := s.cfg.Cores; c > 0 && float64(n) > c {
		return c / float64(n)
	}
	return 1
}

// cpuAdvance runs the replica's CPU work up to now, processor-shared.
func (s *sim) cpuAdvance(r *replica) {
	if n := len(r.cpuSet); n > 0 {
		d := float64(s.now - r.cpuLast)
		rate := s.cpuRate(n)
		for _, id := range r.cpuSet {
			s.reqs[id].cpu -= d * rate
		}
		r.cpuUsed += d * rate * float64(n)
	}
	r.cpuLast = s.now
}

// cpuSchedule sets the event for the replica's next CPU completion.
func (s *sim) cpuSchedule(r *replica) {
	r.cpuGen++
	if len(r.cpuSet) == 0 {
		return
	}
	m := math.Inf(1)
	for _, id := range r.cpuSet {
		m = min(m, s.reqs[id].cpu)
	}
	dt := time.Duration(math.Ceil(max(m, 0) / s.cpuRate(len(r.cpuSet))))
	s.push(event{t: s.now + dt, kind: evCPU, id: s.repIndex(r), gen: r.cpuGen})
}

func (s *sim) repIndex(r *replica) int32 {
	for i, x := range s.reps {
		if x == r {
			return int32(i)
		}
	}
	return -1
}

func (s *sim) cpuRemove(r *replica, id int32) {
	for k, x := range r.cpuSet {
		if x == id {
			r.cpuSet[k] = r.cpuSet[len(r.cpuSet)-1]
			r.cpuSet = r.cpuSet[:len(r.cpuSet)-1]
			break
		}
	}
	s.reqs[id].inCPU = false
}

func (s *sim) handle(e event, arrivalsLeft bool) {
	switch e.kind {
	case evTick:
		if next, ok := s.onTick(s); ok && (arrivalsLeft || s.inflight > 0) {
			s.push(event{t: s.now + next, kind: evTick})
		}
		return
	case evAccept:
		r := s.reps[e.id]
		r.accepting--
		if r.qn > 0 {
			s.take1(r)
			s.dispatch(r) // the room it made may have let half-open connections in
		} else {
			r.free++
		}
		return
	case evReady:
		s.reps[e.id].ready = true
		s.reps[e.id].cpuLast = s.now
		return
	case evRespawn:
		r := s.reps[e.id]
		r.free++
		s.dispatch(r)
		return
	case evCPU:
		r := s.reps[e.id]
		if e.gen != r.cpuGen {
			return
		}
		s.cpuAdvance(r)
		for k := 0; k < len(r.cpuSet); {
			id := r.cpuSet[k]
			if q := &s.reqs[id]; q.cpu <= 1 {
				r.cpuSet[k] = r.cpuSet[len(r.cpuSet)-1]
				r.cpuSet = r.cpuSet[:len(r.cpuSet)-1]
				q.inCPU = false
				s.push(event{t: s.now + q.io, kind: evDone, id: id, gen: q.gen})
				continue
			}
			k++
		}
		s.cpuSchedule(r)
		return
	}
	q := &s.reqs[e.id]
	if q.gen != e.gen {
		return // the slot holds another request now
	}
	r := s.reps[q.rep]
	switch e.kind {
	case evSyn:
		if q.phase == pConnecting {
			s.connect(e.id, true)
		}

	case evGiveUp, evConnT, evCliConnT:
		if q.phase != pConnecting {
			return
		}
		q.phase = pGone
		switch {
		case !s.cfg.Proxy:
			s.answer(e.id, oConnectTimeout, false)
		case e.kind == evConnT:
			s.answer(e.id, oGatewayTimeout, true)
		default: // nginx's connect() failed with ETIMEDOUT: a 502, after seconds
			s.answer(e.id, oWorkerKilled, true)
		}
	case evRead:
		if !q.answered && (q.phase == pQueued || q.phase == pRunning || q.phase == pHalfOpen) {
			if q.phase == pHalfOpen {
				q.phase = pGone // nginx closes; the server never had it
			}
			s.answer(e.id, oGatewayTimeout, true)
		}
	case evCli:
		if q.answered {
			return
		}
		if q.phase == pConnecting || q.phase == pHalfOpen {
			q.phase = pGone // the SYNs (or the request's retransmissions) stop with the client
		}
		s.answer(e.id, oTimeout, false)
	case evDone:
		if q.phase != pRunning {
			return
		}
		q.phase = pGone
		r.free++
		if q.answered {
			s.release(e.id)
		} else {
			s.answer(e.id, oOK, true)
		}
		s.dispatch(r)
	case evKill:
		if q.phase != pRunning {
			return
		}
		if q.inCPU {
			s.cpuAdvance(r)
			s.cpuRemove(r, e.id)
			s.cpuSchedule(r)
		}
		q.phase = pGone
		s.push(event{t: s.now + s.cfg.Respawn, kind: evRespawn, id: q.rep})
		if q.answered {
			s.release(e.id)
		} else if s.cfg.Proxy {
			s.answer(e.id, oWorkerKilled, true)
		} else {
			s.answer(e.id, oClosed, false)
		}
	}
}

func (s *sim) release(id int32) {
	s.free = append(s.free, id)
}

// answer ends a request for the client at now.
func (s *sim) answer(id int32, outcome int, response bool) {
	q := &s.reqs[id]
	q.answered = true
	end := s.now
	var parts [numComps]time.Duration
	if q.hasEst {
		parts[cSyn] = q.est - q.at
		if q.started {
			parts[cBacklog] = q.start - q.est
			parts[cProcessing] = end - q.start
		} else {
			parts[cBacklog] = end - q.est
		}
	} else {
		parts[cSyn] = end - q.at
	}
	if response {
		parts[cNetwork] = q.over
	} else if q.hasEst {
		// connected, no answer: the wait after connecting is unanswered
		parts[cUnanswered] = parts[cBacklog] + parts[cProcessing]
		parts[cBacklog], parts[cProcessing] = 0, 0
	}
	total := time.Duration(0)
	for k, p := range parts {
		p = max(p, 0)
		s.comps[k] += p
		total += p
	}
	us := max(int64(total/time.Microsecond), 1)
	_ = s.total.RecordValue(us)
	_ = s.byEP[q.ep].RecordValue(us)
	s.outcomes[outcome]++
	s.answered++
	s.inflight--
	s.reps[q.rep].conns--
	if s.onAnswer != nil {
		s.onAnswer(q.at, total, outcome)
	}
	if q.phase == pGone {
		s.release(id)
	}
}
