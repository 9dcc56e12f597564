// Package servertiming owns the parsing of timing information that servers and proxies report in
// response headers: Server-Timing (W3C), X-Request-Start / X-Queue-Start (a proxy's receive time,
// whatever epoch unit it uses), X-Runtime (seconds), X-Response-Time (milliseconds with a unit
// suffix), nginx $upstream_*_time lists, and custom headers mapped with --timing-header.
//
// It turns header bytes into durations and absolute times and nothing more: it does not decide which
// header feeds which component, does not correct for clock skew between client and server (the
// caller must estimate the offset), and does not clamp small negative differences; that belongs to
// the attribution code in package analyze.
//
// Every parser takes []byte, never panics, never allocates on the success path except where it
// returns new strings (ParseServerTiming, ParseMapping), and rejects garbage with a one-line error
// that quotes the offending value (truncated to 64 bytes) and wraps ErrMalformed,
// ErrImplausibleTime or ErrNoValue. Durations are finite, non-negative and at most 24h.
package servertiming

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Sentinel errors; every error returned by this package wraps exactly one of them (check with
// errors.Is).
var (
	// ErrMalformed reports a value that does not follow the header's syntax, or a number that is
	// not finite, negative, or beyond 24h.
	ErrMalformed = errors.New("malformed value")
	// ErrImplausibleTime reports an absolute time before 2000-01-01 or more than 24h after now.
	ErrImplausibleTime = errors.New("implausible time")
	// ErrNoValue reports a value that holds no measurement at all (empty, or only "-").
	ErrNoValue = errors.New("no value")
)

const (
	// maxDuration bounds every parsed duration: a single response timing beyond a day is garbage.
	maxDuration = 24 * time.Hour
	// maxQuote bounds how much of an offending value an error message quotes.
	maxQuote = 64
)

// quote renders b for an error message: Go-quoted, truncated to maxQuote bytes.
func quote(b []byte) string {
	if len(b) > maxQuote {
		return strconv.Quote(string(b[:maxQuote])) + "..."
	}
	return strconv.Quote(string(b))
}

// ---------------------------------------------------------------------------------------------
// Byte classes and small helpers.

// tchar reports the RFC 9110 token characters.
var tchar = [256]bool{
	'!': true, '#': true, '$': true, '%': true, '&': true, '\'': true, '*': true, '+': true,
	'-': true, '.': true, '^': true, '_': true, '`': true, '|': true, '~': true,
	'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true, '7': true,
	'8': true, '9': true,
	'A': true, 'B': true, 'C': true, 'D': true, 'E': true, 'F': true, 'G': true, 'H': true,
	'I': true, 'J': true, 'K': true, 'L': true, 'M': true, 'N': true, 'O': true, 'P': true,
	'Q': true, 'R': true, 'S': true, 'T': true, 'U': true, 'V': true, 'W': true, 'X': true,
	'Y': true, 'Z': true,
	'a': true, 'b': true, 'c': true, 'd': true, 'e': true, 'f': true, 'g': true, 'h': true,
	'i': true, 'j': true, 'k': true, 'l': true, 'm': true, 'n': true, 'o': true, 'p': true,
	'q': true, 'r': true, 's': true, 't': true, 'u': true, 'v': true, 'w': true, 'x': true,
	'y': true, 'z': true,
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

// skipOWS returns the first index at or after i that is not SP or HTAB.
func skipOWS(b []byte, i int) int {
	for i < len(b) && isOWS(b[i]) {
		i++
	}
	return i
}

// trimSpace trims ASCII whitespace from both ends of b without allocating.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// equalFold compares b and s ASCII-case-insensitively (tokens are ASCII).
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i] != s[i] && lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------------------------
// Numbers.

// numErr classifies why a number was rejected; its String is the message fragment.
type numErr uint8

const (
	numOK numErr = iota
	numEmpty
	numSyntax
	numNonFinite
	numNegative
	numTooLarge
)

func (e numErr) String() string {
	switch e {
	case numEmpty:
		return "is empty"
	case numSyntax:
		return "is not a decimal number"
	case numNonFinite:
		return "is not a finite number"
	case numNegative:
		return "is negative"
	case numTooLarge:
		return "exceeds 24h"
	}
	return "is valid"
}

// scanNumber returns the length of the longest prefix of b that is a decimal number
// -?digits*(.digits*)?([eE][+-]?digits+)? with at least one mantissa digit, and whether there was
// such a prefix. Hex floats, "inf", "nan" and underscores (all of which strconv accepts) are not
// numbers here.
func scanNumber(b []byte) (n int, ok bool) {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := 0
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
		digits++
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		j := i + 1
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := j
		for k < len(b) && '0' <= b[k] && b[k] <= '9' {
			k++
		}
		if k > j {
			i = k
		}
	}
	return i, true
}

