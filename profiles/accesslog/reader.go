package accesslog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Entry is one request read from a log.
type Entry struct {
	// Arrival is when the request arrived (not when it was logged).
	Arrival time.Time
	// HasSubSecond is false when the log's clock had one-second resolution
	// ($time_local without $msec): Arrival is then only known to the second.
	HasSubSecond bool
	Method       string
	// Path is the path and query as logged (scheme and host removed).
	Path   string
	Status int
	// Latency is the total the server logged ($request_time; ALB's three
	// processing times summed).
	Latency    time.Duration
	HasLatency bool
	// UpstreamLatency is the backend's part ($upstream_response_time summed
	// over the upstreams tried; ALB's target_processing_time).
	UpstreamLatency time.Duration
	HasUpstream     bool
	// Client is the client IP without a port.
	Client    string
	UserAgent string
	// Line is the 1-based line number in the (decompressed) input.
	Line int64
}

// Malformed is a line that could not be read as an entry.
type Malformed struct {
	Line   int64
	Reason string
}

// Limits that keep a Reader's memory bounded.
const (
	// MaxLineBytes is the longest line read; a longer one is malformed.
	MaxLineBytes = 1 << 20
	// MaxMalformedKept is how many malformed lines Malformed returns.
	MaxMalformedKept = 100
)

// Reader reads entries from an access log, one line at a time.
type Reader struct {
	src    io.Reader
	br     *bufio.Reader
	format Format
	err    error // sticky: the error Next returns from now on
	inited bool

	lines          int64
	long           []byte // accumulates a line longer than br's buffer
	malformed      []Malformed
	malformedCount int64

	p parser
}

// NewReader returns a Reader of r in format f. Gzipped input (by its magic
// bytes) is decompressed.
func NewReader(r io.Reader, f Format) *Reader {
	return &Reader{src: r, format: f, p: newParser(f)}
}

// Open opens a log file for reading; close the Closer when done.
func Open(path string, f Format) (*Reader, io.Closer, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("accesslog: %w", err)
	}
	return NewReader(file, f), file, nil
}

// Lines is the number of lines read so far (blank and malformed included).
func (r *Reader) Lines() int64 { return r.lines }

// MalformedCount is the number of malformed lines read so far.
func (r *Reader) MalformedCount() int64 { return r.malformedCount }

// Malformed returns the first MaxMalformedKept malformed lines.
func (r *Reader) Malformed() []Malformed { return r.malformed }

func (r *Reader) init() error {
	r.inited = true
	switch r.format.Kind {
	case NginxCombined, NginxJSON, ALB:
	default:
		return fmt.Errorf("accesslog: no log format given (use ParseFormat)")
	}
	br := bufio.NewReaderSize(r.src, 64<<10)
	magic, err := br.Peek(2)
	if err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("accesslog: gzip header: %w", err)
		}
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	r.br = br
	return nil
}

// Next returns the next well-formed entry, skipping (and counting)
// malformed and blank lines. It returns io.EOF at the end of the input, or
// the read error that stopped it (e.g. a truncated gzip stream).
func (r *Reader) Next() (Entry, error) {
	if r.err != nil {
		return Entry{}, r.err
	}
	if !r.inited {
		if err := r.init(); err != nil {
			r.err = err
			return Entry{}, err
		}
	}
	for {
		line, tooLong, err := r.readLine()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				err = fmt.Errorf("accesslog: after line %d: %w", r.lines, err)
			}
			r.err = err
			return Entry{}, err
		}
		r.lines++
		if tooLong {
			r.addMalformed(problem{reason: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)})
			continue
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e, pr := r.p.parse(line)
		if pr.reason != "" {
			r.addMalformed(pr)
			continue
		}
		e.Line = r.lines
		return e, nil
	}
}

// readLine returns the next line without copying when it fits the buffer.
// A line over MaxLineBytes is read to its end and reported as tooLong, so
// memory stays bounded. At EOF a last line without "\n" is still returned.
func (r *Reader) readLine() (line []byte, tooLong bool, err error) {
	r.long = r.long[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(r.long) == 0 && err == nil && !tooLong {
			return chunk, false, nil
		}
		if !tooLong {
			if len(r.long)+len(chunk) > MaxLineBytes+2 { // +2: room for "\r\n"
				tooLong = true
				r.long = r.long[:0]
			} else {
				r.long = append(r.long, chunk...)
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return nil, true, nil
			}
			return r.long, false, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && (tooLong || len(r.long) > 0):
			return r.long, tooLong, nil
		default:
			return nil, false, err
		}
	}
}

func (r *Reader) addMalformed(p problem) {
	r.malformedCount++
	if len(r.malformed) < MaxMalformedKept {
		r.malformed = append(r.malformed, Malformed{Line: r.lines, Reason: p.String()})
	}
}

// problem is why a line is malformed; near is formatted only if kept.
type problem struct {
	reason string
	near   []byte
}

func (p problem) String() string {
	if p.near == nil {
		return p.reason
	}
	near := p.near
	if len(near) > 48 {
		near = near[:48]
	}
	return fmt.Sprintf("%s: %q", p.reason, near)
}

func bad(reason string, near []byte) problem {
	if near == nil {
		near = []byte{}
	}
	return problem{reason: reason, near: near}
}
