package accesslog

import (
	"bytes"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/queuegap/queuegap/loadgen"
)

// *Trace is what a replay lane reads its arrivals from.
var _ loadgen.TraceSource = (*Trace)(nil)

func TestDetect(t *testing.T) {
	const pre = `10.0.0.1 - - [10/Oct/2025:12:00:00 +0000] "GET /a?x=1 HTTP/1.1" 200 12 "-" "curl/8"`
	lines := func(suffixes ...string) string {
		var b strings.Builder
		for _, s := range suffixes {
			b.WriteString(pre + s + "\n")
		}
		return b.String()
	}
	jsonLog, _ := subSecondLog(20, 1)
	for _, tc := range []struct {
		name, log, want, err string
	}{
		{"combined", lines("", ""), "combined", ""},
		{"combined+request_time", lines(" 0.005", " 1.250"), "combined+request_time", ""},
		{"combined+request_time+upstream", lines(" 0.005 0.004", " 0.010 -"), "combined+request_time+upstream_response_time", ""},
		{"combined+request_time+upstream list", lines(" 0.030 0.010, 0.020", " 0.010 0.009"), "combined+request_time+upstream_response_time", ""},
		{"combined+msec+request_time", lines(" 1760097600.123 0.005", " 1760097600.456 0.105"), "combined+msec+request_time", ""},
		{"combined+request_time+msec", lines(" 0.005 1760097600.123", " 0.105 1760097600.456"), "combined+request_time+msec", ""},
		{"combined+forwarded+request_time", lines(` "10.9.9.9" 0.005`, ` "-" 0.007`), "combined+skip+request_time", ""},
		{"json", jsonLog, "json", ""},
		{"alb", albGood + "\n" + albGood + "\n", "alb", ""},
		{"gzipped combined", string(gz(t, lines(" 0.005"))), "combined+request_time", ""},
		{"one bad line among good", "garbage\n" + lines(" 0.005", " 0.006"), "combined+request_time", ""},
		{"empty", "\n\n", "", "empty"},
		{"garbage", "hello world\nnot a log\n", "", "cannot tell the log format"},
		{"results file", `{"kind":"run","version":1,"run_id":"x","start":"2025-10-10T12:00:00Z"}` + "\n" + `{"seq":1,"status":200,"outcome":"ok"}` + "\n", "", "cannot tell"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Detect(strings.NewReader(tc.log))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Detect = %v, %v; want error with %q", f, err, tc.err)
				}
				return
			}
			if err != nil || f.String() != tc.want {
				t.Fatalf("Detect = %v, %v; want %s", f, err, tc.want)
			}
		})
	}
}

func TestDetectLongLogReadsOnlyItsHead(t *testing.T) {
	var b bytes.Buffer
	for i := 0; b.Len() < 2*detectBytes; i++ {
		fmt.Fprintf(&b, "10.0.0.1 - - [10/Oct/2025:12:00:00 +0000] \"GET /a/%d HTTP/1.1\" 200 12 \"-\" \"curl/8\" 0.%03d\n", i, i%1000)
	}
	f, err := Detect(&b)
	if err != nil || f.String() != "combined+request_time" {
		t.Fatalf("Detect = %v, %v", f, err)
	}
}

func TestTraceRequestsAndArrivals(t *testing.T) {
	log, arrivals := subSecondLog(2000, 9)
	tr, _ := traceOf(t, log, "json")
	tr.Sort()
	reqs := tr.Requests()
	if len(reqs) != tr.Pairs() {
		t.Fatalf("%d requests, %d pairs", len(reqs), tr.Pairs())
	}
	var want []traced
	tr.Each(func(off time.Duration, req Request, logged Logged) { want = append(want, traced{off, req, logged}) })
	var src loadgen.TraceSource = tr
	check := func(seq iter.Seq2[time.Duration, int]) {
		t.Helper()
		i := 0
		for off, idx := range seq {
			if off != want[i].offset || reqs[idx] != want[i].req {
				t.Fatalf("arrival %d: %v %v, want %v %v", i, off, reqs[idx], want[i].offset, want[i].req)
			}
			if i > 0 && off < want[i-1].offset {
				t.Fatalf("arrival %d goes back after Sort", i)
			}
			i++
		}
		if i != src.Len() || i != len(arrivals) {
			t.Fatalf("%d arrivals, Len %d", i, src.Len())
		}
	}
	check(src.Arrivals())
	check(src.Arrivals()) // afresh on each call
	n := 0
	for range src.Arrivals() {
		if n++; n == 3 {
			break // an early stop must not panic
		}
	}
	if src.Span() != arrivals[len(arrivals)-1].Sub(arrivals[0]) {
		t.Fatalf("span %v", src.Span())
	}
}

func FuzzDetect(f *testing.F) {
	f.Add([]byte(albGood + "\n"))
	f.Add([]byte(`10.0.0.1 - - [10/Oct/2025:12:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" 0.1 0.2, 0.3 : 0.1 1760097600.123` + "\n"))
	f.Add([]byte(`{"msec":"1760097600.123","request":"GET / HTTP/1.1","status":200}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Detect(bytes.NewReader(data))
		if err != nil {
			return
		}
		back, err := ParseFormat(got.String())
		if err != nil || back.String() != got.String() {
			t.Fatalf("detected %s, which reads back as %v, %v", got, back, err)
		}
	})
}
