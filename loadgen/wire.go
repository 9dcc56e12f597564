package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"
)

// Wire code shared by both engines: what a request's bytes are and how a
// response's bytes are framed, so that the same bytes on the wire give the
// same status, error class and byte counts whichever engine reads them.

// appendRequest appends the bytes of request seq, mix entry mix, to dst:
// the prepared prefix, the X-Request-Id value and the rest.
func (c *Client) appendRequest(dst []byte, seq uint64, mix uint16) []byte {
	t := &c.reqs[mix]
	dst = append(dst, t.prefix...)
	if c.cfg.RunID != "" {
		dst = append(dst, c.cfg.RunID...)
		dst = append(dst, '-')
		dst = strconv.AppendUint(dst, seq, 10)
		dst = append(dst, t.suffix...)
	}
	return dst
}

// maxResponseHeader bounds one response's status line and headers.
const maxResponseHeader = 64 << 10

// Interim (1xx) responses are skipped, within bounds, so that a server
// cannot hold a request forever with an endless stream of them.
const (
	maxInterimResponses = 10000
	maxInterimBytes     = 1 << 20
)

// respParser frames one HTTP/1.x response fed as it arrives, without
// keeping its body: it collects the status line and headers (a line may
// end in CRLF or, as RFC 9112 §2.2 allows a recipient to accept, a bare
// LF), skips interim responses, has fasthttp parse the final header,
// copies the kept headers and the status into the record and frames the
// body with bodyFramer. It counts the response's own bytes into
// rec.BytesIn, never bytes a server sent after it.
type respParser struct {
	head     []byte // header bytes of the current (interim or final) response
	norm     []byte // head rewritten with CRLF line ends, for fasthttp
	scanned  int    // head[:scanned] holds no header end
	started  bool   // a byte arrived
	inBody   bool
	close    bool // the connection cannot carry another request
	skipBody bool
	limit    int64
	interim  int
	interimN int64 // bytes of interim responses
	body     bodyFramer
}

// reset prepares p for a new response; limit ≤ 0 means no body limit.
func (p *respParser) reset(skipBody bool, limit int64) {
	*p = respParser{head: p.head[:0], norm: p.norm[:0], body: p.body, skipBody: skipBody, limit: limit}
}

// feed consumes b. It returns how many bytes belonged to the response (when
// done, the rest followed it: the connection must not be reused), whether
// the response is complete, and a *protocolError for an invalid one.
func (p *respParser) feed(rec *Record, keep []string, b []byte) (used int, done bool, err error) {
	if len(b) > 0 {
		p.started = true
	}
	for !p.inBody {
		if len(b) == 0 {
			return used, false, nil
		}
		from := len(p.head)
		p.head = append(p.head, b...)
		end := headEnd(p.head, p.scanned)
		if end < 0 {
			used += len(b)
			rec.BytesIn += int64(len(b))
			if len(p.head) > maxResponseHeader {
				return used, false, &protocolError{fmt.Errorf("status line and headers longer than %d bytes", maxResponseHeader)}
			}
			p.scanned = max(0, len(p.head)-2)
			return used, false, nil
		}
		if end > maxResponseHeader {
			return used, false, &protocolError{fmt.Errorf("status line and headers longer than %d bytes", maxResponseHeader)}
		}
		n := end - from
		used += n
		rec.BytesIn += int64(n)
		b = b[n:]
		final, err := p.header(rec, keep, p.head[:end])
		if err != nil {
			return used, false, &protocolError{err}
		}
		if !final {
			p.interim++
			p.interimN += int64(end)
			if p.interim > maxInterimResponses || p.interimN > maxInterimBytes {
				return used, false, &protocolError{fmt.Errorf("more than %d interim (1xx) responses or %d bytes of them", maxInterimResponses, maxInterimBytes)}
			}
		}
		p.head, p.scanned = p.head[:0], 0
	}
	if p.body.done() {
		return used, true, nil
	}
	if len(b) == 0 {
		return used, false, nil
	}
	n, done, err := p.body.feed(b)
	used += n
	rec.BytesIn += int64(n)
	if err != nil {
		return used, false, &protocolError{err}
	}
	return used, done, nil
}

// eof is the server closing the connection: it completes a body that runs
// until the close, otherwise it is an error (io.EOF before any byte).
func (p *respParser) eof() (done bool, err error) {
	switch {
	case p.inBody && p.body.mode == framingUntilClose:
		return true, nil
	case !p.started:
		return false, io.EOF
	}
	return false, fmt.Errorf("response cut short: %w", io.ErrUnexpectedEOF)
}

