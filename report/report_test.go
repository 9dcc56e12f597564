package report

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/report/reporttest"
)

// result is one request sent at at that took total, all of it backlog
// but for 1 ms of connect and 10 ms of processing.
func result(seq int, at, total time.Duration, outcome string) *analyze.Result {
	r := &analyze.Result{Record: loadgen.Record{Seq: uint64(seq), Intended: at, Queued: at, Start: at, NewConn: true,
		ConnectDone: at + time.Millisecond, Written: at + time.Millisecond, FirstByte: at + total - time.Microsecond, Done: at + total, Status: 200},
		Outcome: outcome}
	r.Attr.Parts[compIndex(analyze.CompConnect)] = time.Millisecond
	r.Attr.Parts[compIndex(analyze.CompProcessing)] = 10 * time.Millisecond
	r.Attr.Parts[compIndex(analyze.CompBacklog)] = max(total-11*time.Millisecond, 0)
	return r
}

// build feeds n results spread over span, latencies from lat, to a Run
// and an Aggregator, and finishes the Run with the real summary.
func build(name string, n int, span time.Duration, lat func(i int) time.Duration, outcome func(i int) string) *Run {
	r := NewRun(name)
	agg := analyze.NewAggregator(nil)
	info := analyze.RunInfo{RunID: "r1", URL: "http://127.0.0.1:9/x?y=<z>", Schedule: "rate:10:1s"}
	for i := 0; i < n; i++ {
		res := result(i+1, span*time.Duration(i)/time.Duration(max(n, 1)), lat(i), outcome(i))
		agg.Add(res)
		r.Final(&info, res)
	}
	sum := agg.Summarize(info, nil)
	r.Finish(&sum)
	return r
}

func ok(int) string { return analyze.OutcomeOK }

func write(t *testing.T, runs []*Run, opt Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, runs, opt); err != nil {
		t.Fatal(err)
	}
	if err := reporttest.CheckSelfContained(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestReservoirIsBoundedAndUniform(t *testing.T) {
	const n = 20000
	r := build("big", n, 100*time.Second, func(i int) time.Duration { return time.Duration(1+i%50) * time.Millisecond }, ok)
	if len(r.points) != MaxPoints || r.Requests() != n {
		t.Fatalf("kept %d points of %d requests, want %d of %d", len(r.points), r.Requests(), MaxPoints, n)
	}
	// Uniform: each half of the run holds about half the sample
	// (binomial sd ≈ 35 points; 250 is 7 sd).
	early := 0
	for _, p := range r.points {
		if p.at < 50 {
			early++
		}
	}
	if math.Abs(float64(early)-MaxPoints/2) > 250 {
		t.Errorf("%d of %d sampled points in the first half of the run", early, MaxPoints)
	}
	page := write(t, []*Run{r}, Options{})
	if !strings.Contains(page, "sampled: 5 000 of 20 000 requests") {
		t.Error("the scatter does not say it is sampled")
	}
	small := build("small", 30, time.Second, func(int) time.Duration { return time.Millisecond }, ok)
	if page := write(t, []*Run{small}, Options{}); !strings.Contains(page, "all 30 requests") {
		t.Error("a small run's scatter does not say it shows every request")
	}
}

func TestBucketsStayBoundedAndKeepEveryRequest(t *testing.T) {
	for _, c := range []struct {
		name string
		span time.Duration
		n    int
	}{
		{"burst", 0, 40},
		{"one second", time.Second, 100},
		{"an hour", time.Hour, 30000},
		{"a day", 24 * time.Hour, 5000},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := build(c.name, c.n, c.span, func(int) time.Duration { return 5 * time.Millisecond }, ok)
			if len(r.buckets) > maxBuckets {
				t.Errorf("%d buckets, want at most %d", len(r.buckets), maxBuckets)
			}
			var n int64
			for _, b := range r.buckets {
				if b != nil {
					n += b.n
					if b.hist[phTotal].TotalCount() != b.n {
						t.Fatalf("a bucket of %d requests has %d totals", b.n, b.hist[phTotal].TotalCount())
					}
				}
			}
			v := r.view()
			var shown int64
			for _, b := range v.buckets {
				if b != nil {
					shown += b.n
				}
			}
			if n != int64(c.n) || shown != n || len(v.buckets) > maxShown {
				t.Errorf("buckets hold %d, the chart %d in %d buckets, of %d requests", n, shown, len(v.buckets), c.n)
			}
			if c.span > 0 && time.Duration(len(r.buckets))*r.width < c.span*9/10 {
				t.Errorf("%d buckets of %v do not cover %v", len(r.buckets), r.width, c.span)
			}
		})
	}
}

