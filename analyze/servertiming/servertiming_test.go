package servertiming

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testNow is "now" for the request-start tests: 10 s after the nginx sample value.
var testNow = time.Unix(1795320060, 0)

// checkErr asserts err against the wanted sentinel (nil: no error) and the message style rules.
func checkErr(t *testing.T, in string, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("%q: unexpected error: %v", in, err)
		}
		return
	}
	if err == nil {
		t.Errorf("%q: want error wrapping %v, got nil", in, want)
		return
	}
	if !errors.Is(err, want) {
		t.Errorf("%q: error %q does not wrap %v", in, err, want)
	}
	msg := err.Error()
	// One line, and no stutter: callers add their own context ("--timing-header: …").
	if strings.ContainsAny(msg, "\r\n") || strings.HasPrefix(msg, "servertiming: ") || strings.HasSuffix(msg, want.Error()) {
		t.Errorf("%q: error is not one line without stutter: %q", in, msg)
	}
}

func TestParseRequestStart(t *testing.T) {
	base := time.Unix(1795320050, 0)
	tests := []struct {
		name string
		in   string
		want time.Time
		err  error
	}{
		{"nginx msec", "t=1795320050.053", base.Add(53 * time.Millisecond), nil},
		{"nginx msec sub-ms", "t=1795320050.0531234", base.Add(53123400), nil},
		{"seconds fraction 9+ digits", "1795320050.1234567891", base.Add(123456789), nil},
		{"seconds integer", "1795320050", base, nil},
		{"new relic micros", "t=1795320050053123", base.Add(53123 * time.Microsecond), nil},
		{"micros with fraction", "t=1795320050053123.5", base.Add(53123500), nil},
		{"heroku millis", "1795320050053", base.Add(53 * time.Millisecond), nil},
		{"millis with fraction", "1795320050053.25", base.Add(53250 * time.Microsecond), nil},
		{"render nanos", "1795320050053123456", base.Add(53123456), nil},
		{"nanos fraction dropped", "1795320050053123456.9", base.Add(53123456), nil},
		{"upper T", "T=1795320050", base, nil},
		{"whitespace", " \t t= 1795320050.5 \r\n", base.Add(500 * time.Millisecond), nil},
		{"leading zeros", "t=0001795320050", base, nil},
		{"exactly 2000", "946684800", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), nil},
		{"exactly now+24h", "1795406460", testNow.Add(24 * time.Hour), nil},

		{"empty", "", time.Time{}, ErrMalformed},
		{"spaces", "   ", time.Time{}, ErrMalformed},
		{"prefix only", "t=", time.Time{}, ErrMalformed},
		{"garbage", "abc", time.Time{}, ErrMalformed},
		{"garbage after prefix", "t=abc", time.Time{}, ErrMalformed},
		{"double prefix", "t=t=1795320050", time.Time{}, ErrMalformed},
		{"trailing dot", "1795320050.", time.Time{}, ErrMalformed},
		{"leading dot", ".5", time.Time{}, ErrMalformed},
		{"exponent", "1.79532005e9", time.Time{}, ErrMalformed},
		{"hex", "0x6B02B5F2", time.Time{}, ErrMalformed},
		{"inner space", "1795320050 053", time.Time{}, ErrMalformed},
		{"plus sign", "+1795320050", time.Time{}, ErrMalformed},
		{"trailing unit", "1795320050s", time.Time{}, ErrMalformed},
		{"two dots", "1795320050.05.3", time.Time{}, ErrMalformed},
		{"NaN", "NaN", time.Time{}, ErrMalformed},
		{"Inf", "t=Inf", time.Time{}, ErrMalformed},
		{"minus only", "-", time.Time{}, ErrMalformed},

		{"negative", "-1795320050", time.Time{}, ErrImplausibleTime},
		{"negative zero", "-0", time.Time{}, ErrImplausibleTime},
		{"zero", "0", time.Time{}, ErrImplausibleTime},
		{"1999", "946684799", time.Time{}, ErrImplausibleTime},
		{"1999 millis", "946684799999", time.Time{}, ErrImplausibleTime},
		{"1970s micros", "100000000000000", time.Time{}, ErrImplausibleTime},
		{"future 24h+1s", "1795406461", time.Time{}, ErrImplausibleTime},
		{"far future seconds", "99999999999", time.Time{}, ErrImplausibleTime},
		{"far future nanos", "18446744073709551615", time.Time{}, ErrImplausibleTime},
		{"huge", "99999999999999999999999", time.Time{}, ErrImplausibleTime},
		{"huge with fraction", "t=123456789012345678901234567890.5", time.Time{}, ErrImplausibleTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequestStart([]byte(tt.in), testNow)
			checkErr(t, tt.in, err, tt.err)
			if !got.Equal(tt.want) {
				t.Errorf("ParseRequestStart(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseRequestStartZeroNow(t *testing.T) {
	_, err := ParseRequestStart([]byte("1795320050"), time.Time{})
	if !errors.Is(err, ErrImplausibleTime) {
		t.Fatalf("zero now: got %v, want ErrImplausibleTime", err)
	}
}

func TestErrorQuoteTruncated(t *testing.T) {
	long := strings.Repeat("x", 1000)
	for _, err := range []error{
		func() error { _, err := ParseRequestStart([]byte(long), testNow); return err }(),
		func() error { _, err := ParseServerTiming([]byte(";" + long)); return err }(),
		func() error { _, err := ParseSeconds([]byte(long)); return err }(),
		func() error { _, err := ParseMapping(long); return err }(),
	} {
		if err == nil || len(err.Error()) > 300 || !strings.Contains(err.Error(), `..."`) && !strings.Contains(err.Error(), `"...`) {
			t.Errorf("error not truncated: %.400v", err)
		}
	}
}

func TestParseServerTiming(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Metric
		wantErr bool
	}{
		{"empty", "", nil, false},
		{"blank", "  \t ", nil, false},
		{"testbed convention", "queue;dur=12.5, app;dur=40",
			[]Metric{{Name: "queue", Dur: 12.5, HasDur: true}, {Name: "app", Dur: 40, HasDur: true}}, false},
		{"w3c example", `miss, db;dur=53, app;dur=47.2, cache;desc="Cache Read";dur=23.2, total;dur=123.4;desc="Total Response Time"`,
			[]Metric{
				{Name: "miss"},
				{Name: "db", Dur: 53, HasDur: true},
				{Name: "app", Dur: 47.2, HasDur: true},
				{Name: "cache", Dur: 23.2, HasDur: true, Desc: "Cache Read"},
				{Name: "total", Dur: 123.4, HasDur: true, Desc: "Total Response Time"},
			}, false},
		{"metric name only", "miss", []Metric{{Name: "miss"}}, false},
		{"quoted desc with escaped quote and comma", `cache;desc="hit, \"warm\"";dur=1, db;dur=2`,
			[]Metric{{Name: "cache", Dur: 1, HasDur: true, Desc: `hit, "warm"`}, {Name: "db", Dur: 2, HasDur: true}}, false},
		{"quoted desc with semicolon", `a;desc="x;dur=9";dur=1`, []Metric{{Name: "a", Dur: 1, HasDur: true, Desc: "x;dur=9"}}, false},
		{"escaped backslash", `a;desc="a\\b"`, []Metric{{Name: "a", Desc: `a\b`}}, false},
		{"token desc", "a;desc=hit", []Metric{{Name: "a", Desc: "hit"}}, false},
		{"empty quoted desc", `a;desc=""`, []Metric{{Name: "a"}}, false},
		{"repeated desc first wins", `a;desc=one;desc=two`, []Metric{{Name: "a", Desc: "one"}}, false},
		{"dur missing", "app;desc=x", []Metric{{Name: "app", Desc: "x"}}, false},
		{"dur=abc", "app;dur=abc", []Metric{{Name: "app"}}, true},
		{"dur without value", "app;dur", []Metric{{Name: "app"}}, true},
		{"dur empty value", "app;dur=", []Metric{{Name: "app"}}, true},
		{"uppercase DUR and DESC", "App;DUR=3;DeSc=X", []Metric{{Name: "App", Dur: 3, HasDur: true, Desc: "X"}}, false},
		{"repeated dur first wins", "app;dur=1;dur=2", []Metric{{Name: "app", Dur: 1, HasDur: true}}, false},
		{"repeated dur first invalid wins", "app;dur=abc;dur=2", []Metric{{Name: "app"}}, true},
		{"quoted dur", `app;dur="12.5"`, []Metric{{Name: "app", Dur: 12.5, HasDur: true}}, false},
		{"quoted dur with escape", `app;dur="1\2"`, []Metric{{Name: "app"}}, true},
		{"unknown params", `app;foo=bar;dur=3;x="y;z,w";flag`, []Metric{{Name: "app", Dur: 3, HasDur: true}}, false},
		{"zero dur", "app;dur=0", []Metric{{Name: "app", Dur: 0, HasDur: true}}, false},
		{"exponent dur", "app;dur=1.5e2", []Metric{{Name: "app", Dur: 150, HasDur: true}}, false},
		{"negative dur", "app;dur=-1", []Metric{{Name: "app"}}, true},
		{"negative zero dur", "app;dur=-0", []Metric{{Name: "app", HasDur: true}}, false},
		{"NaN dur", "app;dur=NaN", []Metric{{Name: "app"}}, true},
		{"Inf dur", "app;dur=Inf, b;dur=+Inf", []Metric{{Name: "app"}, {Name: "b"}}, true},
		{"overflow dur", "app;dur=1e400", []Metric{{Name: "app"}}, true},
		{"dur beyond 24h", "app;dur=86400001", []Metric{{Name: "app"}}, true},
		{"dur 24h", "app;dur=86400000", []Metric{{Name: "app", Dur: 86400000, HasDur: true}}, false},
		{"hex dur", "app;dur=0x10", []Metric{{Name: "app"}}, true},
		{"dur with unit", "app;dur=12ms", []Metric{{Name: "app"}}, true},
		{"stray commas", ",, app;dur=1 ,, ,db;dur=2,", []Metric{{Name: "app", Dur: 1, HasDur: true}, {Name: "db", Dur: 2, HasDur: true}}, false},
		{"stray semicolons", "app;;dur=1;;", []Metric{{Name: "app", Dur: 1, HasDur: true}}, false},
		{"only separators", " , ; , ", nil, true},
		{"leading semicolon", ";dur=1, b;dur=2", []Metric{{Name: "b", Dur: 2, HasDur: true}}, true},
		{"unterminated quote", `app;dur=1, cache;desc="oops, db;dur=2`, []Metric{{Name: "app", Dur: 1, HasDur: true}}, true},
		{"unterminated quote with trailing backslash", `cache;desc="oops\`, nil, true},
		{"junk after quoted value", `a;desc="x"y, b;dur=2`, []Metric{{Name: "b", Dur: 2, HasDur: true}}, true},
		{"junk in quotes after error", `a b;desc="c, d", e;dur=5`, []Metric{{Name: "e", Dur: 5, HasDur: true}}, true},
		{"space in dur", "app;dur=1 2, b", []Metric{{Name: "b"}}, true},
		{"missing param name", "app;=5, b", []Metric{{Name: "b"}}, true},
		{"quoted name", `"app";dur=1`, nil, true},
		{"binary garbage", "\x00\xff\x7f, app;dur=1", []Metric{{Name: "app", Dur: 1, HasDur: true}}, true},
		{"whitespace everywhere", " \t app \t ; \t dur \t = \t 5 \t , \t db ; desc = \"x y\" \t ",
			[]Metric{{Name: "app", Dur: 5, HasDur: true}, {Name: "db", Desc: "x y"}}, false},
		{"token chars in name", "a.b-c_d!#$%&'*+^`|~;dur=1", []Metric{{Name: "a.b-c_d!#$%&'*+^`|~", Dur: 1, HasDur: true}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseServerTiming([]byte(tt.in))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseServerTiming(%q) =\n  %+v\nwant\n  %+v", tt.in, got, tt.want)
			}
			if tt.wantErr {
				checkErr(t, tt.in, err, ErrMalformed)
			} else {
				checkErr(t, tt.in, err, nil)
			}
		})
	}
}

