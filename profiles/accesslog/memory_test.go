package accesslog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// writeLog writes about size bytes of combined+msec+request_time lines,
// ≈ 100 bytes each, one request per ms, to w.
func writeLog(w io.Writer, size int64) (lines int64, err error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	base := time.Date(2025, 10, 10, 12, 0, 0, 0, time.UTC).UnixMilli()
	var line []byte
	var written int64
	for ; written < size; lines++ {
		endMs := base + lines + lines%7 // a little out of order, as logs are
		line = line[:0]
		line = append(line, "10.0."...)
		line = strconv.AppendInt(line, lines%200, 10)
		line = append(line, ".7 - - ["...)
		line = time.UnixMilli(endMs).UTC().AppendFormat(line, clfLayout)
		line = append(line, `] "GET /api/items/`...)
		line = strconv.AppendInt(line, lines%50, 10)
		line = append(line, `?p=1 HTTP/1.1" 200 512 "-" "bench/1" `...)
		line = strconv.AppendInt(line, endMs/1000, 10)
		line = append(line, '.')
		line = append(line, fmt.Sprintf("%03d", endMs%1000)...)
		line = append(line, " 0.0"...)
		line = strconv.AppendInt(line, 10+lines%80, 10)
		line = append(line, '\n')
		n, err := bw.Write(line)
		written += int64(n)
		if err != nil {
			return lines, err
		}
	}
	return lines, bw.Flush()
}

// TestBoundedMemory streams a generated ~200 MB log, never on disk,
// through a Reader into a Trace, sampling the heap as it goes.
func TestBoundedMemory(t *testing.T) {
	size := int64(200 << 20)
	if testing.Short() {
		size = 20 << 20
	}
	pr, pw := io.Pipe()
	wrote := make(chan int64, 1)
	go func() {
		n, err := writeLog(pw, size)
		pw.CloseWithError(err)
		wrote <- n
	}()
	f, err := ParseFormat("combined+msec+request_time")
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseline := ms.HeapAlloc
	var peak uint64
	r := NewReader(pr, f)
	var tr Trace
	start := time.Now()
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tr.Add(e)
		if tr.Len()%(1<<13) == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms)
	peak = max(peak, ms.HeapAlloc)
	lines := <-wrote
	if r.MalformedCount() != 0 || int64(tr.Len()) != lines {
		t.Fatalf("%d entries of %d lines, malformed %v", tr.Len(), lines, r.Malformed())
	}
	perEntry := float64(tr.Bytes()) / float64(tr.Len())
	t.Logf("%d MB, %d lines in %v (%.0f lines/s incl. generation); trace %d bytes, %.2f bytes/entry, %d pairs; peak heap %.1f MB (baseline %.1f MB)",
		size>>20, lines, elapsed.Round(time.Millisecond), float64(lines)/elapsed.Seconds(), tr.Bytes(), perEntry, tr.Pairs(),
		float64(peak)/(1<<20), float64(baseline)/(1<<20))
	// The trace is the only thing that grows: a few bytes per entry.
	if perEntry > 7 {
		t.Errorf("%.2f bytes per entry, want ≤ 7", perEntry)
	}
	if limit := uint64(64 << 20); peak > limit {
		t.Errorf("peak heap %.1f MB, want < %d MB", float64(peak)/(1<<20), limit>>20)
	}
}

func BenchmarkReader(b *testing.B) {
	var combined bytes.Buffer
	if _, err := writeLog(&combined, 8<<20); err != nil {
		b.Fatal(err)
	}
	jsonLog, _ := subSecondLog(50000, 1)
	var alb bytes.Buffer
	for range 30000 {
		alb.WriteString(albGood + "\n")
	}
	for _, tc := range []struct {
		name, spec string
		data       []byte
	}{
		{"combined+msec+request_time", "combined+msec+request_time", combined.Bytes()},
		{"json", "json", []byte(jsonLog)},
		{"alb", "alb", alb.Bytes()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f, _ := ParseFormat(tc.spec)
			var lines int64
			b.SetBytes(int64(len(tc.data)))
			b.ReportAllocs()
			for b.Loop() {
				r := NewReader(bytes.NewReader(tc.data), f)
				for {
					if _, err := r.Next(); err != nil {
						break
					}
				}
				if r.MalformedCount() != 0 {
					b.Fatalf("malformed %v", r.Malformed())
				}
				lines += r.Lines()
			}
			b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
