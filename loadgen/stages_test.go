package loadgen

import (
	"strings"
	"testing"
	"time"
)

// A spike's peak is centred: base before and after, in equal parts.
func TestSpikeIsCentred(t *testing.T) {
	offs, n := events(Schedule{Spike{Base: 10, Peak: 1000, Duration: 10 * time.Second, SpikeFor: 2 * time.Second}})
	if n != 80+2000 {
		t.Fatalf("%d requests, want 80 at base and 2000 at peak", n)
	}
	var before, during, after int
	for _, o := range offs {
		switch {
		case o < 4*time.Second:
			before++
		case o < 6*time.Second:
			during++
		default:
			after++
		}
	}
	if before != 40 || during != 2000 || after != 40 {
		t.Fatalf("before %d, during %d, after %d", before, during, after)
	}
	if p := (Spike{Base: 10, Peak: 1000, Duration: 10 * time.Second, SpikeFor: 2 * time.Second}).Planned(); p != int64(n) {
		t.Fatalf("Planned %d, scheduled %d", p, n)
	}
}

// A replay plays its trace Speed times as fast, Loops times, each loop a
// span plus a mean gap after the one before; the arrivals keep their mix
// index. Length covers every loop; Planned counts them.
func TestReplayStage(t *testing.T) {
	tr := sliceTrace{{0, 2}, {100 * time.Millisecond, 0}, {400 * time.Millisecond, 1}}
	r := Replay{Trace: tr, Speed: 4, Loops: 3}
	it := Schedule{r}.iterator()
	var got []time.Duration
	var mixes []int
	for {
		at, n, mix, ok := it.next()
		if !ok {
			break
		}
		if n != 1 {
			t.Fatalf("%d requests at one arrival", n)
		}
		got = append(got, at)
		mixes = append(mixes, mix)
	}
	// Spacing: 400 ms span + 200 ms mean gap = 600 ms, at speed 4: 150 ms.
	want := []time.Duration{0, 25, 100, 150, 175, 250, 300, 325, 400}
	if len(got) != len(want) {
		t.Fatalf("offsets %v", got)
	}
	for i := range want {
		if got[i] != want[i]*time.Millisecond || mixes[i] != tr[i%3].mix {
			t.Fatalf("arrival %d at %v mix %d, want %v mix %d", i, got[i], mixes[i], want[i]*time.Millisecond, tr[i%3].mix)
		}
	}
	if r.Length() != 450*time.Millisecond || r.Planned() != 9 {
		t.Fatalf("Length %v, Planned %d", r.Length(), r.Planned())
	}
	if r.String() != "replay:3:400ms:x4:3" {
		t.Fatalf("String %q", r.String())
	}
	// Loops 0 and Speed 0 play once, as recorded.
	once := Replay{Trace: tr}
	if once.Planned() != 3 || once.Length() != 600*time.Millisecond {
		t.Fatalf("once: Planned %d, Length %v", once.Planned(), once.Length())
	}
	// One arrival: played once a second.
	if l := (Replay{Trace: sliceTrace{{0, 0}}, Loops: 2}).Length(); l != 2*time.Second {
		t.Fatalf("single-arrival loops last %v", l)
	}
}

func TestReplayValidation(t *testing.T) {
	tr := sliceTrace{{0, 0}, {time.Second, 0}}
	for _, tc := range []struct {
		r    Replay
		want string
	}{
		{Replay{}, "replay without a trace"},
		{Replay{Trace: tr, Speed: -1}, "replay speed -1 must be > 0"},
		{Replay{Trace: tr, Loops: -2}, "replay loops -2 must not be negative"},
		{Replay{Trace: sliceTrace{}}, "replay of an empty trace sends nothing"},
		{Replay{Trace: tr, Speed: 1e-18}, "over 100 years"},
		{Replay{Trace: tr, Loops: 1e9}, "over 1e+09 requests"},
		{Replay{Trace: tr, Speed: 0.5, Loops: 3}, ""},
	} {
		err := validateStage(tc.r)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.r, err, tc.want)
		}
	}
}