func TestParseServerTimingErrorCounts(t *testing.T) {
	_, err := ParseServerTiming([]byte(`a;dur=x, ;b, c;dur=-1`))
	if err == nil || !strings.Contains(err.Error(), `metric "a": dur "x" is not a decimal number (and 2 more problems)`) {
		t.Fatalf("got %v", err)
	}
}

func TestLookupServerTiming(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		lookup string
		want   float64
		ok     bool
	}{
		{"single", []string{"queue;dur=12.5, app;dur=40"}, "app", 40, true},
		{"first metric", []string{"queue;dur=12.5, app;dur=40"}, "queue", 12.5, true},
		{"repeated headers first wins", []string{"queue;dur=1", "queue;dur=2"}, "queue", 1, true},
		{"second header", []string{"db;dur=3", "app;dur=7"}, "app", 7, true},
		{"same header twice first wins", []string{"queue;dur=1, queue;dur=2"}, "queue", 1, true},
		{"name case-insensitive", []string{"Queue;dur=4"}, "QUEUE", 4, true},
		{"skips invalid dur", []string{"app;dur=abc", "APP;dur=3"}, "app", 3, true},
		{"skips overflow", []string{"x;dur=1e400, x;dur=2"}, "x", 2, true},
		{"skips metric without dur", []string{"app;desc=x, app;dur=5"}, "app", 5, true},
		{"first dur param decides", []string{"app;dur=x;dur=5"}, "app", 0, false},
		{"no dur", []string{"db;desc=x", "app"}, "app", 0, false},
		{"absent", []string{"db;dur=1"}, "app", 0, false},
		{"prefix is not a match", []string{"application;dur=1, ap;dur=2"}, "app", 0, false},
		{"no values", nil, "app", 0, false},
		{"empty values", []string{"", ""}, "app", 0, false},
		{"not inside quotes", []string{`a;desc="q,app;dur=9", app;dur=4`}, "app", 4, true},
		{"skips malformed", []string{`app;dur=9 x, app;dur=4`}, "app", 4, true},
		{"unterminated quote hides rest", []string{`a;desc="q, app;dur=9`, "app;dur=1"}, "app", 1, true},
		{"whitespace", []string{" app \t;\t DUR = 2.5 "}, "app", 2.5, true},
		{"quoted dur", []string{`app;dur="8"`}, "app", 8, true},
		{"empty name", []string{"app;dur=1"}, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var vals [][]byte
			for _, v := range tt.values {
				vals = append(vals, []byte(v))
			}
			got, ok := LookupServerTiming(vals, tt.lookup)
			if got != tt.want || ok != tt.ok {
				t.Errorf("LookupServerTiming(%q, %q) = %v, %v; want %v, %v", tt.values, tt.lookup, got, ok, tt.want, tt.ok)
			}
			// Agreement with ParseServerTiming.
			pw, pok := lookupViaParse(vals, tt.lookup)
			if pw != got || pok != ok {
				t.Errorf("ParseServerTiming disagrees: %v, %v", pw, pok)
			}
		})
	}
}

