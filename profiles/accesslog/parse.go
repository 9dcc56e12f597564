package accesslog

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// parser holds per-Reader state: small caches that save allocations and
// time parsing on the lines of a typical log, capped so memory stays bounded.
type parser struct {
	format Format

	lastClock []byte // the last $time_local text and its value
	lastTime  time.Time

	interned map[string]string
}

// maxInterned caps the string cache; a log with more distinct user agents,
// clients or paths than this just allocates for the rest.
const maxInterned = 4096

func newParser(f Format) parser {
	return parser{format: f, interned: make(map[string]string)}
}

func (p *parser) parse(line []byte) (Entry, problem) {
	switch p.format.Kind {
	case NginxCombined:
		return p.parseCombined(line)
	case NginxJSON:
		return p.parseJSON(line)
	case ALB:
		return p.parseALB(line)
	}
	return Entry{}, bad("no format", nil)
}

// intern returns b as a string, shared with earlier equal strings: user
// agents, clients and paths repeat a lot in real logs.
func (p *parser) intern(b []byte) string {
	if s, ok := p.interned[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(p.interned) < maxInterned && len(s) <= 256 {
		p.interned[s] = s
	}
	return s
}

// method returns a valid method token as a string, or "" when b is not one.
func method(b []byte) string {
	switch string(b) {
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "HEAD":
		return "HEAD"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "PATCH":
		return "PATCH"
	case "OPTIONS":
		return "OPTIONS"
	}
	if len(b) == 0 || len(b) > 32 {
		return ""
	}
	for _, c := range b {
		if !isTokenChar(c) {
			return ""
		}
	}
	return string(b)
}

// isTokenChar reports an RFC 9110 tchar.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// splitRequest splits "METHOD TARGET PROTO" (or HTTP/0.9's "METHOD TARGET")
// and reduces an absolute-form target to its path and query.
func splitRequest(req []byte) (meth, path []byte, ok bool) {
	sp := bytes.IndexByte(req, ' ')
	if sp <= 0 {
		return nil, nil, false
	}
	meth, rest := req[:sp], req[sp+1:]
	if last := bytes.LastIndexByte(rest, ' '); last >= 0 {
		if !bytes.HasPrefix(rest[last+1:], []byte("HTTP/")) {
			return nil, nil, false
		}
		rest = rest[:last]
	}
	path = pathOf(rest)
	if len(path) == 0 || bytes.IndexByte(path, ' ') >= 0 {
		return nil, nil, false
	}
	return meth, path, true
}

// pathOf keeps the path and query of "scheme://host[:port]/path?q".
func pathOf(target []byte) []byte {
	if len(target) == 0 || target[0] == '/' || target[0] == '*' {
		return target
	}
	i := bytes.Index(target, []byte("://"))
	if i < 0 {
		return nil
	}
	rest := target[i+3:]
	if j := bytes.IndexAny(rest, "/?"); j >= 0 {
		if rest[j] == '?' {
			return append([]byte("/"), rest[j:]...)
		}
		return rest[j:]
	}
	return []byte("/")
}

// parseStatus reads a three-digit HTTP status (100–599; nginx's 444 and 499
// included).
func parseStatus(b []byte) (int, bool) {
	if len(b) != 3 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= 100 && n <= 599
}

// parseFixed reads a decimal number of seconds ("12", "0.123", "-1",
// "1795320050.053") exactly into nanoseconds: no float rounding, so
// end − request_time keeps the log's milliseconds.
func parseFixed(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var sec int64
	i := 0
	for ; i < len(b) && b[i] != '.'; i++ {
		c := b[i]
		if c < '0' || c > '9' || sec > (1<<62)/1_000_000_000/10 {
			return 0, false
		}
		sec = sec*10 + int64(c-'0')
	}
	if i == 0 {
		return 0, false
	}
	var frac int64
	scale := int64(1e9)
	if i < len(b) {
		i++ // the '.'
		if i == len(b) {
			return 0, false
		}
		for ; i < len(b); i++ {
			c := b[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			if scale > 1 { // digits past the nanosecond are dropped
				scale /= 10
				frac += int64(c-'0') * scale
			}
		}
	}
	ns := sec*1e9 + frac
	if neg {
		ns = -ns
	}
	return ns, true
}

// parseSeconds reads a non-negative duration in seconds.
func parseSeconds(b []byte) (time.Duration, bool) {
	ns, ok := parseFixed(b)
	if !ok || ns < 0 {
		return 0, false
	}
	return time.Duration(ns), true
}

// parseUpstreamTimes sums $upstream_response_time, which is "-" when no
// upstream answered and a list when several were tried: ", " between
// servers of one upstream group, " : " across internal redirects.
func parseUpstreamTimes(b []byte) (total time.Duration, has, ok bool) {
	for len(b) > 0 {
		i := bytes.IndexAny(b, ",:")
		item := b
		if i >= 0 {
			item, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		item = bytes.TrimSpace(item)
		if len(item) == 1 && item[0] == '-' {
			continue
		}
		d, good := parseSeconds(item)
		if !good {
			return 0, false, false
		}
		total += d
		has = true
	}
	return total, has, true
}

// clfLayout is nginx's $time_local.
const clfLayout = "02/Jan/2006:15:04:05 -0700"

// clock parses $time_local, reusing the last result: consecutive lines
// mostly share their second.
func (p *parser) clock(b []byte) (time.Time, bool) {
	if p.lastClock != nil && bytes.Equal(b, p.lastClock) {
		return p.lastTime, true
	}
	t, err := time.Parse(clfLayout, string(b))
	if err != nil {
		return time.Time{}, false
	}
	p.lastClock = append(p.lastClock[:0], b...)
	p.lastTime = t
	return t, true
}

// unescapeNginx undoes nginx's default escaping ("\xHH") and the "\"" and
// "\\" some other servers write, so a path replays as it was requested.
func unescapeNginx(b []byte) []byte {
	if bytes.IndexByte(b, '\\') < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' || i+1 == len(b) {
			out = append(out, c)
			continue
		}
		switch n := b[i+1]; {
		case n == 'x' && i+3 < len(b) && isHex(b[i+2]) && isHex(b[i+3]):
			out = append(out, unhex(b[i+2])<<4|unhex(b[i+3]))
			i += 3
		case n == '"' || n == '\\':
			out = append(out, n)
			i++
		default:
			out = append(out, c)
		}
	}
	return out
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// field is one space-separated field of a line; quoted and bracketed
// fields come without their delimiters.
type field struct {
	text  []byte
	delim byte // '"', '[' or 0
}

// leadingFields fills fs with the line's first len(fs) fields and returns
// where the rest of the line starts; too few fields is a problem naming the
// format's need, a format with one %d for len(fs) (e.g. "alb needs at least
// %d"); the message is only built for a bad line.
func leadingFields(line []byte, fs []field, need string) (int, problem) {
	i := 0
	for n := range fs {
		f, next, ok, pr := nextField(line, i)
		if pr.reason != "" {
			return 0, pr
		}
		if !ok {
			return 0, problem{reason: fmt.Sprintf("%d fields, "+need, n, len(fs))}
		}
		fs[n], i = f, next
	}
	return i, problem{}
}

// nextField reads the field starting at or after i. It returns ok=false at
// the end of the line and a problem for an unterminated quote or bracket.
func nextField(line []byte, i int) (f field, next int, ok bool, pr problem) {
	for i < len(line) && line[i] == ' ' {
		i++
	}
	if i >= len(line) {
		return field{}, i, false, problem{}
	}
	switch line[i] {
	case '"':
		for j := i + 1; j < len(line); j++ {
			switch line[j] {
			case '\\':
				j++ // an escaped byte never ends the field
			case '"':
				if j+1 < len(line) && line[j+1] != ' ' {
					return field{}, 0, false, bad("text after closing quote", line[i:])
				}
				return field{text: line[i+1 : j], delim: '"'}, j + 1, true, problem{}
			}
		}
		return field{}, 0, false, bad("unterminated quote", line[i:])
	case '[':
		j := bytes.IndexByte(line[i:], ']')
		if j < 0 {
			return field{}, 0, false, bad("unterminated [", line[i:])
		}
		return field{text: line[i+1 : i+j], delim: '['}, i + j + 1, true, problem{}
	}
	j := bytes.IndexByte(line[i:], ' ')
	if j < 0 {
		j = len(line) - i
	}
	return field{text: line[i : i+j]}, i + j, true, problem{}
}
