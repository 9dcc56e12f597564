// Package analyze gives queuegap's measurements their meaning.
//
// It owns everything downstream of a loadgen.Record: reading server timing
// headers (package analyze/servertiming), estimating the client↔server clock
// offset, attributing each request's client-observed time to components
// (generator lag, connect, SYN retries, backlog wait, processing, network,
// transfer), classifying outcomes, aggregating into HDR histograms, the
// results file format (JSON Lines), and every report: the end-of-run
// summary, the per-second timeline, run-vs-run comparison and pass/fail
// thresholds. The same code serves `queuegap run` and `queuegap analyze`.
package analyze
