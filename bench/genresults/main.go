// Command genresults writes a synthetic queuegap results file of N requests
// (realistic field mix: server timing, attribution, a few errors) for
// benchmarking `queuegap analyze` on large files.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
)

func main() {
	n := flag.Int("n", 1_000_000, "number of requests")
	rate := flag.Float64("rate", 5000, "requests per second the synthetic run had")
	out := flag.String("o", "results.jsonl", "output file")
	flag.Parse()
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genresults:", err)
		os.Exit(2)
	}
	start := time.Now()
	w := bufio.NewWriterSize(f, 1<<20)
	info := analyze.RunInfo{RunID: "synthetic", URL: "http://127.0.0.1:8080/", Method: "GET", Schedule: "rate", ConnMode: "keepalive", Start: start, Planned: int64(*n), MaxInflight: 10000}
	rw, err := analyze.NewResultsWriter(w, info, analyze.ResultsOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "genresults:", err)
		os.Exit(1)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var r analyze.Result
	for i := 1; i <= *n; i++ {
		intended := time.Duration(float64(i) / *rate * float64(time.Second))
		backlog := time.Duration(rng.ExpFloat64() * float64(20*time.Millisecond))
		app := time.Duration(5+rng.IntN(20)) * time.Millisecond
		r = analyze.Result{Record: loadgen.Record{Seq: uint64(i), Intended: intended,
			Start: intended + 40*time.Microsecond, Written: intended + 60*time.Microsecond,
			Status: 200, BytesIn: 180, BytesOut: 90}, RequestID: fmt.Sprintf("synthetic-%d", i), Outcome: analyze.OutcomeOK}
		r.FirstByte = r.Written + backlog + app + 100*time.Microsecond
		r.Done = r.FirstByte + 30*time.Microsecond
		r.Server = analyze.ServerTiming{HasQueue: true, Queue: backlog, HasApp: true, App: app, HasStart: true, Start: start.Add(r.Written)}
		if i%500 == 0 {
			r.Status, r.Outcome = 502, analyze.OutcomeProxyRefused
		}
		if err := rw.Write(&r); err != nil {
			fmt.Fprintln(os.Stderr, "genresults:", err)
			os.Exit(1)
		}
	}
	info.Started = int64(*n)
	info.SendWindow = time.Duration(float64(*n) / *rate * float64(time.Second))
	if err := rw.Close(info); err != nil {
		fmt.Fprintln(os.Stderr, "genresults:", err)
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "genresults:", err)
		os.Exit(1)
	}
	f.Close()
}
