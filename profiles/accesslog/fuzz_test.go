package accesslog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"strings"
	"testing"
	"time"
)

// fuzzReader reads data in spec and checks what must hold whatever the
// input: no panic, no error but EOF (unless the input claims to be gzip),
// every line accounted for, and every entry sane.
func fuzzReader(t *testing.T, spec string, data []byte) {
	f, err := ParseFormat(spec)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader(data), f)
	var entries, lastLine int64
	var tr Trace
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
				return // a broken gzip stream is a read error, not a line
			}
			t.Fatalf("Next: %v", err)
		}
		entries++
		switch {
		case e.Line <= lastLine || e.Line > r.Lines():
			t.Fatalf("line %d after %d of %d", e.Line, lastLine, r.Lines())
		case e.Method == "" || e.Path == "" || e.Status < 100 || e.Status > 599:
			t.Fatalf("entry %+v", e)
		case e.HasLatency && e.Latency < 0, e.HasUpstream && e.UpstreamLatency < 0:
			t.Fatalf("negative latency %+v", e)
		}
		lastLine = e.Line
		tr.Add(e)
	}
	if entries+r.MalformedCount() > r.Lines() || int64(len(r.Malformed())) != min(r.MalformedCount(), MaxMalformedKept) {
		t.Fatalf("%d entries + %d malformed > %d lines", entries, r.MalformedCount(), r.Lines())
	}
	for _, m := range r.Malformed() {
		if m.Line < 1 || m.Line > r.Lines() || m.Reason == "" {
			t.Fatalf("malformed %+v", m)
		}
	}
	b, _ := tr.MarshalBinary()
	if err := new(Trace).UnmarshalBinary(b); err != nil || tr.Len() != int(entries) {
		t.Fatalf("trace of %d entries: %v", entries, err)
	}
}

func FuzzNginxCombined(f *testing.F) {
	f.Add([]byte(combinedLines(3)))
	f.Add([]byte(`1.2.3.4 - - [10/Oct/2025:13:55:36 +0000] "GET /a\x22 HTTP/1.1" 200 1 "-" "a \"b\"" 1760097336.123 0.010, 0.020 : 0.030 0.5` + "\n"))
	f.Add([]byte(`1.2.3.4 - - [10/Oct/2025:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "-" - "-" -` + "\r\n\n" + garbage))
	f.Add([]byte(`1.2.3.4 - - [10/Oct/2025:13:55:36 +0000 "GET`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzReader(t, "combined+msec+upstream_response_time+request_time", data)
		fuzzReader(t, "combined+request_time", data)
		fuzzReader(t, "combined", data)
	})
}

func FuzzNginxJSON(f *testing.F) {
	log, _ := subSecondLog(3, 1)
	f.Add([]byte(log))
	f.Add([]byte(`{"time_iso8601":"2025-10-10T13:55:36+02:00","method":"GET","uri":"/u","args":"a=1","status":"200","x":{"y":["}",1]},"upstream_response_time":"-, 0.1"}`))
	f.Add([]byte(`{"time_local":"10/Oct/2025:13:55:36 +0200","request":"GET /\u00e9\"x HTTP/1.1","status":200,"request_time":1e-3,"msec":1.7e9}`))
	f.Add([]byte(`{"msec":1.5,"request":"GET / HTTP/1.1`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzReader(t, "json", data) })
}

func FuzzALB(f *testing.F) {
	f.Add([]byte(albGood + "\n"))
	f.Add([]byte(albLine("[2001:db8::1]:443", "-1 -1 -1", "503 -", `"GET https://h:443/x?y HTTP/2.0"`, `"ua \"q\""`, "2018-07-02T22:22:48.364000+00:00")))
	f.Add([]byte(albLine("10.0.0.1:1", "0.000 -1 -1", "504 -", `"- http://h:80- -"`, `"-"`, "2018-02-30T22:22:48.364000Z")))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzReader(t, "alb", data) })
}

// FuzzTraceUnmarshal decodes arbitrary bytes both as they are and with a
// valid checksum appended (so the fuzzer reaches past the checksum). A
// trace that decodes must iterate, re-encode stably and survive Sort, Spread and Scale.
func FuzzTraceUnmarshal(f *testing.F) {
	log, _ := subSecondLog(20, 2)
	sub, _ := traceOf(f, log, "json")
	low, _ := traceOf(f, secondLog([]int{2, 3}, true), "combined+request_time")
	for _, tr := range []*Trace{sub, low, {}, NewTrace(time.Unix(5, 0))} {
		b, _ := tr.MarshalBinary()
		f.Add(b)
		f.Add(b[:len(b)-4])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range [][]byte{data, binary.LittleEndian.AppendUint32(bytes.Clone(data), crc32.ChecksumIEEE(data))} {
			var tr Trace
			if err := tr.UnmarshalBinary(b); err != nil {
				if !strings.HasPrefix(err.Error(), "accesslog: ") {
					t.Fatalf("error without context: %v", err)
				}
				continue
			}
			n := 0
			tr.Each(func(time.Duration, Request, Logged) { n++ })
			if n != tr.Len() || tr.Span() < 0 {
				t.Fatalf("%d entries iterated of %d, span %v", n, tr.Len(), tr.Span())
			}
			// Overlong varints decode too, so compare after one normal encoding.
			once, _ := tr.MarshalBinary()
			var back Trace
			if err := back.UnmarshalBinary(once); err != nil {
				t.Fatalf("re-encoded trace does not decode: %v", err)
			}
			if twice, _ := back.MarshalBinary(); !bytes.Equal(once, twice) || back.Len() != tr.Len() || back.Span() != tr.Span() {
				t.Fatal("re-encoding is not stable")
			}
			tr.Sort()
			_ = tr.Spread()
			if err := tr.Scale(1.5); err != nil {
				t.Fatal(err)
			}
		}
	})
}
