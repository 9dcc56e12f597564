package accesslog

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// parseJSON reads one JSON object per line. Fields read (others ignored;
// values may be JSON strings or numbers):
//
//	msec                      response end, epoch seconds (sub-second)
//	time_iso8601, time_local  response end, when there is no msec (to the second)
//	request_time              seconds; arrival = end − request_time
//	upstream_response_time    seconds, "-" or a list, summed
//	request                   "METHOD TARGET PROTOCOL"
//	method + request_uri      when there is no request (else method + uri [+ "?" args])
//	status                    HTTP status
//	remote_addr               client IP
//	http_user_agent           user agent
func (p *parser) parseJSON(line []byte) (Entry, problem) {
	var (
		msec, iso, local, reqTime, upstream  []byte
		request, meth, requestURI, uri, args []byte
		status, client, ua                   []byte
		hasMsec, hasISO, hasLocal            bool
	)
	it := jsonIter{b: line}
	if !it.open() {
		return Entry{}, bad("not a JSON object", line)
	}
	for {
		key, val, more, pr := it.next()
		if pr.reason != "" {
			return Entry{}, pr
		}
		if !more {
			break
		}
		switch string(key) {
		case "msec":
			msec, hasMsec = val, true
		case "time_iso8601":
			iso, hasISO = val, true
		case "time_local":
			local, hasLocal = val, true
		case "request_time":
			reqTime = val
		case "upstream_response_time":
			upstream = val
		case "request":
			request = val
		case "method":
			meth = val
		case "request_uri":
			requestURI = val
		case "uri":
			uri = val
		case "args":
			args = val
		case "status":
			status = val
		case "remote_addr":
			client = val
		case "http_user_agent":
			ua = val
		}
	}

	var e Entry
	var end time.Time
	switch {
	case hasMsec:
		ns, ok := parseFixed(msec)
		if !ok {
			f, err := strconv.ParseFloat(string(msec), 64)
			if err != nil || !(f > 0 && f < 1e11) {
				return Entry{}, bad("bad msec", msec)
			}
			ns = int64(f * 1e9)
		}
		if ns <= 0 {
			return Entry{}, bad("bad msec", msec)
		}
		end, e.HasSubSecond = time.Unix(0, ns), true
	case hasISO:
		t, err := time.Parse(time.RFC3339Nano, string(iso))
		if err != nil {
			return Entry{}, bad("bad time_iso8601", iso)
		}
		end, e.HasSubSecond = t, bytes.IndexByte(iso, '.') >= 0
	case hasLocal:
		t, ok := p.clock(local)
		if !ok {
			return Entry{}, bad("bad time_local", local)
		}
		end = t
	default:
		return Entry{}, problem{reason: "no msec, time_iso8601 or time_local field"}
	}

	var path []byte
	switch {
	case request != nil:
		m, pth, ok := splitRequest(request)
		if !ok {
			return Entry{}, bad("request is not METHOD TARGET PROTOCOL", request)
		}
		meth, path = m, pth
	case meth != nil && requestURI != nil:
		path = pathOf(requestURI)
	case meth != nil && uri != nil:
		path = pathOf(uri)
		if len(args) > 0 {
			path = append(append(append([]byte(nil), path...), '?'), args...)
		}
	default:
		return Entry{}, problem{reason: "no request, or method and uri, field"}
	}
	if len(path) == 0 || bytes.IndexByte(path, ' ') >= 0 {
		return Entry{}, bad("bad request target", path)
	}
	if e.Method = method(meth); e.Method == "" {
		return Entry{}, bad("bad method", meth)
	}
	e.Path = p.intern(path)

	var ok bool
	if e.Status, ok = parseStatus(status); !ok {
		return Entry{}, bad("bad status", status)
	}
	if reqTime != nil && !(len(reqTime) == 1 && reqTime[0] == '-') {
		if e.Latency, ok = parseSeconds(reqTime); !ok {
			return Entry{}, bad("bad request_time", reqTime)
		}
		e.HasLatency = true
	}
	if upstream != nil {
		if e.UpstreamLatency, e.HasUpstream, ok = parseUpstreamTimes(upstream); !ok {
			return Entry{}, bad("bad upstream_response_time", upstream)
		}
	}
	if len(client) > 0 {
		e.Client = p.intern(client)
	}
	if len(ua) > 0 && !(len(ua) == 1 && ua[0] == '-') {
		e.UserAgent = p.intern(ua)
	}
	e.Arrival = end
	if e.HasLatency {
		e.Arrival = end.Add(-e.Latency)
	}
	return e, problem{}
}

