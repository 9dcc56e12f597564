package session

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/probe"
)

// DefaultProbeInterval is how often a probe samples unless told otherwise:
// fine enough to see a 1 s wave of a burst fill and drain the queue, and
// a few hundred /proc reads a minute.
const DefaultProbeInterval = 250 * time.Millisecond

// maxErrorSpells bounds the failure lines one probe writes: a stats server
// that flaps all run long is said often enough after this.
const maxErrorSpells = 10

// validateProbes checks the plan's probes (syntax only: nothing is opened).
func (p *Plan) validateProbes() error {
	if len(p.Probes) > probe.MaxProbes {
		return usagef("%d probes: at most %d", len(p.Probes), probe.MaxProbes)
	}
	if p.ProbeInterval != 0 && p.ProbeInterval < probe.MinEvery {
		return usagef("--probe-interval %v: want at least %v", p.ProbeInterval, probe.MinEvery)
	}
	seen := map[string]bool{}
	for _, s := range p.Probes {
		if err := s.Validate(); err != nil {
			return &UsageError{fmt.Errorf("--probe: %w", err)}
		}
		if seen[s.Name()] {
			return usagef("--probe %s given twice", s.Name())
		}
		seen[s.Name()] = true
	}
	return nil
}

// probeRunner samples every probe of a run in a goroutine of its own, on
// the run's clock: sample k is taken at start + k×interval (skipping any a
// slow reading overran), stamped with its offset from start, the origin
// of every result's offsets.
type probeRunner struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

// startProbes starts the samplers. deliver is called from the probes'
// goroutines, one sample at a time per probe; the caller serialises it
// with the results.
func startProbes(specs []probe.Spec, every time.Duration, start time.Time, deliver func(*analyze.ProbeSample)) (*probeRunner, error) {
	if every <= 0 {
		every = DefaultProbeInterval
	}
	r := &probeRunner{stop: make(chan struct{})}
	var samplers []probe.Sampler
	for _, sp := range specs {
		s, err := probe.New(sp)
		if err != nil {
			for _, s := range samplers {
				s.Close()
			}
			return nil, &UsageError{fmt.Errorf("--probe: %w", err)}
		}
		samplers = append(samplers, s)
	}
	for _, s := range samplers {
		d := every
		if s.Spec().Every > 0 {
			d = s.Spec().Every
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer s.Close()
			r.loop(s, d, start, deliver)
		}()
	}
	return r, nil
}

func (r *probeRunner) loop(s probe.Sampler, every time.Duration, start time.Time, deliver func(*analyze.ProbeSample)) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-r.stop
		cancel() // a reading in progress (a stats server that hangs) ends too
	}()
	name, kind := s.Spec().Name(), string(s.Spec().Kind)
	failing := false
	spells := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := int64(0); ; {
		select {
		case <-r.stop:
			return
		case <-timer.C:
		}
		at := time.Since(start)
		rd, err := s.Sample(ctx)
		if ctx.Err() != nil {
			return // stopped mid-reading: not a failure of the probe
		}
		ps := &analyze.ProbeSample{Probe: name, Kind: kind, At: at}
		switch {
		case err != nil && !failing && spells < maxErrorSpells:
			// Once per spell of failures: the probe keeps trying.
			failing = true
			spells++
			ps.Error = err.Error()
			deliver(ps)
		case err != nil:
		default:
			failing = false
			ps.Note = rd.Note
			ps.Values = make([]analyze.ProbeValue, len(rd.Values))
			for i, v := range rd.Values {
				ps.Values[i] = analyze.ProbeValue{Name: v.Name, Value: v.Value}
			}
			deliver(ps)
		}
		// The next tick on the run's grid, after now.
		next := int64(time.Since(start)/every) + 1
		k = max(k+1, next)
		timer.Reset(time.Until(start.Add(time.Duration(k) * every)))
	}
}

// Stop ends every sampler and waits for them (bounded by a reading's own
// timeout, about a second at most).
func (r *probeRunner) Stop() {
	if r == nil {
		return
	}
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.wg.Wait()
}

// Probe makes the results file a ProbeOutput: samples become probe lines.
func (o *resultsOutput) Probe(s *analyze.ProbeSample) error { return o.w.WriteProbe(s) }

// deliverProbe hands a sample to every started output that takes probes;
// the caller holds the outputs' lock.
func deliverProbe(all []Output, names []string, started []bool, ps *analyze.ProbeSample, fail func(string, error)) {
	for i, o := range all {
		po, ok := o.(ProbeOutput)
		if !ok || !started[i] {
			continue
		}
		if err := po.Probe(ps); err != nil {
			started[i] = false
			fail(names[i], err)
		}
	}
}

// probeSummer feeds a results file's probe lines to a summary's aggregator.
func probeSummer(a *analyze.ProbeAggregator) func(*analyze.RunInfo, *analyze.ProbeSample) error {
	return func(_ *analyze.RunInfo, s *analyze.ProbeSample) error {
		a.Add(s)
		return nil
	}
}
