package loadgen

import (
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// A Stage is one segment of a run's schedule. It yields the intended send
// offsets of its requests relative to its own start, in non-decreasing order.
type Stage interface {
	// Length is how long the stage lasts; the next stage starts after it.
	Length() time.Duration
	// Planned is how many requests the stage will schedule (-1 if only
	// known statistically, as for Poisson arrivals).
	Planned() int64
	// String describes the stage in the syntax ParseStage accepts.
	String() string
	// iterator returns a fresh generator of (offset, count) events.
	iterator() eventIter
}

// eventIter yields the next event: an offset from the stage start, how
// many requests are due at that instant and which request of the mix they
// send (pickMix: each picked by weight; a Replay names its own). ok is
// false when the stage is done.
type eventIter interface {
	next() (at time.Duration, n int, mix int, ok bool)
}

// pickMix is an event's mix index when the dispatcher picks each request
// by weight.
const pickMix = -1

// iterStopper is an eventIter holding resources (a pulled iterator's
// goroutine) that must be released when the run ends before the stage does.
type iterStopper interface{ stop() }

// Constant sends Rate requests per second, evenly spaced, for Duration.
type Constant struct {
	Rate     float64
	Duration time.Duration
}

func (c Constant) Length() time.Duration { return c.Duration }
func (c Constant) Planned() int64 {
	return int64(math.Ceil(c.Rate * c.Duration.Seconds()))
}
func (c Constant) String() string {
	return fmt.Sprintf("rate:%s:%s", fmtRate(c.Rate), c.Duration)
}
func (c Constant) iterator() eventIter {
	return &constantIter{interval: float64(time.Second) / c.Rate, end: c.Duration}
}

type constantIter struct {
	i        int64
	interval float64
	end      time.Duration
}

func (it *constantIter) next() (time.Duration, int, int, bool) {
	// Computed from the index, not accumulated, so rounding never drifts.
	at := time.Duration(float64(it.i) * it.interval)
	if at >= it.end {
		return 0, 0, 0, false
	}
	it.i++
	return at, 1, pickMix, true
}

// Poisson sends requests with exponentially distributed gaps averaging Rate
// per second, for Duration: the arrival pattern of many independent clients.
type Poisson struct {
	Rate     float64
	Duration time.Duration
	Seed     uint64 // 0 picks a random seed
}

func (p Poisson) Length() time.Duration { return p.Duration }
func (p Poisson) Planned() int64        { return -1 }
func (p Poisson) String() string {
	return fmt.Sprintf("poisson:%s:%s", fmtRate(p.Rate), p.Duration)
}
func (p Poisson) iterator() eventIter {
	seed := p.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &poissonIter{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), rate: p.Rate, end: p.Duration}
}

type poissonIter struct {
	rng  *rand.Rand
	rate float64
	t    float64 // seconds
	end  time.Duration
}

func (it *poissonIter) next() (time.Duration, int, int, bool) {
	it.t += it.rng.ExpFloat64() / it.rate
	at := time.Duration(it.t * float64(time.Second))
	if at >= it.end {
		return 0, 0, 0, false
	}
	return at, 1, pickMix, true
}

// Burst fires Size requests at the same instant, Count times, Every apart:
// the pattern of partner automations that wake up on a timer.
type Burst struct {
	Size  int
	Every time.Duration
	Count int
}

func (b Burst) Length() time.Duration { return time.Duration(b.Count) * b.Every }
func (b Burst) Planned() int64        { return int64(b.Size) * int64(b.Count) }
func (b Burst) String() string {
	return fmt.Sprintf("burst:%d:%s:%d", b.Size, b.Every, b.Count)
}
func (b Burst) iterator() eventIter { return &burstIter{b: b} }

type burstIter struct {
	b Burst
	i int
}

func (it *burstIter) next() (time.Duration, int, int, bool) {
	if it.i >= it.b.Count {
		return 0, 0, 0, false
	}
	at := time.Duration(it.i) * it.b.Every
	it.i++
	return at, it.b.Size, pickMix, true
}

// Ramp changes the rate linearly from From to To requests per second over
// Duration.
type Ramp struct {
	From, To float64
	Duration time.Duration
}

