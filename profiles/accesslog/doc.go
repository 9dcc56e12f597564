// Package accesslog reads production access logs into a stream of request
// arrivals, and keeps them compactly for replay.
//
// It owns three things: parsing (nginx "combined" with optional extra
// fields, nginx JSON lines such as the testbed's log_format qg, and AWS ALB
// access logs, plain or gzipped), filtering the parsed entries, and Trace, a
// delta-encoded record of arrival offsets with the method, path, logged
// status and logged latency of each request.
//
// The timestamp most logs print is when the response ended, not when the
// request arrived. Entry.Arrival is always the arrival: nginx end time minus
// $request_time, or ALB's request_creation_time. nginx's $time_local has
// one-second resolution; entries read from it say HasSubSecond=false and a
// Trace can spread each second's arrivals evenly (Trace.Spread).
//
// Reading never stops on a bad line: malformed lines are counted and the
// first ones kept with their line numbers. Memory is bounded whatever the
// input size (a line is at most MaxLineBytes; caches are capped).
package accesslog
