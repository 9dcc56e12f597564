package analyze

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/queuegap/queuegap/loadgen"
)

// decodeResult parses one result line without reflection: analyze reads
// files of millions of lines, and encoding/json spent ≈12 µs on each. It
// accepts any JSON object (any key order, whitespace, unknown keys); a
// construct it does not handle itself (escaped strings, exponents) falls
// back to encoding/json for that value, so the two always agree.
func decodeResult(line []byte, r *Result) error { return decodeResultInterned(line, r, nil) }

// decodeResultInterned is decodeResult taking names and clients from in
// (nil: a new string each).
func decodeResultInterned(line []byte, r *Result, in *labelInterner) error {
	*r = Result{}
	d := decoder{b: line}
	var sawOutcome bool
	var sent, connect, dns, tls time.Duration // version 1 files: derived phases only
	var sawConnectDone bool
	overflowed := false // a label of this line was beyond the intern table
	err := d.object(func(key []byte) error {
		switch string(key) {
		case "seq":
			v, err := d.uint()
			r.Seq = v
			return err
		case "id":
			s, err := d.str()
			r.RequestID = s
			return err
		case "name":
			return d.label(in, &r.Name, &overflowed)
		case "client":
			return d.label(in, &r.Client, &overflowed)
		case "attempt":
			v, err := d.uint()
			if err == nil && v > math.MaxUint16 {
				return d.errorf("attempt %d out of range", v)
			}
			r.Attempt = uint16(v)
			return err
		case "retry_of":
			v, err := d.uint()
			r.RetryOf = v
			return err
		case "intended_ms":
			return d.ms(&r.Intended)
		case "queued_ms":
			return d.ms(&r.Queued)
		case "start_ms":
			return d.ms(&r.Start)
		case "dns_done_ms":
			return d.ms(&r.DNSDone)
		case "connect_done_ms":
			sawConnectDone = true
			return d.ms(&r.ConnectDone)
		case "tls_done_ms":
			return d.ms(&r.TLSDone)
		case "sent_ms":
			return d.ms(&sent)
		case "written_ms":
			return d.ms(&r.Written)
		case "first_byte_ms":
			return d.ms(&r.FirstByte)
		case "done_ms":
			return d.ms(&r.Done)
		case "connect_ms":
			return d.ms(&connect)
		case "dns_ms":
			return d.ms(&dns)
		case "tls_ms":
			return d.ms(&tls)
		case "new_conn":
			return d.boolean(&r.NewConn)
		case "waited_slot":
			return d.boolean(&r.WaitedSlot)
		case "waited_conn":
			return d.boolean(&r.WaitedConn)
		case "syn_retrans":
			return d.uint8(&r.SynRetrans)
		case "retrans":
			return d.uint8(&r.Retrans)
		case "status":
			return d.int(&r.Status)
		case "bytes_in":
			return d.int64(&r.BytesIn)
		case "bytes_out":
			return d.int64(&r.BytesOut)
		case "error":
			s, err := d.str()
			if s != "" {
				r.Error, _ = loadgen.ParseErrorClass(s) // unknown classes read as "error"
			}
			return err
		case "error_text":
			s, err := d.str()
			r.ErrorText = s
			return err
		case "outcome":
			s, err := d.str()
			r.Outcome = internOutcome(s)
			sawOutcome = true
			return err
		case "server":
			return d.server(&r.Server)
		case "attr":
			return d.attr(&r.Attr)
		case "queuegap":
			return errRunLine
		case "probe":
			return errProbeLine // probeline.go
		}
		return d.skip()
	})
	if err != nil {
		return err
	}
	if err := d.rest(); err != nil {
		return err
	}
	if !sawOutcome || r.Outcome == "" {
		return errors.New(`missing "outcome"`)
	}
	if overflowed {
		in.overflowed++ // counted once the line is known to be good
	}
	if r.Done < r.Intended || r.Intended < 0 {
		return errors.New("done_ms before intended_ms")
	}
	if !sawConnectDone && r.NewConn && connect > 0 {
		// Version 1 kept the setup as durations: sent = start + dns + tcp + tls.
		if dns > 0 {
			r.DNSDone = r.Start + dns
		}
		if tls > 0 {
			r.TLSDone = sent
		}
		r.ConnectDone = sent - tls
	}
	return nil
}

var errRunLine = errors.New("run line")

// MaxLabels bounds the distinct names and clients a reader keeps: a file
// of unique names (say, raw URLs) must not grow memory with its length.
// Beyond it every new label reads as OtherLabel.
const MaxLabels = 10000

// OtherLabel stands for the labels (and endpoint groups) beyond a bound.
const OtherLabel = "(other)"

