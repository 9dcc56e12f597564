package accesslog

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"iter"
	"math"
	"slices"
	"time"
)

// Request is what a trace replays: a method and a path with its query.
type Request struct {
	Method, Path string
}

// Logged is what the log said about a request's outcome, kept so a replay
// can be compared with production.
type Logged struct {
	Status     int
	Latency    time.Duration
	HasLatency bool
}

// Trace accumulates arrivals compactly: per entry a zigzag varint of the
// offset's change in µs since the previous entry, then uvarints of the
// (method, path) index (with the second-resolution flag in its low bit),
// the status's index and the latency in µs + 1 (0: not logged). Distinct
// (method, path) pairs and statuses are kept once in small tables. A
// typical entry takes 5–8 bytes.
//
// Offsets are measured from the first arrival added, or from the start
// given to NewTrace. Logs are written in completion order, so an entry can
// arrive before the previous one: its offset may go down, or below zero;
// Sort puts the trace in arrival order.
//
// The zero Trace is ready to use. A Trace is not safe for concurrent use.
type Trace struct {
	start      time.Time
	hasStart   bool
	fixedStart bool // start given by NewTrace: never moved

	data     []byte
	n        int
	last     int64 // offset of the last record, in µs: the base of the next delta
	min, max int64
	unsorted bool

	pairs []Request
	index map[Request]uint32

	statuses    []int
	statusIndex map[int]uint32

	lowRes int     // entries without sub-second time
	spread bool    // Spread has run
	speed  float64 // product of Scale calls; 0 until the first
}

// NewTrace returns a Trace whose offsets are measured from start.
func NewTrace(start time.Time) *Trace {
	return &Trace{start: start, hasStart: true, fixedStart: true}
}

// maxOffsetUs bounds offsets (±35 years) so sums of deltas never overflow.
const maxOffsetUs = 1 << 50

// Add appends e's arrival, request and logged outcome.
func (t *Trace) Add(e Entry) {
	if !t.hasStart {
		t.start, t.hasStart = e.Arrival, true
	}
	off := e.Arrival.Sub(t.start).Round(time.Microsecond).Microseconds()
	off = max(-maxOffsetUs, min(maxOffsetUs, off))
	lat := int64(-1)
	if e.HasLatency && e.Latency >= 0 {
		lat = min(e.Latency.Round(time.Microsecond).Microseconds(), maxOffsetUs)
	}
	status := e.Status
	if status < 0 || status > 999 {
		status = 0
	}
	t.append(record{offset: off, pair: t.pairOf(Request{e.Method, e.Path}), lowRes: !e.HasSubSecond, status: t.statusOf(status), latency: lat})
}

func (t *Trace) statusOf(status int) uint32 {
	if t.statusIndex == nil {
		t.statusIndex = make(map[int]uint32)
	}
	i, ok := t.statusIndex[status]
	if !ok {
		i = uint32(len(t.statuses))
		t.statuses = append(t.statuses, status)
		t.statusIndex[status] = i
	}
	return i
}

func (t *Trace) pairOf(r Request) uint32 {
	if t.index == nil {
		t.index = make(map[Request]uint32)
	}
	i, ok := t.index[r]
	if !ok {
		i = uint32(len(t.pairs))
		t.pairs = append(t.pairs, r)
		t.index[r] = i
	}
	return i
}

// record is one decoded entry: status is an index into the status
// table; latency is -1 when not logged.
type record struct {
	offset  int64
	pair    uint32
	lowRes  bool
	status  uint32
	latency int64
}

func (t *Trace) append(r record) {
	r.offset = max(-maxOffsetUs, min(maxOffsetUs, r.offset))
	if t.n == 0 {
		t.min, t.max = r.offset, r.offset
	} else {
		t.min, t.max = min(t.min, r.offset), max(t.max, r.offset)
		t.unsorted = t.unsorted || r.offset < t.last
	}
	flag := uint64(0)
	if r.lowRes {
		flag = 1
		t.lowRes++
	}
	t.data = binary.AppendVarint(t.data, r.offset-t.last)
	t.data = binary.AppendUvarint(t.data, uint64(r.pair)<<1|flag)
	t.data = binary.AppendUvarint(t.data, uint64(r.status))
	t.data = binary.AppendUvarint(t.data, uint64(r.latency+1))
	t.last = r.offset
	t.n++
}