// lookupViaParse is the reference semantics of LookupServerTiming.
func lookupViaParse(values [][]byte, name string) (float64, bool) {
	for _, v := range values {
		ms, _ := ParseServerTiming(v)
		for _, m := range ms {
			if m.HasDur && strings.EqualFold(m.Name, name) && isToken(name) {
				return m.Dur, true
			}
		}
	}
	return 0, false
}

var allocHeaders = [][]byte{
	[]byte(`cache;desc="Cache Read";dur=23.2, db;dur=53, QUEUE;dur=1.5e0`),
	[]byte(`app;dur=47.2, queue;dur=12.345, total;dur=123.4;desc="Total Response Time"`),
}

func TestLookupServerTimingNoAlloc(t *testing.T) {
	for _, name := range []string{"queue", "app", "total", "missing"} {
		allocs := testing.AllocsPerRun(1000, func() {
			LookupServerTiming(allocHeaders, name)
		})
		if allocs != 0 {
			t.Errorf("LookupServerTiming(%q) allocates %v times per run", name, allocs)
		}
	}
	// Invalid durs go through the error paths of the number parser.
	bad := [][]byte{[]byte("queue;dur=1e400, queue;dur=NaN, queue;dur=abc, queue;dur=-1, queue;dur=0x1p3")}
	if allocs := testing.AllocsPerRun(1000, func() { LookupServerTiming(bad, "queue") }); allocs != 0 {
		t.Errorf("LookupServerTiming on invalid durs allocates %v times per run", allocs)
	}
}