// jsonIter walks the top level of one JSON object without building it.
// Values of nested objects and arrays are skipped; string values come
// unescaped, numbers and literals as their text.
type jsonIter struct {
	b     []byte
	i     int
	first bool
}

func (it *jsonIter) skipSpace() {
	for it.i < len(it.b) {
		switch it.b[it.i] {
		case ' ', '\t', '\r', '\n':
			it.i++
		default:
			return
		}
	}
}

func (it *jsonIter) open() bool {
	it.skipSpace()
	if it.i >= len(it.b) || it.b[it.i] != '{' {
		return false
	}
	it.i++
	it.first = true
	return true
}

// next returns the next key and value; more=false after the closing brace,
// which must end the line.
func (it *jsonIter) next() (key, val []byte, more bool, pr problem) {
	it.skipSpace()
	if it.i >= len(it.b) {
		return nil, nil, false, problem{reason: "JSON object not closed"}
	}
	if it.b[it.i] == '}' {
		it.i++
		it.skipSpace()
		if it.i != len(it.b) {
			return nil, nil, false, bad("text after the JSON object", it.b[it.i:])
		}
		return nil, nil, false, problem{}
	}
	if !it.first {
		if it.b[it.i] != ',' {
			return nil, nil, false, bad("expected , in JSON object", it.b[it.i:])
		}
		it.i++
		it.skipSpace()
	}
	it.first = false
	if it.i >= len(it.b) || it.b[it.i] != '"' {
		return nil, nil, false, bad("expected a JSON key", it.b[it.i:])
	}
	key, ok := it.str()
	if !ok {
		return nil, nil, false, problem{reason: "bad JSON string"}
	}
	it.skipSpace()
	if it.i >= len(it.b) || it.b[it.i] != ':' {
		return nil, nil, false, problem{reason: "expected : after a JSON key"}
	}
	it.i++
	it.skipSpace()
	if it.i >= len(it.b) {
		return nil, nil, false, problem{reason: "JSON value missing"}
	}
	switch c := it.b[it.i]; {
	case c == '"':
		if val, ok = it.str(); !ok {
			return nil, nil, false, problem{reason: "bad JSON string"}
		}
		if val == nil {
			val = []byte{}
		}
	case c == '{' || c == '[':
		if !it.skipNested() {
			return nil, nil, false, problem{reason: "bad nested JSON value"}
		}
		val = []byte{}
	default:
		start := it.i
		for it.i < len(it.b) && strings.IndexByte(",} \t\r\n", it.b[it.i]) < 0 {
			it.i++
		}
		val = it.b[start:it.i]
		if !validScalar(val) {
			return nil, nil, false, bad("bad JSON value", val)
		}
		if string(val) == "null" {
			val = nil
		}
	}
	return key, val, true, problem{}
}

// str reads a JSON string at it.i (a '"'), unescaping only when needed.
func (it *jsonIter) str() ([]byte, bool) {
	start := it.i
	escaped := false
	for j := start + 1; j < len(it.b); j++ {
		switch c := it.b[j]; {
		case c == '\\':
			escaped = true
			j++
		case c == '"':
			it.i = j + 1
			if !escaped {
				return it.b[start+1 : j], true
			}
			var s string
			if err := json.Unmarshal(it.b[start:j+1], &s); err != nil {
				return nil, false
			}
			return []byte(s), true
		case c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// skipNested skips an object or array at it.i, minding strings.
func (it *jsonIter) skipNested() bool {
	depth := 0
	for it.i < len(it.b) {
		switch it.b[it.i] {
		case '"':
			if _, ok := it.str(); !ok {
				return false
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				it.i++
				return true
			}
		}
		it.i++
	}
	return false
}

// validScalar accepts a JSON number or literal.
func validScalar(v []byte) bool {
	switch string(v) {
	case "true", "false", "null":
		return true
	}
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if !('0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return false
		}
	}
	return true
}
