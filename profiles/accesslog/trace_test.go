package accesslog

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// traceOf reads log in spec into a Trace.
func traceOf(t testing.TB, log, spec string) (*Trace, []Entry) {
	t.Helper()
	entries, r := readAll(t, log, spec)
	if r.MalformedCount() != 0 {
		t.Fatalf("malformed: %v", r.Malformed())
	}
	var tr Trace
	for _, e := range entries {
		tr.Add(e)
	}
	return &tr, entries
}

type traced struct {
	offset time.Duration
	req    Request
	logged Logged
}

func collect(tr *Trace) []traced {
	var out []traced
	tr.Each(func(off time.Duration, req Request, logged Logged) { out = append(out, traced{off, req, logged}) })
	return out
}

// subSecondLog writes n JSON lines in completion order; it returns the
// true arrivals (ms resolution) in arrival order.
func subSecondLog(n int, seed uint64) (string, []time.Time) {
	rng := rand.New(rand.NewPCG(seed, 1))
	type req struct {
		arrival time.Time
		latency time.Duration
		path    string
	}
	reqs := make([]req, n)
	at := time.Date(2025, 10, 10, 12, 0, 0, 0, time.UTC)
	for i := range reqs {
		at = at.Add(time.Duration(rng.ExpFloat64()*20) * time.Millisecond) // ≈ 50/s, ms resolution
		reqs[i] = req{at, time.Duration(rng.IntN(900)) * time.Millisecond, fmt.Sprintf("/p/%d", rng.IntN(5))}
	}
	arrivals := make([]time.Time, n)
	for i, r := range reqs {
		arrivals[i] = r.arrival
	}
	slices.SortStableFunc(reqs, func(a, b req) int { return a.arrival.Add(a.latency).Compare(b.arrival.Add(b.latency)) })
	var b strings.Builder
	for _, r := range reqs {
		end := r.arrival.Add(r.latency)
		fmt.Fprintf(&b, `{"msec":%d.%03d,"request":"GET %s HTTP/1.1","status":200,"request_time":%.3f}`+"\n",
			end.Unix(), end.Nanosecond()/1e6, r.path, r.latency.Seconds())
	}
	return b.String(), arrivals
}

func TestTraceInterArrivalsSubSecond(t *testing.T) {
	log, arrivals := subSecondLog(5000, 7)
	tr, _ := traceOf(t, log, "json")
	if tr.SecondResolution() {
		t.Fatal("a $msec log reported second resolution")
	}
	if tr.Sorted() {
		t.Fatal("a log in completion order should not come out sorted")
	}
	tr.Sort()
	got := collect(tr)
	if len(got) != len(arrivals) || !tr.Start().Equal(arrivals[0]) || got[0].offset != 0 {
		t.Fatalf("%d entries from %s, want %d from %s", len(got), tr.Start(), len(arrivals), arrivals[0])
	}
	worst := time.Duration(0)
	for i := 1; i < len(got); i++ {
		want := arrivals[i].Sub(arrivals[i-1])
		gap := got[i].offset - got[i-1].offset
		worst = max(worst, (gap - want).Abs())
	}
	if worst > time.Millisecond {
		t.Fatalf("inter-arrival times off by up to %v, want ≤ 1 ms", worst)
	}
	if span := arrivals[len(arrivals)-1].Sub(arrivals[0]); tr.Span() != span {
		t.Errorf("span %v, want %v", tr.Span(), span)
	}
}