// parseNumber parses b, which must be exactly one decimal number (see scanNumber), into a finite,
// non-negative float64 (-0 becomes 0). It does not allocate.
func parseNumber(b []byte) (float64, numErr) {
	if len(b) == 0 {
		return 0, numEmpty
	}
	n, ok := scanNumber(b)
	if !ok || n != len(b) {
		if isNonFiniteWord(b) {
			return 0, numNonFinite
		}
		return 0, numSyntax
	}
	// Keep strconv away from its range errors, which allocate: a magnitude beyond 1e300 is far
	// beyond 24h in any unit, one below 1e-300 is zero at nanosecond resolution.
	mag, zero := magnitude(b)
	neg := b[0] == '-'
	switch {
	case neg && !zero:
		return 0, numNegative
	case zero || mag < -300:
		return 0, numOK
	case mag > 300:
		return 0, numTooLarge
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f < 0 {
		return 0, numSyntax // unreachable: syntax and range were checked
	}
	return f, numOK
}

// magnitude returns, for a number accepted by scanNumber, the decimal exponent m such that
// 10^(m-1) <= |value| < 10^m, or zero=true if the value is 0. The exponent is clamped to ±1e6.
func magnitude(b []byte) (m int, zero bool) {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	intDigits, fracZeros, nonzero := 0, 0, false
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		if nonzero || b[i] != '0' {
			nonzero = true
			intDigits++
		}
	}
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			if !nonzero {
				if b[i] != '0' {
					nonzero = true
				} else {
					fracZeros++
				}
			}
		}
	}
	if !nonzero {
		return 0, true
	}
	exp := 0
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		sign := 1
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			if b[i] == '-' {
				sign = -1
			}
			i++
		}
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			if exp < 1e6 {
				exp = exp*10 + int(b[i]-'0')
			}
		}
		exp *= sign
	}
	if intDigits > 0 {
		m = intDigits
	} else {
		m = -fracZeros
	}
	// Clamp so that huge digit counts cannot overflow the sum.
	m = max(-1e6, min(1e6, m)) + exp
	return m, false
}

// isNonFiniteWord reports spellings of NaN and infinity, for a clearer error message.
func isNonFiniteWord(b []byte) bool {
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		b = b[1:]
	}
	return equalFold(b, "nan") || equalFold(b, "inf") || equalFold(b, "infinity")
}

// toDuration converts f units of unitNs nanoseconds each into a Duration, rounding to the nearest
// nanosecond and rejecting anything beyond maxDuration.
func toDuration(f, unitNs float64) (time.Duration, numErr) {
	ns := f * unitNs
	if !(ns <= float64(maxDuration)) { // also catches NaN
		return 0, numTooLarge
	}
	return time.Duration(math.Round(ns)), numOK
}

// parseDuration parses a whole (whitespace-trimmed) value as a number of unitNs-nanosecond units.
func parseDuration(b []byte, unitNs float64) (time.Duration, numErr) {
	f, e := parseNumber(b)
	if e != numOK {
		return 0, e
	}
	return toDuration(f, unitNs)
}

// ---------------------------------------------------------------------------------------------
// Simple duration headers.

