package servertiming

import (
	"bytes"
	"fmt"
)

// Metric is one Server-Timing metric. Dur is in milliseconds.
type Metric struct {
	Name   string
	Dur    float64
	HasDur bool
	Desc   string
}

// maxDurMs bounds a Server-Timing dur (milliseconds) like every other duration: 24h.
const maxDurMs = float64(maxDuration) / 1e6

// stReason says why a Server-Timing metric was skipped.
type stReason uint8

const (
	stOK stReason = iota
	stNoName
	stNoParamName
	stUnexpected
	stUnterminated
)

func (r stReason) String() string {
	switch r {
	case stNoName:
		return "missing metric name"
	case stNoParamName:
		return "missing parameter name"
	case stUnexpected:
		return "expected ';' or ','"
	case stUnterminated:
		return "unterminated quoted string"
	}
	return "ok"
}

// stMetric is one scanned metric, as offsets into the header value so that scanning allocates
// nothing. Only the first dur and the first desc parameter are recorded (first wins).
type stMetric struct {
	nameStart, nameEnd int
	durStart, durEnd   int
	descStart, descEnd int
	durSeen, durQuoted bool
	descSeen, descQuo  bool
	reason             stReason // stOK, or why the metric is malformed and skipped
	at                 int      // byte offset of the problem
}

// scanMetric scans the list element of the Server-Timing value v that starts at i. It returns the
// index where the next element starts and whether there was an element at all (empty elements, as
// in "a,,b" or a trailing comma, are allowed by the #list rule and return present=false). A
// malformed element sets m.reason and is skipped up to the next comma outside a quoted string.
// next is always > i when i < len(v).
//
// Grammar (W3C Server Timing, RFC 9110 tokens and quoted-strings):
//
//	metric = token *( OWS ";" OWS [ param ] )
//	param  = token [ OWS "=" OWS ( token / quoted-string ) ]
//
// Deviations, for robustness with real servers: empty params (stray ';') are ignored, and a param
// without "=" has an empty value (so a bare "dur" is an invalid dur).
func scanMetric(v []byte, i int, m *stMetric) (next int, present bool) {
	*m = stMetric{}
	i = skipOWS(v, i)
	if i >= len(v) {
		return len(v), false
	}
	if v[i] == ',' {
		return i + 1, false
	}
	start := i
	for i < len(v) && tchar[v[i]] {
		i++
	}
	if i == start {
		return m.fail(v, i, stNoName), true
	}
	m.nameStart, m.nameEnd = start, i
	for {
		i = skipOWS(v, i)
		if i >= len(v) {
			return len(v), true
		}
		switch v[i] {
		case ',':
			return i + 1, true
		case ';':
		default:
			return m.fail(v, i, stUnexpected), true
		}
		i = skipOWS(v, i+1)
		if i >= len(v) || v[i] == ';' || v[i] == ',' {
			continue // empty param
		}
		ps := i
		for i < len(v) && tchar[v[i]] {
			i++
		}
		if i == ps {
			return m.fail(v, i, stNoParamName), true
		}
		pname := v[ps:i]
		i = skipOWS(v, i)
		vs, ve, quoted := i, i, false
		if i < len(v) && v[i] == '=' {
			i = skipOWS(v, i+1)
			if i < len(v) && v[i] == '"' {
				end, ok := scanQuoted(v, i)
				if !ok {
					return m.fail(v, i, stUnterminated), true
				}
				vs, ve, quoted = i+1, end-1, true
				i = end
			} else {
				vs = i
				for i < len(v) && tchar[v[i]] {
					i++
				}
				ve = i
			}
		}
		switch {
		case equalFold(pname, "dur"):
			if !m.durSeen {
				m.durSeen, m.durStart, m.durEnd, m.durQuoted = true, vs, ve, quoted
			}
		case equalFold(pname, "desc"):
			if !m.descSeen {
				m.descSeen, m.descStart, m.descEnd, m.descQuo = true, vs, ve, quoted
			}
		}
	}
}

// fail marks m malformed at i and returns where the next element starts.
func (m *stMetric) fail(v []byte, i int, r stReason) int {
	m.reason, m.at = r, i
	return skipToComma(v, i)
}

// scanQuoted scans the quoted-string starting at v[i] == '"' and returns the index just past the
// closing quote; ok is false if it is unterminated.
func scanQuoted(v []byte, i int) (end int, ok bool) {
	for j := i + 1; j < len(v); {
		switch v[j] {
		case '\\':
			j += 2
		case '"':
			return j + 1, true
		default:
			j++
		}
	}
	return len(v), false
}

