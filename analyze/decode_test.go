package analyze

import (
	"github.com/queuegap/queuegap/loadgen"

	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// refResult is the reflection-based reading of a result line, the
// reference the hand-written decoder must agree with.
type refResult struct {
	Seq        uint64   `json:"seq"`
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Client     string   `json:"client"`
	Attempt    uint16   `json:"attempt"`
	RetryOf    uint64   `json:"retry_of"`
	Intended   *float64 `json:"intended_ms"`
	Done       *float64 `json:"done_ms"`
	FirstByte  float64  `json:"first_byte_ms"`
	Status     int      `json:"status"`
	Outcome    string   `json:"outcome"`
	ErrorText  string   `json:"error_text"`
	SynRetrans int      `json:"syn_retrans"`
	NewConn    bool     `json:"new_conn"`
	Server     *struct {
		Queue *float64 `json:"queue_ms"`
		App   *float64 `json:"app_ms"`
	} `json:"server"`
	Attr struct {
		Backlog   float64 `json:"backlog_ms"`
		Estimated bool    `json:"estimated"`
	} `json:"attr"`
}

func randomResult(rng *rand.Rand) Result {
	d := func(max time.Duration) time.Duration {
		return time.Duration(rng.Int64N(int64(max))) / time.Microsecond * time.Microsecond
	}
	r := Result{Record: loadgen.Record{Seq: rng.Uint64N(1 << 40), Intended: d(time.Hour)}, RequestID: "run-" + string(rune('a'+rng.IntN(26)))}
	r.Start = r.Intended + d(time.Second)
	r.NewConn, r.WaitedSlot, r.WaitedConn = rng.IntN(2) == 0, rng.IntN(5) == 0, rng.IntN(5) == 0
	if r.NewConn && rng.IntN(4) != 0 {
		if rng.IntN(3) == 0 {
			r.DNSDone = r.Start + d(time.Millisecond) + time.Microsecond
		}
		r.ConnectDone = max(r.Start, r.DNSDone) + d(time.Second) + time.Microsecond
		if rng.IntN(3) == 0 {
			r.TLSDone = r.ConnectDone + d(time.Second) + time.Microsecond
		}
	}
	r.Written = r.Ready() + d(time.Millisecond)
	r.FirstByte = r.Written + d(10*time.Second)
	r.Done = r.FirstByte + d(time.Second)
	r.SynRetrans = uint8(rng.IntN(3))
	r.Retrans = r.SynRetrans + uint8(rng.IntN(2))
	r.Status = []int{0, 200, 404, 502, 504}[rng.IntN(5)]
	r.BytesIn, r.BytesOut = rng.Int64N(1e6), rng.Int64N(1e4)
	r.Outcome = Outcomes()[rng.IntN(len(Outcomes()))]
	if rng.IntN(3) == 0 {
		r.Error, r.ErrorText = loadgen.ErrReset, "read tcp: \"connection\" reset\n\tby peer \x01 ünï"
	}
	if rng.IntN(2) == 0 {
		r.Server = ServerTiming{HasQueue: true, Queue: d(time.Second), HasApp: true, App: d(time.Second), HasStart: true,
			Start: time.UnixMicro(1795320000000000 + rng.Int64N(1e9)), Invalid: rng.IntN(2)}
	}
	for i := range r.Attr.Parts {
		r.Attr.Parts[i] = d(time.Second)
	}
	r.Attr.Estimated, r.Attr.Clamped = rng.IntN(2) == 0, rng.IntN(2) == 0
	r.Name = []string{"", "checkout", "GET /users/:id", "q\"uo\\te ü"}[rng.IntN(4)]
	r.Client = []string{"", "partner-a", "background browsing"}[rng.IntN(3)]
	if rng.IntN(4) == 0 {
		r.Attempt, r.RetryOf = uint16(1+rng.IntN(3)), rng.Uint64N(1<<40)
	}
	return r
}

func TestDecodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		want := randomResult(rng)
		line := appendResult(nil, &want, true)
		if !json.Valid(line) {
			t.Fatalf("invalid JSON: %s", line)
		}
		var got Result
		if err := decodeResult(line, &got); err != nil {
			t.Fatalf("decode %s: %v", line, err)
		}
		// The writer stores the server start in µs; normalise the location.
		got.Server.Start, want.Server.Start = got.Server.Start.UTC(), want.Server.Start.UTC()
		if !want.Server.HasStart {
			got.Server.Start, want.Server.Start = time.Time{}, time.Time{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip differs\nline %s\ngot  %+v\nwant %+v", line, got, want)
		}
	}
}

