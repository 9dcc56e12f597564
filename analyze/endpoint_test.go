package analyze

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/queuegap/queuegap/loadgen"
)

// mixProfile is one endpoint of a test run: its own latency distribution.
type mixProfile struct {
	client, name string
	wait         func(*rand.Rand) time.Duration // server wait to the first byte
	errEvery     int                            // every n-th request a 502 (0: none)
	retryEvery   int                            // every n-th request a retry (0: none)
}

var mixProfiles = []mixProfile{
	{client: "partner-a", name: "checkout", wait: func(r *rand.Rand) time.Duration { return ms(200 + 1800*r.Float64()*r.Float64()) }, errEvery: 7, retryEvery: 5},
	{client: "partner-a", name: "GET /users/:id", wait: func(r *rand.Rand) time.Duration { return ms(1 + 4*r.Float64()) }},
	{client: "browse", name: "GET /users/:id", wait: func(r *rand.Rand) time.Duration { return ms(10 + 40*r.ExpFloat64()) }, errEvery: 50},
	{client: "browse", name: "search", wait: func(r *rand.Rand) time.Duration { return ms(30 * (1 + math.Abs(r.NormFloat64()*r.NormFloat64()))) }, retryEvery: 3},
}

// mixRun analyzes n requests drawn at random from mixProfiles (weights
// 1:3:2:2), named as session names them, attributed against the final
// estimates as `run` does in its second pass.
func mixRun(t *testing.T, n int) []Result {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 12))
	an := NewAnalyzer(TimingConfig{}, "mix")
	var est Estimator
	weights := []int{0, 1, 1, 1, 2, 2, 3, 3}
	out := make([]Result, n)
	for i := range out {
		p := mixProfiles[weights[rng.IntN(len(weights))]]
		at := time.Duration(i) * 500 * time.Microsecond
		connect := time.Duration(0)
		if i%3 == 0 {
			connect = ms(0.1 + 5*rng.Float64())
		}
		rec := newConnRec(at, ms(0.05), connect, p.wait(rng)+ms(0.1), ms(0.5*rng.Float64()), hdrs(HeaderServerTiming, "app;dur=1"))
		rec.NewConn = connect > 0
		if !rec.NewConn {
			rec.ConnectDone = 0
		}
		rec.Seq = uint64(i + 1)
		if p.errEvery > 0 && i%p.errEvery == 0 {
			rec.Status, rec.Headers = 502, nil
		}
		if p.retryEvery > 0 && i%p.retryEvery == 0 {
			rec.Attempt, rec.RetryOf = 1, uint64(i)
		}
		if i%97 == 0 { // a few timeouts without any byte
			rec.FirstByte, rec.Status, rec.Error, rec.ErrorText = 0, 0, loadgen.ErrTimeout, "timeout"
		}
		an.Analyze(&rec, &out[i])
		out[i].Client, out[i].Name = p.client, p.name
		est.Observe(testRunStart, &out[i])
	}
	e := est.Estimates()
	for i := range out {
		Attribute(&out[i], &e, testRunStart)
	}
	return out
}

func aggregate(rs []Result) Summary {
	agg := NewAggregator(nil)
	for i := range rs {
		agg.Add(&rs[i])
	}
	return agg.Summarize(RunInfo{RunID: "mix"}, nil)
}