// Until keeps what a schedule sends before d: steady, ramp and step stages
// cut short, others wrapped, later stages dropped.
func TestScheduleUntil(t *testing.T) {
	sec := time.Second
	for _, tc := range []struct {
		name    string
		s       Schedule
		d       time.Duration
		wantN   int
		planned int64
		str     string
	}{
		{"whole", Schedule{Constant{Rate: 10, Duration: sec}}, 5 * sec, 10, 10, "rate:10:1s"},
		{"no limit", Schedule{Constant{Rate: 10, Duration: sec}}, 0, 10, 10, "rate:10:1s"},
		{"constant cut", Schedule{Constant{Rate: 10, Duration: 10 * sec}}, 2 * sec, 20, 20, "rate:10:2s"},
		{"second stage cut", Schedule{Constant{Rate: 10, Duration: sec}, Constant{Rate: 20, Duration: 10 * sec}, Burst{Size: 5, Every: sec, Count: 1}}, 1500 * time.Millisecond, 20, 20, "rate:10:1s rate:20:500ms"},
		{"burst cut", Schedule{Burst{Size: 7, Every: sec, Count: 10}}, 2500 * time.Millisecond, 21, 21, "burst:7:1s:10 until 2.5s"},
		{"burst cut on a burst", Schedule{Burst{Size: 7, Every: sec, Count: 10}}, 2 * sec, 14, 14, "burst:7:1s:10 until 2s"},
		{"spike cut", Schedule{Spike{Base: 10, Peak: 100, Duration: 10 * sec, SpikeFor: 2 * sec}}, 5 * sec, 140, -1, "spike:10:100:10s:2s until 5s"},
		{"ramp cut", Schedule{Ramp{From: 0, To: 100, Duration: 10 * sec}}, 5 * sec, 125, 125, "ramp:0:50:5s"},
		{"steps cut", Schedule{Steps{Rates: []float64{1, 2, 4}, StepDuration: 10 * sec}}, 15 * sec, 20, 20, "steps:1:10s rate:2:5s"},
		{"replay cut", Schedule{Replay{Trace: sliceTrace{{0, 0}, {sec, 0}, {2 * sec, 0}}, Loops: 5}}, 3500 * time.Millisecond, 4, -1, "replay:3:2s:x1:5 until 3.5s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.s.Until(tc.d)
			if err := u.Validate(); err != nil {
				t.Fatal(err)
			}
			offs, n := events(u)
			if n != tc.wantN {
				t.Fatalf("%d requests, want %d", n, tc.wantN)
			}
			if tc.d > 0 && len(offs) > 0 && offs[len(offs)-1] >= tc.d {
				t.Fatalf("a request at %v, past %v", offs[len(offs)-1], tc.d)
			}
			if p := u.Planned(); p != tc.planned {
				t.Fatalf("Planned %d, want %d", p, tc.planned)
			}
			if u.String() != tc.str {
				t.Fatalf("String %q, want %q", u.String(), tc.str)
			}
			if tc.d > 0 && u.Length() > tc.d {
				t.Fatalf("Length %v past %v", u.Length(), tc.d)
			}
			if r := u.Rate(); r <= 0 {
				t.Fatalf("Rate %v", r)
			}
		})
	}
}

// A replay cut short releases its pulled iterator (no goroutine left).
func TestReplayIteratorStops(t *testing.T) {
	it := Schedule{Replay{Trace: sliceTrace{{0, 0}, {time.Second, 0}, {2 * time.Second, 0}}}}.iterator()
	it.next()
	it.(iterStopper).stop()
	if ri := it.(*scheduleIter).cur.(*replayIter); ri.stopFn != nil {
		t.Fatal("the pulled iterator was not stopped")
	}
}
