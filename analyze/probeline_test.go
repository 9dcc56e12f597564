package analyze

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func TestProbeLineRoundTrip(t *testing.T) {
	for _, s := range []ProbeSample{
		{Probe: "listen 127.0.0.1:8080", Kind: "listen", At: 1234500 * time.Microsecond,
			Values: []ProbeValue{{"queue", 12}, {"backlog", 100}, {"overflows", 0}}},
		{Probe: "uwsgi 127.0.0.1:9191", Kind: "uwsgi", At: 0, Error: "dial tcp 127.0.0.1:9191: connect: connection refused"},
		{Probe: `process "odd" name`, Kind: "process", At: time.Second, Values: []ProbeValue{{"cpu", 0.0125}, {"rss", 123456789}}, Note: "cpu in cores\n"},
	} {
		line := AppendProbeJSON(nil, &s)
		if !json.Valid(line) {
			t.Fatalf("not JSON: %s", line)
		}
		var got ProbeSample
		if err := DecodeProbeLine(line, &got); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(s) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", line, got, s)
		}
	}
	// The documented form reads; the writer puts t_ms with µs digits like every *_ms.
	line := []byte(`{"probe":"listen 127.0.0.1:8080","kind":"listen","t_ms":1234.5,"v":{"queue":12,"backlog":100}}`)
	s := ProbeSample{Probe: "listen 127.0.0.1:8080", Kind: "listen", At: 1234500 * time.Microsecond, Values: []ProbeValue{{"queue", 12}, {"backlog", 100}}}
	var got ProbeSample
	if err := DecodeProbeLine(line, &got); err != nil || fmt.Sprint(got) != fmt.Sprint(s) {
		t.Errorf("documented line read as %+v, %v", got, err)
	}
	want := bytes.Replace(line, []byte("1234.5"), []byte("1234.500"), 1)
	if got := AppendProbeJSON(nil, &s); !bytes.Equal(got, want) {
		t.Errorf("wrote %s, want %s", got, want)
	}
	// NaN cannot be written in JSON: left out.
	nan := ProbeSample{Probe: "x", Kind: "process", Values: []ProbeValue{{"cpu", math.NaN()}, {"rss", 1}}}
	if got := AppendProbeJSON(nil, &nan); !json.Valid(got) || strings.Contains(string(got), "cpu") {
		t.Errorf("NaN: %s", got)
	}
}

func TestDecodeProbeLineErrors(t *testing.T) {
	for _, bad := range []string{
		`{"probe":"x","kind":"listen"}`,
		`{"probe":"","t_ms":1}`,
		`{"probe":"x","t_ms":-1}`,
		`{"probe":"x","t_ms":1,"v":{"queue":"12"}}`,
		`{"probe":"x","t_ms":1,"v":[1]}`,
		`{"probe":"x","t_ms":1} trailing`,
		`{"probe":"x","t_ms":1,"v":{` + strings.Repeat(`"a":1,`, 70) + `"b":2}}`,
	} {
		var s ProbeSample
		if err := DecodeProbeLine([]byte(bad), &s); err == nil {
			t.Errorf("%s: no error (%+v)", bad, s)
		}
	}
}

// A results file with probe lines among the results: results read as
// before, samples go to the Probe callback with their run; a reader that
// asks for results only skips them.
func TestReadResultsWithProbes(t *testing.T) {
	var buf bytes.Buffer
	info := RunInfo{RunID: "r1", Start: time.Unix(1796000000, 0).UTC(), Planned: 2}
	w, err := NewResultsWriter(&buf, info, ResultsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := Result{}
	res.Seq, res.Done, res.Outcome = 1, 5*time.Millisecond, OutcomeOK
	if err := w.Write(&res); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteProbe(&ProbeSample{Probe: "listen 127.0.0.1:1", Kind: "listen", At: 250 * time.Millisecond, Values: []ProbeValue{{"queue", 3}}}); err != nil {
		t.Fatal(err)
	}
	res.Seq = 2
	if err := w.Write(&res); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteProbe(&ProbeSample{Probe: "listen 127.0.0.1:1", Kind: "listen", At: 500 * time.Millisecond, Error: "nothing listens"}); err != nil {
		t.Fatal(err)
	}
	info.Started = 2
	if err := w.Close(info); err != nil {
		t.Fatal(err)
	}
	var results, probes int
	var probeRuns []string
	st, err := ReadResultsWith(bytes.NewReader(buf.Bytes()), ReadCallbacks{
		Result: func(*RunInfo, *Result) error { results++; return nil },
		Probe: func(run *RunInfo, s *ProbeSample) error {
			probes++
			probeRuns = append(probeRuns, run.RunID)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if results != 2 || probes != 2 || st.Probes != 2 || st.Missing != 0 || len(st.Warnings()) != 0 || probeRuns[0] != "r1" {
		t.Errorf("%d results, %d probes (%v), stats %+v, warnings %v", results, probes, probeRuns, st, st.Warnings())
	}
	n := 0
	if _, err := ReadResults(bytes.NewReader(buf.Bytes()), func(*RunInfo, *Result) error { n++; return nil }); err != nil || n != 2 {
		t.Errorf("ReadResults: %d results, %v", n, err)
	}
	// A probe callback's error stops the reading.
	stop := errors.New("stop")
	if _, err := ReadResultsWith(bytes.NewReader(buf.Bytes()), ReadCallbacks{
		Result: func(*RunInfo, *Result) error { return nil },
		Probe:  func(*RunInfo, *ProbeSample) error { return stop },
	}); !errors.Is(err, stop) {
		t.Errorf("err %v, want stop", err)
	}
	// A probe line before any header is not a results file.
	if _, err := ReadResults(strings.NewReader(`{"probe":"x","t_ms":1}`+"\n"), func(*RunInfo, *Result) error { return nil }); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("probe before header: %v", err)
	}
	// A cut-short probe line at the end (killed run) is skipped and said.
	cut := buf.String()
	cut = cut[:strings.LastIndex(cut, `{"queuegap":"end"`)] + `{"probe":"listen 127.0.0.1:1","t_`
	st, err = ReadResults(strings.NewReader(cut), func(*RunInfo, *Result) error { return nil })
	if err != nil || !st.Truncated {
		t.Errorf("cut probe line: %v, stats %+v", err, st)
	}
	// A malformed probe line in the middle is an error naming it.
	bad := strings.Replace(buf.String(), `"t_ms":250`, `"t_ms":"x"`, 1)
	if _, err := ReadResults(strings.NewReader(bad), func(*RunInfo, *Result) error { return nil }); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("bad probe line: %v", err)
	}
}

func FuzzDecodeProbeLine(f *testing.F) {
	f.Add([]byte(`{"probe":"listen 127.0.0.1:8080","kind":"listen","t_ms":1234.5,"v":{"queue":12,"backlog":100}}`))
	f.Add([]byte(`{"probe":"u","t_ms":0,"error":"x\u00e9","note":"n"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s ProbeSample
		if err := DecodeProbeLine(b, &s); err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		var again ProbeSample
		if err := DecodeProbeLine(AppendProbeJSON(nil, &s), &again); err != nil {
			t.Fatalf("re-encoded %+v does not decode: %v", s, err)
		}
	})
}