// ParseSeconds parses X-Runtime (decimal seconds, e.g. "0.012345") into a Duration. Surrounding
// whitespace is ignored; an exponent is accepted; negative, NaN/Inf and values beyond 24h are
// errors wrapping ErrMalformed.
func ParseSeconds(value []byte) (time.Duration, error) {
	d, e := parseDuration(trimSpace(value), float64(time.Second))
	if e != numOK {
		return 0, malformed("seconds value %s %v", quote(value), e)
	}
	return d, nil
}

// ParseMillis parses X-Response-Time: "12.345ms", "12.345 ms", or a bare number of milliseconds.
// The suffixes "ms", "us", "µs" (micro sign or Greek mu), "ns" and "s" are accepted with their
// meaning, ASCII-case-insensitively. Errors wrap ErrMalformed.
func ParseMillis(value []byte) (time.Duration, error) {
	b := trimSpace(value)
	n, ok := scanNumber(b)
	if !ok {
		e := numSyntax
		if len(b) == 0 {
			e = numEmpty
		} else if isNonFiniteWord(b) {
			e = numNonFinite
		}
		return 0, malformed("milliseconds value %s %v", quote(value), e)
	}
	unit, ok := suffixUnit(b[skipOWS(b, n):])
	if !ok {
		return 0, malformed("milliseconds value %s has an unknown unit suffix",
			quote(value))
	}
	d, e := parseDuration(b[:n], unit)
	if e != numOK {
		return 0, malformed("milliseconds value %s %v", quote(value), e)
	}
	return d, nil
}

// suffixUnit maps an X-Response-Time unit suffix (possibly empty) to nanoseconds per unit.
func suffixUnit(s []byte) (float64, bool) {
	switch {
	case len(s) == 0, equalFold(s, "ms"):
		return float64(time.Millisecond), true
	case equalFold(s, "s"):
		return float64(time.Second), true
	case equalFold(s, "us"), string(s) == "µs", string(s) == "μs":
		return float64(time.Microsecond), true
	case equalFold(s, "ns"):
		return 1, true
	}
	return 0, false
}

// ParseUpstreamSeconds parses nginx $upstream_connect_time / $upstream_header_time /
// $upstream_response_time values: seconds with millisecond resolution, one per upstream try,
// separated by "," (tries within a group) or ":" (groups after an internal redirect). It returns
// the SUM of the entries. "-" entries (no value, e.g. no connection was made) and empty entries
// are skipped; if nothing remains the error wraps ErrNoValue. Any other bad entry fails the whole
// value with an error wrapping ErrMalformed.
func ParseUpstreamSeconds(value []byte) (time.Duration, error) {
	var sum time.Duration
	seen := false
	for i := 0; i <= len(value); {
		j := i
		for j < len(value) && value[j] != ',' && value[j] != ':' {
			j++
		}
		entry := trimSpace(value[i:j])
		i = j + 1
		if len(entry) == 0 || (len(entry) == 1 && entry[0] == '-') {
			continue
		}
		d, e := parseDuration(entry, float64(time.Second))
		if e == numOK && sum+d > maxDuration {
			e = numTooLarge
		}
		if e != numOK {
			if len(entry) == len(trimSpace(value)) { // the only entry: quote it once
				return 0, malformed("upstream time %s %v", quote(value), e)
			}
			return 0, malformed("upstream time %s: entry %s %v",
				quote(value), quote(entry), e)
		}
		sum += d
		seen = true
	}
	if !seen {
		return 0, noValue("upstream time %s holds no measurement", quote(value))
	}
	return sum, nil
}

// ---------------------------------------------------------------------------------------------
// Absolute receive time.

// Unit inference thresholds for an epoch value v (the integer part): 1e11 s is the year 5138 and
// 1e11 ms is 1973, so each magnitude band maps to exactly one unit for every plausible date:
//
//	v < 1e11 → seconds       (nginx "t=${msec}", e.g. t=1795320050.053)
//	v < 1e14 → milliseconds  (Heroku)
//	v < 1e17 → microseconds  (New Relic "t=<µs>")
//	else     → nanoseconds   (Render)
const (
	epochMaxSeconds = 1e11
	epochMaxMillis  = 1e14
	epochMaxMicros  = 1e17
)

