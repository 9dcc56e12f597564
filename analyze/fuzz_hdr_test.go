package analyze

import (
	"math"
	"strings"
	"testing"
	"time"
)

// FuzzHDRLogRead: any input gives an HDR log or a one-line error — no panic,
// no allocation driven by a forged histogram header beyond the bounds. A log
// that reads has a unit and says where it came from (a guessed unit always
// warns), and its summary holds finite, non-negative figures. A read log
// followed by a cut-short line still reads, with the same intervals and a
// warning: a killed run never costs the intervals it wrote.
//
// (Supersedes FuzzReadHDRLog in fuzz_more_test.go, which predates the options.)
func FuzzHDRLogRead(f *testing.F) {
	own := writeTestLog(f, hdrRunStart, steadyResults(1200))
	f.Add(own, int64(0))
	f.Add(own[:len(own)-7], int64(0))
	f.Add(strings.Replace(own, "# unit=ns", "# unit=us", 1), int64(time.Millisecond))
	f.Add(strings.Replace(own, "\n0.000,", "\nTag=total,0.000,", 1), int64(time.Microsecond))
	f.Add("#[Histogram log format version 1.3]\n\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n", int64(0))
	f.Add("Tag=total,1.0,1.0,1.0,HISTFAAAnotbase64!!\n", int64(0))
	f.Add("#[StartTime: 1e400]\n#[BaseTime: -1]\n# unit=\n", int64(-5))
	f.Fuzz(func(t *testing.T, s string, unit int64) {
		opt := HDRLogOptions{Unit: time.Duration(unit)}
		if opt.Unit < 0 || opt.Unit > time.Hour {
			opt.Unit = 0 // the CLI only passes ParseHDRUnit's units
		}
		l, err := ReadHDRLog(strings.NewReader(s), opt)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if l.Intervals <= 0 || l.Unit <= 0 || l.Hists == nil {
			t.Fatalf("read log with %d intervals, unit %v, hists %v", l.Intervals, l.Unit, l.Hists)
		}
		switch l.UnitFrom {
		case UnitFromOption, UnitFromLog:
		case UnitFromDefault:
			if !hasWarning(l, "does not say its unit") {
				t.Fatalf("unit guessed without a warning: %q", l.Warnings)
			}
		default:
			t.Fatalf("UnitFrom %q", l.UnitFrom)
		}
		if _, total := l.Hists[PhaseTotal]; !total && !hasWarning(l, "no total-latency histogram") {
			t.Fatalf("no total and no warning: %q", l.Warnings)
		}
		for _, w := range l.Warnings {
			if w == "" || strings.Contains(w, "\n") {
				t.Fatalf("warning %q", w)
			}
		}
		sum := SummaryFromHDR(l)
		for name, ps := range sum.Phases {
			for _, v := range []float64{ps.P50, ps.P90, ps.P99, ps.P999, ps.Max, ps.Mean} {
				if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
					t.Fatalf("%s: %+v", name, ps)
				}
			}
		}
		if m, err := MetricValue(&sum, "rate(errors)"); err != nil || !m.NoData {
			t.Fatalf("rate(errors) on an HDR log: %+v %v", m, err)
		}

		if !strings.HasSuffix(s, "\n") {
			return
		}
		cut, err := ReadHDRLog(strings.NewReader(s+"Tag=ttfb,1.000,1.0"), opt)
		if err != nil {
			t.Fatalf("a cut last line after a log that reads: %v", err)
		}
		if cut.Intervals != l.Intervals || !hasWarning(cut, "cut short") {
			t.Fatalf("cut last line: %d intervals (want %d), warnings %q", cut.Intervals, l.Intervals, cut.Warnings)
		}
	})
}

// FuzzParseHDRUnit: an accepted unit is one of ns, µs, ms, s and reads back
// from its own name; a refused one gets a one-line error listing the units.
func FuzzParseHDRUnit(f *testing.F) {
	for _, s := range []string{"ns", "us", "µs", "μs", "ms", "s", "MS", " s ", "sec", "", "1ms", "\xb5s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseHDRUnit(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "want ns, us, ms or s") {
				t.Fatalf("error %q", err)
			}
			return
		}
		switch u {
		case time.Nanosecond, time.Microsecond, time.Millisecond, time.Second:
		default:
			t.Fatalf("%q: unit %v", s, u)
		}
		if back, err := ParseHDRUnit(unitName(u)); err != nil || back != u {
			t.Fatalf("%q: %v does not read back from %q: %v %v", s, u, unitName(u), back, err)
		}
	})
}

// FuzzCheckNoData: an accepted --fail-if evaluates against summaries with
// and without data without error, and a check without data always fails:
// no operator can turn "nothing measured" into a pass.
func FuzzCheckNoData(f *testing.F) {
	for _, s := range []string{"p99(ttfb) > 100ms", "p99(ttfb) < 100ms", "rate(errors) > 0", "rate(errors) <= 1", "share(backlog) != 0.5",
		"count(ok) == 0", "requests >= 0", "achieved_rate > 1", "not_sent != 0", "mean(queue) < 1s", "errors > 0",
		"p99(total{name=checkout}) < 1s", "error_rate{client=partner-a} >= 0", `p99(ttfb{name="GET /users/:id",client=browse}) > 1ms`} {
		f.Add(s)
	}
	hdr := SummaryFromHDR(&HDRLog{Unit: time.Nanosecond})
	summaries := []*Summary{sampleSummary(), deadTargetSummary(), &hdr, endpointSummary(),
		{Phases: map[string]PhaseStats{}, Attribution: map[string]ComponentStats{}, Outcomes: map[string]int64{}}}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCheck(s)
		if err != nil {
			return
		}
		for i, sum := range summaries {
			r, err := c.Eval(sum)
			if err != nil {
				t.Fatalf("%q on summary %d: %v", s, i, err)
			}
			if r.NoData && (!r.Failed || r.Measured != 0 || !strings.HasPrefix(r.Display, "no data")) {
				t.Fatalf("%q on summary %d: %+v", s, i, r)
			}
			if !r.NoData && strings.HasPrefix(r.Display, "no data") {
				t.Fatalf("%q on summary %d: %+v", s, i, r)
			}
		}
	})
}
