// Package loadgen turns a schedule of intended send times into HTTP requests
// and reports one Record per request.
//
// It owns the open-loop part of queuegap: arrival models (Stage, Schedule;
// Replay sends recorded arrivals), a precise dispatcher that never lets a
// slow target slow the schedule down (dispatch.go), and an HTTP/1.1 client
// that manages its own connections so every timing belongs to exactly one
// request. A run may hold several concurrent clients (Config.Lanes), each
// with its own schedule, weighted request mix (ClientConfig.Mix, picked by
// an alias table: mix.go) and behaviours (Retry: retry.go, every retry its
// own request and Record, linked to its chain), on one clock and one Sink. Latency is measured from each
// request's intended send time (coordinated-omission safe); the lag between
// intended and actual start is recorded on its own. One dispatcher drives
// two engines that only move bytes: an event loop with its own epoll set and
// raw syscalls (evloop_linux.go: every http:// run, keep-alive or a new
// connection per request, to an IP address or a host name it looks up off
// the loop; a burst's connects all leave in one pass) and a goroutine per
// connection or request (engine_goroutines.go, client.go: every mode, and
// https). Both take a host name's IPv4 addresses in turn (pickAddr).
// Both build requests and frame responses with the same wire code
// (wire.go, framing.go), so the same bytes give the same Record on either.
//
// loadgen knows nothing about reports or server timing headers: finished
// Records go to a Sink, and package analyze gives them meaning. Data flows one
// way: schedule → dispatch → client → Record → Sink.
package loadgen
