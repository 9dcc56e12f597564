package accesslog

import (
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkConvert1GB streams a generated log (1 GB by default,
// QG_BENCH_LOG_MB to change it), never on disk, through what `profiles
// from-log` does: Reader, Filter, Trace.Add, Sort, MarshalBinary. It
// reports MB/s and the peak heap in use, sampled as it goes:
//
//	go test -run XXX -bench Convert1GB -benchtime 1x ./profiles/accesslog/
func BenchmarkConvert1GB(b *testing.B) {
	size := int64(1 << 30)
	if s := os.Getenv("QG_BENCH_LOG_MB"); s != "" {
		mb, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		size = int64(mb) << 20
	}
	f, _ := ParseFormat("combined+msec+request_time")
	filter, _ := NewFilter(FilterSpec{PathPrefixes: []string{"/api/"}})
	for b.Loop() {
		pr, pw := io.Pipe()
		go func() {
			_, err := writeLog(pw, size)
			pw.CloseWithError(err)
		}()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		baseline := ms.HeapInuse
		peak := baseline
		sample := func() {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		start := time.Now()
		r := NewReader(pr, f)
		fr := NewFiltered(r, filter)
		var tr Trace
		for {
			e, err := fr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			tr.Add(e)
			if tr.Len()%(1<<16) == 0 {
				sample()
			}
		}
		read := time.Since(start)
		sample()
		tr.Sort()
		sample()
		bin, _ := tr.MarshalBinary()
		sample()
		elapsed := time.Since(start)
		b.ReportMetric(float64(size)/(1<<20)/elapsed.Seconds(), "MB/s")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(len(bin))/float64(tr.Len()), "bytes/request")
		b.Logf("%d MB, %d lines, %d kept in %v (read %v); trace %d bytes; peak HeapInuse %.1f MB (baseline %.1f MB)",
			size>>20, r.Lines(), tr.Len(), elapsed.Round(time.Millisecond), read.Round(time.Millisecond), len(bin), float64(peak)/(1<<20), float64(baseline)/(1<<20))
	}
}
