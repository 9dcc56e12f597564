package analyze

import (
	"github.com/queuegap/queuegap/loadgen"

	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// hdrRunStart has a millisecond fraction, so a writer that truncates the
// start time to seconds shows.
var hdrRunStart = time.UnixMilli(1795320050053)

// writeTestLog writes results through an HDRLogWriter whose clock is each
// result's completion, as in a run.
func writeTestLog(t testing.TB, start time.Time, results []*Result) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewHDRLogWriter(&buf, start, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	now := start
	w.now = func() time.Time { return now }
	for _, r := range results {
		now = start.Add(r.Done)
		w.Add(r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// steadyResults are n requests 1 ms apart taking 5 ms each, sent on time.
func steadyResults(n int) []*Result {
	var rs []*Result
	for i := 1; i <= n; i++ {
		at := time.Duration(i) * time.Millisecond
		r := &Result{Record: loadgen.Record{Seq: uint64(i), Intended: at, Start: at, FirstByte: at + 4*time.Millisecond, Done: at + 5*time.Millisecond}, Outcome: OutcomeOK}
		r.Attr.Parts[iProcessing] = 5 * time.Millisecond
		rs = append(rs, r)
	}
	return rs
}

func mustReadHDR(t *testing.T, log string, opt HDRLogOptions) *HDRLog {
	t.Helper()
	l, err := ReadHDRLog(strings.NewReader(log), opt)
	if err != nil {
		t.Fatalf("ReadHDRLog: %v\n%s", err, log)
	}
	return l
}

// Results written across several intervals merge back exactly.
func TestHDRLogRoundTrip(t *testing.T) {
	start := time.Unix(1795320000, 0)
	var results []*Result
	agg := NewAggregator(nil)
	for i := 1; i <= 3000; i++ {
		r := &Result{Record: loadgen.Record{Seq: uint64(i), Intended: time.Duration(i) * time.Millisecond, Start: time.Duration(i)*time.Millisecond + 50*time.Microsecond,
			Done: time.Duration(i)*time.Millisecond + time.Duration(i%97)*time.Millisecond + time.Millisecond}, Outcome: OutcomeOK}
		r.FirstByte = r.Done - 10*time.Microsecond
		r.Attr.Parts[iBacklog] = time.Duration(i%50) * time.Millisecond
		results = append(results, r)
		agg.Add(r)
	}
	log := writeTestLog(t, start, results)
	if n := countLines(log, ""); n < 3 {
		t.Fatalf("%d untagged (total) intervals in the log, want one per second of 3 s:\n%s", n, log)
	}
	if !LooksLikeHDRLog([]byte(log)) {
		t.Fatal("LooksLikeHDRLog false for an HDR log")
	}
	l := mustReadHDR(t, log, HDRLogOptions{})
	if len(l.Warnings) != 0 || l.Unit != time.Nanosecond || l.UnitFrom != UnitFromLog {
		t.Fatalf("own log: unit %v from %q, warnings %q", l.Unit, l.UnitFrom, l.Warnings)
	}
	s := SummaryFromHDR(l)
	direct := agg.Summarize(RunInfo{}, nil)
	got, want := s.Phases[PhaseTotal], direct.Phases[PhaseTotal]
	if got.Count != 3000 || got.Count != want.Count || s.Requests != 3000 {
		t.Fatalf("merged count %d (requests %d), aggregator %d", got.Count, s.Requests, want.Count)
	}
	// Same values, same precision: percentiles agree to the histogram's
	// resolution (0.1 %).
	for _, pair := range [][2]float64{{got.P50, want.P50}, {got.P99, want.P99}, {got.Max, want.Max}} {
		if d := pair[0] - pair[1]; d > pair[1]*0.002 || d < -pair[1]*0.002 {
			t.Fatalf("merged %v vs direct %v", got, want)
		}
	}
	if s.Attribution[CompBacklog].Count != 3000 {
		t.Fatalf("backlog count %d", s.Attribution[CompBacklog].Count)
	}
}

// A1: the start and base time keep their milliseconds (Java's format), and
// interval timestamps are relative to the base time with ms precision.
func TestHDRLogStartTime(t *testing.T) {
	log := writeTestLog(t, hdrRunStart, steadyResults(2500))
	for _, want := range []string{
		"#[StartTime: 1795320050.053 (seconds since epoch), 2026-11-22T04:00:50.053Z]\n",
		"#[BaseTime: 1795320050.053 (seconds since epoch)]\n",
		"\n0.000,1.000,", // first interval: at the base time, 1 s long
		"\n1.000,1.000,",
		"\nTag=ttfb,0.000,1.000,",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%.600s", want, log)
		}
	}
	l := mustReadHDR(t, log, HDRLogOptions{})
	if !l.Start.Equal(hdrRunStart) {
		t.Errorf("Start %v, want %v", l.Start, hdrRunStart)
	}
	// The library's own reader agrees: absolute interval start = base + offset.
	lr := hdrhistogram.NewHistogramLogReader(strings.NewReader(log))
	h, err := lr.NextIntervalHistogram()
	if err != nil || h == nil {
		t.Fatalf("library reader: %v %v", h, err)
	}
	if h.StartTimeMs() != hdrRunStart.UnixMilli() || h.Tag() != "" {
		t.Errorf("library reader: first interval at %d tag %q, want %d untagged", h.StartTimeMs(), h.Tag(), hdrRunStart.UnixMilli())
	}
}

// A2: the total latency is the untagged histogram of every interval (what
// Java's HistogramLogProcessor reads), with no Tag=total to count twice.
func TestHDRLogUntaggedTotal(t *testing.T) {
	log := writeTestLog(t, hdrRunStart, steadyResults(2500))
	if strings.Contains(log, "Tag=total") {
		t.Fatalf("log has a Tag=total line besides the untagged total:\n%s", log)
	}
	if untaggedLines, ttfbLines := countLines(log, ""), countLines(log, "ttfb"); untaggedLines != 3 || ttfbLines != 3 {
		t.Fatalf("%d untagged and %d ttfb intervals, want 3 each (2.5 s of results):\n%s", untaggedLines, ttfbLines, log)
	}
	s := SummaryFromHDR(mustReadHDR(t, log, HDRLogOptions{}))
	if s.Requests != 2500 || !near(s.Phases[PhaseTotal].P50, 5) {
		t.Fatalf("requests %d, total %+v", s.Requests, s.Phases[PhaseTotal])
	}

	// Another tool writing both: the untagged ones are the total, once.
	both := foreignLog(t, []string{"", "total"}, 1000, 3)
	l := mustReadHDR(t, both, HDRLogOptions{Unit: time.Nanosecond})
	if n := l.Hists[PhaseTotal].TotalCount(); n != 3 {
		t.Fatalf("untagged + Tag=total: %d values in total, want 3 (no double count)", n)
	}
	if !hasWarning(l, "both untagged and Tag=total") {
		t.Fatalf("warnings %q", l.Warnings)
	}
}

// countLines counts the interval lines of a tag ("": untagged).
func countLines(log, tag string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		switch {
		case line == "", line[0] == '#', line[0] == '"':
		case tag == "" && !strings.HasPrefix(line, "Tag="), tag != "" && strings.HasPrefix(line, "Tag="+tag+","):
			n++
		}
	}
	return n
}

// foreignLog writes a log as another tool would: the Go library's writer,
// no unit comment; one histogram per tag per interval, each holding value v.
func foreignLog(t *testing.T, tags []string, v int64, intervals int) string {
	t.Helper()
	var buf bytes.Buffer
	lw := hdrhistogram.NewHistogramLogWriter(&buf)
	if err := lw.OutputLogFormatVersion(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < intervals; i++ {
		for _, tag := range tags {
			h := hdrhistogram.New(1, 3_600_000_000_000, 3)
			if err := h.RecordValue(v); err != nil {
				t.Fatal(err)
			}
			h.SetTag(tag)
			h.SetStartTimeMs(int64(i) * 1000)
			h.SetEndTimeMs(int64(i+1) * 1000)
			if err := lw.OutputIntervalHistogram(h); err != nil {
				t.Fatal(err)
			}
		}
	}
	return buf.String()
}

// near: equal to the histogram's resolution (3 significant figures).
func near(got, want float64) bool { return got >= want*0.999 && got <= want*1.001 }

func hasWarning(l *HDRLog, sub string) bool {
	for _, w := range l.Warnings {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

// A3: zero reads back as zero, from our logs (1 ns lowest discernible value)
// and from logs whose histograms start at 1 µs (queuegap's before, others').
func TestHDRLogZero(t *testing.T) {
	log := writeTestLog(t, hdrRunStart, steadyResults(100)) // sent on time: lag 0
	s := SummaryFromHDR(mustReadHDR(t, log, HDRLogOptions{}))
	if lag := s.Phases[PhaseLag]; lag.Count != 100 || lag.P50 != 0 || lag.P99 != 0 || lag.Max != 0 || lag.Mean != 0 {
		t.Fatalf("all-zero lag reads %+v", lag)
	}
	if b := s.Attribution[CompBacklog]; b.Count != 100 || b.P99 != 0 {
		t.Fatalf("all-zero backlog reads %+v", b)
	}

	var buf bytes.Buffer
	lw := hdrhistogram.NewHistogramLogWriter(&buf)
	h := hdrhistogram.New(1000, int64(time.Hour), 3) // 1 µs in ns: the first bucket is 0–511 ns
	for i := 0; i < 10; i++ {
		_ = h.RecordValue(0)
	}
	if err := lw.OutputIntervalHistogram(h); err != nil {
		t.Fatal(err)
	}
	s = SummaryFromHDR(mustReadHDR(t, buf.String(), HDRLogOptions{Unit: time.Nanosecond}))
	if tot := s.Phases[PhaseTotal]; tot.P50 != 0 || tot.Max != 0 || tot.Mean != 0 {
		t.Fatalf("zeros in a 1 µs histogram read %+v", tot)
	}
}

// A4: the unit comes from the option, else the log's comment, else ns with a
// warning; a log in µs is read right when the unit is given.
func TestHDRLogUnit(t *testing.T) {
	const v = 250_000 // 250 ms in µs, 0.25 ms in ns
	noComment := foreignLog(t, []string{""}, v, 2)
	withComment := func(u string) string {
		return strings.Replace(noComment, "\n", "\n# unit="+u+"\n", 1)
	}
	legacy := strings.Replace(noComment, "\n", "\n#queuegap interval histograms; values in ns; tags: total ttfb\n", 1)
	tests := []struct {
		name    string
		log     string
		opt     time.Duration
		p50     float64
		unit    time.Duration
		from    string
		warning string // a substring of some warning; "" for none
	}{
		{"no comment, no option", noComment, 0, 0.25, time.Nanosecond, UnitFromDefault, "does not say its unit"},
		{"no comment, us option", noComment, time.Microsecond, 250, time.Microsecond, UnitFromOption, ""},
		{"no comment, ms option", noComment, time.Millisecond, 250_000, time.Millisecond, UnitFromOption, ""},
		{"comment us", withComment("us"), 0, 250, time.Microsecond, UnitFromLog, ""},
		{"comment µs", withComment("µs"), 0, 250, time.Microsecond, UnitFromLog, ""},
		{"comment ns", withComment("ns"), 0, 0.25, time.Nanosecond, UnitFromLog, ""},
		{"comment us, option ns", withComment("us"), time.Nanosecond, 0.25, time.Nanosecond, UnitFromOption, "says its values are in µs"},
		{"comment us, option us", withComment("us"), time.Microsecond, 250, time.Microsecond, UnitFromOption, ""},
		{"legacy queuegap comment", legacy, 0, 0.25, time.Nanosecond, UnitFromLog, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustReadHDR(t, tt.log, HDRLogOptions{Unit: tt.opt})
			s := SummaryFromHDR(l)
			if got := s.Phases[PhaseTotal].P50; !near(got, tt.p50) || l.Unit != tt.unit || l.UnitFrom != tt.from {
				t.Errorf("p50 %v ms, unit %v from %q; want %v ms, %v from %q", got, l.Unit, l.UnitFrom, tt.p50, tt.unit, tt.from)
			}
			if tt.warning == "" && len(l.Warnings) > 0 {
				t.Errorf("warnings %q, want none", l.Warnings)
			}
			if tt.warning != "" && !hasWarning(l, tt.warning) {
				t.Errorf("warnings %q, want one mentioning %q", l.Warnings, tt.warning)
			}
		})
	}
	// The default warning shows what ns gave, so a wrong unit is visible.
	l := mustReadHDR(t, noComment, HDRLogOptions{})
	if !hasWarning(l, "p50 0.25ms") || !hasWarning(l, "--hdr-unit") {
		t.Errorf("default-unit warning %q lacks the magnitude or the flag", l.Warnings)
	}
	for _, bad := range []string{withComment("furlongs"), withComment("us") + "# unit=ms\n"} {
		if _, err := ReadHDRLog(strings.NewReader(bad), HDRLogOptions{}); err == nil || !strings.Contains(err.Error(), "line ") {
			t.Errorf("bad unit comment: err %v, want one naming the line", err)
		}
	}
}

// A5: a log with only other tags reports what it has and says it holds no
// total: no "0 requests" that a gate would take as measured.
func TestHDRLogWithoutTotal(t *testing.T) {
	log := foreignLog(t, []string{"ttfb", "lag"}, 2_000_000, 2)
	l := mustReadHDR(t, log, HDRLogOptions{Unit: time.Nanosecond})
	if !hasWarning(l, "no total-latency histogram") || !hasWarning(l, "lag, ttfb") {
		t.Fatalf("warnings %q", l.Warnings)
	}
	s := SummaryFromHDR(l)
	if ttfb := s.Phases[PhaseTTFB]; ttfb.Count != 2 || !near(ttfb.P50, 2) {
		t.Fatalf("ttfb %+v", ttfb)
	}
	if _, ok := s.Phases[PhaseTotal]; ok {
		t.Fatalf("a total phase from nothing: %+v", s.Phases)
	}
	if !strings.Contains(s.Headline, "requests unknown") {
		t.Fatalf("headline %q", s.Headline)
	}
	m, err := MetricValue(&s, "requests")
	if err != nil || !m.NoData {
		t.Fatalf("requests = %+v, %v; want no data", m, err)
	}
	if m, _ := MetricValue(&s, "p99(ttfb)"); m.NoData || !near(m.Value, 2) {
		t.Fatalf("p99(ttfb) = %+v", m)
	}
}

// A6: a log cut anywhere in its last line gives the whole intervals before
// it and a warning; a malformed line before the end is an error naming it.
func TestHDRLogCutShort(t *testing.T) {
	log := writeTestLog(t, hdrRunStart, steadyResults(2500))
	whole := mustReadHDR(t, log, HDRLogOptions{})
	lastStart := strings.LastIndex(strings.TrimSuffix(log, "\n"), "\n") + 1
	lastLine := strings.Count(log[:lastStart], "\n") + 1
	for cut := lastStart + 1; cut < len(log)-1; cut++ {
		l, err := ReadHDRLog(strings.NewReader(log[:cut]), HDRLogOptions{})
		if err != nil {
			t.Fatalf("cut at byte %d of %d: %v", cut, len(log), err)
		}
		if l.Intervals != whole.Intervals-1 {
			t.Fatalf("cut at byte %d: %d intervals, want %d", cut, l.Intervals, whole.Intervals-1)
		}
		if !hasWarning(l, fmt.Sprintf("last line (line %d) was cut short", lastLine)) {
			t.Fatalf("cut at byte %d: warnings %q", cut, l.Warnings)
		}
	}
	// Without its final newline the last line is whole: no warning.
	if l := mustReadHDR(t, strings.TrimSuffix(log, "\n"), HDRLogOptions{}); l.Intervals != whole.Intervals || len(l.Warnings) != 0 {
		t.Fatalf("no final newline: %d intervals, warnings %q", l.Intervals, l.Warnings)
	}

	lines := strings.SplitAfter(log, "\n")
	for i, line := range lines {
		if strings.HasPrefix(line, "Tag=") {
			lines[i] = line[:len(line)/2] + "\n" // cut in the middle of the file
			_, err := ReadHDRLog(strings.NewReader(strings.Join(lines, "")), HDRLogOptions{})
			if want := fmt.Sprintf("HDR log line %d: ", i+1); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("malformed line %d: err %v, want %q", i+1, err, want)
			}
			break
		}
	}
}

// A7
func TestParseHDRUnit(t *testing.T) {
	good := map[string]time.Duration{"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "μs": time.Microsecond,
		"US": time.Microsecond, " ms ": time.Millisecond, "s": time.Second, "milliseconds": time.Millisecond}
	for in, want := range good {
		if got, err := ParseHDRUnit(in); err != nil || got != want {
			t.Errorf("ParseHDRUnit(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "sec", "1ms", "h", "ps"} {
		if _, err := ParseHDRUnit(in); err == nil || !strings.Contains(err.Error(), "want ns, us, ms or s") {
			t.Errorf("ParseHDRUnit(%q) = %v, want an error listing the units", in, err)
		}
	}
}

func TestHDRLogErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                                      "no interval histograms",
		"#[Histogram log format version 1.3]\n": "no interval histograms",
		"Tag=total,1.0,1.0,1.0,HISTFAAAnotbase64!!\n": "line 1: histogram",
		"#[StartTime: soon]\n0,1,1,HISTF\n":           "line 1: StartTime",
		"1.0,1.0\n":                                   "line 1: want start,length,max,histogram",
		"Tag=ttfb\n":                                  "line 1: a Tag= without",
		"x,1,1,HISTF\n":                               "line 1: start time",
		"Tag=total,1.0,1.0,1.0,HISTFAAAnotbase64!!":   "no whole interval histogram: the HDR log's last line (line 1) was cut short",
	} {
		_, err := ReadHDRLog(strings.NewReader(in), HDRLogOptions{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadHDRLog(%q) = %v, want an error mentioning %q", in, err, want)
		}
	}
	if LooksLikeHDRLog([]byte(`{"queuegap":"run"}`)) {
		t.Error("a results file looks like an HDR log")
	}
	if headerless := foreignLog(t, []string{""}, 1000, 1); !LooksLikeHDRLog([]byte(strings.SplitN(headerless, "\n", 2)[1])) {
		t.Errorf("a log without a header does not look like an HDR log:\n%s", headerless)
	}
}

// A log with many tags of wide, precise histograms is refused before it exhausts memory.
func TestHDRLogMemoryBound(t *testing.T) {
	var buf bytes.Buffer
	lw := hdrhistogram.NewHistogramLogWriter(&buf)
	if err := lw.OutputLogFormatVersion(); err != nil {
		t.Fatal(err)
	}
	h := hdrhistogram.New(1, 1<<50, 5) // ≈ 11 MB of counts
	h.RecordValue(1000)
	for i := 0; i < 40; i++ {
		h.SetTag(fmt.Sprintf("t%d", i))
		if err := lw.OutputIntervalHistogram(h); err != nil {
			t.Fatal(err)
		}
	}
	_, err := ReadHDRLog(&buf, HDRLogOptions{})
	if err == nil || !strings.Contains(err.Error(), "MB") {
		t.Fatalf("err = %v, want the memory bound", err)
	}
}
