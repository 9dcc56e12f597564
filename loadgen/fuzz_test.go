package loadgen

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParseStage: whatever it accepts is a valid stage whose String form parses back to the
// same stage, so a --stage printed in a summary can be pasted into the next run.
func FuzzParseStage(f *testing.F) {
	for _, s := range []string{"rate:200:30s", "poisson:200:30s", "burst:40:5s:3", "ramp:10:500:1m",
		"steps:100,200,400:20s", "rate:1e-3:1h", "burst:0:1s:1", "steps::1s", "ramp:1:1:0s", "RATE: 5 : 2s "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStage(s)
		if err != nil {
			if st != nil {
				t.Fatalf("error %v with a stage %v", err, st)
			}
			if strings.ContainsAny(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if err := validateStage(st); err != nil {
			t.Fatalf("accepted %q as an invalid stage: %v", s, err)
		}
		if st.Planned() < -1 || st.Length() < 0 {
			t.Fatalf("%q: planned %d, length %v", s, st.Planned(), st.Length())
		}
		again, err := ParseStage(st.String())
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", s, st.String(), err)
		}
		if !reflect.DeepEqual(again, st) {
			t.Fatalf("%q → %#v → %q → %#v", s, st, st.String(), again)
		}
	})
}

// FuzzParseHeader: an accepted header has a token name and a value that cannot split the
// request (no CR, LF or NUL), and the client renders it without error.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"X-Test: 1", "Host: example.com", "A:", ": v", "X: a\r\nB: c", "X Y: z", "X:\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHeader(s)
		if err != nil {
			return
		}
		if h[0] == "" || strings.ContainsAny(h[0], " \t:\r\n\x00") || strings.ContainsAny(h[1], "\r\n\x00") {
			t.Fatalf("accepted %q as %q", s, h)
		}
	})
}
