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
)

// Results file format (JSON Lines), version 1. The first line describes the
// run ({"queuegap":"run",...}), every following line is one request's
// Result, and a clean end — including Ctrl-C — appends a trailer
// ({"queuegap":"end",...}) with the final counts. README documents every
// field.
const resultsVersion = 1

// ResultsWriter streams Results to a file as the run goes. It writes whole
// lines only and flushes at least every FlushEvery, so a killed run loses at
// most that much and the file always parses. Write is called from one
// goroutine; the flusher runs concurrently.
type ResultsWriter struct {
	mu      sync.Mutex
	w       io.Writer
	buf     []byte
	err     error
	stop    chan struct{}
	stopped chan struct{}
	info    RunInfo
	written int64
}

// FlushEvery is the longest a written result stays in memory.
const FlushEvery = time.Second

const flushSize = 64 << 10

type runLine struct {
	Kind    string `json:"queuegap"`
	Version int    `json:"version"`
	RunInfo
}

// NewResultsWriter writes the header line and starts the periodic flush.
func NewResultsWriter(w io.Writer, info RunInfo) (*ResultsWriter, error) {
	rw := &ResultsWriter{w: w, info: info, stop: make(chan struct{}), stopped: make(chan struct{})}
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
	_, rw.err = rw.w.Write(rw.buf)
	rw.buf = rw.buf[:0]
	return rw.err
}

// Write appends one result.
func (rw *ResultsWriter) Write(r *Result) error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.buf = AppendResultJSON(rw.buf, r)
	rw.buf = append(rw.buf, '\n')
	rw.written++
	if len(rw.buf) >= flushSize {
		return rw.flushLocked()
	}
	return rw.err
}

// Close writes the trailer with the final run info and flushes.
func (rw *ResultsWriter) Close(final RunInfo) error {
	close(rw.stop)
	<-rw.stopped
	rw.mu.Lock()
	defer rw.mu.Unlock()
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

// AppendResultJSON appends r as one JSON object (no newline), without
// reflection: this runs once per request.
func AppendResultJSON(b []byte, r *Result) []byte {
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
	b = appendMs(b, "intended_ms", r.Intended)
	b = appendMs(b, "start_ms", r.Start)
	b = appendMs(b, "sent_ms", r.Sent)
	b = appendMs(b, "written_ms", r.Written)
	b = appendMs(b, "first_byte_ms", r.FirstByte)
	b = appendMs(b, "done_ms", r.Done)
	b = appendMs(b, "lag_ms", r.Lag())
	b = appendMs(b, "connect_ms", r.Connect)
	if r.DNS > 0 {
		b = appendMs(b, "dns_ms", r.DNS)
	}
	if r.TLS > 0 {
		b = appendMs(b, "tls_ms", r.TLS)
	}
	b = appendMs(b, "ttfb_ms", r.TTFB())
	b = appendMs(b, "total_ms", r.Total())
	b = appendMs(b, "server_wait_ms", r.ServerWait)
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
	b = appendInt(b, "bytes_in", int64(r.BytesIn))
	b = appendInt(b, "bytes_out", int64(r.BytesOut))
	if r.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, r.Error)
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
		b = append(b, '}')
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
func decodeResultLine(line []byte, r *Result) error { return decodeResult(line, r) }

// ReadStats says what ReadResults found.
type ReadStats struct {
	Lines     int64
	Results   int64
	Truncated bool // the last line was cut short (a killed run); it was skipped
}

// ReadResults streams a results file, calling onRun with the header's run
// info before the first result and fn for each Result (reused between
// calls). It returns the run info from the header, updated by the trailer
// when present. A malformed line is an error naming its line
// number, except a cut-short last line, which is skipped and reported.
func ReadResults(r io.Reader, onRun func(RunInfo), fn func(*Result) error) (RunInfo, ReadStats, error) {
	var info RunInfo
	var st ReadStats
	br := bufio.NewReaderSize(r, 1<<20)
	var res Result
	sawHeader := false
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return info, st, fmt.Errorf("line %d: longer than 1 MiB: not a queuegap results file", st.Lines+1)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return info, st, err
		}
		complete := len(line) > 0 && line[len(line)-1] == '\n'
		if len(line) > 0 {
			st.Lines++ // physical lines, so error messages point at the right one
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			derr := decodeResultLine(line, &res)
			if errors.Is(derr, errRunLine) {
				var rl runLine
				if uerr := json.Unmarshal(line, &rl); uerr != nil {
					return info, st, fmt.Errorf("line %d: bad run line: %v", st.Lines, uerr)
				}
				if rl.Kind != "run" && rl.Kind != "end" {
					return info, st, fmt.Errorf("line %d: unknown line kind %q", st.Lines, rl.Kind)
				}
				if rl.Version > resultsVersion {
					return info, st, fmt.Errorf("line %d: results format version %d is newer than this queuegap (%d)", st.Lines, rl.Version, resultsVersion)
				}
				info = rl.RunInfo
				if !sawHeader && onRun != nil {
					onRun(info)
				}
				sawHeader = true
			} else {
				if derr != nil && !complete && errors.Is(err, io.EOF) && sawHeader {
					st.Truncated = true
					return info, st, nil
				}
				if derr != nil && !sawHeader {
					return info, st, fmt.Errorf("not a queuegap results file (line %d: %v)", st.Lines, derr)
				}
				if derr != nil {
					return info, st, fmt.Errorf("line %d: %v", st.Lines, derr)
				}
				if !sawHeader {
					return info, st, fmt.Errorf("line %d: not a queuegap results file (no run header before the first result)", st.Lines)
				}
				st.Results++
				if ferr := fn(&res); ferr != nil {
					return info, st, ferr
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if !sawHeader {
		if st.Results == 0 && !st.Truncated {
			return info, st, errors.New("empty results file")
		}
		return info, st, errors.New("not a queuegap results file (no run header)")
	}
	return info, st, nil
}