func TestDecodeAcceptsAnyJSONLayout(t *testing.T) {
	line := `  { "attr" : {"backlog_ms": 1.5e3, "future_field": [1, {"x": null}]}, "outcome":"ok","done_ms":2000 ,
	"intended_ms":0, "id":"a\u0062c", "unknown":{"deep":[true,false,null,"s\"q"]}, "server":{"app_ms":7}}  `
	var r Result
	if err := decodeResult([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	if r.Attr.Parts[iBacklog] != 1500*time.Millisecond || r.RequestID != "abc" || r.Done != 2*time.Second || !r.Server.HasApp {
		t.Fatalf("decoded %+v", r)
	}
	for _, bad := range []string{`{"outcome":"ok","done_ms":1}x`, `{"outcome":"ok"`, `{"outcome":ok}`, `{"done_ms":1}`,
		`{"outcome":"ok","done_ms":"1"}`, `{"outcome":"ok","intended_ms":5,"done_ms":1}`, `[]`, `{"outcome":"ok","status":1.5}`} {
		if err := decodeResult([]byte(bad), &r); err == nil {
			t.Errorf("decodeResult(%s) accepted", bad)
		}
	}
}

// FuzzDecodeResult: the hand-written decoder never panics, accepts only
// valid JSON, and agrees with encoding/json on what it accepts.
func FuzzDecodeResult(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 8; i++ {
		r := randomResult(rng)
		f.Add(AppendResultJSON(nil, &r))
	}
	f.Add([]byte(`{"outcome":"ok","done_ms":1e2,"seq":1}`))
	f.Add([]byte(`{"queuegap":"run","version":1}`))
	f.Add([]byte(`{"outcome":"ok","done_ms":1,"name":"GET /a\u0020b","client":null,"attempt":65536,"retry_of":-1}`))
	f.Add([]byte(`{"outcome":"ok","done_ms":1,"name":"x","client":"y","attempt":2,"retry_of":7}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var r Result
		err := decodeResult(line, &r)
		if err != nil {
			return
		}
		if !json.Valid(line) {
			t.Fatalf("accepted invalid JSON %q", line)
		}
		if hasNonLowerKey(line) {
			return // encoding/json matches keys case-insensitively; our format does not
		}
		var ref refResult
		if jerr := json.Unmarshal(line, &ref); jerr != nil {
			// encoding/json is stricter on types (e.g. a float seq); the
			// decoder must not be looser on the fields it reads.
			if strings.Contains(jerr.Error(), "cannot unmarshal") {
				t.Fatalf("decoder accepted %q that encoding/json rejects: %v", line, jerr)
			}
			return
		}
		if ref.Outcome != r.Outcome || ref.ID != r.RequestID || ref.Seq != r.Seq || ref.Status != r.Status || ref.ErrorText != r.ErrorText ||
			ref.Name != r.Name || ref.Client != r.Client || ref.Attempt != r.Attempt || ref.RetryOf != r.RetryOf {
			t.Fatalf("disagree on %q:\nref %+v\ngot %+v", line, ref, r)
		}
		if ref.Done != nil && absDur(msToDur(*ref.Done)-r.Done) > time.Microsecond {
			t.Fatalf("done_ms: ref %v got %v", *ref.Done, r.Done)
		}
		if absDur(msToDur(ref.Attr.Backlog)-r.Attr.Parts[iBacklog]) > time.Microsecond {
			t.Fatalf("backlog: ref %v got %v", ref.Attr.Backlog, r.Attr.Parts[iBacklog])
		}
	})
}

// hasNonLowerKey reports whether any object key (at any depth) has an
// upper-case letter.
func hasNonLowerKey(line []byte) bool {
	var v any
	if json.Unmarshal(line, &v) != nil {
		return true
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if strings.ToLower(k) != k || walk(c) {
					return true
				}
			}
		case []any:
			for _, c := range x {
				if walk(c) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// TestDecodeLabels: names and clients are read, interned (a name seen
// before costs no allocation), bounded, and absent in older lines.
func TestDecodeLabels(t *testing.T) {
	in := newLabelInterner(3)
	var r Result
	line := []byte(`{"seq":1,"name":"GET /users/:id","client":"partner-a","attempt":2,"retry_of":9,"outcome":"ok","done_ms":1}`)
	if err := decodeResultInterned(line, &r, in); err != nil {
		t.Fatal(err)
	}
	if r.Name != "GET /users/:id" || r.Client != "partner-a" || r.Attempt != 2 || r.RetryOf != 9 {
		t.Fatalf("decoded %+v", r)
	}
	first := r.Name
	bare := []byte(`{"seq":1,"outcome":"ok","done_ms":1}`)
	base := testing.AllocsPerRun(100, func() { _ = decodeResultInterned(bare, &r, in) })
	got := testing.AllocsPerRun(100, func() { _ = decodeResultInterned(line, &r, in) })
	if got > base {
		t.Errorf("a seen name and client cost %v allocations per line (bare line %v)", got, base)
	}
	if err := decodeResultInterned(line, &r, in); err != nil || unsafe.StringData(r.Name) != unsafe.StringData(first) {
		t.Errorf("the name was not interned (%v)", err)
	}
	for i, tc := range []struct{ line, name string }{
		{`{"name":"a","outcome":"ok","done_ms":1}`, "a"},        // the third distinct label fills the table
		{`{"name":"b","outcome":"ok","done_ms":1}`, OtherLabel}, // beyond it
		{`{"name":"a","outcome":"ok","done_ms":1}`, "a"},
		{`{"client":"c","outcome":"ok","done_ms":1}`, ""},
		{`{"name":"","client":null,"outcome":"ok","done_ms":1}`, ""},
	} {
		if err := decodeResultInterned([]byte(tc.line), &r, in); err != nil || r.Name != tc.name {
			t.Errorf("%d: %s: name %q (%v), want %q", i, tc.line, r.Name, err, tc.name)
		}
	}
	if in.overflowed != 2 { // "b", and client "c"
		t.Errorf("overflowed %d, want 2", in.overflowed)
	}
	for _, bad := range []string{`{"attempt":65536,"outcome":"ok","done_ms":1}`, `{"attempt":-1,"outcome":"ok","done_ms":1}`,
		`{"retry_of":1.5,"outcome":"ok","done_ms":1}`, `{"name":1,"outcome":"ok","done_ms":1}`} {
		if err := decodeResult([]byte(bad), &r); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func BenchmarkDecodeResult(b *testing.B) {
	r := randomResult(rand.New(rand.NewPCG(7, 8)))
	line := AppendResultJSON(nil, &r)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if err := decodeResult(line, &r); err != nil {
			b.Fatal(err)
		}
	}
}
