package loadgen

import (
	"bytes"
	"errors"
	"fmt"
)

// bodyFramer finds where an HTTP/1.1 response body ends, fed the bytes as
// they arrive, without keeping them. Both engines need only that (the
// record keeps status and headers, never the body); respParser (wire.go)
// drives it after fasthttp has parsed the headers. Framing follows RFC 9112 §6.3: a fixed Content-Length, the
// chunked coding (sizes, extensions and trailers), or until the server
// closes the connection.
type bodyFramer struct {
	mode   framing
	remain int64 // fixed: body bytes still due; chunked: data bytes left in this chunk
	total  int64 // body bytes seen, against limit
	limit  int64 // ≤ 0: no limit
	chunk  chunkState
	line   []byte // a chunk-size or trailer line being collected
}

type framing uint8

const (
	framingFixed framing = iota
	framingChunked
	framingUntilClose
)

type chunkState uint8

const (
	chunkSize  chunkState = iota // collecting "hex[;ext]\r\n"
	chunkData                    // remain data bytes to skip
	chunkCRLF                    // the CRLF after a chunk's data, line collects it
	chunkTrail                   // trailer lines after the last chunk, until an empty one
	chunkDone
)

// maxFramingLine bounds a chunk-size or trailer line.
const maxFramingLine = 4 << 10

var errBodyTooLarge = errors.New("response body larger than the limit")

// reset prepares the framer for a body of contentLength bytes as fasthttp
// reports it: ≥ 0 fixed, -1 chunked, -2 until the connection closes.
// limit ≤ 0 means no limit.
func (f *bodyFramer) reset(contentLength int, limit int64) {
	line := f.line[:0]
	*f = bodyFramer{line: line, limit: limit}
	switch {
	case contentLength >= 0:
		f.mode, f.remain = framingFixed, int64(contentLength)
	case contentLength == -1:
		f.mode = framingChunked
	default:
		f.mode = framingUntilClose
	}
}

// done reports whether the body is complete without more bytes.
func (f *bodyFramer) done() bool {
	switch f.mode {
	case framingFixed:
		return f.remain == 0
	case framingChunked:
		return f.chunk == chunkDone
	}
	return false
}

// feed consumes b. It returns how many bytes belonged to the body (the
// rest, if done, follows the response: a server that sends more than it
// framed), whether the body is complete, and a framing error.
func (f *bodyFramer) feed(b []byte) (used int, done bool, err error) {
	switch f.mode {
	case framingFixed:
		n := int64(len(b))
		if n > f.remain {
			n = f.remain
		}
		f.remain -= n
		f.total += n
		return int(n), f.remain == 0, nil
	case framingUntilClose:
		f.total += int64(len(b))
		if f.limit > 0 && f.total > f.limit {
			return len(b), false, errBodyTooLarge
		}
		return len(b), false, nil
	}
	for used < len(b) && f.chunk != chunkDone {
		switch f.chunk {
		case chunkData:
			n := int64(len(b) - used)
			if n > f.remain {
				n = f.remain
			}
			f.remain -= n
			used += int(n)
			if f.remain == 0 {
				f.chunk = chunkCRLF
			}
		default: // a line: size, the CRLF after data, or a trailer
			i := bytes.IndexByte(b[used:], '\n')
			if i < 0 {
				f.line = append(f.line, b[used:]...)
				used = len(b)
				if len(f.line) > maxFramingLine {
					return used, false, fmt.Errorf("chunked body: line over %d bytes", maxFramingLine)
				}
				continue
			}
			f.line = append(f.line, b[used:used+i]...)
			used += i + 1
			if len(f.line) > maxFramingLine {
				return used, false, fmt.Errorf("chunked body: line over %d bytes", maxFramingLine)
			}
			line := bytes.TrimSuffix(f.line, []byte("\r"))
			if err := f.endLine(line); err != nil {
				return used, false, err
			}
			f.line = f.line[:0]
		}
	}
	return used, f.chunk == chunkDone, nil
}

func (f *bodyFramer) endLine(line []byte) error {
	switch f.chunk {
	case chunkCRLF:
		if len(line) != 0 {
			return fmt.Errorf("chunked body: %d bytes after a chunk's data", len(line))
		}
		f.chunk = chunkSize
	case chunkSize:
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // chunk extensions are ignored
		}
		line = bytes.TrimRight(line, " \t")
		size, err := parseChunkSize(line)
		if err != nil {
			return err
		}
		if size == 0 {
			f.chunk = chunkTrail
			return nil
		}
		f.total += size
		if f.limit > 0 && f.total > f.limit {
			return errBodyTooLarge
		}
		f.remain, f.chunk = size, chunkData
	case chunkTrail:
		if len(line) == 0 {
			f.chunk = chunkDone
			return nil
		}
		if bytes.IndexByte(line, ':') <= 0 {
			return fmt.Errorf("chunked body: malformed trailer line")
		}
	}
	return nil
}

func parseChunkSize(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 15 {
		return 0, fmt.Errorf("chunked body: bad chunk size %q", b)
	}
	var n int64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, fmt.Errorf("chunked body: bad chunk size %q", b)
		}
		n = n<<4 | int64(d)
	}
	return n, nil
}