// decodeRecord reads the record at the start of b given the previous
// offset; n is the bytes used, 0 when b does not hold a valid record.
func decodeRecord(b []byte, prev int64, pairs, statuses int) (r record, n int) {
	delta, k := binary.Varint(b)
	if k <= 0 || delta > 2*maxOffsetUs || delta < -2*maxOffsetUs {
		return record{}, 0
	}
	n = k
	head, k := binary.Uvarint(b[n:])
	if k <= 0 || head>>1 >= uint64(pairs) {
		return record{}, 0
	}
	n += k
	status, k := binary.Uvarint(b[n:])
	if k <= 0 || status >= uint64(statuses) {
		return record{}, 0
	}
	n += k
	lat, k := binary.Uvarint(b[n:])
	if k <= 0 || lat > maxOffsetUs+1 {
		return record{}, 0
	}
	n += k
	r = record{offset: prev + delta, pair: uint32(head >> 1), lowRes: head&1 == 1, status: uint32(status), latency: int64(lat) - 1}
	if r.offset > maxOffsetUs || r.offset < -maxOffsetUs {
		return record{}, 0
	}
	return r, n
}

// records calls fn for each record in order; the data is valid by
// construction (Add) or by validation (UnmarshalBinary).
func (t *Trace) records(fn func(record)) {
	prev := int64(0)
	for b := t.data; len(b) > 0; {
		r, n := decodeRecord(b, prev, len(t.pairs), len(t.statuses))
		if n == 0 {
			panic("accesslog: corrupt trace data") // unreachable: data is validated
		}
		fn(r)
		prev, b = r.offset, b[n:]
	}
}

// rewrite replaces every record with fn's version of it.
func (t *Trace) rewrite(fn func(record) record) {
	old := t.data
	oldPairs, oldStatuses := len(t.pairs), len(t.statuses)
	t.data, t.n, t.last, t.lowRes, t.unsorted = make([]byte, 0, len(old)), 0, 0, 0, false
	prev := int64(0)
	for b := old; len(b) > 0; {
		r, n := decodeRecord(b, prev, oldPairs, oldStatuses)
		if n == 0 {
			panic("accesslog: corrupt trace data")
		}
		prev, b = r.offset, b[n:]
		t.append(fn(r))
	}
}

// Len is the number of entries.
func (t *Trace) Len() int { return t.n }

// Start is the time offsets are measured from.
func (t *Trace) Start() time.Time { return t.start }

// Bytes is the size of the encoded entries (not counting the pair table).
func (t *Trace) Bytes() int { return len(t.data) }

// Pairs is the number of distinct (method, path) pairs.
func (t *Trace) Pairs() int { return len(t.pairs) }

// Span is the time from the earliest to the latest arrival.
func (t *Trace) Span() time.Duration {
	if t.n == 0 {
		return 0
	}
	return time.Duration(t.max-t.min) * time.Microsecond
}

// Sorted reports whether offsets never go down.
func (t *Trace) Sorted() bool { return !t.unsorted }

// SecondResolution reports whether any entry's time was only known to the
// second (it stays true after Spread: that is a fact about the source).
func (t *Trace) SecondResolution() bool { return t.lowRes > 0 }

// Each calls fn for every entry in the order added (or sorted).
func (t *Trace) Each(fn func(offset time.Duration, req Request, logged Logged)) {
	t.records(func(r record) {
		fn(time.Duration(r.offset)*time.Microsecond, t.pairs[r.pair],
			Logged{Status: t.statuses[r.status], Latency: time.Duration(max(r.latency, 0)) * time.Microsecond, HasLatency: r.latency >= 0})
	})
}

// Scale compresses time by speed: 2 replays twice as fast (half the span).
// Logged latencies are left as they were.
func (t *Trace) Scale(speed float64) error {
	if !(speed > 0) || math.IsInf(speed, 0) {
		return fmt.Errorf("accesslog: scale speed %v: want a finite number > 0", speed)
	}
	t.rewrite(func(r record) record {
		r.offset = int64(math.Round(float64(r.offset) / speed))
		r.offset = max(-maxOffsetUs, min(maxOffsetUs, r.offset))
		return r
	})
	if t.speed == 0 {
		t.speed = 1
	}
	t.speed *= speed
	return nil
}

