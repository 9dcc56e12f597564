package profiles

// Stand-ins for API that other engineers are writing at the same time
// (issue 9). Each says what replaces it at merge; delete this file then.

import (
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/profiles/accesslog"
)

// traceSource adapts an accesslog.Trace to loadgen.TraceSource with its
// own (method, path) table in first-appearance order.
// At merge: use *accesslog.Trace itself, with Trace.Requests() as the table.
type traceSource struct {
	t     *accesslog.Trace
	table []accesslog.Request
	index map[accesslog.Request]int
}

func newTraceSource(t *accesslog.Trace) *traceSource {
	s := &traceSource{t: t, index: make(map[accesslog.Request]int)}
	t.Each(func(_ time.Duration, r accesslog.Request, _ accesslog.Logged) {
		if _, ok := s.index[r]; !ok {
			s.index[r] = len(s.table)
			s.table = append(s.table, r)
		}
	})
	return s
}

func (s *traceSource) requests() []accesslog.Request { return s.table }
func (s *traceSource) Len() int                      { return s.t.Len() }
func (s *traceSource) Span() time.Duration           { return s.t.Span() }
func (s *traceSource) Arrivals() iter.Seq2[time.Duration, int] {
	return func(yield func(time.Duration, int) bool) {
		stopped := false
		s.t.Each(func(off time.Duration, r accesslog.Request, _ accesslog.Logged) {
			if !stopped && !yield(off, s.index[r]) {
				stopped = true
			}
		})
	}
}

// endpointName follows the shared rule for accesslog.EndpointName:
// method, space, path without its query, id-like segments as ":id".
// At merge: accesslog.EndpointName.
func endpointName(method, path string) string {
	p, _, _ := strings.Cut(path, "?")
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if idLike(s) {
			segs[i] = ":id"
		}
	}
	return method + " " + strings.Join(segs, "/")
}

func idLike(s string) bool {
	if s == "" {
		return false
	}
	digits, hex := true, true
	for _, r := range s {
		isDigit := r >= '0' && r <= '9'
		digits = digits && isDigit
		hex = hex && (isDigit || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' || r == '-')
	}
	return digits || hex && len(s) >= 16
}

// spikeStages expresses a Spike as base, peak, base constants: the same
// arrivals. At merge: return []loadgen.Stage{s}.
func spikeStages(s loadgen.Spike) []loadgen.Stage {
	before := (s.Duration - s.SpikeFor) / 2
	after := s.Duration - s.SpikeFor - before
	var out []loadgen.Stage
	if s.Base > 0 && before > 0 {
		out = append(out, loadgen.Constant{Rate: s.Base, Duration: before})
	}
	out = append(out, loadgen.Constant{Rate: s.Peak, Duration: s.SpikeFor})
	if s.Base > 0 && after > 0 {
		out = append(out, loadgen.Constant{Rate: s.Base, Duration: after})
	}
	return out
}

// maxShimStages bounds the stand-in replay below.
const maxShimStages = 200_000

// replayStages expresses a Replay as one burst per distinct offset: the
// same send times, but the mix index of each arrival is lost (the mix
// then picks by weight, which is the trace's counts). At merge:
// return loadgen.Schedule{r}, nil.
func replayStages(r loadgen.Replay) (loadgen.Schedule, error) {
	speed := r.Speed
	if speed == 0 {
		speed = 1
	}
	loops := max(r.Loops, 1)
	var offs []time.Duration
	var sizes []int
	for off := range r.Trace.Arrivals() {
		off = time.Duration(float64(off) / speed)
		if n := len(offs); n > 0 && offs[n-1] == off {
			sizes[n-1]++
			continue
		}
		offs = append(offs, off)
		sizes = append(sizes, 1)
	}
	if len(offs)*loops > maxShimStages {
		return nil, fmt.Errorf("a replay of %d distinct instants × %d loops needs loadgen's Replay stage (not on this branch yet)", len(offs), loops)
	}
	var s loadgen.Schedule
	for range loops {
		for i := range offs {
			every := time.Microsecond
			if i+1 < len(offs) {
				every = max(offs[i+1]-offs[i], time.Nanosecond)
			}
			s = append(s, loadgen.Burst{Size: sizes[i], Every: every, Count: 1})
		}
	}
	return s, nil
}

// until truncates a schedule at d: stages past it dropped, the one
// crossing it cut short. At merge: loadgen.Schedule.Until.
func until(s loadgen.Schedule, d time.Duration) (loadgen.Schedule, error) {
	var out loadgen.Schedule
	// A stage cut so short it sends nothing is dropped, not an error.
	keep := func(st loadgen.Stage) {
		if (loadgen.Schedule{st}).Validate() == nil {
			out = append(out, st)
		}
	}
	var at time.Duration
	for _, st := range s {
		if at >= d {
			break
		}
		left := d - at
		at += st.Length()
		if st.Length() <= left {
			out = append(out, st)
			continue
		}
		switch v := st.(type) {
		case loadgen.Constant:
			v.Duration = left
			keep(v)
		case loadgen.Poisson:
			v.Duration = left
			keep(v)
		case loadgen.Ramp:
			v.To = v.From + (v.To-v.From)*left.Seconds()/v.Duration.Seconds()
			v.Duration = left
			keep(v)
		case loadgen.Burst:
			// A burst fires at the start of each interval: those due before d.
			v.Count = int((left + v.Every - 1) / v.Every)
			keep(v)
		case loadgen.Steps:
			full := int(left / v.StepDuration)
			if full > 0 {
				keep(loadgen.Steps{Rates: v.Rates[:full], StepDuration: v.StepDuration})
			}
			if rest := left - time.Duration(full)*v.StepDuration; rest > 0 {
				keep(loadgen.Constant{Rate: v.Rates[full], Duration: rest})
			}
		default:
			return nil, fmt.Errorf("cannot cut a %T stage short", st)
		}
	}
	return out, nil
}
