package analyze

import (
	"bufio"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/queuegap/queuegap/loadgen"
)

// benchRecords is a mix of header styles and outcomes, as a run sees them.
func benchRecords(n int) []loadgen.Record {
	rng := rand.New(rand.NewPCG(11, 12))
	recs := make([]loadgen.Record, n)
	for i := range recs {
		recs[i] = randomRecord(rng, uint64(i+1))
	}
	return recs
}

// BenchmarkAnalyze is the per-request cost on the sink goroutine: parse the
// timing headers, attribute, classify and aggregate.
func BenchmarkAnalyze(b *testing.B) {
	recs := benchRecords(4096)
	a := newStreamAnalyzer(TimingConfig{}, testRunStart, "bench")
	agg := NewAggregator(NewTimeline(time.Second, 600))
	var res Result
	// Warm the aggregator's per-outcome histograms and timeline rows.
	for i := range recs {
		a.Analyze(&recs[i], &res)
		agg.Add(&res)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		a.Analyze(&recs[i%len(recs)], &res)
		agg.Add(&res)
	}
}

func BenchmarkAppendResultJSON(b *testing.B) {
	r := fullResult()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendResultJSON(buf[:0], &r)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkReadResults is `queuegap analyze` on a file: read, decode and
// aggregate with a timeline. ns/op is per file of benchReadN results.
func BenchmarkReadResults(b *testing.B) {
	const benchReadN = 20000
	path := filepath.Join(b.TempDir(), "results.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	rw, err := NewResultsWriter(w, testInfo, ResultsOptions{})
	if err != nil {
		b.Fatal(err)
	}
	recs := benchRecords(4096)
	a := newStreamAnalyzer(TimingConfig{}, testRunStart, "bench")
	var res Result
	for i := range benchReadN {
		rec := recs[i%len(recs)]
		rec.Seq = uint64(i + 1)
		a.Analyze(&rec, &res)
		if err := rw.Write(&res); err != nil {
			b.Fatal(err)
		}
	}
	if err := rw.Close(testInfo); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	st, _ := f.Stat()
	f.Close()
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		g, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		agg := NewAggregator(NewTimeline(time.Second, 600))
		rs, err := ReadResults(g, func(_ *RunInfo, r *Result) error {
			agg.Add(r)
			return nil
		})
		g.Close()
		if err != nil || rs.Results != benchReadN || agg.Count() != benchReadN {
			b.Fatalf("read %+v, err %v", rs, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchReadN, "ns/result")
}

// BenchmarkAggregatorAdd: one result into the summary, over 4 endpoints.
func BenchmarkAggregatorAdd(b *testing.B) {
	rs := mixRun(&testing.T{}, 4096)
	agg := NewAggregator(nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		agg.Add(&rs[i&4095])
		i++
	}
}