func (r Ramp) Length() time.Duration { return r.Duration }
func (r Ramp) Planned() int64 {
	return int64(math.Ceil((r.From + r.To) / 2 * r.Duration.Seconds()))
}
func (r Ramp) String() string {
	return fmt.Sprintf("ramp:%s:%s:%s", fmtRate(r.From), fmtRate(r.To), r.Duration)
}
func (r Ramp) iterator() eventIter { return &rampIter{r: r} }

type rampIter struct {
	r Ramp
	k int64
}

// next solves cumulative(t) = k for t, where cumulative is the integral of
// the linear rate: r1·t + (r2−r1)·t²/(2D).
func (it *rampIter) next() (time.Duration, int, int, bool) {
	r1, r2, d := it.r.From, it.r.To, it.r.Duration.Seconds()
	k := float64(it.k)
	var t float64
	a := (r2 - r1) / (2 * d)
	if math.Abs(a) < 1e-12 {
		if r1 <= 0 {
			return 0, 0, 0, false
		}
		t = k / r1
	} else {
		disc := r1*r1 + 4*a*k
		if disc < 0 {
			return 0, 0, 0, false
		}
		t = (-r1 + math.Sqrt(disc)) / (2 * a)
	}
	at := time.Duration(t * float64(time.Second))
	if t < 0 || at >= it.r.Duration {
		return 0, 0, 0, false
	}
	it.k++
	return at, 1, pickMix, true
}

// Steps holds each rate in Rates for StepDuration, one after another.
type Steps struct {
	Rates        []float64
	StepDuration time.Duration
}

func (s Steps) Length() time.Duration { return time.Duration(len(s.Rates)) * s.StepDuration }
func (s Steps) Planned() int64 {
	var n int64
	for _, r := range s.Rates {
		n += Constant{Rate: r, Duration: s.StepDuration}.Planned()
	}
	return n
}
func (s Steps) String() string {
	parts := make([]string, len(s.Rates))
	for i, r := range s.Rates {
		parts[i] = fmtRate(r)
	}
	return fmt.Sprintf("steps:%s:%s", strings.Join(parts, ","), s.StepDuration)
}
func (s Steps) iterator() eventIter {
	stages := make([]Stage, len(s.Rates))
	for i, r := range s.Rates {
		stages[i] = Constant{Rate: r, Duration: s.StepDuration}
	}
	return Schedule(stages).iterator()
}

// A Schedule runs its stages one after another.
type Schedule []Stage

// Length is the total length of the schedule.
func (s Schedule) Length() time.Duration {
	var d time.Duration
	for _, st := range s {
		d += st.Length()
	}
	return d
}

// Planned is the number of requests the schedule will send, or -1 when a
// stage's count is only known statistically.
func (s Schedule) Planned() int64 {
	var n int64
	for _, st := range s {
		p := st.Planned()
		if p < 0 {
			return -1
		}
		n += p
	}
	return n
}

// Rate is the schedule's mean rate in requests per second: Planned over
// Length, or, when a stage's count is only statistical (Poisson), the
// expected count over Length. 0 for an empty schedule.
func (s Schedule) Rate() float64 {
	secs := s.Length().Seconds()
	if secs <= 0 {
		return 0
	}
	if p := s.Planned(); p >= 0 {
		return float64(p) / secs
	}
	var n float64
	for _, st := range s {
		n += expected(st)
	}
	return n / secs
}

// expected is a stage's expected number of requests.
func expected(st Stage) float64 {
	switch v := st.(type) {
	case Poisson:
		return v.Rate * v.Duration.Seconds()
	case truncated:
		if p := v.Planned(); p >= 0 {
			return float64(p)
		}
		// As if the stage's requests were spread evenly over it.
		if l := v.Stage.Length(); l > 0 {
			return expected(v.Stage) * float64(v.end) / float64(l)
		}
		return 0
	}
	return float64(st.Planned())
}

func (s Schedule) String() string {
	parts := make([]string, len(s))
	for i, st := range s {
		parts[i] = st.String()
	}
	return strings.Join(parts, " ")
}

func (s Schedule) iterator() eventIter { return &scheduleIter{stages: s} }

type scheduleIter struct {
	stages []Stage
	i      int
	base   time.Duration
	cur    eventIter
}

