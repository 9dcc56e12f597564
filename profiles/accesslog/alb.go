package accesslog

import (
	"bytes"
	"time"
)

// ALB field positions (0-based), from AWS's documented order.
const (
	albTime            = 1
	albClient          = 3
	albRequestProc     = 5
	albTargetProc      = 6
	albResponseProc    = 7
	albELBStatus       = 8
	albRequest         = 12
	albUserAgent       = 13
	albRequestCreation = 21
	albFields          = albRequestCreation + 1 // later fields are ignored, as AWS asks
)

// parseALB reads an ALB access-log line. The arrival is
// request_creation_time; "time" is when the response was sent. A -1
// processing time means the request was never dispatched or the connection
// timed out: the latency is then unknown, and elb_status_code (what the
// client got) is the status either way.
func (p *parser) parseALB(line []byte) (Entry, problem) {
	var fs [albFields]field
	_, pr := leadingFields(line, fs[:], "alb needs at least %d")
	if pr.reason != "" {
		return Entry{}, pr
	}
	if fs[albRequest].delim != '"' || fs[albUserAgent].delim != '"' {
		return Entry{}, problem{reason: "request and user agent must be quoted"}
	}
	var e Entry
	var ok bool
	if e.Arrival, ok = parseRFC3339(fs[albRequestCreation].text); !ok {
		return Entry{}, bad("bad request_creation_time", fs[albRequestCreation].text)
	}
	if _, ok := parseRFC3339(fs[albTime].text); !ok {
		return Entry{}, bad("bad time", fs[albTime].text)
	}
	e.HasSubSecond = true
	if e.Status, ok = parseStatus(fs[albELBStatus].text); !ok {
		return Entry{}, bad("bad elb_status_code", fs[albELBStatus].text)
	}
	var proc [3]time.Duration
	all := true
	for k, n := range [3]int{albRequestProc, albTargetProc, albResponseProc} {
		ns, ok := parseFixed(fs[n].text)
		if !ok || ns < 0 && ns != -1e9 {
			return Entry{}, bad("bad processing time", fs[n].text)
		}
		proc[k] = time.Duration(ns)
		all = all && ns >= 0
	}
	if all {
		e.Latency, e.HasLatency = proc[0]+proc[1]+proc[2], true
	}
	if proc[1] >= 0 {
		e.UpstreamLatency, e.HasUpstream = proc[1], true
	}
	meth, path, ok := splitRequest(fs[albRequest].text)
	if !ok {
		return Entry{}, bad("request is not METHOD URL PROTOCOL", fs[albRequest].text)
	}
	if e.Method = method(meth); e.Method == "" {
		return Entry{}, bad("bad method", meth)
	}
	e.Path = p.intern(path)
	client := fs[albClient].text
	if c := bytes.LastIndexByte(client, ':'); c > 0 {
		client = client[:c]
	}
	client = bytes.TrimSuffix(bytes.TrimPrefix(client, []byte("[")), []byte("]"))
	if len(client) == 0 || client[0] == '-' {
		return Entry{}, bad("bad client:port", fs[albClient].text)
	}
	e.Client = p.intern(client)
	if ua := fs[albUserAgent].text; !(len(ua) == 1 && ua[0] == '-') {
		e.UserAgent = p.intern(unescapeNginx(ua))
	}
	return e, problem{}
}

// parseRFC3339 reads ALB's "2006-01-02T15:04:05.000000Z" without
// allocating, falling back to time.Parse for any other RFC 3339 form.
func parseRFC3339(b []byte) (time.Time, bool) {
	if len(b) == 27 && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' && b[19] == '.' && b[26] == 'Z' {
		num := func(s []byte) (int, bool) {
			n := 0
			for _, c := range s {
				if c < '0' || c > '9' {
					return 0, false
				}
				n = n*10 + int(c-'0')
			}
			return n, true
		}
		y, ok1 := num(b[0:4])
		mo, ok2 := num(b[5:7])
		d, ok3 := num(b[8:10])
		h, ok4 := num(b[11:13])
		mi, ok5 := num(b[14:16])
		s, ok6 := num(b[17:19])
		us, ok7 := num(b[20:26])
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && s < 60 {
			t := time.Date(y, time.Month(mo), d, h, mi, s, us*1000, time.UTC)
			if t.Day() == d { // rejects Feb 30 and the like, as time.Parse does
				return t, true
			}
		}
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	return t, err == nil
}
