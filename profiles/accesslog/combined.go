package accesslog

import (
	"fmt"
	"time"
)

// parseCombined reads
//
//	$remote_addr - $remote_user [$time_local] "$request" $status
//	$body_bytes_sent "$http_referer" "$http_user_agent" [extras...]
//
// The end of the response is $msec when logged (sub-second), else
// $time_local (to the second); the arrival is that minus $request_time.
func (p *parser) parseCombined(line []byte) (Entry, problem) {
	const fixed = 9 // fields up to and including the user agent
	var fs [fixed]field
	i, pr := leadingFields(line, fs[:], "combined needs %d before any extras")
	if pr.reason != "" {
		return Entry{}, pr
	}
	switch {
	case fs[3].delim != '[':
		return Entry{}, bad("time is not in [brackets]", fs[3].text)
	case fs[4].delim != '"' || fs[7].delim != '"' || fs[8].delim != '"':
		return Entry{}, problem{reason: "request, referer and user agent must be quoted"}
	}
	var e Entry
	end, ok := p.clock(fs[3].text)
	if !ok {
		return Entry{}, bad("bad time", fs[3].text)
	}
	meth, path, ok := splitRequest(fs[4].text)
	if !ok {
		return Entry{}, bad("request is not METHOD TARGET PROTOCOL", fs[4].text)
	}
	if e.Method = method(meth); e.Method == "" {
		return Entry{}, bad("bad method", meth)
	}
	e.Path = p.intern(unescapeNginx(path))
	if e.Status, ok = parseStatus(fs[5].text); !ok {
		return Entry{}, bad("bad status", fs[5].text)
	}
	e.Client = p.intern(fs[0].text)
	e.UserAgent = p.intern(unescapeNginx(fs[8].text))

	for n, x := range p.format.Extras {
		f, next, ok, pr := nextField(line, i)
		if pr.reason != "" {
			return Entry{}, pr
		}
		if !ok {
			return Entry{}, problem{reason: fmt.Sprintf("%d extra fields, format %s needs %d", n, p.format, len(p.format.Extras))}
		}
		i = next
		switch x {
		case ExtraRequestTime:
			if len(f.text) == 1 && f.text[0] == '-' {
				continue
			}
			if e.Latency, ok = parseSeconds(f.text); !ok {
				return Entry{}, bad("bad request_time", f.text)
			}
			e.HasLatency = true
		case ExtraUpstreamResponseTime:
			text := f.text
			if f.delim == 0 {
				text, i = upstreamList(line, i-len(f.text), i)
			}
			if e.UpstreamLatency, e.HasUpstream, ok = parseUpstreamTimes(text); !ok {
				return Entry{}, bad("bad upstream_response_time", text)
			}
		case ExtraMsec:
			ns, ok := parseFixed(f.text)
			if !ok || ns <= 0 {
				return Entry{}, bad("bad msec", f.text)
			}
			end = time.Unix(0, ns)
			e.HasSubSecond = true
		}
	}
	if _, _, ok, _ := nextField(line, i); ok {
		return Entry{}, problem{reason: fmt.Sprintf("more fields than format %s declares (add +skip for each)", p.format)}
	}
	e.Arrival = end
	if e.HasLatency {
		e.Arrival = end.Add(-e.Latency)
	}
	return e, problem{}
}

// upstreamList extends an unquoted $upstream_response_time that began at
// start and ended at end over the rest of its list: nginx writes
// "0.010, 0.020 : 0.005" with spaces, so one value spans several fields.
func upstreamList(line []byte, start, end int) ([]byte, int) {
	for {
		if line[end-1] == ',' {
			f, next, ok, _ := nextField(line, end)
			if !ok || f.delim != 0 {
				break
			}
			end = next
			continue
		}
		f, next, ok, _ := nextField(line, end)
		if !ok || f.delim != 0 || len(f.text) != 1 || f.text[0] != ':' {
			break
		}
		g, next2, ok, _ := nextField(line, next)
		if !ok || g.delim != 0 {
			break
		}
		end = next2
	}
	return line[start:end], end
}
