// Package prom is queuegap's live Prometheus output, and the only package
// that imports client_golang.
//
// An Output is a session.Output (and ProbeOutput) that turns every result
// into counters and histograms — by outcome and by request name and client,
// per phase and per attribution component, as classic buckets and native
// histograms — and a collector reads the run's loadgen.Progress at scrape
// time (scheduled, sent, in flight, slot waits). Handler serves them from a
// registry of the Output's own, never the global default one, so two runs
// in one process (tests) never share a series.
//
// Add is on the hot path: every label child is resolved once per new key
// and cached, so recording a result allocates nothing (BenchmarkAdd).
//
// RemoteWriter pushes the same registry to a Prometheus remote-write
// receiver through client_golang's exp/api/remote. Prometheus 2.x receivers
// speak remote write 1.0 only and the exp module ships generated types for
// 2.0 only, so the 1.0 WriteRequest is encoded here by hand (it is four
// small messages); its histograms travel as their classic buckets.
package prom
