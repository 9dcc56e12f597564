package analyze

import (
	"time"

	"github.com/queuegap/queuegap/loadgen"
)

// Outcome classes. The client-side ones are loadgen's error classes; the
// rest come from the HTTP status and server timing. Names are stable: they
// appear in results files, reports and --fail-if expressions.
const (
	OutcomeOK             = "ok"
	OutcomeHTTP4xx        = "http_4xx"
	OutcomeHTTP5xx        = "http_5xx"
	OutcomeProxyRefused   = "proxy_refused"   // fast 502/503 without app timing: the app's backlog was full
	OutcomeGatewayTimeout = "gateway_timeout" // 504: the proxy gave up on connect or read
	OutcomeWorkerKilled   = "worker_killed"   // 502 after a long wait without app timing: e.g. uWSGI harakiri
	OutcomeOther          = "other"           // 1xx or an unknown status
	// OutcomeNotDispatched is a request an access log says the proxy never
	// sent on (an ALB's -1 processing times): its latency is unknown.
	OutcomeNotDispatched = "not_dispatched"
)

// proxyRefusedMax is the longest server wait for a 502/503 to count as the
// proxy refusing at once (nginx answers a full unix-socket backlog within
// milliseconds); a longer wait means the request reached a worker.
const proxyRefusedMax = 500e6 // 500 ms in ns

// Outcomes lists every outcome class in report order.
func Outcomes() []string {
	out := []string{OutcomeOK, OutcomeHTTP4xx, OutcomeHTTP5xx, OutcomeProxyRefused, OutcomeGatewayTimeout, OutcomeWorkerKilled, OutcomeOther, OutcomeNotDispatched}
	for _, c := range loadgen.ErrorClasses() {
		out = append(out, c.String())
	}
	return out
}

// classify decides a request's outcome from the client error, the status,
// whether the app reported any timing, and how long the server took.
func classify(errClass loadgen.ErrorClass, status int, hasAppTiming bool, serverWaitNs int64) string {
	if errClass != loadgen.ErrNone {
		return errClass.String()
	}
	switch {
	case status >= 200 && status < 400:
		return OutcomeOK
	case status >= 400 && status < 500:
		return OutcomeHTTP4xx
	case status == 504:
		return OutcomeGatewayTimeout
	case (status == 502 || status == 503) && !hasAppTiming:
		if serverWaitNs < proxyRefusedMax {
			return OutcomeProxyRefused
		}
		if status == 502 {
			return OutcomeWorkerKilled
		}
		return OutcomeHTTP5xx
	case status >= 500 && status < 600:
		return OutcomeHTTP5xx
	}
	return OutcomeOther
}

// ClassifyLogged is the outcome of a request read from an access log, from
// its status, whether the log had the backend's time, and the logged total.
func ClassifyLogged(status int, hasBackendTime bool, total time.Duration) string {
	return classify(loadgen.ErrNone, status, hasBackendTime, int64(total))
}

// IsError says whether an outcome counts as an error in summaries.
func IsError(outcome string) bool { return outcome != OutcomeOK && outcome != OutcomeHTTP4xx }