// minEpoch is the earliest plausible receive time.
var minEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// ParseRequestStart parses X-Request-Start / X-Queue-Start: an optional "t=" prefix, optional
// surrounding whitespace, and a non-negative decimal number (integer or with a fraction, no
// exponent) of seconds, milliseconds, microseconds or nanoseconds since the Unix epoch; the unit is
// inferred from the magnitude (see epochMaxSeconds). The conversion is exact integer arithmetic, so
// a fraction keeps its sub-millisecond precision (down to the nanosecond). Values before 2000-01-01
// or more than 24h after now (now is normally time.Now(); a zero now rejects everything) are
// rejected with an error wrapping ErrImplausibleTime; syntax errors wrap ErrMalformed. The result is
// in UTC.
func ParseRequestStart(value []byte, now time.Time) (time.Time, error) {
	b := trimSpace(value)
	if len(b) >= 2 && (b[0] == 't' || b[0] == 'T') && b[1] == '=' {
		b = trimSpace(b[2:])
	}
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	// Integer part, exactly, as uint64.
	var ip uint64
	i, overflow := 0, false
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		d := uint64(b[i] - '0')
		if ip > (math.MaxUint64-d)/10 {
			overflow = true
		} else {
			ip = ip*10 + d
		}
		i++
	}
	if i == 0 {
		return time.Time{}, malformed("request start %s is not a decimal epoch time",
			quote(value))
	}
	// Fraction: keep the first 9 digits (enough for 1ns at any unit), validate the rest.
	var frac, fracScale uint64 = 0, 1
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			if i-start < 9 {
				frac = frac*10 + uint64(b[i]-'0')
				fracScale *= 10
			}
			i++
		}
		if i == start {
			i = -1 // "123." is malformed
		}
	}
	if i != len(b) {
		return time.Time{}, malformed("request start %s is not a decimal epoch time",
			quote(value))
	}
	if neg && (ip != 0 || frac != 0) {
		return time.Time{}, implausible("request start %s is negative",
			quote(value))
	}
	if overflow {
		return time.Time{}, implausible("request start %s is too large",
			quote(value))
	}

	var unitNs uint64
	var unit string
	switch {
	case ip < epochMaxSeconds:
		unitNs, unit = 1e9, "seconds"
	case ip < epochMaxMillis:
		unitNs, unit = 1e6, "milliseconds"
	case ip < epochMaxMicros:
		unitNs, unit = 1e3, "microseconds"
	default:
		unitNs, unit = 1, "nanoseconds"
	}
	perSec := 1e9 / unitNs
	sec := int64(ip / perSec)                                 // < 1.9e10 for any uint64
	nsec := int64((ip%perSec)*unitNs + frac*unitNs/fracScale) // < 2e9; frac*unitNs < 1e18
	t := time.Unix(sec, nsec).UTC()

	if t.Before(minEpoch) {
		return time.Time{}, implausible("request start %s (read as %s: %s) is before 2000-01-01",
			quote(value), unit, t.Format(time.RFC3339Nano))
	}
	if limit := now.Add(24 * time.Hour); t.After(limit) {
		return time.Time{}, implausible("request start %s (read as %s: %s) is more than 24h after now (%s)",
			quote(value), unit, t.Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// kindError is an error that reads as its message alone and wraps one of
// the sentinels, so callers can tell kinds apart with errors.Is without
// the kind's name stuttering at the end of every message.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func malformed(format string, a ...any) error {
	return &kindError{fmt.Sprintf(format, a...), ErrMalformed}
}

func implausible(format string, a ...any) error {
	return &kindError{fmt.Sprintf(format, a...), ErrImplausibleTime}
}

func noValue(format string, a ...any) error {
	return &kindError{fmt.Sprintf(format, a...), ErrNoValue}
}