func (it *scheduleIter) next() (time.Duration, int, int, bool) {
	for it.i < len(it.stages) {
		if it.cur == nil {
			it.cur = it.stages[it.i].iterator()
		}
		if at, n, mix, ok := it.cur.next(); ok {
			return it.base + at, n, mix, true
		}
		it.stop()
		it.base += it.stages[it.i].Length()
		it.i++
		it.cur = nil
	}
	return 0, 0, 0, false
}

// stop releases the current stage's iterator.
func (it *scheduleIter) stop() {
	if s, ok := it.cur.(iterStopper); ok {
		s.stop()
	}
}

// Validate reports the first problem with the schedule's stages.
func (s Schedule) Validate() error {
	if len(s) == 0 {
		return fmt.Errorf("schedule is empty: give a rate, a burst, a ramp or a stage")
	}
	var length time.Duration
	var n float64
	for i, st := range s {
		if err := validateStage(st); err != nil {
			return fmt.Errorf("stage %d (%s): %w", i+1, st, err)
		}
		length += st.Length()
		n += expected(st)
	}
	if length > maxLength || n > maxPlanned {
		return fmt.Errorf("schedule %s is too large: at most %v and %g requests in all", s, maxLength, float64(maxPlanned))
	}
	return nil
}

// Bounds on one schedule: far beyond any real run, well inside int64
// nanoseconds and counts, so Length and Planned never overflow.
const (
	maxLength  = 100 * 365 * 24 * time.Hour
	maxPlanned = 1e9
)

// checkSize rejects a stage that overflows the bounds or plans no request.
// rate is its mean rate, d its length.
func checkSize(rate float64, d time.Duration) error {
	if d > maxLength {
		return fmt.Errorf("duration %v is over 100 years", d)
	}
	n := rate * d.Seconds()
	if n > maxPlanned {
		return fmt.Errorf("%s requests/s for %v is %.3g requests, over %g", fmtRate(rate), d, n, float64(maxPlanned))
	}
	if n < 1 {
		least := time.Duration(math.Ceil(float64(time.Second) / rate))
		if least > time.Millisecond {
			least = (least + time.Millisecond - 1).Truncate(time.Millisecond)
		}
		return fmt.Errorf("rate %s/s for %v sends no request: make --duration at least %v", fmtRate(rate), d, least)
	}
	return nil
}

// maxRate is far above what one generator can send; above it a typo is likelier.
const maxRate = 1e6

func validateRate(r float64, what string) error {
	if math.IsNaN(r) || math.IsInf(r, 0) || r < 0 || r > maxRate {
		return fmt.Errorf("%s %v must be between 0 and %g requests/s", what, r, float64(maxRate))
	}
	return nil
}

// validateSteady checks a rate held for a duration.
func validateSteady(rate float64, d time.Duration) error {
	if rate <= 0 {
		return fmt.Errorf("rate must be > 0")
	}
	if err := validateRate(rate, "rate"); err != nil {
		return err
	}
	if d <= 0 {
		return fmt.Errorf("duration must be > 0")
	}
	return nil
}

