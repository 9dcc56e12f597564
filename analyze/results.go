package analyze

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/queuegap/queuegap/loadgen"
)

// Results file format (JSON Lines), version 2. The first line describes the
// run ({"queuegap":"run",...}), every following line is one request's
// facts — the client's timings, the server's timing, the outcome — and a
// clean end, including Ctrl-C, appends a trailer ({"queuegap":"end",...})
// with the final counts and the run-wide estimates. Attribution is not
// stored: it depends on estimates over the whole run, so readers derive it
// (analyze --requests writes it per request). Version 1 files (which stored
// a live attribution per line) are read too. README documents every field.
// A request of a named mix or client also carries "name" and "client", and
// a retry "attempt" and "retry_of" (the scheduled request's seq); they are
// optional and additive — a reader without them skips them, and files
// without them read as one unnamed group — so the version stays 2.
const resultsVersion = 2

// ResultsWriter streams Results to a file as the run goes. It writes whole
// lines only and flushes at least every FlushEvery, so a killed run loses at
// most that much and the file always parses; when a write fails (a full
// disk) it cuts the file back to its last whole line, if the file can be
// truncated. Write is called from one goroutine; the flusher runs
// concurrently.
type ResultsWriter struct {
	mu        sync.Mutex
	w         io.Writer
	buf       []byte
	err       error
	stop      chan struct{}
	stopped   chan struct{}
	written   int64
	committed int64 // bytes of whole lines known to be on disk
	withAttr  bool
}

// FlushEvery is the longest a written result stays in memory.
const FlushEvery = time.Second

const flushSize = 64 << 10

type runLine struct {
	Kind    string `json:"queuegap"`
	Version int    `json:"version"`
	RunInfo
}

// ResultsOptions shape a results file.
type ResultsOptions struct {
	// WithAttr also writes each result's attribution ("attr"), for files
	// of results attributed against final run-wide estimates.
	WithAttr bool
}

// NewResultsWriter writes the header line and starts the periodic flush.
func NewResultsWriter(w io.Writer, info RunInfo, opt ResultsOptions) (*ResultsWriter, error) {
	rw := &ResultsWriter{w: w, stop: make(chan struct{}), stopped: make(chan struct{}), withAttr: opt.WithAttr}
	line, err := json.Marshal(runLine{Kind: "run", Version: resultsVersion, RunInfo: info})
	if err != nil {
		return nil, err
	}
	rw.buf = append(line, '\n')
	if err := rw.flushLocked(); err != nil {
		return nil, fmt.Errorf("writing results: %w", err)
	}
	go rw.flusher()
	return rw, nil
}

func (rw *ResultsWriter) flusher() {
	defer close(rw.stopped)
	t := time.NewTicker(FlushEvery / 2)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			rw.mu.Lock()
			_ = rw.flushLocked()
			rw.mu.Unlock()
		case <-rw.stop:
			return
		}
	}
}

func (rw *ResultsWriter) flushLocked() error {
	if rw.err != nil || len(rw.buf) == 0 {
		return rw.err
	}
	n, err := rw.w.Write(rw.buf)
	if err != nil {
		rw.err = err
		// A short write (ENOSPC) leaves part of a line: cut back to the
		// last whole one so the file still parses to the end.
		if t, ok := rw.w.(interface{ Truncate(int64) error }); ok && n > 0 {
			keep := rw.committed + int64(bytes.LastIndexByte(rw.buf[:n], '\n')+1)
			if terr := t.Truncate(keep); terr == nil {
				if s, ok := rw.w.(io.Seeker); ok {
					_, _ = s.Seek(keep, io.SeekStart)
				}
			}
		}
		return rw.err
	}
	rw.committed += int64(n)
	rw.buf = rw.buf[:0]
	return nil
}

// Write appends one result.
func (rw *ResultsWriter) Write(r *Result) error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.err != nil {
		return rw.err
	}
	rw.buf = appendResult(rw.buf, r, rw.withAttr)
	rw.buf = append(rw.buf, '\n')
	rw.written++
	if len(rw.buf) >= flushSize {
		return rw.flushLocked()
	}
	return nil
}

// Close writes the trailer with the final run info and flushes. It stops
// the flusher either way.
func (rw *ResultsWriter) Close(final RunInfo) error {
	close(rw.stop)
	<-rw.stopped
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.err != nil {
		return rw.err
	}
	final.Complete = true
	line, err := json.Marshal(runLine{Kind: "end", Version: resultsVersion, RunInfo: final})
	if err != nil {
		return err
	}
	rw.buf = append(rw.buf, line...)
	rw.buf = append(rw.buf, '\n')
	return rw.flushLocked()
}

// Err is the first write error, if any.
func (rw *ResultsWriter) Err() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.err
}