// headEnd finds the end of a header block (just past its empty line) in
// buf, looking at line ends from index from on; -1 if it has not arrived.
func headEnd(buf []byte, from int) int {
	for i := from; i < len(buf); i++ {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j
		switch {
		case i+1 < len(buf) && buf[i+1] == '\n':
			return i + 2
		case i+2 < len(buf) && buf[i+1] == '\r' && buf[i+2] == '\n':
			return i + 3
		case i+2 >= len(buf):
			return -1
		}
	}
	return -1
}

// header parses one complete header block. It reports whether it was the
// final response; for the final one it fills rec and prepares the body.
func (p *respParser) header(rec *Record, keep []string, raw []byte) (final bool, err error) {
	raw, err = p.canonical(raw)
	if err != nil {
		return false, err
	}
	hr := headReaders.Get().(*headReader)
	defer headReaders.Put(hr)
	h := &hr.h
	h.Reset()
	hr.src.Reset(raw)
	hr.br.Reset(&hr.src)
	if err := h.Read(&hr.br); err != nil {
		return false, err
	}
	status := h.StatusCode()
	switch {
	case status == fasthttp.StatusSwitchingProtocols:
		return false, errors.New("101 Switching Protocols: queuegap does not follow protocol upgrades")
	case status >= 100 && status < 200:
		return false, nil // 100 Continue, 103 Early Hints: the real response follows
	}
	rec.Status = status
	for _, name := range keep {
		for _, v := range h.PeekAll(name) {
			rec.keepHeader(name, v)
		}
	}
	cl := h.ContentLength()
	if p.skipBody || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified {
		cl = 0
	}
	p.close = h.ConnectionClose() || cl == -2
	if p.limit > 0 && int64(cl) > p.limit {
		return false, fmt.Errorf("%w (Content-Length %d, limit %d)", errBodyTooLarge, cl, p.limit)
	}
	p.body.reset(cl, p.limit)
	p.inBody = true
	return true, nil
}

// canonical returns raw with CRLF line ends and at most one Content-Length
// line, as fasthttp wants it. Repeated identical Content-Length values are
// one value (RFC 9110 §8.6); differing ones cannot frame a body.
func (p *respParser) canonical(raw []byte) ([]byte, error) {
	clean := true
	var cl []byte
	nCL := 0
	for rest := raw; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		line := rest[:i]
		rest = rest[i+1:]
		if len(line) == 0 || line[len(line)-1] != '\r' {
			clean = false
		} else {
			line = line[:len(line)-1]
		}
		if v, ok := contentLengthValue(line); ok {
			if nCL > 0 {
				if !bytes.Equal(v, cl) {
					return nil, fmt.Errorf("conflicting Content-Length headers %q and %q", cl, v)
				}
				clean = false
			}
			cl, nCL = v, nCL+1
		}
	}
	if clean {
		return raw, nil
	}
	p.norm = p.norm[:0]
	seenCL := false
	for rest := raw; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		line := bytes.TrimSuffix(rest[:i], []byte("\r"))
		rest = rest[i+1:]
		if _, ok := contentLengthValue(line); ok {
			if seenCL {
				continue
			}
			seenCL = true
		}
		p.norm = append(p.norm, line...)
		p.norm = append(p.norm, '\r', '\n')
	}
	return p.norm, nil
}

// contentLengthValue returns the trimmed value of a Content-Length line.
func contentLengthValue(line []byte) ([]byte, bool) {
	const name = "content-length"
	if len(line) < len(name)+1 || (line[0]|0x20) != 'c' {
		return nil, false
	}
	i := bytes.IndexByte(line, ':')
	if i < 0 || !bytes.EqualFold(bytes.TrimRight(line[:i], " \t"), []byte(name)) {
		return nil, false
	}
	return bytes.Trim(line[i+1:], " \t"), true
}

// headReader feeds a complete header block to fasthttp's parser, which
// reads from a bufio.Reader. Pooled: a parse is momentary, so a few serve
// every connection of a run.
type headReader struct {
	src bytes.Reader
	br  bufio.Reader
	h   fasthttp.ResponseHeader
}

var headReaders = sync.Pool{New: func() any {
	hr := &headReader{}
	hr.br = *bufio.NewReaderSize(&hr.src, maxResponseHeader+64)
	return hr
}}

// recQueue is a FIFO of records waiting for a connection. It reuses its
// array, so steady use allocates nothing.
type recQueue struct {
	s    []*Record
	head int
}

func (q *recQueue) len() int { return len(q.s) - q.head }

func (q *recQueue) push(r *Record) {
	if q.head > 0 && len(q.s) == cap(q.s) && q.head >= len(q.s)/2 {
		n := copy(q.s, q.s[q.head:])
		clear(q.s[n:])
		q.s, q.head = q.s[:n], 0
	}
	q.s = append(q.s, r)
}

func (q *recQueue) pop() *Record {
	r := q.s[q.head]
	q.s[q.head] = nil
	q.head++
	if q.head == len(q.s) {
		q.s, q.head = q.s[:0], 0
	}
	return r
}