func validateStage(st Stage) error {
	switch s := st.(type) {
	case Constant:
		if err := validateSteady(s.Rate, s.Duration); err != nil {
			return err
		}
		return checkSize(s.Rate, s.Duration)
	case Poisson:
		if err := validateSteady(s.Rate, s.Duration); err != nil {
			return err
		}
		return checkSize(s.Rate, s.Duration)
	case Burst:
		if s.Size <= 0 || s.Size > 1_000_000 {
			return fmt.Errorf("burst size must be between 1 and 1000000")
		}
		if s.Count <= 0 {
			return fmt.Errorf("number of bursts must be > 0")
		}
		if s.Every <= 0 {
			return fmt.Errorf("interval between bursts must be > 0")
		}
		// Checked by division: the products themselves may overflow.
		if int64(s.Count) > int64(maxLength/s.Every) {
			return fmt.Errorf("%d bursts every %v last over 100 years", s.Count, s.Every)
		}
		if int64(s.Count) > int64(maxPlanned)/int64(s.Size) {
			return fmt.Errorf("%d bursts of %d are over %g requests", s.Count, s.Size, float64(maxPlanned))
		}
	case Ramp:
		if err := validateRate(s.From, "start rate"); err != nil {
			return err
		}
		if err := validateRate(s.To, "end rate"); err != nil {
			return err
		}
		if s.From == 0 && s.To == 0 {
			return fmt.Errorf("a ramp from 0 to 0 sends nothing")
		}
		if s.Duration <= 0 {
			return fmt.Errorf("duration must be > 0")
		}
		return checkSize((s.From+s.To)/2, s.Duration)
	case Steps:
		if len(s.Rates) == 0 {
			return fmt.Errorf("steps need at least one rate")
		}
		for _, r := range s.Rates {
			if r <= 0 {
				return fmt.Errorf("every step rate must be > 0")
			}
			if err := validateRate(r, "step rate"); err != nil {
				return err
			}
		}
		if s.StepDuration <= 0 {
			return fmt.Errorf("step duration must be > 0")
		}
		if int64(len(s.Rates)) > int64(maxLength/s.StepDuration) {
			return fmt.Errorf("%d steps of %v last over 100 years", len(s.Rates), s.StepDuration)
		}
		var n float64
		for _, r := range s.Rates {
			if err := checkSize(r, s.StepDuration); err != nil {
				return err
			}
			n += r * s.StepDuration.Seconds()
		}
		if n > maxPlanned {
			return fmt.Errorf("steps plan %.3g requests, over %g", n, float64(maxPlanned))
		}
	case Spike:
		if err := validateRate(s.Base, "base rate"); err != nil {
			return err
		}
		if s.Peak <= 0 {
			return fmt.Errorf("peak rate must be > 0")
		}
		if err := validateRate(s.Peak, "peak rate"); err != nil {
			return err
		}
		if s.Duration <= 0 {
			return fmt.Errorf("duration must be > 0")
		}
		if s.SpikeFor <= 0 || s.SpikeFor > s.Duration {
			return fmt.Errorf("spike length %v must be > 0 and at most the duration %v", s.SpikeFor, s.Duration)
		}
		if s.Duration > maxLength {
			return fmt.Errorf("duration %v is over 100 years", s.Duration)
		}
		mean := (s.Base*(s.Duration-s.SpikeFor).Seconds() + s.Peak*s.SpikeFor.Seconds()) / s.Duration.Seconds()
		return checkSize(mean, s.Duration)
	case Replay:
		switch {
		case s.Trace == nil:
			return fmt.Errorf("replay without a trace")
		case math.IsNaN(s.Speed) || math.IsInf(s.Speed, 0) || s.Speed < 0:
			return fmt.Errorf("replay speed %v must be > 0 (0: as recorded)", s.Speed)
		case s.Loops < 0:
			return fmt.Errorf("replay loops %d must not be negative", s.Loops)
		case s.Trace.Len() <= 0:
			return fmt.Errorf("replay of an empty trace sends nothing")
		case s.Trace.Span() < 0:
			return fmt.Errorf("replay trace spans %v, less than nothing", s.Trace.Span())
		case float64(s.Trace.Len())*float64(s.count()) > maxPlanned:
			return fmt.Errorf("replay of %d arrivals %d times is over %g requests", s.Trace.Len(), s.count(), float64(maxPlanned))
		case float64(s.spacing())*float64(s.count())/s.speed() > float64(maxLength):
			return fmt.Errorf("replay lasts over 100 years")
		}
	case truncated:
		if s.end <= 0 {
			return fmt.Errorf("truncated to nothing")
		}
		return validateStage(s.Stage)
	default:
		return fmt.Errorf("unknown stage type %T", st)
	}
	return nil
}

// StageSyntax documents what ParseStage accepts; shown in --help.
const StageSyntax = `rate:R:D           constant R req/s for D           (rate:200:30s)
poisson:R:D        Poisson arrivals averaging R/s   (poisson:200:30s)
burst:K:T:N        K at once, every T, N times      (burst:40:5s:3)
ramp:R1:R2:D       linear from R1 to R2 req/s over D (ramp:10:500:1m)
steps:R1,R2,..:D   each rate held for D             (steps:100,200,400:20s)
spike:B:P:D:S      B req/s for D, P req/s for S in its middle (spike:50:500:1m:10s)`