// labelInterner hands out one string per distinct label, so that a file
// of millions of lines holds each name once (and the aggregator's group
// lookup compares equal pointers).
type labelInterner struct {
	m          map[string]string
	max        int
	overflowed int64 // results with a label beyond max
}

func newLabelInterner(max int) *labelInterner {
	return &labelInterner{m: make(map[string]string), max: max}
}

// intern returns the stored copy of b; ok is false when the table is full
// and b is new (the caller then uses OtherLabel).
func (in *labelInterner) intern(b []byte) (string, bool) {
	if s, ok := in.m[string(b)]; ok { // no allocation: the compiler looks up []byte keys in place
		return s, true
	}
	if len(in.m) >= in.max {
		return OtherLabel, false
	}
	s := string(b)
	in.m[s] = s
	return s, true
}

// label reads a name or client string, interned when in is set.
func (d *decoder) label(in *labelInterner, v *string, overflowed *bool) error {
	if d.literal("null") {
		*v = ""
		return nil
	}
	b, err := d.rawString()
	if err != nil || len(b) == 0 {
		*v = ""
		return err
	}
	if in == nil {
		*v = string(b)
		return nil
	}
	s, ok := in.intern(b)
	if !ok {
		*overflowed = true
	}
	*v = s
	return nil
}

var knownOutcomes = Outcomes()

// internOutcome avoids keeping a fresh string per line for a handful of names.
func internOutcome(s string) string {
	for _, o := range knownOutcomes {
		if o == s {
			return o
		}
	}
	return s
}

func (d *decoder) server(st *ServerTiming) error {
	return d.object(func(key []byte) error {
		switch string(key) {
		case "invalid":
			return d.int(&st.Invalid)
		case "queue_ms":
			st.HasQueue = true
			return d.ms(&st.Queue)
		case "app_ms":
			st.HasApp = true
			return d.ms(&st.App)
		case "start_unix_us":
			var us int
			st.HasStart = true
			err := d.int(&us)
			st.Start = time.UnixMicro(int64(us))
			return err
		case "upstream_connect_ms":
			st.HasUpstreamConnect = true
			return d.ms(&st.UpstreamConnect)
		case "upstream_header_ms":
			st.HasUpstreamHeader = true
			return d.ms(&st.UpstreamHeader)
		case "front_tier":
			return d.boolean(&st.FrontTier)
		case "front_connect_ms":
			st.HasFrontConnect = true
			return d.ms(&st.FrontConnect)
		case "front_header_ms":
			st.HasFrontHeader = true
			return d.ms(&st.FrontHeader)
		}
		return d.skip()
	})
}

func (d *decoder) attr(a *Attribution) error {
	return d.object(func(key []byte) error {
		switch string(key) {
		case "estimated":
			return d.boolean(&a.Estimated)
		case "clamped":
			return d.boolean(&a.Clamped)
		case "syn_retry_front_ms":
			return d.ms(&a.SynFront)
		case "syn_retry_proxy_ms":
			return d.ms(&a.SynProxy)
		case "backlog_front_ms":
			return d.ms(&a.BacklogFront)
		}
		for i, name := range Components {
			if len(key) == len(name)+3 && string(key[:len(name)]) == name && string(key[len(name):]) == "_ms" {
				return d.ms(&a.Parts[i])
			}
		}
		return d.skip()
	})
}

type decoder struct {
	b []byte
	i int
}

func (d *decoder) errorf(format string, a ...any) error {
	return fmt.Errorf("at byte %d: %s", d.i, fmt.Sprintf(format, a...))
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) expect(c byte) error {
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != c {
		return d.errorf("want %q", c)
	}
	d.i++
	return nil
}

// object walks the members of an object, calling member with each key;
// member must consume the value.
func (d *decoder) object(member func(key []byte) error) error {
	if err := d.expect('{'); err != nil {
		return err
	}
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return nil
	}
	for {
		d.ws()
		key, err := d.rawString()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		d.ws()
		if err := member(key); err != nil {
			return err
		}
		d.ws()
		if d.i >= len(d.b) {
			return d.errorf("unterminated object")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return d.errorf("want ',' or '}'")
		}
	}
}

// rawString returns the bytes of a string without escapes; a string with
// escapes is decoded by encoding/json.
func (d *decoder) rawString() ([]byte, error) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, d.errorf("want a string")
	}
	start := d.i + 1
	high := false
	for j := start; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			if high && !utf8.Valid(d.b[start:j]) {
				return d.escapedString() // as encoding/json: invalid bytes become U+FFFD
			}
			d.i = j + 1
			return d.b[start:j], nil
		case c >= utf8.RuneSelf:
			high = true
		case c == '\\':
			return d.escapedString()
		case c < 0x20:
			return nil, d.errorf("control character in string")
		}
	}
	return nil, d.errorf("unterminated string")
}