// TestEndpointPercentiles: each endpoint's (and each client's and shared
// name's) figures are those computed directly from the records of that
// group: exactly those of an independent HDR histogram, and within the
// histogram's 0.1 % of the sorted values.
func TestEndpointPercentiles(t *testing.T) {
	rs := mixRun(t, 20000)
	s := aggregate(rs)
	if len(s.Endpoints) != len(mixProfiles) {
		t.Fatalf("%d endpoints, want %d: %+v", len(s.Endpoints), len(mixProfiles), s.Endpoints)
	}
	// Sorted by client, then name.
	wantOrder := []string{"browse/GET /users/:id", "browse/search", "partner-a/GET /users/:id", "partner-a/checkout"}
	for i, e := range s.Endpoints {
		if e.Client+"/"+e.Name != wantOrder[i] {
			t.Errorf("endpoint %d is %s/%s, want %s", i, e.Client, e.Name, wantOrder[i])
		}
	}
	check := func(label string, e EndpointSummary, match func(*Result) bool) {
		t.Helper()
		var total, ttfb, connect []time.Duration
		var count, errs, retries int64
		status := map[string]int64{}
		for i := range rs {
			r := &rs[i]
			if !match(r) {
				continue
			}
			count++
			total = append(total, r.Total())
			if r.FirstByte != 0 {
				ttfb = append(ttfb, r.TTFB())
			}
			if c := r.Connect(); c > 0 {
				connect = append(connect, c)
			}
			if IsError(r.Outcome) {
				errs++
			}
			if r.Attempt > 0 {
				retries++
			}
			status[statusClasses[statusClass(r.Status)]]++
		}
		if e.Count != count || e.Errors != errs || e.Retries != retries || !reflect.DeepEqual(e.Status, status) {
			t.Errorf("%s: count %d errors %d retries %d status %v, want %d %d %d %v", label, e.Count, e.Errors, e.Retries, e.Status, count, errs, retries, status)
		}
		if count < 1000 || errs == 0 && label == "partner-a/checkout" {
			t.Fatalf("%s: only %d requests, %d errors: the test run is too small", label, count, errs)
		}
		for _, d := range []struct {
			what string
			got  PhaseStats
			vals []time.Duration
		}{{"total", e.Total, total}, {"ttfb", e.TTFB, ttfb}, {"connect", e.Connect, connect}} {
			h := newHist()
			for _, v := range d.vals {
				recordDur(h, v)
			}
			if want := phaseStats(h); d.got != want {
				t.Errorf("%s %s: %+v, an independent histogram gives %+v", label, d.what, d.got, want)
			}
			slices.Sort(d.vals)
			for _, q := range []struct {
				p   float64
				got float64
			}{{50, d.got.P50}, {90, d.got.P90}, {99, d.got.P99}, {99.9, d.got.P999}, {100, d.got.Max}} {
				// The histogram's rank, round(q·n), in the sorted values.
				rank := min(max(1, int(q.p/100*float64(len(d.vals))+0.5)), len(d.vals))
				exact := durMs(d.vals[rank-1].Truncate(time.Microsecond))
				if math.Abs(q.got-exact) > exact*0.001+0.002 {
					t.Errorf("%s %s p%v: %.3f ms, the sorted records give %.3f ms", label, d.what, q.p, q.got, exact)
				}
			}
		}
	}
	for _, e := range s.Endpoints {
		check(e.Client+"/"+e.Name, e, func(r *Result) bool { return r.Client == e.Client && r.Name == e.Name })
	}
	if len(s.Clients) != 2 {
		t.Fatalf("clients %+v, want 2", s.Clients)
	}
	for _, e := range s.Clients {
		if e.Name != "" {
			t.Errorf("client total %q has name %q", e.Client, e.Name)
		}
		check("client "+e.Client, e, func(r *Result) bool { return r.Client == e.Client })
	}
	if len(s.Names) != 1 || s.Names[0].Name != "GET /users/:id" || s.Names[0].Client != "" {
		t.Fatalf("names %+v, want the one sent by both clients", s.Names)
	}
	check("name GET /users/:id", s.Names[0], func(r *Result) bool { return r.Name == "GET /users/:id" })
	// The groups add up to the run.
	var n int64
	for _, e := range s.Endpoints {
		n += e.Count
	}
	if n != s.Requests {
		t.Errorf("endpoints hold %d requests, the run %d", n, s.Requests)
	}
	if tp := s.Endpoints[3].Top; tp == "" || s.Endpoints[3].Shares[tp] <= 0 {
		t.Errorf("checkout's top component %q, shares %v", tp, s.Endpoints[3].Shares)
	}
}

