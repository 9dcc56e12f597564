package loadgen

import (
	"math"
	"strings"
	"testing"
	"time"
)

// events drains a schedule into (offset, count) pairs.
func events(s Schedule) (offs []time.Duration, total int) {
	it := s.iterator()
	for {
		at, n, _, ok := it.next()
		if !ok {
			return offs, total
		}
		for i := 0; i < n; i++ {
			offs = append(offs, at)
		}
		total += n
	}
}

func TestStages(t *testing.T) {
	tests := []struct {
		name      string
		sched     Schedule
		wantN     int
		wantFirst time.Duration
		wantLast  time.Duration // upper bound of the last offset
		wantLen   time.Duration
	}{
		{"constant", Schedule{Constant{Rate: 100, Duration: time.Second}}, 100, 0, 990 * time.Millisecond, time.Second},
		{"constant fractional", Schedule{Constant{Rate: 2.5, Duration: 2 * time.Second}}, 5, 0, 1600 * time.Millisecond, 2 * time.Second},
		{"burst", Schedule{Burst{Size: 40, Every: 500 * time.Millisecond, Count: 3}}, 120, 0, time.Second, 1500 * time.Millisecond},
		{"ramp up", Schedule{Ramp{From: 0, To: 100, Duration: 2 * time.Second}}, 100, 0, 2 * time.Second, 2 * time.Second},
		{"ramp flat", Schedule{Ramp{From: 50, To: 50, Duration: time.Second}}, 50, 0, time.Second, time.Second},
		{"steps", Schedule{Steps{Rates: []float64{10, 20}, StepDuration: time.Second}}, 30, 0, 2 * time.Second, 2 * time.Second},
		{"sequence", Schedule{Constant{Rate: 10, Duration: time.Second}, Burst{Size: 5, Every: time.Second, Count: 1}}, 15, 0, time.Second, 2 * time.Second},
		{"spike", Schedule{Spike{Base: 10, Peak: 100, Duration: 3 * time.Second, SpikeFor: time.Second}}, 120, 0, 3 * time.Second, 3 * time.Second},
		{"spike from nothing", Schedule{Spike{Peak: 100, Duration: 3 * time.Second, SpikeFor: time.Second}}, 100, time.Second, 2 * time.Second, 3 * time.Second},
		{"spike throughout", Schedule{Spike{Base: 5, Peak: 20, Duration: time.Second, SpikeFor: time.Second}}, 20, 0, time.Second, time.Second},
		{"replay", Schedule{Replay{Trace: sliceTrace{{0, 0}, {time.Second, 1}, {2 * time.Second, 0}}, Speed: 2, Loops: 2}}, 6, 0, 2500 * time.Millisecond, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offs, n := events(tt.sched)
			if n != tt.wantN {
				t.Fatalf("got %d requests, want %d", n, tt.wantN)
			}
			if offs[0] != tt.wantFirst {
				t.Errorf("first at %v, want %v", offs[0], tt.wantFirst)
			}
			if last := offs[len(offs)-1]; last > tt.wantLast {
				t.Errorf("last at %v, want ≤ %v", last, tt.wantLast)
			}
			for i := 1; i < len(offs); i++ {
				if offs[i] < offs[i-1] {
					t.Fatalf("offsets go backwards at %d: %v < %v", i, offs[i], offs[i-1])
				}
			}
			if got := tt.sched.Length(); got != tt.wantLen {
				t.Errorf("Length %v, want %v", got, tt.wantLen)
			}
			if p := tt.sched.Planned(); p >= 0 && math.Abs(float64(p-int64(n))) > 1 {
				t.Errorf("Planned %d, but %d scheduled", p, n)
			}
		})
	}
}

func TestRampAccelerates(t *testing.T) {
	offs, _ := events(Schedule{Ramp{From: 10, To: 1000, Duration: 2 * time.Second}})
	firstHalf := 0
	for _, o := range offs {
		if o < time.Second {
			firstHalf++
		}
	}
	// ∫ rate over the first half is a quarter-ish of the total: far fewer than half.
	if firstHalf*3 > len(offs) {
		t.Fatalf("ramp sends %d of %d in its first half; want it to accelerate", firstHalf, len(offs))
	}
}

func TestPoissonMeanRate(t *testing.T) {
	offs, n := events(Schedule{Poisson{Rate: 1000, Duration: 10 * time.Second, Seed: 7}})
	if n < 9500 || n > 10500 {
		t.Fatalf("Poisson at 1000/s for 10 s gave %d requests", n)
	}
	// Gaps are irregular: the largest is several times the mean.
	var maxGap time.Duration
	for i := 1; i < len(offs); i++ {
		maxGap = max(maxGap, offs[i]-offs[i-1])
	}
	if maxGap < 3*time.Millisecond {
		t.Fatalf("largest gap %v: Poisson arrivals should have gaps ≫ the 1 ms mean", maxGap)
	}
}