// ParseStage parses one stage in the syntax of StageSyntax.
func ParseStage(s string) (Stage, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	kind := strings.ToLower(parts[0])
	args := parts[1:]
	want := map[string]int{"rate": 2, "poisson": 2, "burst": 3, "ramp": 3, "steps": 2, "spike": 4}
	n, known := want[kind]
	if kind == "replay" {
		return nil, fmt.Errorf("stage %q: a replay comes from a profile (queuegap profiles from-log), not from a stage", s)
	}
	if !known {
		return nil, fmt.Errorf("stage %q: unknown kind %q (want rate, poisson, burst, ramp, steps or spike)", s, kind)
	}
	if len(args) != n {
		return nil, fmt.Errorf("stage %q: %s takes %d fields separated by ':'", s, kind, n)
	}
	var st Stage
	var err error
	switch kind {
	case "rate", "poisson":
		var r float64
		var d time.Duration
		if r, err = parseRate(args[0]); err == nil {
			d, err = parseDuration(args[1])
		}
		if kind == "rate" {
			st = Constant{Rate: r, Duration: d}
		} else {
			st = Poisson{Rate: r, Duration: d}
		}
	case "burst":
		var k, count int
		var every time.Duration
		if k, err = strconv.Atoi(args[0]); err != nil {
			err = fmt.Errorf("burst size %q is not a whole number", args[0])
		} else if every, err = parseDuration(args[1]); err == nil {
			if count, err = strconv.Atoi(args[2]); err != nil {
				err = fmt.Errorf("burst count %q is not a whole number", args[2])
			}
		}
		st = Burst{Size: k, Every: every, Count: count}
	case "ramp":
		var r1, r2 float64
		var d time.Duration
		if r1, err = parseRate(args[0]); err == nil {
			if r2, err = parseRate(args[1]); err == nil {
				d, err = parseDuration(args[2])
			}
		}
		st = Ramp{From: r1, To: r2, Duration: d}
	case "steps":
		var rates []float64
		for _, f := range strings.Split(args[0], ",") {
			var r float64
			if r, err = parseRate(f); err != nil {
				break
			}
			rates = append(rates, r)
		}
		var d time.Duration
		if err == nil {
			d, err = parseDuration(args[1])
		}
		st = Steps{Rates: rates, StepDuration: d}
	case "spike":
		var base, peak float64
		var d, spikeFor time.Duration
		if base, err = parseRate(args[0]); err == nil {
			if peak, err = parseRate(args[1]); err == nil {
				if d, err = parseDuration(args[2]); err == nil {
					spikeFor, err = parseDuration(args[3])
				}
			}
		}
		st = Spike{Base: base, Peak: peak, Duration: d, SpikeFor: spikeFor}
	}
	if err != nil {
		return nil, fmt.Errorf("stage %q: %w", s, err)
	}
	if err := validateStage(st); err != nil {
		return nil, fmt.Errorf("stage %q: %w", s, err)
	}
	return st, nil
}

func parseRate(s string) (float64, error) {
	r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(r) || math.IsInf(r, 0) {
		return 0, fmt.Errorf("rate %q is not a number", s)
	}
	return r, nil
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("duration %q: want a number with a unit, like 500ms, 10s or 2m", s)
	}
	return d, nil
}

func fmtRate(r float64) string { return strconv.FormatFloat(r, 'g', -1, 64) }

// TraceSource is a list of arrivals to replay, in non-decreasing offset
// order, each naming its request by index in the lane's mix (NewRunner
// checks both in one pass). Offsets count from the stage's start and Span
// from the first arrival to the last, so a trace should begin at 0: a
// leading gap is kept but not counted in the Replay's Length.
type TraceSource interface {
	Len() int
	Span() time.Duration
	// Arrivals yields every arrival's offset and mix index, afresh on each call.
	Arrivals() iter.Seq2[time.Duration, int]
}

// Replay sends the arrivals of a trace (recorded traffic), Speed times as
// fast (0 or 1: as recorded), Loops times over (0 or 1: once). Each
// arrival's request is the one its mix index names (Record.Mix), never a
// weighted pick. Loops follow each other a span plus the trace's mean gap
// apart (before scaling), so a loop's first arrival does not land on the
// one before's last; the stage lasts every loop, that gap included.
type Replay struct {
	Trace TraceSource
	Speed float64
	Loops int
}