// skipToComma returns the index just past the next comma at or after i that is outside a
// quoted-string (or len(v)). It always returns a value > i when i < len(v).
func skipToComma(v []byte, i int) int {
	for i < len(v) {
		switch v[i] {
		case ',':
			return i + 1
		case '"':
			i, _ = scanQuoted(v, i)
		default:
			i++
		}
	}
	return len(v)
}

// dur evaluates the metric's first dur parameter, in milliseconds.
func (m *stMetric) dur(v []byte) (float64, numErr) {
	raw := v[m.durStart:m.durEnd]
	if m.durQuoted && bytes.IndexByte(raw, '\\') >= 0 {
		return 0, numSyntax
	}
	f, e := parseNumber(raw)
	if e == numOK && f > maxDurMs {
		e = numTooLarge
	}
	return f, e
}

// ParseServerTiming parses one Server-Timing header value with the full W3C grammar:
// comma-separated metrics; ';'-separated params; `dur` and `desc` optional; desc may be a token or a
// quoted-string with backslash escapes; unknown params ignored; for a repeated param the first wins;
// optional whitespace around ';', ',' and '='; params names case-insensitive. A malformed metric is
// skipped (parsing resumes at the next top-level comma, respecting quotes) and reported via a non-nil
// error alongside the metrics that did parse. A dur that is not a finite number, or negative, makes
// HasDur=false for that metric (and is reported in the error).
//
// The first dur parameter of a metric decides, even when it is invalid. A dur beyond 24h counts as
// invalid too. Empty list elements and empty parameters (stray ',' and ';') are tolerated
// silently; an empty value yields no metrics and no error. Names are returned as written. The
// error (wrapping ErrMalformed) describes the first problem and counts the others.
//
// Allocations: one string for the whole value (names and descs are substrings of it), the result
// slice, and one string per desc containing escapes.
func ParseServerTiming(value []byte) ([]Metric, error) {
	if len(value) == 0 {
		return nil, nil
	}
	s := string(value)
	out := make([]Metric, 0, bytes.Count(value, []byte{','})+1)
	var first string
	problems := 0
	var m stMetric
	for i := 0; i < len(value); {
		next, present := scanMetric(value, i, &m)
		if next <= i { // cannot happen; guarantees termination
			next = i + 1
		}
		i = next
		if !present {
			continue
		}
		if m.reason != stOK {
			if problems == 0 {
				first = fmt.Sprintf("malformed metric at byte %d (%v)", m.at, m.reason)
			}
			problems++
			continue
		}
		met := Metric{Name: s[m.nameStart:m.nameEnd]}
		if m.durSeen {
			if d, e := m.dur(value); e == numOK {
				met.Dur, met.HasDur = d, true
			} else {
				if problems == 0 {
					first = fmt.Sprintf("metric %s: dur %s %v", quote(value[m.nameStart:m.nameEnd]),
						quote(value[m.durStart:m.durEnd]), e)
				}
				problems++
			}
		}
		if m.descSeen {
			met.Desc = unquote(s[m.descStart:m.descEnd], m.descQuo)
		}
		out = append(out, met)
	}
	if len(out) == 0 {
		out = nil
	}
	if problems == 0 {
		return out, nil
	}
	more := ""
	if problems > 1 {
		more = fmt.Sprintf(" (and %d more problems)", problems-1)
	}
	return out, malformed("server-timing %s: %s%s", quote(value), first, more)
}

// unquote removes quoted-pair backslashes from the contents of a quoted-string.
func unquote(s string, quoted bool) string {
	if !quoted {
		return s
	}
	j := 0
	for j < len(s) && s[j] != '\\' {
		j++
	}
	if j == len(s) {
		return s
	}
	b := make([]byte, 0, len(s)-1)
	b = append(b, s[:j]...)
	for ; j < len(s); j++ {
		if s[j] == '\\' && j+1 < len(s) {
			j++
		}
		b = append(b, s[j])
	}
	return string(b)
}

// LookupServerTiming returns the dur of the first metric named `name` (case-insensitive, per the spec
// metric names are tokens) across all the given header values (the header may appear several times),
// without allocating. ok is false when no such metric has a valid dur.
//
// Precisely: it returns the Dur of the first metric, in order across values, that
// ParseServerTiming would return with that name and HasDur set; metrics with an invalid dur and
// malformed metrics are passed over.
func LookupServerTiming(values [][]byte, name string) (durMs float64, ok bool) {
	var m stMetric
	for _, v := range values {
		for i := 0; i < len(v); {
			next, present := scanMetric(v, i, &m)
			if next <= i { // cannot happen; guarantees termination
				next = i + 1
			}
			i = next
			if !present || m.reason != stOK || !m.durSeen || !equalFold(v[m.nameStart:m.nameEnd], name) {
				continue
			}
			if d, e := m.dur(v); e == numOK {
				return d, true
			}
		}
	}
	return 0, false
}