// secondLog writes a combined log with counts[s] requests logged in second
// s; latency, when logged, is subtracted by the reader.
func secondLog(counts []int, withLatency bool) string {
	var b strings.Builder
	base := time.Date(2025, 10, 10, 12, 0, 0, 0, time.UTC)
	for s, k := range counts {
		ts := base.Add(time.Duration(s) * time.Second).Format(clfLayout)
		for j := range k {
			fmt.Fprintf(&b, `10.0.0.1 - - [%s] "GET /s/%d HTTP/1.1" 200 1 "-" "-"`, ts, j%3)
			if withLatency {
				fmt.Fprintf(&b, " %d.%03d", j%3, (j*37)%1000)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func TestTraceSpreadKeepsPerSecondCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	counts := make([]int, 120)
	for i := range counts {
		counts[i] = rng.IntN(60)
	}
	counts[0], counts[5] = 17, 0
	for _, withLatency := range []bool{false, true} {
		spec := "combined"
		if withLatency {
			spec += "+request_time"
		}
		t.Run(spec, func(t *testing.T) {
			tr, entries := traceOf(t, secondLog(counts, withLatency), spec)
			if !tr.SecondResolution() {
				t.Fatal("a $time_local log did not report second resolution")
			}
			if err := tr.Spread(); err != nil {
				t.Fatal(err)
			}
			again := collect(tr)
			if err := tr.Spread(); err != nil || !slices.Equal(collect(tr), again) {
				t.Fatal("a second Spread changed the trace")
			}
			got := make([]int, len(counts))
			base := time.Date(2025, 10, 10, 12, 0, 0, 0, time.UTC)
			for i, e := range again {
				end := tr.Start().Add(e.offset + e.logged.Latency) // the logged second, spread
				s := int(end.Sub(base) / time.Second)
				if s < 0 || s >= len(counts) {
					t.Fatalf("entry %d ends at %s, outside the log", i, end)
				}
				got[s]++
				// Evenly spread: the k ends of second s are at (j+½)/k.
				k := counts[s]
				within := end.Sub(base.Add(time.Duration(s) * time.Second))
				j := got[s] - 1
				if want := time.Duration((2*j + 1) * int(time.Second) / (2 * k)); (within - want).Abs() > time.Microsecond {
					t.Fatalf("entry %d: %v into its second, want %v (j=%d of %d)", i, within, want, j, k)
				}
				if e.logged.Latency != durOrZero(entries[i]) {
					t.Fatalf("entry %d latency %v, want %v", i, e.logged.Latency, entries[i].Latency)
				}
			}
			if !slices.Equal(got, counts) {
				t.Fatalf("per-second counts changed:\n got %v\nwant %v", got, counts)
			}
		})
	}
}

func durOrZero(e Entry) time.Duration {
	if e.HasLatency {
		return e.Latency
	}
	return 0
}

func TestTraceMixAndLogged(t *testing.T) {
	log, _ := subSecondLog(3000, 11)
	log += `{"msec":1760097999.000,"request":"POST /p/1 HTTP/1.1","status":503}` + "\n"
	tr, entries := traceOf(t, log, "json")
	want := map[Request]int{}
	for _, e := range entries {
		want[Request{e.Method, e.Path}]++
	}
	got := map[Request]int{}
	all := collect(tr)
	for i, e := range all {
		got[e.req]++
		le := entries[i]
		if e.logged.Status != le.Status || e.logged.HasLatency != le.HasLatency || e.logged.Latency != durOrZero(le) {
			t.Fatalf("entry %d logged %+v, want %d %v %v", i, e.logged, le.Status, le.Latency, le.HasLatency)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || tr.Pairs() != len(want) || tr.Len() != len(entries) {
		t.Fatalf("mix %v, want %v (%d pairs)", got, want, tr.Pairs())
	}
	t.Logf("%d entries in %d bytes: %.2f bytes per entry", tr.Len(), tr.Bytes(), float64(tr.Bytes())/float64(tr.Len()))
}

func TestTraceScale(t *testing.T) {
	log, _ := subSecondLog(2000, 5)
	tr, _ := traceOf(t, log, "json")
	tr.Sort()
	span := tr.Span()
	before := collect(tr)
	if err := tr.Scale(2); err != nil {
		t.Fatal(err)
	}
	if d := (tr.Span() - span/2).Abs(); d > time.Microsecond {
		t.Fatalf("Scale(2) span %v, want %v", tr.Span(), span/2)
	}
	for i, e := range collect(tr) {
		if (e.offset-before[i].offset/2).Abs() > time.Microsecond || e.logged != before[i].logged || e.req != before[i].req {
			t.Fatalf("entry %d: %+v after Scale(2), was %+v", i, e, before[i])
		}
	}
	if err := tr.Scale(0.25); err != nil || (tr.Span()-2*span).Abs() > 4*time.Microsecond {
		t.Fatalf("Scale(0.25) after Scale(2): span %v, want %v (%v)", tr.Span(), 2*span, err)
	}
	for _, bad := range []float64{0, -1, math.NaN(), math.Inf(1), math.Inf(-1)} {
		if err := tr.Scale(bad); err == nil {
			t.Errorf("Scale(%v) accepted", bad)
		}
	}
	lowRes, _ := traceOf(t, secondLog([]int{3, 4}, false), "combined")
	if err := lowRes.Scale(2); err != nil {
		t.Fatal(err)
	}
	if err := lowRes.Spread(); err == nil {
		t.Error("Spread after Scale accepted")
	}
}

func TestTraceSortMovesImplicitStart(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var tr Trace
	for _, ms := range []int{100, 50, 300, 0, 200} {
		tr.Add(Entry{Arrival: at.Add(time.Duration(ms) * time.Millisecond), HasSubSecond: true, Method: "GET", Path: fmt.Sprint("/", ms), Status: 200})
	}
	if tr.Sorted() || tr.Span() != 300*time.Millisecond {
		t.Fatalf("sorted %v span %v", tr.Sorted(), tr.Span())
	}
	tr.Sort()
	var offs []time.Duration
	var paths []string
	tr.Each(func(off time.Duration, r Request, _ Logged) { offs = append(offs, off); paths = append(paths, r.Path) })
	if !tr.Start().Equal(at) || !sort.SliceIsSorted(offs, func(i, j int) bool { return offs[i] < offs[j] }) || offs[0] != 0 || strings.Join(paths, " ") != "/0 /50 /100 /200 /300" {
		t.Fatalf("start %s offsets %v paths %v", tr.Start(), offs, paths)
	}
	fixed := NewTrace(at.Add(time.Second))
	fixed.Add(Entry{Arrival: at, Method: "GET", Path: "/"})
	fixed.Sort()
	if !fixed.Start().Equal(at.Add(time.Second)) || collect(fixed)[0].offset != -time.Second {
		t.Fatalf("a given start moved: %s %v", fixed.Start(), collect(fixed))
	}
}

func TestTraceBinaryRoundTrip(t *testing.T) {
	log, _ := subSecondLog(1000, 9)
	sub, _ := traceOf(t, log, "json")
	low, _ := traceOf(t, secondLog([]int{5, 0, 9}, true), "combined+request_time")
	if err := low.Spread(); err != nil {
		t.Fatal(err)
	}
	scaled, _ := traceOf(t, log, "json")
	if err := scaled.Scale(3); err != nil {
		t.Fatal(err)
	}
	for name, tr := range map[string]*Trace{"empty": {}, "sub-second": sub, "spread": low, "scaled": scaled, "given start": NewTrace(time.Unix(1, 2))} {
		t.Run(name, func(t *testing.T) {
			b, err := tr.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var back Trace
			if err := back.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(collect(&back), collect(tr)) || back.Len() != tr.Len() || back.Span() != tr.Span() ||
				!back.Start().Equal(tr.Start()) || back.SecondResolution() != tr.SecondResolution() || back.Sorted() != tr.Sorted() {
				t.Fatal("round trip changed the trace")
			}
			if again, _ := back.MarshalBinary(); string(again) != string(b) {
				t.Fatal("re-encoding differs")
			}
			if tr.Len() > 0 {
				t.Logf("%d entries, %d pairs: %d bytes encoded (%.2f per entry)", tr.Len(), tr.Pairs(), len(b), float64(len(b))/float64(tr.Len()))
			}
			for n := range len(b) {
				if err := new(Trace).UnmarshalBinary(b[:n]); err == nil {
					t.Fatalf("truncated to %d bytes: accepted", n)
				}
			}
			for i := range b {
				c := slices.Clone(b)
				c[i] ^= 0x40
				if err := new(Trace).UnmarshalBinary(c); err == nil {
					t.Fatalf("byte %d flipped: accepted", i)
				}
			}
		})
	}
	b, _ := sub.MarshalBinary()
	b[4] = 9
	if err := new(Trace).UnmarshalBinary(b); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Errorf("future version: %v", err)
	}
}
