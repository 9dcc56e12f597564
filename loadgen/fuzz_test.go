package loadgen

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParseStage: whatever it accepts is a valid stage whose String form parses back to the
// same stage, so a --stage printed in a summary can be pasted into the next run.
func FuzzParseStage(f *testing.F) {
	for _, s := range []string{"rate:200:30s", "poisson:200:30s", "burst:40:5s:3", "ramp:10:500:1m",
		"steps:100,200,400:20s", "rate:1e-3:1h", "burst:0:1s:1", "steps::1s", "ramp:1:1:0s", "RATE: 5 : 2s ",
		"spike:50:500:1m:10s", "spike:0:1:1s:1s", "spike:1:2:3s:4s", "replay:1:1s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStage(s)
		if err != nil {
			if st != nil {
				t.Fatalf("error %v with a stage %v", err, st)
			}
			if strings.ContainsAny(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if err := validateStage(st); err != nil {
			t.Fatalf("accepted %q as an invalid stage: %v", s, err)
		}
		if st.Planned() < -1 || st.Length() < 0 {
			t.Fatalf("%q: planned %d, length %v", s, st.Planned(), st.Length())
		}
		again, err := ParseStage(st.String())
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", s, st.String(), err)
		}
		if !reflect.DeepEqual(again, st) {
			t.Fatalf("%q → %#v → %q → %#v", s, st, st.String(), again)
		}
	})
}

// FuzzParseHeader: an accepted header has a token name and a value that cannot split the
// request (no CR, LF or NUL), and the client renders it without error.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"X-Test: 1", "Host: example.com", "A:", ": v", "X: a\r\nB: c", "X Y: z", "X:\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHeader(s)
		if err != nil {
			return
		}
		if h[0] == "" || strings.ContainsAny(h[0], " \t:\r\n\x00") || strings.ContainsAny(h[1], "\r\n\x00") {
			t.Fatalf("accepted %q as %q", s, h)
		}
	})
}

// FuzzRespParser: the shared response parser's verdict does not depend on
// how the bytes arrive (whole, in two parts, byte by byte): same bytes
// used, completion, error, status and byte count. Both engines feed it
// whatever each read returns.
func FuzzRespParser(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"), uint16(20), false)
	f.Add([]byte("HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n"), uint16(30), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\n\r\nok"), uint16(5), true)
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n"), uint16(1), false)
	f.Add([]byte("HTTP/1.0 200 OK\r\n\r\nuntil close"), uint16(17), false)
	f.Fuzz(func(t *testing.T, in []byte, split uint16, head bool) {
		type verdict struct {
			used    int
			done    bool
			err     bool
			eofDone bool
			status  int
			bytesIn int64
		}
		run := func(parts [][]byte) verdict {
			var p respParser
			p.reset(head, 1<<16)
			var rec Record
			v := verdict{}
			for _, part := range parts {
				used, done, err := p.feed(&rec, []string{"Content-Type"}, part)
				v.used += used
				if err != nil {
					return verdict{used: -1, err: true}
				}
				if done {
					v.done = true
					break
				}
				if used != len(part) {
					t.Fatalf("used %d of %d without finishing", used, len(part))
				}
			}
			if !v.done {
				v.eofDone, _ = p.eof()
			}
			v.status, v.bytesIn = rec.Status, rec.BytesIn
			if int64(v.used) != v.bytesIn {
				t.Fatalf("used %d bytes, counted %d", v.used, v.bytesIn)
			}
			return v
		}
		sameWhenSplit(t, in, split, run)
	})
}

// sameWhenSplit runs a parser on in whole, cut in two at split, and byte
// by byte, fails unless the verdicts agree, and returns the verdict.
func sameWhenSplit[V comparable](t *testing.T, in []byte, split uint16, run func(parts [][]byte) V) V {
	t.Helper()
	whole := run([][]byte{in})
	s := int(split) % (len(in) + 1)
	two := run([][]byte{in[:s], in[s:]})
	var bytewise [][]byte
	for i := range in {
		bytewise = append(bytewise, in[i:i+1])
	}
	one := run(bytewise)
	if whole != two || whole != one {
		t.Fatalf("whole %+v, split at %d %+v, byte by byte %+v", whole, s, two, one)
	}
	return whole
}
