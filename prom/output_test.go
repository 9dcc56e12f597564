package prom

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/session"
	"github.com/queuegap/queuegap/testbed/prefork"
)

// protoAccept asks promhttp for delimited protobuf: the only format that
// carries native histograms.
const protoAccept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"

// scrape GETs /metrics as protobuf and indexes the families by name.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", protoAccept)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s", resp.Status)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	out := map[string]*dto.MetricFamily{}
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("decoding scrape: %v", err)
		}
		out[mf.GetName()] = &mf
	}
}

// labelsOf is a metric's labels as a map.
func labelsOf(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// value is the single value of a counter or gauge family, -1 if absent.
func value(mfs map[string]*dto.MetricFamily, name string) float64 {
	mf := mfs[name]
	if mf == nil || len(mf.Metric) != 1 {
		return -1
	}
	m := mf.Metric[0]
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// histogram finds the child of a histogram family whose label is v.
func histogram(mfs map[string]*dto.MetricFamily, name, label, v string) *dto.Histogram {
	for _, m := range mfs[name].GetMetric() {
		if labelsOf(m)[label] == v {
			return m.Histogram
		}
	}
	return nil
}

// nativeQuantile estimates quantile q (0–1) of a native histogram the way
// PromQL's histogram_quantile does for exponential buckets: the bucket
// that holds the rank, interpolated exponentially within it.
func nativeQuantile(h *dto.Histogram, q float64) float64 {
	base := math.Pow(2, math.Pow(2, -float64(h.GetSchema())))
	rank := q * float64(h.GetSampleCount())
	seen := float64(h.GetZeroCount())
	if rank <= seen {
		return 0
	}
	idx, count := int32(0), int64(0)
	d := 0
	for _, sp := range h.GetPositiveSpan() {
		idx += sp.GetOffset()
		for j := uint32(0); j < sp.GetLength(); j++ {
			count += h.GetPositiveDelta()[d]
			d++
			lo, hi := math.Pow(base, float64(idx-1)), math.Pow(base, float64(idx))
			if seen+float64(count) >= rank {
				f := (rank - seen) / float64(count)
				return lo * math.Pow(hi/lo, f)
			}
			seen += float64(count)
			idx++
		}
	}
	return math.NaN()
}

func TestScrapeAgreesWithSummary(t *testing.T) {
	const rate, dur = 200.0, 2 * time.Second
	p := session.Plan{
		// A keep-alive target holds a worker per connection: as many
		// connections as workers, or some would wait forever.
		Clients: []session.ClientPlan{{
			Schedule: loadgen.Schedule{loadgen.Constant{Rate: rate, Duration: dur}},
			Client:   loadgen.ClientConfig{Mode: loadgen.KeepAlive, Connections: 4, KeepHeaders: analyze.TimingConfig{}.KeepHeaders()},
		}},
		Target: &prefork.Config{Addr: "127.0.0.1:0", Workers: 4, Backlog: 64, ServiceTime: 5 * time.Millisecond, KeepAlive: true},
	}
	s, err := session.New(p)
	if err != nil {
		t.Fatal(err)
	}
	out := New(Options{Progress: s.Progress})
	srv := httptest.NewServer(out.Handler())
	defer srv.Close()

	type ran struct {
		rep *session.Report
		err error
	}
	done := make(chan ran, 1)
	go func() {
		rep, err := s.Run(context.Background(), out)
		done <- ran{rep, err}
	}()

	// Mid-run: the live series are there and move while the run goes.
	deadline := time.Now().Add(10 * time.Second)
	var mid map[string]*dto.MetricFamily
	for {
		mid = scrape(t, srv.URL)
		if value(mid, "queuegap_sent_requests_total") > 20 && value(mid, "queuegap_run_done") == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mid-run scrape with requests sent (sent=%v done=%v)", value(mid, "queuegap_sent_requests_total"), value(mid, "queuegap_run_done"))
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	for _, name := range []string{"queuegap_requests_total", "queuegap_phase_seconds", "queuegap_attribution_seconds",
		"queuegap_scheduled_requests_total", "queuegap_sent_requests_total", "queuegap_in_flight_requests",
		"queuegap_run_info", "queuegap_schedule_mean_requests_per_second", "process_cpu_seconds_total"} {
		if mid[name] == nil {
			t.Errorf("mid-run scrape lacks %s", name)
		}
	}
	if sch, sent := value(mid, "queuegap_scheduled_requests_total"), value(mid, "queuegap_sent_requests_total"); sent > sch || sch >= rate*dur.Seconds() {
		t.Errorf("mid-run scheduled %v, sent %v: want sent ≤ scheduled < planned", sch, sent)
	}

	var r ran
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("run did not end")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	sum := &r.rep.Summary
	end := scrape(t, srv.URL)

	if v := value(end, "queuegap_run_done"); v != 1 {
		t.Errorf("queuegap_run_done = %v after the run", v)
	}
	if v := value(end, "queuegap_sent_requests_total"); v != float64(r.rep.Info.Started) {
		t.Errorf("sent %v, run info says %d", v, r.rep.Info.Started)
	}
	if v := value(end, "queuegap_scheduled_requests_total"); v != float64(sum.Planned) {
		t.Errorf("scheduled %v, planned %d", v, sum.Planned)
	}
	if v := value(end, "queuegap_in_flight_requests"); v != 0 {
		t.Errorf("in flight %v after the run", v)
	}
	byOutcome := map[string]int64{}
	var total int64
	for _, m := range end["queuegap_requests_total"].GetMetric() {
		n := int64(m.Counter.GetValue())
		byOutcome[labelsOf(m)["outcome"]] += n
		total += n
	}
	if total != sum.Requests || total == 0 {
		t.Errorf("queuegap_requests_total sums to %d, summary has %d requests", total, sum.Requests)
	}
	for oc, n := range sum.Outcomes {
		if byOutcome[oc] != n {
			t.Errorf("outcome %s: %d scraped, %d in the summary", oc, byOutcome[oc], n)
		}
	}
	for _, ph := range analyze.Phases {
		h := histogram(end, "queuegap_phase_seconds", "phase", ph)
		want := sum.Phases[ph]
		if h == nil {
			if want.Count != 0 {
				t.Errorf("phase %s: no histogram, summary counts %d", ph, want.Count)
			}
			continue
		}
		if int64(h.GetSampleCount()) != want.Count {
			t.Errorf("phase %s: %d observations, summary counts %d", ph, h.GetSampleCount(), want.Count)
		}
		if len(h.GetBucket()) != len(Buckets) {
			t.Errorf("phase %s: %d classic buckets, want %d", ph, len(h.GetBucket()), len(Buckets))
		}
		if h.GetSchema() < 3 || len(h.GetPositiveSpan()) == 0 && want.Count > 0 {
			t.Errorf("phase %s: native histogram schema %d, %d spans", ph, h.GetSchema(), len(h.GetPositiveSpan()))
		}
		if ph == analyze.PhaseLag {
			continue // tens of µs, where the file's µs truncation dominates
		}
		// Percentiles within histogram precision: a schema-3 bucket spans
		// 9 %; the summary's HDR histogram adds 0.1 %, the results file's
		// µs truncation a little more.
		for _, c := range []struct {
			q    float64
			want float64
		}{{0.5, want.P50}, {0.9, want.P90}, {0.99, want.P99}} {
			got := nativeQuantile(h, c.q) * 1000
			if math.Abs(got-c.want) > 0.1*c.want+0.01 {
				t.Errorf("phase %s p%v: %.3f ms from the native histogram, %.3f ms in the summary", ph, c.q*100, got, c.want)
			}
		}
	}
	var compTotal float64
	for _, c := range analyze.Components {
		h := histogram(end, "queuegap_attribution_seconds", "component", c)
		if h == nil || int64(h.GetSampleCount()) != sum.Requests {
			t.Errorf("component %s: histogram %v, want %d observations", c, h.GetSampleCount(), sum.Requests)
			continue
		}
		compTotal += h.GetSampleSum()
	}
	// Components add up to each request's total, so their sums add up to
	// the total's sum (live attribution; the summary's is final but sums
	// to the same totals).
	if tot := histogram(end, "queuegap_phase_seconds", "phase", "total").GetSampleSum(); math.Abs(compTotal-tot) > 1e-6*float64(sum.Requests)+1e-9 {
		t.Errorf("components sum to %.6f s, totals to %.6f s", compTotal, tot)
	}
}

// The text format keeps the classic buckets (what a scraper without
// protobuf sees), with the documented names and no URL label.
func TestTextExposition(t *testing.T) {
	o := New(Options{NoProcessMetrics: true})
	var r analyze.Result
	r.Intended, r.Start, r.Written, r.FirstByte, r.Done = 1e6, 2e6, 3e6, 8e6, 9e6
	r.Outcome, r.Name, r.Client = analyze.OutcomeOK, "home", "web"
	o.Add(&r)
	rec := httptest.NewRecorder()
	o.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`queuegap_requests_total{client="web",name="home",outcome="ok"} 1`,
		`queuegap_phase_seconds_bucket{phase="total",le="0.01"} 1`,
		`queuegap_phase_seconds_bucket{phase="total",le="0.005"} 0`,
		`queuegap_phase_seconds_count{phase="ttfb"} 1`,
		`queuegap_attribution_seconds_count{component="backlog"} 1`,
		`queuegap_run_done 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if strings.Contains(body, "url=") {
		t.Error("a url label is exported")
	}
}

// Beyond MaxPairs, new (client, name) pairs are counted under "(other)":
// every request still counted, the series bounded.
func TestPairsFold(t *testing.T) {
	o := New(Options{MaxPairs: 2, NoProcessMetrics: true})
	var r analyze.Result
	r.Outcome = analyze.OutcomeOK
	for i, n := range []string{"a", "b", "c", "d", "a", "c"} {
		r.Name, r.Client = n, "x"
		if i == 5 {
			r.Outcome = analyze.OutcomeHTTP5xx
		}
		o.Add(&r)
	}
	mfs, err := o.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "queuegap_requests_total" {
			continue
		}
		for _, m := range mf.Metric {
			l := labelsOf(m)
			got[l["name"]+"/"+l["outcome"]] += m.Counter.GetValue()
		}
	}
	want := map[string]float64{"a/ok": 2, "b/ok": 1, "(other)/ok": 2, "(other)/http_5xx": 1}
	if len(got) != len(want) {
		t.Fatalf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

func TestProbeGauges(t *testing.T) {
	o := New(Options{NoProcessMetrics: true})
	for _, q := range []float64{3, 7} {
		o.Probe(&analyze.ProbeSample{Probe: "listen 127.0.0.1:8080", Kind: "listen", At: time.Second,
			Values: []analyze.ProbeValue{{Name: "queue", Value: q}, {Name: "backlog", Value: 128}}})
	}
	mfs, _ := o.reg.Gather()
	var got []string
	for _, mf := range mfs {
		if mf.GetName() == "queuegap_probe_value" {
			for _, m := range mf.Metric {
				l := labelsOf(m)
				got = append(got, l["probe"]+"|"+l["kind"]+"|"+l["name"]+"="+formatFloat(m.Gauge.GetValue()))
			}
		}
	}
	sort.Strings(got)
	want := []string{"listen 127.0.0.1:8080|listen|backlog=128", "listen 127.0.0.1:8080|listen|queue=7"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("probe series %v, want %v (the latest sample)", got, want)
	}
}

// sampleResult is a keep-alive request with server timing and attribution.
func sampleResult() analyze.Result {
	var r analyze.Result
	r.Intended, r.Queued, r.Start, r.ConnectDone, r.Written, r.FirstByte, r.Done = 1e6, 1.02e6, 1.05e6, 2e6, 2.1e6, 40e6, 41e6
	r.NewConn = true
	r.Outcome, r.Name, r.Client = analyze.OutcomeOK, "sleep", "api"
	r.Attr.Parts = [9]time.Duration{5e4, 0, 95e4, 0, 2e7, 1.7e7, 1e6, 0, 1e6}
	return r
}

// Recording a result allocates nothing once its label keys are known —
// the hot path's contract, checked here and measured in BenchmarkAdd.
func TestAddAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	o := New(Options{NoProcessMetrics: true})
	r := sampleResult()
	o.Add(&r) // first sight of the key and of the native buckets
	if n := testing.AllocsPerRun(1000, func() { o.Add(&r) }); n != 0 {
		t.Errorf("Add allocates %v times per result", n)
	}
}

func BenchmarkAdd(b *testing.B) {
	o := New(Options{NoProcessMetrics: true})
	rs := make([]analyze.Result, 64)
	for i := range rs {
		rs[i] = sampleResult()
		rs[i].Done += time.Duration(i) * 137 * time.Microsecond // spread over native buckets
	}
	for i := range rs {
		o.Add(&rs[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o.Add(&rs[i&63])
	}
}
