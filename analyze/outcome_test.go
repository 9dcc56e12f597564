package analyze

import (
	"slices"
	"testing"
	"time"

	"github.com/queuegap/queuegap/loadgen"
)

func TestClassify(t *testing.T) {
	fast, slow := int64(3*time.Millisecond), int64(2*time.Second)
	cases := []struct {
		name   string
		err    loadgen.ErrorClass
		status int
		hasApp bool
		waitNs int64
		want   string
	}{
		{"200", loadgen.ErrNone, 200, true, fast, OutcomeOK},
		{"204 no timing", loadgen.ErrNone, 204, false, fast, OutcomeOK},
		{"301", loadgen.ErrNone, 301, false, fast, OutcomeOK},
		{"304", loadgen.ErrNone, 304, false, fast, OutcomeOK},
		{"400", loadgen.ErrNone, 400, false, fast, OutcomeHTTP4xx},
		{"404", loadgen.ErrNone, 404, true, fast, OutcomeHTTP4xx},
		{"429", loadgen.ErrNone, 429, false, fast, OutcomeHTTP4xx},
		{"500", loadgen.ErrNone, 500, true, fast, OutcomeHTTP5xx},
		{"500 no timing", loadgen.ErrNone, 500, false, fast, OutcomeHTTP5xx},
		{"fast 502 without app timing", loadgen.ErrNone, 502, false, fast, OutcomeProxyRefused},
		{"fast 503 without app timing", loadgen.ErrNone, 503, false, fast, OutcomeProxyRefused},
		{"502 just under the limit", loadgen.ErrNone, 502, false, proxyRefusedMax - 1, OutcomeProxyRefused},
		{"502 at the limit", loadgen.ErrNone, 502, false, proxyRefusedMax, OutcomeWorkerKilled},
		{"502 after 2s without timing", loadgen.ErrNone, 502, false, slow, OutcomeWorkerKilled},
		{"503 after 2s without timing", loadgen.ErrNone, 503, false, slow, OutcomeHTTP5xx},
		{"fast 502 with app timing", loadgen.ErrNone, 502, true, fast, OutcomeHTTP5xx},
		{"slow 502 with app timing", loadgen.ErrNone, 502, true, slow, OutcomeHTTP5xx},
		{"fast 503 with app timing", loadgen.ErrNone, 503, true, fast, OutcomeHTTP5xx},
		{"504 fast", loadgen.ErrNone, 504, false, fast, OutcomeGatewayTimeout},
		{"504 slow with timing", loadgen.ErrNone, 504, true, slow, OutcomeGatewayTimeout},
		{"599", loadgen.ErrNone, 599, false, fast, OutcomeHTTP5xx},
		{"100", loadgen.ErrNone, 100, false, fast, OutcomeOther},
		{"600", loadgen.ErrNone, 600, false, fast, OutcomeOther},
		{"no status, no error", loadgen.ErrNone, 0, false, 0, OutcomeOther},
		{"refused", loadgen.ErrRefused, 0, false, 0, "refused"},
		{"connect timeout", loadgen.ErrConnectTimeout, 0, false, 0, "connect_timeout"},
		{"timeout", loadgen.ErrTimeout, 0, false, slow, "timeout"},
		{"reset", loadgen.ErrReset, 0, false, fast, "reset"},
		{"protocol error after a 200 status", loadgen.ErrProtocol, 200, true, fast, "protocol_error"},
		{"closed with a 502-like wait", loadgen.ErrClosed, 0, false, fast, "closed"},
		{"canceled", loadgen.ErrCanceled, 0, false, slow, "canceled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := classify(c.err, c.status, c.hasApp, c.waitNs); got != c.want {
				t.Errorf("classify(%v, %d, app=%v, wait=%v) = %q, want %q", c.err, c.status, c.hasApp, time.Duration(c.waitNs), got, c.want)
			}
		})
	}
	// Every client error class passes through under its own name.
	for _, c := range loadgen.ErrorClasses() {
		if got := classify(c, 0, false, 0); got != c.String() {
			t.Errorf("classify(%v) = %q, want %q", c, got, c.String())
		}
	}
}

// TestOutcomeThroughAnalyze checks what Analyze passes to classify: the
// server wait from the client's timestamps and "app timing" from any
// processing or queue header.
func TestOutcomeThroughAnalyze(t *testing.T) {
	cases := []struct {
		name   string
		status int
		wait   time.Duration
		h      []loadgen.Header
		want   string
	}{
		{"fast 502, no headers", 502, ms(2), nil, OutcomeProxyRefused},
		{"fast 502 with nginx upstream dashes", 502, ms(2), hdrs(HeaderUpstreamConnect, "-", HeaderUpstreamHeader, "-"), OutcomeProxyRefused},
		{"slow 502, no headers", 502, 2 * time.Second, nil, OutcomeWorkerKilled},
		{"fast 502 with Server-Timing app", 502, ms(2), hdrs(HeaderServerTiming, "app;dur=1"), OutcomeHTTP5xx},
		{"fast 502 with X-Runtime", 502, ms(2), hdrs(HeaderRuntime, "0.001"), OutcomeHTTP5xx},
		{"fast 503 with queue only", 503, ms(2), hdrs(HeaderServerTiming, "queue;dur=1"), OutcomeHTTP5xx},
		{"fast 503, only a request start", 503, ms(2), hdrs(HeaderRequestStart, reqStartAt(ms(1), 0)), OutcomeProxyRefused},
		{"504", 504, 60 * time.Second, nil, OutcomeGatewayTimeout},
		{"200", 200, ms(100), hdrs(HeaderServerTiming, "app;dur=99"), OutcomeOK},
		{"404", 404, ms(1), nil, OutcomeHTTP4xx},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := newConnRec(ms(100), 0, ms(0.2), c.wait, ms(0.1), c.h)
			rec.Status = c.status
			var res Result
			newStreamAnalyzer(TimingConfig{}, testRunStart, "r").Analyze(&rec, &res)
			if res.Outcome != c.want {
				t.Errorf("outcome %q, want %q (server wait %v, server %+v)", res.Outcome, c.want, res.ServerWait(), res.Server)
			}
		})
	}
}

func TestOutcomesAndIsError(t *testing.T) {
	all := Outcomes()
	seen := map[string]bool{}
	for _, o := range all {
		if o == "" || seen[o] {
			t.Errorf("outcome %q empty or repeated in %v", o, all)
		}
		seen[o] = true
	}
	for _, o := range []string{OutcomeOK, OutcomeHTTP4xx, OutcomeHTTP5xx, OutcomeProxyRefused, OutcomeGatewayTimeout, OutcomeWorkerKilled, OutcomeOther, "refused", "connect_timeout", "timeout", "canceled"} {
		if !slices.Contains(all, o) {
			t.Errorf("Outcomes() lacks %q", o)
		}
	}
	for _, o := range all {
		want := o != OutcomeOK && o != OutcomeHTTP4xx
		if IsError(o) != want {
			t.Errorf("IsError(%q) = %v, want %v", o, IsError(o), want)
		}
	}
}