// probeRun is a run with probe samples of each kind, as the probe package
// names them.
func probeRun(name string, queuePeak float64) *Run {
	r := build(name, 200, 10*time.Second, func(i int) time.Duration { return time.Duration(10+i) * time.Millisecond }, ok)
	info := &analyze.RunInfo{}
	for i := 0; i <= 40; i++ {
		at := time.Duration(i) * 250 * time.Millisecond
		q := queuePeak * math.Sin(math.Pi*float64(i)/40)
		r.Probe(info, &analyze.ProbeSample{Probe: "listen 127.0.0.1:8080", Kind: "listen", At: at,
			Values: []analyze.ProbeValue{{Name: "queue", Value: q}, {Name: "backlog", Value: 100}}})
		r.Probe(info, &analyze.ProbeSample{Probe: "uwsgi 127.0.0.1:1717", Kind: "uwsgi", At: at,
			Values: []analyze.ProbeValue{{Name: "busy", Value: 4}, {Name: "idle", Value: 0}, {Name: "listen_queue", Value: 0}}})
		r.Probe(info, &analyze.ProbeSample{Probe: "process pid:42", Kind: "process", At: at,
			Values: []analyze.ProbeValue{{Name: "cpu", Value: 0.03}, {Name: "rss_bytes", Value: 180 << 20}}})
	}
	r.Finish(r.Summary)
	return r
}

func TestProbeChartsShareTheTimeAxisAndUnits(t *testing.T) {
	a, b := probeRun("A", 30), probeRun("B", 90)
	sh := computeShared([]*Run{a, b})
	var got []string
	for _, row := range sh.probeRows {
		got = append(got, fmt.Sprintf("%s|%s|%s", row.probe, row.unit.name, strings.Join(row.values, ",")))
	}
	want := []string{
		"listen 127.0.0.1:8080|count|backlog,queue",
		"uwsgi 127.0.0.1:1717|count|busy,idle,listen_queue",
		"process pid:42|CPU (% of one core)|cpu",
		"process pid:42|memory (MiB)|rss_bytes",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("probe rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Both runs' listen charts use B's peak: same y range side by side.
	if hi := sh.probeHi[sh.probeRows[0].key()]; hi < 100 || hi > 120 {
		t.Errorf("listen row y max %v, want the larger run's (backlog 100) plus a margin", hi)
	}
	if hi := sh.probeHi[sh.probeRows[2].key()]; hi != unitPercent.minTop {
		t.Errorf("CPU row y max %v, want the %v floor for 3 %%", hi, unitPercent.minTop)
	}
	page := write(t, []*Run{a, b}, Options{Compare: true})
	for _, s := range []string{"listen 127.0.0.1&#58;8080", "CPU (% of one core)", "memory (MiB)", "listen_queue stayed 0: uWSGI reports its listen queue only for TCP sockets", "What changed"} {
		if !strings.Contains(page, strings.ReplaceAll(s, "127.0.0.1&#58;8080", "127.0.0.1:8080")) && !strings.Contains(page, s) {
			t.Errorf("the page lacks %q", s)
		}
	}
	// Every chart row has one chart per run: the same time range on all.
	ticks := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(page, -1)
	if len(ticks) != 2*(4+len(want)) {
		t.Errorf("%d charts, want %d (4 request charts and %d probe rows, two runs)", len(ticks), 2*(4+len(want)), len(want))
	}
}

func TestProbeSeriesAreThinnedKeepingPeaks(t *testing.T) {
	r := NewRun("long")
	info := &analyze.RunInfo{}
	for i := 0; i < 50000; i++ {
		v := 1.0
		if i == 31337 {
			v = 99 // one sample's spike
		}
		r.Probe(info, &analyze.ProbeSample{Probe: "listen :1", Kind: "listen", At: time.Duration(i) * 10 * time.Millisecond, Values: []analyze.ProbeValue{{Name: "queue", Value: v}}})
	}
	ps := r.series[0]
	peak := 0.0
	for _, p := range ps.pts {
		peak = max(peak, p.v)
	}
	if len(ps.pts) >= maxProbePoints || peak != 99 {
		t.Errorf("%d points kept (want < %d), peak %v (want 99)", len(ps.pts), maxProbePoints, peak)
	}
	if last := ps.pts[len(ps.pts)-1].at; last < 490 {
		t.Errorf("thinned series ends at %v s, want near 500 s", last)
	}
}

func TestRunsShareTheLatencyAxis(t *testing.T) {
	fast := build("fast", 100, time.Second, func(int) time.Duration { return 2 * time.Millisecond }, ok)
	slow := build("slow", 100, 5*time.Second, func(i int) time.Duration { return time.Duration(i) * 30 * time.Millisecond }, ok)
	sh := computeShared([]*Run{fast, slow})
	if sh.latency.lo > 2 || sh.latency.hi < 3000 || sh.timeHi < 5 {
		t.Fatalf("shared latency %v ms, time to %v s: want both runs inside", sh.latency, sh.timeHi)
	}
	labels := regexp.MustCompile(`>([0-9 .]+)</text>`)
	var sets []string
	for _, r := range []*Run{fast, slow} {
		svg, err := scatter(r, sh)
		if err != nil {
			t.Fatal(err)
		}
		var ls []string
		for _, m := range labels.FindAllStringSubmatch(svg, -1) {
			ls = append(ls, m[1])
		}
		sets = append(sets, strings.Join(ls, ","))
	}
	if sets[0] != sets[1] || !strings.HasSuffix(sets[0], ","+fmtTickMs(sh.latency.hi)) {
		t.Errorf("tick labels differ or miss the shared top:\n fast %s\n slow %s", sets[0], sets[1])
	}
}

func TestOutcomesAndComponentsAreColouredAndNamed(t *testing.T) {
	r := build("mixed", 300, 3*time.Second, func(i int) time.Duration { return time.Duration(1+i) * time.Millisecond }, func(i int) string {
		return []string{analyze.OutcomeOK, analyze.OutcomeProxyRefused, "connect_timeout"}[i%3]
	})
	page := write(t, []*Run{r}, Options{Title: "t"})
	for _, s := range []string{">ok</span>", ">proxy_refused</span>", ">connect_timeout</span>", ">backlog</span>", ">processing</span>", ">connect</span>"} {
		if !strings.Contains(page, s) {
			t.Errorf("legend lacks %s", s)
		}
	}
	if strings.Contains(page, ">syn_retry</span>") {
		t.Error("a component with no time in any run is in the legend")
	}
}

func TestDataIsEscapedAndNothingIsFetched(t *testing.T) {
	r := build(`<script>alert(1)</script> https://evil.example/x.js`, 10, time.Second, func(int) time.Duration { return time.Millisecond }, ok)
	r.Probe(&analyze.RunInfo{}, &analyze.ProbeSample{Probe: `listen "><img src=//x>`, Kind: "listen", Values: []analyze.ProbeValue{{Name: "url(//x)", Value: 1}}})
	r.Summary.Warnings = append(r.Summary.Warnings, "@import url(http://x/y.css)")
	page := write(t, []*Run{r}, Options{Title: "<b>title</b>"}) // write checks self-containment
	if strings.Contains(page, "<script") || strings.Contains(page, "<b>title") {
		t.Error("data reached the page unescaped")
	}
}

func TestWriteRejectsWhatItCannotDraw(t *testing.T) {
	unfinished := NewRun("u")
	one := build("one", 1, 0, func(int) time.Duration { return time.Millisecond }, ok)
	for _, c := range []struct {
		name string
		runs []*Run
		opt  Options
		want string
	}{
		{"no runs", nil, Options{}, "no runs"},
		{"unfinished", []*Run{unfinished}, Options{}, "Finish"},
		{"compare of one", []*Run{one}, Options{Compare: true}, "two runs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Write(&bytes.Buffer{}, c.runs, c.opt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want one mentioning %q", err, c.want)
			}
		})
	}
	// A run without requests still gives a page (saying so).
	empty := NewRun("empty")
	sum := analyze.NewAggregator(nil).Summarize(analyze.RunInfo{}, nil)
	empty.Finish(&sum)
	if page := write(t, []*Run{empty}, Options{}); !strings.Contains(page, "no requests") {
		t.Error("an empty run's page does not say it has no requests")
	}
}