// Spread places second-resolution entries evenly within their logged
// second, deterministically: the k entries whose logged time (arrival +
// logged latency, i.e. $time_local) is second T end at T + (j+½)/k s for
// j = 0…k−1 in trace order, and arrive their logged latency before that.
// Per-second counts of the log are kept exactly. Spread runs once; call it
// before Scale.
func (t *Trace) Spread() error {
	if t.spread || t.lowRes == 0 {
		t.spread = true
		return nil
	}
	if t.speed != 0 && t.speed != 1 {
		return errors.New("accesslog: spread a trace before scaling it")
	}
	startNs := t.start.UnixNano()
	second := func(r record) int64 {
		endNs := startNs + (r.offset+max(r.latency, 0))*1000
		return floorDiv(endNs, 1e9)
	}
	count := make(map[int64]int64)
	t.records(func(r record) {
		if r.lowRes {
			count[second(r)]++
		}
	})
	placed := make(map[int64]int64, len(count))
	t.rewrite(func(r record) record {
		if !r.lowRes {
			return r
		}
		s := second(r)
		j, k := placed[s], count[s]
		placed[s]++
		endNs := s*1e9 + (2*j+1)*1e9/(2*k)
		arrivalNs := endNs - max(r.latency, 0)*1000
		r.offset = floorDiv(arrivalNs-startNs+500, 1000)
		return r
	})
	t.spread = true
	return nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Sort puts the entries in arrival order (stable for equal offsets). Unless
// NewTrace fixed the start, the start moves to the earliest arrival so no
// offset is negative. It needs 16 bytes per entry, and a second copy of the encoded
// entries, while it runs.
func (t *Trace) Sort() {
	shift := int64(0)
	if !t.fixedStart && t.n > 0 && t.min < 0 {
		shift = t.min
		t.start = t.start.Add(time.Duration(shift) * time.Microsecond)
	}
	if !t.unsorted && shift == 0 {
		return
	}
	// Sort 16-byte keys (offset, where the record starts), not decoded
	// records: the transient memory is what bounds a large log's convert.
	type key struct {
		offset int64
		pos    int
	}
	keys := make([]key, 0, t.n)
	prev := int64(0)
	for pos := 0; pos < len(t.data); {
		r, n := decodeRecord(t.data[pos:], prev, len(t.pairs), len(t.statuses))
		if n == 0 {
			panic("accesslog: corrupt trace data") // unreachable: data is validated
		}
		keys = append(keys, key{r.offset, pos})
		prev, pos = r.offset, pos+n
	}
	slices.SortStableFunc(keys, func(a, b key) int { return cmp.Compare(a.offset, b.offset) })
	old := t.data
	t.data, t.n, t.last, t.lowRes, t.unsorted = make([]byte, 0, len(old)), 0, 0, 0, false
	for _, k := range keys {
		// The delta is relative to the record's old predecessor: decode
		// from a base that gives back the offset the key holds.
		delta, _ := binary.Varint(old[k.pos:])
		r, _ := decodeRecord(old[k.pos:], k.offset-delta, len(t.pairs), len(t.statuses))
		r.offset -= shift
		t.append(r)
	}
}

// Binary form (version 1), all integers varints unless said:
//
//	"QGTR" version:byte flags:byte start:varint(UnixNano) speed:8 bytes LE float64
//	n:uvarint pairs:uvarint {len:uvarint method len:uvarint path}…
//	statuses:uvarint {status:uvarint}…
//	dataLen:uvarint data crc32(IEEE, of all before):4 bytes LE
const (
	traceMagic   = "QGTR"
	traceVersion = 1

	flagHasStart   = 1 << 0
	flagFixedStart = 1 << 1
	flagSpread     = 1 << 2
)

// MarshalBinary encodes the trace compactly.
func (t *Trace) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, len(t.data)+64+32*len(t.pairs))
	b = append(b, traceMagic...)
	b = append(b, traceVersion)
	var flags byte
	if t.hasStart {
		flags |= flagHasStart
	}
	if t.fixedStart {
		flags |= flagFixedStart
	}
	if t.spread {
		flags |= flagSpread
	}
	b = append(b, flags)
	var startNs int64
	if t.hasStart {
		startNs = t.start.UnixNano()
	}
	b = binary.AppendVarint(b, startNs)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(t.speed))
	b = binary.AppendUvarint(b, uint64(t.n))
	b = binary.AppendUvarint(b, uint64(len(t.pairs)))
	for _, p := range t.pairs {
		b = binary.AppendUvarint(b, uint64(len(p.Method)))
		b = append(b, p.Method...)
		b = binary.AppendUvarint(b, uint64(len(p.Path)))
		b = append(b, p.Path...)
	}
	b = binary.AppendUvarint(b, uint64(len(t.statuses)))
	for _, s := range t.statuses {
		b = binary.AppendUvarint(b, uint64(s))
	}
	b = binary.AppendUvarint(b, uint64(len(t.data)))
	b = append(b, t.data...)
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b)), nil
}