func TestNoAllocHotPaths(t *testing.T) {
	v := []byte("t=1795320050.053")
	if a := testing.AllocsPerRun(1000, func() { _, _ = ParseRequestStart(v, testNow) }); a != 0 {
		t.Errorf("ParseRequestStart allocates %v", a)
	}
	for name, f := range map[string]func(){
		"ParseSeconds":         func() { _, _ = ParseSeconds([]byte("0.012345")) },
		"ParseMillis":          func() { _, _ = ParseMillis([]byte("12.345 ms")) },
		"ParseUpstreamSeconds": func() { _, _ = ParseUpstreamSeconds([]byte("0.001, - : 0.002")) },
		"ParseDuration":        func() { _, _ = ParseDuration([]byte("250"), UnitMicros) },
	} {
		if a := testing.AllocsPerRun(1000, f); a != 0 {
			t.Errorf("%s allocates %v", name, a)
		}
	}
}

func TestParseSeconds(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  error
	}{
		{"0.012345", 12345 * time.Microsecond, nil},
		{" 0.5 ", 500 * time.Millisecond, nil},
		{"0", 0, nil},
		{"0.000", 0, nil},
		{"2", 2 * time.Second, nil},
		{"1e-3", time.Millisecond, nil},
		{".25", 250 * time.Millisecond, nil},
		{"3.", 3 * time.Second, nil},
		{"0.000000001", 1, nil},
		{"86400", 24 * time.Hour, nil},
		{"-0", 0, nil},
		{"", 0, ErrMalformed},
		{"  ", 0, ErrMalformed},
		{"abc", 0, ErrMalformed},
		{"-0.1", 0, ErrMalformed},
		{"86400.001", 0, ErrMalformed},
		{"1e400", 0, ErrMalformed},
		{"NaN", 0, ErrMalformed},
		{"Inf", 0, ErrMalformed},
		{"-Inf", 0, ErrMalformed},
		{"0x1p-2", 0, ErrMalformed},
		{"1_000", 0, ErrMalformed},
		{"0.5s", 0, ErrMalformed},
		{"1,5", 0, ErrMalformed},
		{".", 0, ErrMalformed},
		{"1e", 0, ErrMalformed},
	}
	for _, tt := range tests {
		got, err := ParseSeconds([]byte(tt.in))
		checkErr(t, tt.in, err, tt.err)
		if got != tt.want {
			t.Errorf("ParseSeconds(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseMillis(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  error
	}{
		{"12.345ms", 12345 * time.Microsecond, nil},
		{"12.345 ms", 12345 * time.Microsecond, nil},
		{"12.345", 12345 * time.Microsecond, nil},
		{" 12.345\tms ", 12345 * time.Microsecond, nil},
		{"12.345MS", 12345 * time.Microsecond, nil},
		{"0ms", 0, nil},
		{"500us", 500 * time.Microsecond, nil},
		{"500µs", 500 * time.Microsecond, nil},
		{"500μs", 500 * time.Microsecond, nil},
		{"1500ns", 1500, nil},
		{"2s", 2 * time.Second, nil},
		{"2 s", 2 * time.Second, nil},
		{"1e3ms", time.Second, nil},
		{"1e3", time.Second, nil},
		{"86400000ms", 24 * time.Hour, nil},
		{"", 0, ErrMalformed},
		{"ms", 0, ErrMalformed},
		{"12.3 sec", 0, ErrMalformed},
		{"12.3ms extra", 0, ErrMalformed},
		{"12.3 m s", 0, ErrMalformed},
		{"-1ms", 0, ErrMalformed},
		{"NaN ms", 0, ErrMalformed},
		{"Inf", 0, ErrMalformed},
		{"1e400ms", 0, ErrMalformed},
		{"86400001ms", 0, ErrMalformed},
		{"90000s", 0, ErrMalformed},
		{"1esms", 0, ErrMalformed},
	}
	for _, tt := range tests {
		got, err := ParseMillis([]byte(tt.in))
		checkErr(t, tt.in, err, tt.err)
		if got != tt.want {
			t.Errorf("ParseMillis(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseUpstreamSeconds(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  error
	}{
		{"0.000", 0, nil},
		{"2.040", 2040 * time.Millisecond, nil},
		{"0.001, 0.002", 3 * time.Millisecond, nil},
		{"- , 0.5", 500 * time.Millisecond, nil},
		{"0.1 : 0.2", 300 * time.Millisecond, nil},
		{"0.1, 0.2 : 0.3", 600 * time.Millisecond, nil},
		{"0.004, - : -, 0.001", 5 * time.Millisecond, nil},
		{" 0.010 ", 10 * time.Millisecond, nil},
		{"0.1,", 100 * time.Millisecond, nil},
		{"0.1,,0.2", 300 * time.Millisecond, nil},
		{"-", 0, ErrNoValue},
		{"", 0, ErrNoValue},
		{"  ", 0, ErrNoValue},
		{"-, -", 0, ErrNoValue},
		{"- : -", 0, ErrNoValue},
		{",", 0, ErrNoValue},
		{"0.1, abc", 0, ErrMalformed},
		{"0.1, -1", 0, ErrMalformed},
		{"--", 0, ErrMalformed},
		{"0.1 0.2", 0, ErrMalformed},
		{"NaN", 0, ErrMalformed},
		{"50000, 50000", 0, ErrMalformed},
		{"1e400", 0, ErrMalformed},
	}
	for _, tt := range tests {
		got, err := ParseUpstreamSeconds([]byte(tt.in))
		checkErr(t, tt.in, err, tt.err)
		if got != tt.want {
			t.Errorf("ParseUpstreamSeconds(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseUnit(t *testing.T) {
	valid := map[string]Unit{"s": UnitSeconds, "ms": UnitMillis, "us": UnitMicros, "µs": UnitMicros,
		"μs": UnitMicros, "ns": UnitNanos, "epoch": UnitEpoch}
	for in, want := range valid {
		got, err := ParseUnit(in)
		if err != nil || got != want {
			t.Errorf("ParseUnit(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, err := ParseUnit(got.String()); err != nil || back != got {
			t.Errorf("ParseUnit(%v.String()) = %v, %v", got, back, err)
		}
	}
	for _, in := range []string{"", "MS", "sec", "seconds", "m", "h", " ms", "epoch2", "µ"} {
		got, err := ParseUnit(in)
		checkErr(t, in, err, ErrMalformed)
		if got != 0 {
			t.Errorf("ParseUnit(%q) = %v on error", in, got)
		}
	}
	if s := Unit(0).String(); s != "Unit(0)" {
		t.Errorf("Unit(0).String() = %q", s)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		u    Unit
		want time.Duration
		err  error
	}{
		{"1.5", UnitSeconds, 1500 * time.Millisecond, nil},
		{" 250 ", UnitMillis, 250 * time.Millisecond, nil},
		{"12.345", UnitMillis, 12345 * time.Microsecond, nil},
		{"250", UnitMicros, 250 * time.Microsecond, nil},
		{"1500", UnitNanos, 1500, nil},
		{"0.4", UnitNanos, 0, nil},
		{"0", UnitSeconds, 0, nil},
		{"86400000000000", UnitNanos, 24 * time.Hour, nil},
		{"-1", UnitMillis, 0, ErrMalformed},
		{"", UnitMillis, 0, ErrMalformed},
		{"12ms", UnitMillis, 0, ErrMalformed},
		{"NaN", UnitSeconds, 0, ErrMalformed},
		{"+Inf", UnitSeconds, 0, ErrMalformed},
		{"90000000", UnitMillis, 0, ErrMalformed},
		{"1795320050", UnitEpoch, 0, ErrMalformed},
		{"1", Unit(0), 0, ErrMalformed},
		{"1", Unit(42), 0, ErrMalformed},
	}
	for _, tt := range tests {
		got, err := ParseDuration([]byte(tt.in), tt.u)
		checkErr(t, tt.in+" "+tt.u.String(), err, tt.err)
		if got != tt.want {
			t.Errorf("ParseDuration(%q, %v) = %v, want %v", tt.in, tt.u, got, tt.want)
		}
	}
}

func TestParseMapping(t *testing.T) {
	valid := []struct {
		in   string
		want Mapping
	}{
		{"queue=X-Queue-Ms:ms", Mapping{"queue", "X-Queue-Ms", UnitMillis}},
		{"app=X-App-Time", Mapping{"app", "X-App-Time", UnitMillis}},
		{"upstream_connect=X-Upstream-Connect:s", Mapping{"upstream_connect", "X-Upstream-Connect", UnitSeconds}},
		{"start=X-Request-Start:epoch", Mapping{"start", "X-Request-Start", UnitEpoch}},
		{"start=X-Request-Start", Mapping{"start", "X-Request-Start", UnitEpoch}},
		{" queue = x-q : us ", Mapping{"queue", "x-q", UnitMicros}},
		{"app=X-A:µs", Mapping{"app", "X-A", UnitMicros}},
		{"app=X-A:ns", Mapping{"app", "X-A", UnitNanos}},
	}
	for _, tt := range valid {
		got, err := ParseMapping(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseMapping(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		if back, err := ParseMapping(got.String()); err != nil || back != got {
			t.Errorf("round trip of %q via %q = %+v, %v", tt.in, got.String(), back, err)
		}
	}
	for _, in := range []string{
		"", "queue", "=X:ms", "bogus=X:ms", "Queue=X:ms", "queue=", "queue=:ms", "queue=Bad Header:ms",
		"queue=X(y):ms", "queue=X:min", "queue=X:", "queue=X:ms:ms", "start=X:ms", "queue=X:epoch",
		"app=X=Y:ms",
	} {
		got, err := ParseMapping(in)
		checkErr(t, in, err, ErrMalformed)
		if got != (Mapping{}) {
			t.Errorf("ParseMapping(%q) = %+v on error", in, got)
		}
	}
}

func BenchmarkLookupServerTiming(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := LookupServerTiming(allocHeaders, "queue"); !ok {
			b.Fatal("not found")
		}
	}
}

func BenchmarkParseServerTiming(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseServerTiming(allocHeaders[1]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRequestStart(b *testing.B) {
	for _, v := range []string{"t=1795320050.053", "t=1795320050053123", "1795320050053123456"} {
		b.Run(v, func(b *testing.B) {
			in := []byte(v)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseRequestStart(in, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
