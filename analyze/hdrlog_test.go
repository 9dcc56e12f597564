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

// Results written across several intervals merge back exactly.
func TestHDRLogRoundTrip(t *testing.T) {
	start := time.Unix(1795320000, 0)
	now := start
	var buf bytes.Buffer
	w, err := NewHDRLogWriter(&buf, start, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w.now = func() time.Time { return now }
	agg := NewAggregator(nil)
	for i := 1; i <= 3000; i++ {
		r := &Result{Record: loadgen.Record{Seq: uint64(i), Intended: time.Duration(i) * time.Millisecond, Start: time.Duration(i)*time.Millisecond + 50*time.Microsecond,
			Done: time.Duration(i)*time.Millisecond + time.Duration(i%97)*time.Millisecond + time.Millisecond}, Outcome: OutcomeOK}
		r.FirstByte = r.Done - 10*time.Microsecond
		r.Attr.Parts[iBacklog] = time.Duration(i%50) * time.Millisecond
		now = start.Add(r.Done)
		w.Add(r)
		agg.Add(r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	log := buf.String()
	if n := strings.Count(log, "Tag=total,"); n < 3 {
		t.Fatalf("%d total intervals in the log, want one per second of 3 s:\n%s", n, log)
	}
	if !LooksLikeHDRLog(buf.Bytes()) {
		t.Fatal("LooksLikeHDRLog false for an HDR log")
	}
	hists, err := ReadHDRLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	s := SummaryFromHDR(hists)
	direct := agg.Summarize(RunInfo{}, nil)
	got, want := s.Phases[PhaseTotal], direct.Phases[PhaseTotal]
	if got.Count != 3000 || got.Count != want.Count {
		t.Fatalf("merged count %d, aggregator %d", got.Count, want.Count)
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

func TestHDRLogErrors(t *testing.T) {
	for _, in := range []string{"", "#[Histogram log format version 1.3]\n", "Tag=total,1.0,1.0,1.0,HISTFAAAnotbase64!!\n"} {
		if _, err := ReadHDRLog(strings.NewReader(in)); err == nil {
			t.Errorf("ReadHDRLog(%q) accepted", in)
		}
	}
	if LooksLikeHDRLog([]byte(`{"queuegap":"run"}`)) {
		t.Error("a results file looks like an HDR log")
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
	_, err := ReadHDRLog(&buf)
	if err == nil || !strings.Contains(err.Error(), "MB") {
		t.Fatalf("err = %v, want the memory bound", err)
	}
}