// UnmarshalBinary replaces t with the trace encoded in b. It checks every
// length, index and record, and never panics on bad input.
func (t *Trace) UnmarshalBinary(b []byte) error {
	const minLen = len(traceMagic) + 2 + 1 + 8 + 3 + 4
	if len(b) < minLen || string(b[:len(traceMagic)]) != traceMagic {
		return errors.New("accesslog: not a trace (bad magic or too short)")
	}
	if v := b[len(traceMagic)]; v != traceVersion {
		return fmt.Errorf("accesslog: trace version %d, this reader knows %d", v, traceVersion)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return errors.New("accesslog: trace checksum mismatch (truncated or corrupt)")
	}
	d := decoder{b: body[len(traceMagic)+1:]}
	flags := d.byte()
	startNs := d.varint()
	speed := math.Float64frombits(d.uint64())
	n := d.uvarint()
	npairs := d.uvarint()
	if d.err == nil && (flags&^(flagHasStart|flagFixedStart|flagSpread) != 0 || !(speed == 0 || speed > 0 && !math.IsInf(speed, 0))) {
		d.fail("bad flags or speed")
	}
	if d.err == nil && npairs > uint64(len(d.b))/2 { // each pair takes at least 2 bytes
		d.fail("pair count exceeds the input")
	}
	var nt Trace
	if d.err == nil {
		nt.pairs = make([]Request, 0, npairs)
		nt.index = make(map[Request]uint32, npairs)
	}
	for i := uint64(0); d.err == nil && i < npairs; i++ {
		p := Request{Method: d.str(), Path: d.str()}
		if _, dup := nt.index[p]; dup && d.err == nil {
			d.fail("duplicate pair")
		}
		nt.index[p] = uint32(i)
		nt.pairs = append(nt.pairs, p)
	}
	nstatuses := d.uvarint()
	if d.err == nil && nstatuses > uint64(len(d.b)) {
		d.fail("status count exceeds the input")
	}
	if d.err == nil {
		nt.statuses = make([]int, 0, nstatuses)
		nt.statusIndex = make(map[int]uint32, nstatuses)
	}
	for i := uint64(0); d.err == nil && i < nstatuses; i++ {
		s := d.uvarint()
		if _, dup := nt.statusIndex[int(s)]; d.err == nil && (s > 999 || dup) {
			d.fail("bad or duplicate status")
		}
		nt.statusIndex[int(s)] = uint32(i)
		nt.statuses = append(nt.statuses, int(s))
	}
	dataLen := d.uvarint()
	if d.err == nil && dataLen != uint64(len(d.b)) {
		d.fail("data length does not match the input")
	}
	if d.err != nil {
		return fmt.Errorf("accesslog: trace: %w", d.err)
	}
	nt.data = make([]byte, 0, len(d.b))
	prev := int64(0)
	for rest := d.b; len(rest) > 0; {
		r, k := decodeRecord(rest, prev, len(nt.pairs), len(nt.statuses))
		if k == 0 {
			return fmt.Errorf("accesslog: trace: bad record %d", nt.n)
		}
		nt.append(r)
		prev, rest = r.offset, rest[k:]
	}
	if uint64(nt.n) != n {
		return fmt.Errorf("accesslog: trace: %d records, header says %d", nt.n, n)
	}
	nt.hasStart = flags&flagHasStart != 0
	nt.fixedStart = flags&flagFixedStart != 0
	nt.spread = flags&flagSpread != 0
	nt.speed = speed
	if nt.hasStart {
		nt.start = time.Unix(0, startNs)
	}
	*t = nt
	return nil
}

// decoder reads varints with bounds checks; the first failure sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = errors.New(what)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uint64() uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, k := binary.Varint(d.b)
	if k <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail("string longer than the input")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// Requests is the table of distinct (method, path) pairs, in index order:
// the index Arrivals yields for an entry is its request's place here.
func (t *Trace) Requests() []Request { return slices.Clone(t.pairs) }

// Arrivals yields every entry's offset and its index in Requests, in stored
// order (arrival order after Sort), afresh on each call. With Requests it
// makes *Trace a loadgen.TraceSource.
func (t *Trace) Arrivals() iter.Seq2[time.Duration, int] {
	return func(yield func(time.Duration, int) bool) {
		prev := int64(0)
		for b := t.data; len(b) > 0; {
			r, n := decodeRecord(b, prev, len(t.pairs), len(t.statuses))
			if n == 0 {
				return // unreachable: data is validated
			}
			if !yield(time.Duration(r.offset)*time.Microsecond, int(r.pair)) {
				return
			}
			prev, b = r.offset, b[n:]
		}
	}
}
