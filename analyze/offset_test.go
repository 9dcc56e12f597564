package analyze

import (
	"github.com/queuegap/queuegap/loadgen"

	"math/rand/v2"
	"testing"
	"time"
)

// skewedResult is one request as the client saw it, with the server's
// receive time on a clock that runs skew ahead of the client's: sent at
// sent, reached the server oneWay later, queued, processed, and its first
// byte came back oneWay after that.
func skewedResult(sent, oneWay, queue, app, skew time.Duration, reportQueueApp bool) Result {
	recv := sent + oneWay
	r := Result{Record: loadgen.Record{Start: sent, FirstByte: recv + queue + app + oneWay}}
	r.Server.HasStart, r.Server.Start = true, testRunStart.Add(recv+skew)
	if reportQueueApp {
		r.Server.HasQueue, r.Server.Queue = true, queue
		r.Server.HasApp, r.Server.App = true, app
	}
	return r
}

func TestOffsetEstimator(t *testing.T) {
	for _, c := range []struct {
		name           string
		skew           time.Duration
		reportQueueApp bool
		maxUncertainty time.Duration
	}{
		{"server +250ms, queue and app reported", 250 * time.Millisecond, true, time.Millisecond},
		{"server -3s, queue and app reported", -3 * time.Second, true, time.Millisecond},
		{"server +250ms, receive time only", 250 * time.Millisecond, false, time.Hour},
		{"server -3s, receive time only", -3 * time.Second, false, time.Hour},
		{"same clock", 0, true, time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(c.skew)))
			var o OffsetEstimator
			minServed := time.Hour
			for i := range 500 {
				oneWay := time.Duration(20+rng.IntN(300)) * time.Microsecond
				queue := time.Duration(rng.IntN(2000)) * time.Millisecond
				app := time.Duration(5+rng.IntN(200)) * time.Millisecond
				minServed = min(minServed, queue+app)
				r := skewedResult(time.Duration(i)*10*time.Millisecond+time.Millisecond, oneWay, queue, app, c.skew, c.reportQueueApp)
				o.Observe(testRunStart, &r)
			}
			e := o.Estimate()
			if !e.Known || e.Samples != 500 || !e.Consistent {
				t.Fatalf("estimate %+v: want known, 500 samples, consistent", e)
			}
			if d := e.Offset - c.skew; d < -e.Uncertainty || d > e.Uncertainty {
				t.Errorf("offset %v, true %v: off by %v, more than the uncertainty %v", e.Offset, c.skew, d, e.Uncertainty)
			}
			// Being the minimum of server-receive − sent, the estimate can
			// only err by one one-way delay, never below the truth.
			if d := e.Offset - c.skew; d < 0 || d > 320*time.Microsecond {
				t.Errorf("offset %v, true %v: error %v not within [0, max one-way delay]", e.Offset, c.skew, d)
			}
			if e.Uncertainty > c.maxUncertainty {
				t.Errorf("uncertainty %v > %v", e.Uncertainty, c.maxUncertainty)
			}
			if !c.reportQueueApp && e.Uncertainty < minServed {
				t.Errorf("uncertainty %v without queue/app should be at least the shortest service %v", e.Uncertainty, minServed)
			}
		})
	}
}

func TestOffsetEstimatorEdgeCases(t *testing.T) {
	var o OffsetEstimator
	if e := o.Estimate(); e.Known || e.Samples != 0 || e.Offset != 0 || e.Consistent {
		t.Errorf("no samples: %+v, want the zero estimate", e)
	}

	// One honest request, then one whose server claims a queue far longer
	// than the client waited: the bounds cross.
	o = OffsetEstimator{}
	good := skewedResult(ms(10), ms(0.05), ms(100), ms(10), 0, true)
	o.Observe(testRunStart, &good)
	if e := o.Estimate(); !e.Known || !e.Consistent || e.Samples != 1 {
		t.Fatalf("one honest sample: %+v", e)
	}
	liar := skewedResult(ms(200), ms(0.05), ms(100), ms(10), 0, true)
	liar.Server.Queue = 5 * time.Second
	o.Observe(testRunStart, &liar)
	if e := o.Estimate(); e.Consistent {
		t.Errorf("bounds crossed by %v but Consistent: %+v", 5*time.Second-ms(100), e)
	}

	// Drift: the server clock moves 50 ms between two otherwise exact
	// requests; the bounds from the two cannot both hold.
	o = OffsetEstimator{}
	a := skewedResult(ms(10), ms(0.05), 0, ms(10), 0, true)
	b := skewedResult(ms(5000), ms(0.05), 0, ms(10), 50*time.Millisecond, true)
	o.Observe(testRunStart, &a)
	o.Observe(testRunStart, &b)
	if e := o.Estimate(); e.Consistent {
		t.Errorf("50 ms drift with exact server timing should be inconsistent: %+v", e)
	}

	// Sub-millisecond disagreement (header rounding) is tolerated.
	o = OffsetEstimator{}
	c := skewedResult(ms(10), ms(0.05), ms(3), ms(10), 0, true)
	c.Server.App += 500 * time.Microsecond
	o.Observe(testRunStart, &c)
	if e := o.Estimate(); !e.Consistent {
		t.Errorf("0.4 ms overlap should be within the slack: %+v", e)
	}
}

// TestAnalyzerUsesOffset checks the offset reaches the Analyzer.
func TestAnalyzerUsesOffset(t *testing.T) {
	a := newStreamAnalyzer(TimingConfig{}, testRunStart, "r")
	if a.estimates().Offset.Known {
		t.Fatal("offset known before any request")
	}
	var res Result
	for i := range 20 {
		rec := newConnRec(ms(float64(10+i*50)), 0, ms(0.2), ms(30.2), ms(0.1), nil)
		rec.Headers = hdrs(HeaderRequestStart, reqStartAt(rec.ConnectDone+ms(0.1), -3*time.Second), HeaderServerTiming, "queue;dur=10, app;dur=20")
		a.Analyze(&rec, &res)
	}
	e := a.estimates().Offset
	if !e.Known || e.Samples != 20 {
		t.Fatalf("offset %+v", e)
	}
	if d := e.Offset + 3*time.Second; d < 0 || d > ms(0.2) {
		t.Errorf("offset %v, want -3s within 0.2ms", e.Offset)
	}
}