// AppendResultJSON appends r's facts as one JSON object (no newline),
// without reflection: this runs once per request.
func AppendResultJSON(b []byte, r *Result) []byte { return appendResult(b, r, false) }

func appendResult(b []byte, r *Result, withAttr bool) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	switch {
	case r.RequestID != "":
		b = append(b, `,"id":`...)
		b = appendString(b, r.RequestID)
	case r.runID != "":
		b = append(b, `,"id":`...)
		b = appendString(b, r.runID) // run IDs are hex: the '-' and digits need no escaping
		b = b[:len(b)-1]
		b = append(b, '-')
		b = strconv.AppendUint(b, r.Seq, 10)
		b = append(b, '"')
	}
	if r.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, r.Name)
	}
	if r.Client != "" {
		b = append(b, `,"client":`...)
		b = appendString(b, r.Client)
	}
	if r.Attempt != 0 {
		b = appendInt(b, "attempt", int64(r.Attempt))
	}
	if r.RetryOf != 0 {
		b = append(b, `,"retry_of":`...)
		b = strconv.AppendUint(b, r.RetryOf, 10)
	}
	b = appendMs(b, "intended_ms", r.Intended)
	if r.Queued != 0 {
		b = appendMs(b, "queued_ms", r.Queued)
	}
	b = appendMs(b, "start_ms", r.Start)
	if r.DNSDone != 0 {
		b = appendMs(b, "dns_done_ms", r.DNSDone)
	}
	if r.ConnectDone != 0 {
		b = appendMs(b, "connect_done_ms", r.ConnectDone)
	}
	if r.TLSDone != 0 {
		b = appendMs(b, "tls_done_ms", r.TLSDone)
	}
	b = appendMs(b, "sent_ms", r.Ready())
	b = appendMs(b, "written_ms", r.Written)
	b = appendMs(b, "first_byte_ms", r.FirstByte)
	b = appendMs(b, "done_ms", r.Done)
	b = appendMs(b, "lag_ms", r.Lag())
	if d := r.ClientQueue(); d > 0 {
		b = appendMs(b, "client_queue_ms", d)
	}
	b = appendMs(b, "connect_ms", r.Connect())
	if d := r.DNS(); d > 0 {
		b = appendMs(b, "dns_ms", d)
	}
	if d := r.TLS(); d > 0 {
		b = appendMs(b, "tls_ms", d)
	}
	b = appendMs(b, "ttfb_ms", r.TTFB())
	b = appendMs(b, "total_ms", r.Total())
	b = appendMs(b, "server_wait_ms", r.ServerWait())
	b = appendBool(b, "new_conn", r.NewConn)
	if r.WaitedSlot {
		b = appendBool(b, "waited_slot", true)
	}
	if r.WaitedConn {
		b = appendBool(b, "waited_conn", true)
	}
	if r.SynRetrans > 0 {
		b = appendInt(b, "syn_retrans", int64(r.SynRetrans))
	}
	if r.Retrans > 0 {
		b = appendInt(b, "retrans", int64(r.Retrans))
	}
	b = appendInt(b, "status", int64(r.Status))
	b = appendInt(b, "bytes_in", r.BytesIn)
	b = appendInt(b, "bytes_out", r.BytesOut)
	if r.Error != loadgen.ErrNone {
		b = append(b, `,"error":`...)
		b = appendString(b, r.Error.String())
		b = append(b, `,"error_text":`...)
		b = appendString(b, r.ErrorText)
	}
	b = append(b, `,"outcome":`...)
	b = appendString(b, r.Outcome)
	if st := &r.Server; st.Any() || st.Invalid > 0 {
		b = append(b, `,"server":{"invalid":`...)
		b = strconv.AppendInt(b, int64(st.Invalid), 10)
		if st.HasQueue {
			b = appendMs(b, "queue_ms", st.Queue)
		}
		if st.HasApp {
			b = appendMs(b, "app_ms", st.App)
		}
		if st.HasStart {
			b = appendInt(b, "start_unix_us", st.Start.UnixMicro())
		}
		if st.HasUpstreamConnect {
			b = appendMs(b, "upstream_connect_ms", st.UpstreamConnect)
		}
		if st.HasUpstreamHeader {
			b = appendMs(b, "upstream_header_ms", st.UpstreamHeader)
		}
		if st.FrontTier {
			b = appendBool(b, "front_tier", true)
		}
		if st.HasFrontConnect {
			b = appendMs(b, "front_connect_ms", st.FrontConnect)
		}
		if st.HasFrontHeader {
			b = appendMs(b, "front_header_ms", st.FrontHeader)
		}
		b = append(b, '}')
	}
	if !withAttr {
		return append(b, '}')
	}
	b = append(b, `,"attr":{`...)
	for i, name := range Components {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `_ms":`...)
		b = appendMsValue(b, r.Attr.Parts[i])
	}
	if r.Attr.Estimated {
		b = appendBool(b, "estimated", true)
	}
	if r.Attr.Clamped {
		b = appendBool(b, "clamped", true)
	}
	if r.Attr.SynFront > 0 {
		b = appendMs(b, "syn_retry_front_ms", r.Attr.SynFront)
	}
	if r.Attr.SynProxy > 0 {
		b = appendMs(b, "syn_retry_proxy_ms", r.Attr.SynProxy)
	}
	if r.Attr.BacklogFront > 0 {
		b = appendMs(b, "backlog_front_ms", r.Attr.BacklogFront)
	}
	return append(b, "}}"...)
}