// Spike holds Base requests/s for Duration, except for SpikeFor in the
// middle of it at Peak requests/s: a flash crowd. Base may be 0 (silence
// around the peak); spike:BASE:PEAK:DURATION:SPIKEFOR in ParseStage.
type Spike struct {
	Base, Peak float64
	Duration   time.Duration
	SpikeFor   time.Duration
}

func (s Spike) Length() time.Duration { return s.Duration }
func (s Spike) Planned() int64 {
	var n int64
	for _, seg := range s.segments() {
		if c, ok := seg.(Constant); ok {
			n += c.Planned()
		}
	}
	return n
}
func (s Spike) String() string {
	return fmt.Sprintf("spike:%s:%s:%s:%s", fmtRate(s.Base), fmtRate(s.Peak), s.Duration, s.SpikeFor)
}
func (s Spike) iterator() eventIter { return Schedule(s.segments()).iterator() }

// segments is the spike as three steady stages: base, peak, base, the
// peak centred; a base of 0 is a pause.
func (s Spike) segments() []Stage {
	before := (s.Duration - s.SpikeFor) / 2
	after := s.Duration - s.SpikeFor - before
	steady := func(rate float64, d time.Duration) Stage {
		if rate <= 0 {
			return pause(d)
		}
		return Constant{Rate: rate, Duration: d}
	}
	return []Stage{steady(s.Base, before), steady(s.Peak, s.SpikeFor), steady(s.Base, after)}
}

// pause is an internal stage of d without requests (a spike's zero base).
type pause time.Duration

func (p pause) Length() time.Duration { return time.Duration(p) }
func (p pause) Planned() int64        { return 0 }
func (p pause) String() string        { return "pause:" + time.Duration(p).String() }
func (p pause) iterator() eventIter   { return pauseIter{} }

type pauseIter struct{}

func (pauseIter) next() (time.Duration, int, int, bool) { return 0, 0, 0, false }

// count is how many times the trace is played.
func (r Replay) count() int64 { return int64(max(r.Loops, 1)) }

func (r Replay) speed() float64 {
	if r.Speed == 0 {
		return 1
	}
	return r.Speed
}

// spacing is the offset between the starts of two plays of the trace, as
// recorded: its span plus its mean gap, so the first arrival of a loop
// does not land on the last of the one before. A trace whose arrivals are
// all at one instant is played once a second.
func (r Replay) spacing() time.Duration {
	span, n := r.Trace.Span(), r.Trace.Len()
	sp := span
	if n > 1 {
		sp += span / time.Duration(n-1)
	}
	if sp <= 0 {
		sp = time.Second
	}
	return sp
}

// Length is every play of the trace back to back, Speed times as fast;
// each play lasts the trace's span plus its mean gap (see Replay).
func (r Replay) Length() time.Duration {
	if r.Trace == nil {
		return 0
	}
	return time.Duration(float64(r.spacing()) * float64(r.count()) / r.speed())
}
func (r Replay) Planned() int64 {
	if r.Trace == nil {
		return 0
	}
	return int64(r.Trace.Len()) * r.count()
}

// String describes the replay; replays come from profiles, not from
// ParseStage.
func (r Replay) String() string {
	if r.Trace == nil {
		return "replay:none"
	}
	return fmt.Sprintf("replay:%d:%s:x%s:%d", r.Trace.Len(), r.Trace.Span(), fmtRate(r.speed()), r.count())
}

func (r Replay) iterator() eventIter {
	return &replayIter{r: r, speed: r.speed(), spacing: r.spacing(), loops: r.count()}
}

// replayIter pulls the trace's arrivals (iter.Pull2: a coroutine per play,
// released by stop when the run ends early).
type replayIter struct {
	r       Replay
	speed   float64
	spacing time.Duration
	loops   int64
	loop    int64
	pull    func() (time.Duration, int, bool)
	stopFn  func()
}