func TestEndpointsOmittedOrBounded(t *testing.T) {
	mk := func(labels ...[2]string) Summary {
		agg := NewAggregator(nil)
		for i, l := range labels {
			r := Result{Record: loadgen.Record{Seq: uint64(i + 1), Done: ms(float64(i + 1))}, Outcome: OutcomeOK, Client: l[0], Name: l[1]}
			agg.Add(&r)
		}
		return agg.Summarize(RunInfo{}, nil)
	}
	if s := mk([2]string{}, [2]string{}); s.Endpoints != nil || s.Clients != nil || s.Names != nil {
		t.Errorf("an unnamed run has endpoints %+v %+v %+v", s.Endpoints, s.Clients, s.Names)
	}
	if b, _ := json.Marshal(mk([2]string{})); bytes.Contains(b, []byte(`"endpoints"`)) {
		t.Errorf("an unnamed run's JSON has endpoints: %s", b)
	}
	if s := mk([2]string{"", "checkout"}, [2]string{"", "checkout"}); len(s.Endpoints) != 1 || s.Endpoints[0].Count != 2 || s.Clients != nil {
		t.Errorf("one named endpoint: %+v, clients %+v", s.Endpoints, s.Clients)
	}
	var many [][2]string
	for i := range MaxEndpoints + 10 {
		many = append(many, [2]string{"c", "n" + strconv.Itoa(i)}, [2]string{"c", "n" + strconv.Itoa(i)})
	}
	s := mk(many...)
	if len(s.Endpoints) != MaxEndpoints+1 {
		t.Fatalf("%d endpoints, want %d and one %s", len(s.Endpoints), MaxEndpoints, OtherLabel)
	}
	var other *EndpointSummary
	for i := range s.Endpoints {
		if s.Endpoints[i].Name == OtherLabel {
			other = &s.Endpoints[i]
		}
	}
	if other == nil || other.Count != 20 || !strings.Contains(strings.Join(s.Warnings, "\n"), "20 requests of the rest are reported together") {
		t.Errorf("other %+v, warnings %q", other, s.Warnings)
	}
}

// TestEndpointsSurviveTheResultsFile: the summary of a run equals the
// summary of its results file read back and attributed again, endpoints
// included.
func TestEndpointsSurviveTheResultsFile(t *testing.T) {
	rs := mixRun(t, 5000)
	live := aggregate(rs)
	var buf bytes.Buffer
	info := RunInfo{RunID: "mix", Start: testRunStart}
	w, err := NewResultsWriter(&buf, info, ResultsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		if err := w.Write(&rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(info); err != nil {
		t.Fatal(err)
	}
	var back []Result
	var est Estimator
	if _, err := ReadResults(bytes.NewReader(buf.Bytes()), func(run *RunInfo, r *Result) error {
		est.Observe(run.Start, r)
		back = append(back, *r)
		return nil
	}); err != nil {
		t.Fatalf("%v\n%s", err, bytes.Split(buf.Bytes(), []byte("\n"))[14])
	}
	e := est.Estimates()
	retries := 0
	for i := range back {
		Attribute(&back[i], &e, testRunStart)
		if back[i].Attempt > 0 {
			retries++
			if back[i].RetryOf == 0 {
				t.Errorf("seq %d: a retry without its original", back[i].Seq)
			}
		}
	}
	reread := aggregate(back)
	if retries == 0 {
		t.Fatal("no retries in the test run")
	}
	a, _ := json.Marshal(live)
	b, _ := json.Marshal(reread)
	if !bytes.Equal(a, b) {
		t.Errorf("the summary changed through the results file:\nlive   %s\nreread %s", a, b)
	}
	if len(reread.Endpoints) != len(mixProfiles) {
		t.Errorf("re-read endpoints %+v", reread.Endpoints)
	}
}

func TestEndpointsText(t *testing.T) {
	s := aggregate(mixRun(t, 2000))
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	i := strings.Index(out, "\nper endpoint\n")
	if i < 0 {
		t.Fatalf("no endpoint table:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(out[i:]), "\n")
	// title, header, 4 endpoints, 2 client totals
	if len(lines) < 8 || !strings.Contains(lines[1], "client") || !strings.Contains(lines[1], "p99") {
		t.Fatalf("table:\n%s", strings.Join(lines, "\n"))
	}
	for j, want := range []string{"browse", "browse", "partner-a", "partner-a", "browse", "partner-a"} {
		if f := strings.Fields(lines[2+j]); f[0] != want {
			t.Errorf("row %d %q, want client %s", j, lines[2+j], want)
		}
	}
	if !strings.Contains(lines[5], "checkout") || !strings.Contains(lines[6], "(all)") {
		t.Errorf("rows:\n%s", strings.Join(lines, "\n"))
	}
	t.Logf("\n%s", strings.Join(lines[:8], "\n"))
	var one strings.Builder
	unnamed := aggregate([]Result{{Record: loadgen.Record{Seq: 1, Done: ms(1)}, Outcome: OutcomeOK}})
	if err := unnamed.WriteText(&one); err != nil || strings.Contains(one.String(), "per endpoint") {
		t.Errorf("an unnamed run printed an endpoint table (%v):\n%s", err, one.String())
	}
}
