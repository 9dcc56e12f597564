package servertiming

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

var serverTimingSeeds = []string{
	"",
	"queue;dur=12.5, app;dur=40",
	`miss, db;dur=53, app;dur=47.2, cache;desc="Cache Read";dur=23.2, total;dur=123.4;desc="Total Response Time"`,
	`cache;desc="hit, \"warm\"";dur=1, db;dur=2`,
	"app;dur=abc;dur=2, APP;DUR=3",
	`app;dur=1, cache;desc="oops, db;dur=2`,
	",, ;; app;;dur=1;, ,",
	" \t app \t ; \t dur \t = \t 5 \t , \t db ; desc = \"x y\" \t ",
	"app;dur=NaN, b;dur=-1, c;dur=1e400, d;dur=0x10, e;dur=\"7\"",
	"\x00\xff\"\\",
}

// checkDuration asserts the invariants of every successfully parsed duration.
func checkDuration(t *testing.T, in []byte, d time.Duration, err error) {
	t.Helper()
	if err != nil {
		if d != 0 {
			t.Fatalf("%q: non-zero %v with error %v", in, d, err)
		}
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNoValue) {
			t.Fatalf("%q: error %v wraps no sentinel", in, err)
		}
		// At most two quoted values of <= 64 bytes (<= 4 characters per byte when escaped).
		if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || len(msg) > 800 {
			t.Fatalf("%q: bad error message %q", in, msg)
		}
		return
	}
	if d < 0 || d > maxDuration {
		t.Fatalf("%q: duration %v out of [0, 24h]", in, d)
	}
}

func FuzzParseServerTiming(f *testing.F) {
	for _, s := range serverTimingSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ms, err := ParseServerTiming(in)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
			t.Fatalf("multi-line error %q", err)
		}
		if ms != nil && len(ms) == 0 {
			t.Fatalf("empty non-nil result")
		}
		for _, m := range ms {
			if !isToken(m.Name) {
				t.Fatalf("metric name %q is not a token", m.Name)
			}
			if m.HasDur && (math.IsNaN(m.Dur) || m.Dur < 0 || m.Dur > maxDurMs || math.Signbit(m.Dur)) {
				t.Fatalf("metric %q: bad dur %v", m.Name, m.Dur)
			}
			if !m.HasDur && m.Dur != 0 {
				t.Fatalf("metric %q: Dur %v without HasDur", m.Name, m.Dur)
			}
			got, ok := LookupServerTiming([][]byte{in}, m.Name)
			want, wok := lookupViaParse([][]byte{in}, m.Name)
			if got != want || ok != wok {
				t.Fatalf("Lookup(%q) = %v, %v; Parse says %v, %v", m.Name, got, ok, want, wok)
			}
		}
	})
}

func FuzzLookupServerTiming(f *testing.F) {
	for _, s := range serverTimingSeeds {
		f.Add([]byte(s), []byte("queue;dur=3"), "app")
		f.Add([]byte(s), []byte(""), "queue")
	}
	f.Add([]byte("queue;dur=1"), []byte("queue;dur=2"), "QUEUE")
	f.Add([]byte(`a;desc="q,app;dur=9"`), []byte("app;dur=4"), "app")
	f.Fuzz(func(t *testing.T, a, b []byte, name string) {
		values := [][]byte{a, b}
		got, ok := LookupServerTiming(values, name)
		want, wok := lookupViaParse(values, name)
		if got != want || ok != wok {
			t.Fatalf("Lookup(%q) = %v, %v; Parse says %v, %v", name, got, ok, want, wok)
		}
		if ok && (math.IsNaN(got) || got < 0 || got > maxDurMs) {
			t.Fatalf("bad dur %v", got)
		}
		if !ok && got != 0 {
			t.Fatalf("non-zero %v with ok=false", got)
		}
	})
}

func FuzzParseRequestStart(f *testing.F) {
	for _, s := range []string{
		"t=1795320050.053", "t=1795320050053123", "1795320050053", "1795320050053123456",
		" t= 1795320050 ", "", "t=", "abc", "-1795320050", "946684799", "99999999999",
		"99999999999999999999999", "NaN", "Inf", "1795320050.", "0.000000001", "t=1795320050.12345678901234",
	} {
		f.Add([]byte(s), int64(1795320060))
	}
	f.Fuzz(func(t *testing.T, in []byte, nowUnix int64) {
		now := time.Unix(nowUnix%(1<<40), 0) // keep now+24h representable
		got, err := ParseRequestStart(in, now)
		if err != nil {
			if !got.IsZero() {
				t.Fatalf("%q: non-zero time %v with error", in, got)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrImplausibleTime) {
				t.Fatalf("%q: error %v wraps no sentinel", in, err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if got.Before(minEpoch) || got.After(now.Add(24*time.Hour)) {
			t.Fatalf("%q: %v outside [2000, now+24h]", in, got)
		}
	})
}

func FuzzParseSeconds(f *testing.F) {
	for _, s := range []string{"0.012345", " 0.5 ", "", "abc", "-0.1", "1e400", "NaN", "Inf", "86400", "86400.001", "0x1p-2", ".", "1e", "-0"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ParseSeconds(in)
		checkDuration(t, in, d, err)
		// ParseDuration in seconds is the same parser.
		d2, err2 := ParseDuration(in, UnitSeconds)
		if d2 != d || (err == nil) != (err2 == nil) {
			t.Fatalf("%q: ParseSeconds = %v, %v; ParseDuration(s) = %v, %v", in, d, err, d2, err2)
		}
	})
}

func FuzzParseMillis(f *testing.F) {
	for _, s := range []string{"12.345ms", "12.345 ms", "12.345", "500us", "500µs", "2s", "1500ns", "", "ms", "-1ms", "NaN ms", "1e400ms", "1esms", "12.3ms extra"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ParseMillis(in)
		checkDuration(t, in, d, err)
	})
}

func FuzzParseUpstreamSeconds(f *testing.F) {
	for _, s := range []string{"0.000", "2.040", "0.001, 0.002", "- , 0.5", "0.1 : 0.2", "-", "", "-, -", "0.1, abc", "50000, 50000", ",:,"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ParseUpstreamSeconds(in)
		checkDuration(t, in, d, err)
	})
}

func FuzzParseMapping(f *testing.F) {
	for _, s := range []string{
		"queue=X-Queue-Ms:ms", "app=X-App-Time", "start=X-Request-Start", "start=X:ms", "queue=X:epoch",
		" queue = x-q : us ", "app=X-A:µs", "", "=", "bogus=X:ms", "queue=Bad Header:ms", "queue=X:ms:ms",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseMapping(in)
		if err != nil {
			if m != (Mapping{}) || !errors.Is(err, ErrMalformed) || strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("%q: bad error result %+v, %v", in, m, err)
			}
			return
		}
		switch m.Component {
		case ComponentQueue, ComponentApp, ComponentUpstreamConnect:
			if m.Unit.nanos() == 0 {
				t.Fatalf("%q: component %s with unit %v", in, m.Component, m.Unit)
			}
		case ComponentStart:
			if m.Unit != UnitEpoch {
				t.Fatalf("%q: start with unit %v", in, m.Unit)
			}
		default:
			t.Fatalf("%q: unknown component %q", in, m.Component)
		}
		if !isToken(m.Header) {
			t.Fatalf("%q: header %q is not a token", in, m.Header)
		}
		if back, err := ParseMapping(m.String()); err != nil || back != m {
			t.Fatalf("%q: round trip via %q = %+v, %v", in, m.String(), back, err)
		}
	})
}
