package analyze

import (
	"strings"
	"testing"
	"time"
)

func listenSample(at time.Duration, queue, backlog, expect float64) *ProbeSample {
	s := &ProbeSample{Probe: "listen 127.0.0.1:8080", Kind: "listen", At: at,
		Values: []ProbeValue{{"queue", queue}, {"backlog", backlog}, {"somaxconn", 4096}}}
	if expect > 0 {
		s.Values = append(s.Values, ProbeValue{"expected_backlog", expect})
	}
	return s
}

func TestProbeSummary(t *testing.T) {
	for _, tc := range []struct {
		name     string
		samples  []*ProbeSample
		syn      int64
		warnings []string // substrings, one per expected warning
	}{
		{name: "not capped", samples: []*ProbeSample{listenSample(0, 0, 100, 100), listenSample(time.Second, 101, 100, 100)}},
		{name: "capped", samples: []*ProbeSample{listenSample(0, 0, 128, 2048), listenSample(time.Second, 129, 128, 2048)},
			warnings: []string{"effective backlog 128 < configured 2048: net.core.somaxconn caps listen() (in a container: set the sysctl in its security context)"}},
		{name: "capped with SYN retries", samples: []*ProbeSample{listenSample(0, 129, 128, 2048)}, syn: 7,
			warnings: []string{"7 connections retransmitted their SYN"}},
		{name: "capped with SYN retries says whose doing", samples: []*ProbeSample{listenSample(0, 129, 128, 2048)}, syn: 7,
			warnings: []string{"the SYN retries are the cap's doing"}},
		{name: "at somaxconn, no SYN retries: quiet", samples: []*ProbeSample{listenSample(0, 3, 4096, 0)}},
		{name: "at somaxconn with SYN retries", samples: []*ProbeSample{listenSample(0, 3, 4096, 0)}, syn: 1,
			warnings: []string{"= net.core.somaxconn: if the server asked for more"}},
		{name: "failure", samples: []*ProbeSample{
			{Probe: "uwsgi 127.0.0.1:9191", Kind: "uwsgi", At: 1500 * time.Millisecond, Error: "connection refused"},
			{Probe: "uwsgi 127.0.0.1:9191", Kind: "uwsgi", At: 2 * time.Second, Values: []ProbeValue{{"busy", 4}}},
		}, warnings: []string{"probe uwsgi 127.0.0.1:9191 failed at 1.5s: connection refused (1 failed spells; it kept trying)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewProbeAggregator()
			for _, s := range tc.samples {
				a.Add(s)
			}
			sum := Summary{SynRetrans: tc.syn, Attribution: map[string]ComponentStats{}}
			a.Apply(&sum)
			if len(sum.Warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %d", sum.Warnings, len(tc.warnings))
			}
			for i, w := range tc.warnings {
				if !strings.Contains(sum.Warnings[i], w) {
					t.Errorf("warning %q, want it to contain %q", sum.Warnings[i], w)
				}
			}
			var b strings.Builder
			if err := sum.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), "server-side probes") {
				t.Errorf("text has no probe section:\n%s", b.String())
			}
		})
	}
}

func TestProbeSummaryStats(t *testing.T) {
	a := NewProbeAggregator()
	for i, q := range []float64{0, 4, 8} {
		a.Add(&ProbeSample{Probe: "uwsgi x", Kind: "uwsgi", At: time.Duration(i) * time.Second, Values: []ProbeValue{{"queue", q}, {"busy", 4}}, Note: "once"})
	}
	a.Add(&ProbeSample{Probe: "process pid:1", Kind: "process", Values: []ProbeValue{{"rss", 2e6}}})
	ps := a.Summaries()
	if len(ps) != 2 || ps[0].Probe != "uwsgi x" || ps[0].Samples != 3 || len(ps[0].Notes) != 1 {
		t.Fatalf("%+v", ps)
	}
	q := ps[0].Values[0]
	if q.Name != "queue" || q.Min != 0 || q.Max != 8 || q.Mean != 4 || q.Last != 8 || q.N != 3 {
		t.Errorf("queue %+v", q)
	}
	sum := Summary{Probes: ps}
	var b strings.Builder
	sum.writeProbes(&b)
	for _, want := range []string{"uwsgi x", "queue", "4", "2.0 MB", "(uwsgi x: once)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}