func TestUnitOf(t *testing.T) {
	for _, c := range []struct {
		name string
		want unit
	}{
		{"queue", unitCount}, {"backlog", unitCount}, {"busy", unitCount}, {"overflows", unitCount},
		{"cpu", unitPercent}, {"cpu_ratio", unitPercent}, {"cpu_percent", unitPct}, {"CPU_pct", unitPct},
		{"rss", unitMiB}, {"rss_bytes", unitMiB}, {"memory", unitMiB},
	} {
		if got := unitOf(c.name); got != c.want {
			t.Errorf("unitOf(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}

// FuzzWrite: whatever a results file's probe lines and outcomes say, the
// page is written, and stays self-contained.
func FuzzWrite(f *testing.F) {
	f.Add("listen 127.0.0.1:80", "listen", "queue", 3.0, int64(time.Second), "ok", int64(time.Millisecond))
	f.Add(`<svg onload=x>`, "uwsgi", "url(//x)", math.Inf(1), int64(-5), "</td>", int64(math.MaxInt64))
	f.Add("p", "process", "cpu", math.NaN(), int64(math.MaxInt64), "", int64(-1))
	f.Fuzz(func(t *testing.T, probe, kind, value string, v float64, at int64, outcome string, total int64) {
		r := NewRun(probe)
		info := &analyze.RunInfo{}
		res := result(1, time.Duration(at)%(48*time.Hour), time.Duration(total)%(2*time.Hour), outcome)
		r.Final(info, res)
		r.Probe(info, &analyze.ProbeSample{Probe: probe, Kind: kind, At: time.Duration(at), Values: []analyze.ProbeValue{{Name: value, Value: v}}})
		// A summary by hand: an Aggregator's dozen full HDR histograms
		// would make each run cost milliseconds.
		r.Finish(&analyze.Summary{Requests: 1, Headline: value, Warnings: []string{kind},
			Outcomes: map[string]int64{outcome: 1}, Phases: map[string]analyze.PhaseStats{analyze.PhaseTotal: {Count: 1, P99: float64(total)}}})
		var b bytes.Buffer
		if err := Write(&b, []*Run{r}, Options{Title: value}); err != nil {
			t.Fatal(err)
		}
		if err := reporttest.CheckSelfContained(b.Bytes()); err != nil {
			t.Fatal(err)
		}
	})
}