func (d *decoder) escapedString() ([]byte, error) {
	end := d.i + 1
	for end < len(d.b) {
		if d.b[end] == '\\' {
			end += 2
			continue
		}
		if d.b[end] == '"' {
			break
		}
		end++
	}
	if end >= len(d.b) {
		return nil, d.errorf("unterminated string")
	}
	var s string
	if err := json.Unmarshal(d.b[d.i:end+1], &s); err != nil {
		return nil, d.errorf("bad string: %v", err)
	}
	d.i = end + 1
	return []byte(s), nil
}

func (d *decoder) str() (string, error) {
	if d.literal("null") {
		return "", nil
	}
	b, err := d.rawString()
	return string(b), err
}

func (d *decoder) literal(lit string) bool {
	if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return true
	}
	return false
}

func (d *decoder) boolean(v *bool) error {
	switch {
	case d.literal("true"):
		*v = true
	case d.literal("false"), d.literal("null"):
		*v = false
	default:
		return d.errorf("want true or false")
	}
	return nil
}

// number returns the bytes of a JSON number, following its grammar
// exactly: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) number() ([]byte, error) {
	b, start := d.b, d.i
	i := start
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return nil, d.errorf("want a number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return nil, d.errorf("bad number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, d.errorf("bad number")
		}
	}
	d.i = i
	return b[start:i], nil
}

func (d *decoder) uint() (uint64, error) {
	b, err := d.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, d.errorf("bad integer %q", b)
	}
	return v, nil
}

func (d *decoder) int64(v *int64) error {
	var n int
	err := d.int(&n)
	*v = int64(n)
	return err
}

func (d *decoder) uint8(v *uint8) error {
	var n int
	err := d.int(&n)
	*v = uint8(min(max(n, 0), 255))
	return err
}

func (d *decoder) int(v *int) error {
	if d.literal("null") {
		return nil
	}
	b, err := d.number()
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return d.errorf("bad integer %q", b)
	}
	*v = int(n)
	return nil
}

// ms parses milliseconds into a Duration. The common form (digits, an
// optional fraction of up to 6 digits) is done by hand; anything else goes
// through ParseFloat.
func (d *decoder) ms(v *time.Duration) error {
	if d.literal("null") {
		return nil
	}
	b, err := d.number()
	if err != nil {
		return err
	}
	if dur, ok := fastMs(b); ok {
		*v = dur
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f > 1e12 || f < -1e12 {
		return d.errorf("bad number %q", b)
	}
	*v = msToDur(f)
	return nil
}

func fastMs(b []byte) (time.Duration, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	var whole, frac int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if i >= 12 {
			return 0, false
		}
		whole = whole*10 + int64(b[i]-'0')
	}
	if i == 0 {
		return 0, false
	}
	scale := int64(time.Millisecond)
	if i < len(b) {
		if b[i] != '.' || i+1 == len(b) || len(b)-i-1 > 6 {
			return 0, false
		}
		for j := i + 1; j < len(b); j++ {
			if b[j] < '0' || b[j] > '9' {
				return 0, false
			}
			frac = frac*10 + int64(b[j]-'0')
			scale /= 10
		}
	}
	dur := time.Duration(whole*int64(time.Millisecond) + frac*scale)
	if neg {
		dur = -dur
	}
	return dur, true
}

// skip consumes any JSON value.
func (d *decoder) skip() error {
	d.ws()
	if d.i >= len(d.b) {
		return d.errorf("want a value")
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object(func([]byte) error { return d.skip() })
	case c == '[':
		d.i++
		d.ws()
		if d.i < len(d.b) && d.b[d.i] == ']' {
			d.i++
			return nil
		}
		for {
			if err := d.skip(); err != nil {
				return err
			}
			d.ws()
			if d.i >= len(d.b) {
				return d.errorf("unterminated array")
			}
			if d.b[d.i] == ']' {
				d.i++
				return nil
			}
			if d.b[d.i] != ',' {
				return d.errorf("want ',' or ']'")
			}
			d.i++
		}
	case c == '"':
		_, err := d.rawString()
		return err
	case c == 't' || c == 'f' || c == 'n':
		if d.literal("true") || d.literal("false") || d.literal("null") {
			return nil
		}
		return d.errorf("bad literal")
	default:
		b, err := d.number()
		if err != nil {
			return err
		}
		if _, err := strconv.ParseFloat(string(b), 64); err != nil {
			return d.errorf("bad number %q", b)
		}
		return nil
	}
}

// rest checks that only whitespace follows the value.
func (d *decoder) rest() error {
	d.ws()
	if d.i != len(d.b) {
		return d.errorf("trailing data after the object")
	}
	return nil
}