func appendMs(b []byte, key string, d time.Duration) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendMsValue(b, d)
}

// appendMsValue writes d in milliseconds with µs precision.
func appendMsValue(b []byte, d time.Duration) []byte {
	us := int64(d / time.Microsecond)
	if us < 0 {
		b = append(b, '-')
		us = -us
	}
	b = strconv.AppendInt(b, us/1000, 10)
	if frac := us % 1000; frac != 0 {
		b = append(b, '.')
		b = append(b, byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	}
	return b
}

func appendInt(b []byte, key string, v int64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

func appendBool(b []byte, key string, v bool) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendBool(b, v)
}

// appendString appends a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, `\u00`...)
				b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func msToDur(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// decodeResultLine decodes a whole line: one object and nothing after it.
func decodeResultLine(line []byte, r *Result, in *labelInterner) error {
	return decodeResultInterned(line, r, in)
}

// ReadStats says what ReadResults found, and what is wrong with it.
type ReadStats struct {
	Lines      int64
	Results    int64     // results passed on (duplicates excluded)
	Runs       []RunInfo // each run's header, updated by its trailer, in file order
	Truncated  bool      // the last line was cut short (a killed run); it was skipped
	Duplicates int64     // results whose run and seq were seen before; skipped
	// Missing is how many requests the file lacks: per its trailer,
	// started − results; without a trailer, the gaps below the highest seq.
	Missing int64
	// OtherLabels counts results whose name or client was beyond the first
	// MaxLabels distinct labels of the file and was read as OtherLabel.
	OtherLabels int64
	Probes      int64 // probe lines read (probeline.go)
	seqs        map[string]*SeqSet
}

// Warnings describe, one line each, what is wrong with the file.
func (st *ReadStats) Warnings() []string {
	var w []string
	if st.Truncated {
		w = append(w, "the last line was cut short (killed run or full disk) and was skipped")
	}
	for _, r := range st.Runs {
		if !r.Complete {
			w = append(w, fmt.Sprintf("run %s did not finish writing (no trailer): figures cover what was recorded", runName(r)))
		}
	}
	if st.Missing > 0 {
		w = append(w, fmt.Sprintf("%d requests are missing from the file (sent but not recorded): figures cover what was recorded", st.Missing))
	}
	if st.Duplicates > 0 {
		w = append(w, fmt.Sprintf("%d results repeat a request already read (same run and seq) and were skipped", st.Duplicates))
	}
	if st.OtherLabels > 0 {
		w = append(w, fmt.Sprintf("%d results carried a name or client beyond the first %d distinct ones and are reported as %q", st.OtherLabels, MaxLabels, OtherLabel))
	}
	return w
}

func runName(r RunInfo) string {
	if r.RunID == "" {
		return "(no id)"
	}
	return r.RunID
}

// SeqSet records which seqs of a run were seen, in chunks of 64 Ki seqs,
// so memory follows the results read, not the largest seq a line claims.
// The zero SeqSet is ready to use.
type SeqSet struct {
	chunks  map[uint64]*[1024]uint64
	n, max  uint64 // seqs seen; the highest scheduled one
	retries uint64 // retries' seqs seen (loadgen.RetrySeqBase and above)
}

// Add reports whether seq is new.
func (s *SeqSet) Add(seq uint64) bool {
	if s.chunks == nil {
		s.chunks = map[uint64]*[1024]uint64{}
	}
	c := s.chunks[seq>>16]
	if c == nil {
		c = new([1024]uint64)
		s.chunks[seq>>16] = c
	}
	w, bit := (seq>>6)&1023, uint64(1)<<(seq&63)
	if c[w]&bit != 0 {
		return false
	}
	c[w] |= bit
	s.n++
	if seq < loadgen.RetrySeqBase {
		// Retries' seqs sit in a space of their own, above every
		// scheduled one: they are not gaps' evidence.
		s.max = max(s.max, seq)
	} else {
		s.retries++
	}
	return true
}

// ReadResults streams a results file, calling fn for each Result (reused
// between calls) with the run it belongs to (its header's info; a file
// written by `cat a b` holds several runs). A malformed line is an error
// naming its line number, except a cut-short last line, which is skipped and
// reported in the stats, like missing and repeated requests.
func ReadResults(r io.Reader, fn func(run *RunInfo, res *Result) error) (ReadStats, error) {
	return ReadResultsWith(r, ReadCallbacks{Result: fn})
}

// ReadCallbacks are what ReadResultsWith calls: Result for each result,
// Probe (if set) for each probe sample (reused between calls), each with
// the run it belongs to; an error from either stops the reading.
type ReadCallbacks struct {
	Result func(run *RunInfo, res *Result) error
	Probe  func(run *RunInfo, s *ProbeSample) error
}

// ReadResultsWith is ReadResults with probe lines passed on too.
func ReadResultsWith(r io.Reader, cb ReadCallbacks) (ReadStats, error) {
	fn := cb.Result
	st := ReadStats{seqs: map[string]*SeqSet{}}
	var ps ProbeSample
	br := bufio.NewReaderSize(r, 1<<20)
	var res Result
	in := newLabelInterner(MaxLabels)
	cur := -1 // index of the current run in st.Runs
	runInfo := func() *RunInfo { return &st.Runs[cur] }
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return st, fmt.Errorf("line %d: longer than 1 MiB: not a queuegap results file", st.Lines+1)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return st, err
		}
		complete := len(line) > 0 && line[len(line)-1] == '\n'
		if len(line) > 0 {
			st.Lines++ // physical lines, so error messages point at the right one
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			derr := decodeResultLine(line, &res, in)
			var rl runLine
			isRun := errors.Is(derr, errRunLine)
			if isRun {
				derr = json.Unmarshal(line, &rl)
			}
			isProbe := errors.Is(derr, errProbeLine)
			if isProbe {
				derr = DecodeProbeLine(line, &ps)
			}
			switch {
			case derr != nil && !complete && cur >= 0:
				// A cut last line (killed run, full disk): skip it, say so.
				st.Truncated = true
			case derr != nil && cur < 0:
				return st, fmt.Errorf("not a queuegap results file (line %d: %v)", st.Lines, derr)
			case derr != nil && isRun:
				return st, fmt.Errorf("line %d: bad run line: %v", st.Lines, derr)
			case derr != nil:
				return st, fmt.Errorf("line %d: %v", st.Lines, derr)
			case isProbe && cur < 0:
				return st, fmt.Errorf("line %d: not a queuegap results file (no run header before the first probe sample)", st.Lines)
			case isProbe:
				st.Probes++
				if cb.Probe != nil {
					if ferr := cb.Probe(runInfo(), &ps); ferr != nil {
						return st, ferr
					}
				}
			case isRun:
				if rl.Kind != "run" && rl.Kind != "end" {
					return st, fmt.Errorf("line %d: unknown line kind %q", st.Lines, rl.Kind)
				}
				if rl.Version > resultsVersion {
					return st, fmt.Errorf("line %d: results format version %d is newer than this queuegap (%d)", st.Lines, rl.Version, resultsVersion)
				}
				switch {
				case cur >= 0 && rl.RunID == runInfo().RunID && rl.Kind == "end":
					st.Runs[cur] = rl.RunInfo
				case cur >= 0 && rl.RunID == runInfo().RunID:
					// The same run's header again (an appended file): one run.
				default:
					st.Runs = append(st.Runs, rl.RunInfo)
					cur = len(st.Runs) - 1
					if st.seqs[rl.RunID] == nil {
						st.seqs[rl.RunID] = &SeqSet{}
					}
				}
			case cur < 0:
				return st, fmt.Errorf("line %d: not a queuegap results file (no run header before the first result)", st.Lines)
			default:
				if !st.seqs[runInfo().RunID].Add(res.Seq) {
					st.Duplicates++
					break
				}
				st.Results++
				if ferr := fn(runInfo(), &res); ferr != nil {
					return st, ferr
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	st.OtherLabels = in.overflowed
	if cur < 0 {
		if st.Lines == 0 {
			return st, errors.New("empty results file")
		}
		return st, errors.New("not a queuegap results file (no run header)")
	}
	for _, r := range st.Runs {
		seen := st.seqs[r.RunID]
		switch {
		case r.Complete && r.Started > int64(seen.n):
			st.Missing += r.Started - int64(seen.n)
		case !r.Complete && seen.max > seen.n-seen.retries:
			st.Missing += int64(seen.max - (seen.n - seen.retries))
		}
	}
	return st, nil
}