func (it *replayIter) next() (time.Duration, int, int, bool) {
	for it.loop < it.loops {
		if it.pull == nil {
			it.pull, it.stopFn = iter.Pull2(it.r.Trace.Arrivals())
		}
		if off, mix, ok := it.pull(); ok {
			at := time.Duration(float64(off+time.Duration(it.loop)*it.spacing) / it.speed)
			return at, 1, mix, true
		}
		it.stop()
		it.loop++
	}
	return 0, 0, 0, false
}

func (it *replayIter) stop() {
	if it.stopFn != nil {
		it.stopFn()
		it.pull, it.stopFn = nil, nil
	}
}

// checkReplays checks every Replay stage of s against a mix of mixLen
// requests, in one pass over each trace: every arrival names a request of
// the mix, at a non-negative offset, in order.
func checkReplays(s Schedule, mixLen int) error {
	for i, st := range s {
		if t, ok := st.(truncated); ok {
			st = t.Stage
		}
		r, ok := st.(Replay)
		if !ok {
			continue
		}
		var prev time.Duration
		k := 0
		for off, mix := range r.Trace.Arrivals() {
			k++
			switch {
			case mix < 0 || mix >= mixLen:
				return fmt.Errorf("stage %d (%s): replay arrival %d names request %d, the mix has %d", i+1, r, k, mix, mixLen)
			case off < prev:
				return fmt.Errorf("stage %d (%s): replay arrival %d at %v is before the one before it (%v)", i+1, r, k, off, prev)
			}
			prev = off
		}
	}
	return nil
}

// Until is the schedule truncated at d: the requests it would send before
// run offset d, and no later stage. d ≤ 0, or d at least the schedule's
// length, leaves it whole. A steady stage cut short stays the same stage,
// shorter; any other is wrapped, and its Planned may then be -1 (unknown).
func (s Schedule) Until(d time.Duration) Schedule {
	if d <= 0 || d >= s.Length() {
		return s
	}
	var out Schedule
	var base time.Duration
	for _, st := range s {
		if base >= d {
			break
		}
		l := st.Length()
		if base+l <= d {
			out = append(out, st)
			base += l
			continue
		}
		rest := d - base
		switch v := st.(type) {
		case Constant:
			out = append(out, Constant{Rate: v.Rate, Duration: rest})
		case Poisson:
			// The same seed gives the same first arrivals.
			out = append(out, Poisson{Rate: v.Rate, Duration: rest, Seed: v.Seed})
		case Ramp:
			// The same line, stopped where it has got to at rest.
			out = append(out, Ramp{From: v.From, To: v.From + (v.To-v.From)*rest.Seconds()/v.Duration.Seconds(), Duration: rest})
		case Steps:
			full := int(rest / v.StepDuration)
			if full > 0 {
				out = append(out, Steps{Rates: v.Rates[:full], StepDuration: v.StepDuration})
			}
			if left := rest - time.Duration(full)*v.StepDuration; left > 0 {
				out = append(out, Constant{Rate: v.Rates[full], Duration: left})
			}
		default:
			out = append(out, truncated{Stage: st, end: rest})
		}
		break
	}
	return out
}

// truncated is a stage cut at end (Schedule.Until).
type truncated struct {
	Stage
	end time.Duration
}

func (t truncated) Length() time.Duration { return t.end }
func (t truncated) Planned() int64 {
	if b, ok := t.Stage.(Burst); ok {
		// Bursts at 0, Every, 2·Every, … before end.
		n := int64((t.end-1)/b.Every) + 1
		return int64(b.Size) * min(n, int64(b.Count))
	}
	return -1
}
func (t truncated) String() string { return t.Stage.String() + " until " + t.end.String() }
func (t truncated) iterator() eventIter {
	return &truncatedIter{it: t.Stage.iterator(), end: t.end}
}

type truncatedIter struct {
	it  eventIter
	end time.Duration
}

func (t *truncatedIter) next() (time.Duration, int, int, bool) {
	if t.it == nil {
		return 0, 0, 0, false
	}
	at, n, mix, ok := t.it.next()
	if !ok || at >= t.end {
		t.stop()
		t.it = nil
		return 0, 0, 0, false
	}
	return at, n, mix, true
}

func (t *truncatedIter) stop() {
	if s, ok := t.it.(iterStopper); ok && t.it != nil {
		s.stop()
	}
}
