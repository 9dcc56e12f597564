package analyze

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Probe lines of a results file. A probe sample is one line
//
//	{"probe":"listen 127.0.0.1:8080","kind":"listen","t_ms":1234.500,"v":{"queue":12,"backlog":100}}
//
// with "error" (a failed reading, no "v") or "note" (said once) when set.
// t_ms is the run offset, the clock of the results' *_ms fields. A line is
// a probe line by its "probe" key; readers before probes existed stop at
// one with `line N: missing "outcome"`, so a file with probes needs this
// version of queuegap or later to be read, while files without probes are
// unchanged (version 2).

// maxProbeValues bounds the values one probe line may hold.
const maxProbeValues = 64

var errProbeLine = errors.New("probe line")

// WriteProbe appends one probe sample. It may be called from any
// goroutine; lines stay whole.
func (rw *ResultsWriter) WriteProbe(s *ProbeSample) error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.err != nil {
		return rw.err
	}
	rw.buf = AppendProbeJSON(rw.buf, s)
	rw.buf = append(rw.buf, '\n')
	if len(rw.buf) >= flushSize {
		return rw.flushLocked()
	}
	return nil
}

// AppendProbeJSON appends s as one JSON object (no newline). Values that
// are not finite numbers are left out: JSON has no NaN.
func AppendProbeJSON(b []byte, s *ProbeSample) []byte {
	b = append(b, `{"probe":`...)
	b = appendString(b, s.Probe)
	b = append(b, `,"kind":`...)
	b = appendString(b, s.Kind)
	b = appendMs(b, "t_ms", s.At)
	if len(s.Values) > 0 {
		b = append(b, `,"v":{`...)
		n := 0
		for _, v := range s.Values {
			if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
				continue
			}
			if n++; n > 1 {
				b = append(b, ',')
			}
			b = appendString(b, v.Name)
			b = append(b, ':')
			b = strconv.AppendFloat(b, v.Value, 'g', -1, 64)
		}
		b = append(b, '}')
	}
	if s.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, s.Error)
	}
	if s.Note != "" {
		b = append(b, `,"note":`...)
		b = appendString(b, s.Note)
	}
	return append(b, '}')
}

// DecodeProbeLine parses one probe line into s (Values reused).
func DecodeProbeLine(line []byte, s *ProbeSample) error {
	*s = ProbeSample{Values: s.Values[:0]}
	d := decoder{b: line}
	var sawProbe, sawT bool
	err := d.object(func(key []byte) error {
		switch string(key) {
		case "probe":
			sawProbe = true
			v, err := d.str()
			s.Probe = v
			return err
		case "kind":
			v, err := d.str()
			s.Kind = v
			return err
		case "t_ms":
			sawT = true
			return d.ms(&s.At)
		case "error":
			v, err := d.str()
			s.Error = v
			return err
		case "note":
			v, err := d.str()
			s.Note = v
			return err
		case "v":
			return d.object(func(name []byte) error {
				if len(s.Values) >= maxProbeValues {
					return d.errorf("more than %d probe values", maxProbeValues)
				}
				d.ws()
				num, err := d.number()
				if err != nil {
					return err
				}
				f, err := strconv.ParseFloat(string(num), 64)
				if err != nil {
					return d.errorf("bad number %q", num)
				}
				s.Values = append(s.Values, ProbeValue{Name: string(name), Value: f})
				return nil
			})
		}
		return d.skip()
	})
	if err != nil {
		return err
	}
	if err := d.rest(); err != nil {
		return err
	}
	switch {
	case !sawProbe || s.Probe == "":
		return errors.New(`probe line without a "probe" name`)
	case !sawT:
		return fmt.Errorf("probe %q: line without t_ms", s.Probe)
	case s.At < 0:
		return fmt.Errorf("probe %q: negative t_ms", s.Probe)
	}
	return nil
}
