package analyze

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

// FuzzParseCheck: an accepted --fail-if has a known operator and a finite value, and
// evaluates against an empty summary without error (so it cannot fail only at the end of a
// long run).
func FuzzParseCheck(f *testing.F) {
	for _, s := range []string{"p99(total) > 2s", "rate(proxy_refused) > 0.01", "share(backlog) > 50%",
		"achieved_rate < 100", "p50(lag)>=1ms", "count(errors) != 0", "max(ttfb) == 1e308", "> 1", "p99(total) >"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCheck(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
			t.Fatalf("%q: value %v", s, c.Value)
		}
		empty := Summary{Phases: map[string]PhaseStats{}, Attribution: map[string]ComponentStats{}, Outcomes: map[string]int64{}}
		for _, comp := range Components {
			empty.Attribution[comp] = ComponentStats{} // as a run's summary has
		}
		if _, err := c.Eval(&empty); err != nil {
			t.Fatalf("%q parses but does not evaluate: %v", s, err)
		}
	})
}

// FuzzReadHDRLog: any input gives merged histograms or an error — no panic, and no
// allocation driven by a forged histogram header beyond the fuzzer's memory limit.
func FuzzReadHDRLog(f *testing.F) {
	start := time.Unix(1795320000, 0)
	var buf bytes.Buffer
	w, err := NewHDRLogWriter(&buf, start, time.Second)
	if err != nil {
		f.Fatal(err)
	}
	now := start
	w.now = func() time.Time { return now }
	for i := 1; i <= 50; i++ {
		r := &Result{Seq: uint64(i), Start: time.Duration(i) * time.Millisecond, Done: time.Duration(i) * 3 * time.Millisecond, Outcome: OutcomeOK}
		r.FirstByte = r.Done
		now = start.Add(time.Duration(i) * 50 * time.Millisecond)
		w.Add(r)
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.String())
	f.Add("#[Histogram log format version 1.3]\n\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n")
	f.Add("Tag=total,1.0,1.0,1.0,HISTFAAAnotbase64!!\n")
	f.Fuzz(func(t *testing.T, s string) {
		hists, err := ReadHDRLog(strings.NewReader(s), HDRLogOptions{})
		if err != nil {
			return
		}
		for tag, h := range hists.Hists {
			if h == nil || h.TotalCount() < 0 {
				t.Fatalf("tag %q: %v", tag, h)
			}
		}
		_ = SummaryFromHDR(hists)
	})
}
