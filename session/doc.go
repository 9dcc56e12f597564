// Package session is the one place where a queuegap run is assembled and
// where results are read back.
//
// A Plan says everything about a run — schedule, request, client, timing
// headers, checks, output files, an embedded target — and New validates all
// of it (values, combinations, paths, engine applicability) before anything
// is created, truncated or started. Run then starts the target if there is
// one, sends the schedule and streams every result to its Outputs: the
// results file, the HDR log and whatever the caller adds (progress, metrics,
// a test's collector) are siblings behind one small interface.
//
// Attribution depends on run-wide estimates (clock offset, processing
// baselines), so the end-of-run summary is computed in a second pass over
// the results as written: the same code Read uses for `queuegap analyze`,
// which is why `run --json` equals `analyze --json` of the run's own file.
//
// Data flows one way: plan → schedule → dispatch → engine → result →
// attribution → outputs. cmd/queuegap only parses flags into a Plan and
// prints what comes back.
package session