func TestParseStage(t *testing.T) {
	good := map[string]Stage{
		"rate:200:30s":          Constant{Rate: 200, Duration: 30 * time.Second},
		"poisson:50:1m":         Poisson{Rate: 50, Duration: time.Minute},
		"burst:40:5s:3":         Burst{Size: 40, Every: 5 * time.Second, Count: 3},
		"ramp:10:500:1m":        Ramp{From: 10, To: 500, Duration: time.Minute},
		" RATE:1.5:2s ":         Constant{Rate: 1.5, Duration: 2 * time.Second},
		"steps:100,200,400:20s": nil,
		"spike:50:500:1m:10s":   Spike{Base: 50, Peak: 500, Duration: time.Minute, SpikeFor: 10 * time.Second},
		"spike:0:100:10s:10s":   Spike{Peak: 100, Duration: 10 * time.Second, SpikeFor: 10 * time.Second},
	}
	for in, want := range good {
		got, err := ParseStage(in)
		if err != nil {
			t.Errorf("ParseStage(%q): %v", in, err)
			continue
		}
		if want != nil && got != want {
			t.Errorf("ParseStage(%q) = %#v, want %#v", in, got, want)
		}
		if again, err := ParseStage(got.String()); err != nil || again.String() != got.String() {
			t.Errorf("String() of %q does not parse back: %q, %v", in, got.String(), err)
		}
	}
	bad := map[string]string{
		"":                  "unknown kind",
		"fast:100:1s":       "unknown kind",
		"rate:100":          "takes 2 fields",
		"rate:abc:1s":       "not a number",
		"rate:100:10":       "duration",
		"rate:-5:1s":        "rate must be > 0",
		"rate:NaN:1s":       "not a number",
		"rate:1e9:1s":       "between 0 and",
		"burst:0:1s:1":      "burst size",
		"burst:5:0s:1":      "interval",
		"burst:5:1s:x":      "whole number",
		"ramp:0:0:1s":       "sends nothing",
		"steps::1s":         "not a number",
		"steps:1,-2:1s":     "> 0",
		"rate:10:-1s":       "duration must be > 0",
		"burst:5:1s:1:77":   "takes 3 fields",
		"spike:1:2:3s":      "takes 4 fields",
		"spike:x:100:1m:1s": "rate \"x\" is not a number",
		"spike:1:100:1m:x":  "duration \"x\"",
		"spike:1:0:1m:1s":   "peak rate must be > 0",
		"spike:-1:9:1m:1s":  "base rate -1 must be between",
		"spike:1:9:1m:2m":   "spike length 2m0s must be > 0 and at most the duration 1m0s",
		"spike:1:9:1m:0s":   "spike length",
		"spike:1:9:0s:0s":   "duration must be > 0",
		"spike:0:1:1s:1ms":  "sends no request",
		"replay:x":          "a replay comes from a profile",
	}
	for in, want := range bad {
		_, err := ParseStage(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseStage(%q) error = %v, want it to mention %q", in, err, want)
		}
	}
}

func TestScheduleValidate(t *testing.T) {
	if err := (Schedule{}).Validate(); err == nil {
		t.Fatal("empty schedule validated")
	}
	if err := (Schedule{Constant{Rate: 0, Duration: time.Second}}).Validate(); err == nil {
		t.Fatal("zero rate validated")
	}
}

func TestScheduleRate(t *testing.T) {
	tests := []struct {
		sched Schedule
		want  float64
	}{
		{Schedule{Constant{Rate: 200, Duration: 10 * time.Second}}, 200},
		{Schedule{Burst{Size: 40, Every: 5 * time.Second, Count: 3}}, 8},
		{Schedule{Constant{Rate: 100, Duration: time.Second}, Constant{Rate: 300, Duration: time.Second}}, 200},
		{Schedule{Poisson{Rate: 50, Duration: 2 * time.Second}}, 50},
		{Schedule{Poisson{Rate: 50, Duration: time.Second}, Constant{Rate: 150, Duration: time.Second}}, 100},
		{Schedule{}, 0},
	}
	for _, tt := range tests {
		if got := tt.sched.Rate(); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: Rate %v, want %v", tt.sched, got, tt.want)
		}
	}
}

// Stages whose counts or lengths overflow, or that plan no request, are
// refused with a one-line reason.
func TestScheduleSizeLimits(t *testing.T) {
	bad := []struct {
		st   Stage
		want string
	}{
		{Burst{Size: 4, Count: 4611686018427387904, Every: time.Second}, "100 years"},
		{Burst{Size: 4, Count: 4611686018, Every: time.Nanosecond}, "requests"},
		{Burst{Size: 1_000_000, Count: 1001, Every: time.Millisecond}, "requests"},
		{Constant{Rate: 10, Duration: time.Nanosecond}, "rate 10/s for 1ns sends no request: make --duration at least 100ms"},
		{Poisson{Rate: 0.5, Duration: time.Second}, "sends no request"},
		{Ramp{From: 0, To: 1, Duration: time.Second}, "sends no request"},
		{Steps{Rates: []float64{100, 0.1}, StepDuration: time.Second}, "sends no request"},
		{Constant{Rate: 1e6, Duration: 2000 * time.Second}, "over"},
		{Constant{Rate: 1, Duration: time.Duration(math.MaxInt64)}, "100 years"},
		{Steps{Rates: []float64{1, 1, 1}, StepDuration: time.Duration(math.MaxInt64 / 2)}, "100 years"},
	}
	for _, tt := range bad {
		err := validateStage(tt.st)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%#v: %v, want a one-line error mentioning %q", tt.st, err, tt.want)
		}
	}
	long := Schedule{Constant{Rate: 1, Duration: 60 * 365 * 24 * time.Hour}, Constant{Rate: 1, Duration: 60 * 365 * 24 * time.Hour}}
	if err := long.Validate(); err == nil {
		t.Error("a schedule of 120 years validated")
	}
	for _, ok := range []Stage{Burst{Size: 1000, Count: 1000, Every: time.Second}, Constant{Rate: 10, Duration: 100 * time.Millisecond}, Constant{Rate: 0.001, Duration: time.Hour}} {
		if err := validateStage(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
