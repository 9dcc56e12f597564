package whatif

import (
	"testing"
	"time"
)

func TestParseLists(t *testing.T) {
	if got, err := ParseInts("4, 6,8", "workers", 1, 100); err != nil || len(got) != 3 || got[1] != 6 {
		t.Errorf("ParseInts = %v, %v", got, err)
	}
	if got, err := ParseDurations("0,30s", "harakiri", 0, time.Hour); err != nil || got[1] != 30*time.Second {
		t.Errorf("ParseDurations = %v, %v", got, err)
	}
	if got, err := ParseWords("tcp,unix", "socket", "tcp", "unix"); err != nil || len(got) != 2 {
		t.Errorf("ParseWords = %v, %v", got, err)
	}
	for _, bad := range []func() error{
		func() error { _, err := ParseInts("", "workers", 1, 100); return err },
		func() error { _, err := ParseInts("4,,6", "workers", 1, 100); return err },
		func() error { _, err := ParseInts("0", "workers", 1, 100); return err },
		func() error { _, err := ParseInts("4.5", "workers", 1, 100); return err },
		func() error { _, err := ParseDurations("-1s", "harakiri", 0, time.Hour); return err },
		func() error { _, err := ParseDurations("30", "harakiri", 0, time.Hour); return err },
		func() error { _, err := ParseWords("udp", "socket", "tcp", "unix"); return err },
		func() error { _, err := ParseFloats("NaN", "cores", 0, 1e6); return err },
	} {
		if err := bad(); err == nil {
			t.Error("bad list accepted")
		}
	}
}

func TestParseShare(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Share
		ok   bool
	}{
		{"0.3", Share{"", 0.3}, true},
		{"users/report=1", Share{"users/report", 1}, true},
		{"a=b=0.5", Share{"a=b", 0.5}, true},
		{"=0.5", Share{}, false},
		{"x=1.5", Share{}, false},
		{"x=", Share{}, false},
		{"NaN", Share{}, false},
	} {
		got, err := ParseShare(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseShare(%q) = %v, %v", tt.in, got, err)
		}
	}
	w := &Workload{Endpoints: []Endpoint{{Name: "a"}, {Name: "b"}}}
	if err := w.ApplyShares([]Share{{"b", 1}, {"", 0.1}}); err != nil || w.Endpoints[0].CPUShare != 0.1 || w.Endpoints[1].CPUShare != 1 {
		t.Errorf("ApplyShares: %v %+v", err, w.Endpoints)
	}
	if err := w.ApplyShares([]Share{{"c", 1}}); err == nil {
		t.Error("a share for an unknown endpoint was accepted")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"4,6,8", "0,30s", "tcp,unix", "a=0.5", "", ",", "1e309", "x=-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := ParseInts(s, "n", 1, 1000); err == nil {
			for _, n := range v {
				if n < 1 || n > 1000 {
					t.Fatalf("ParseInts(%q) = %v", s, v)
				}
			}
		}
		if v, err := ParseFloats(s, "n", 0, 10); err == nil {
			for _, x := range v {
				if !(x >= 0 && x <= 10) {
					t.Fatalf("ParseFloats(%q) = %v", s, v)
				}
			}
		}
		if v, err := ParseDurations(s, "d", 0, time.Hour); err == nil {
			for _, d := range v {
				if d < 0 || d > time.Hour {
					t.Fatalf("ParseDurations(%q) = %v", s, v)
				}
			}
		}
		_, _ = ParseWords(s, "w", "tcp", "unix")
		if sh, err := ParseShare(s); err == nil && !(sh.Share >= 0 && sh.Share <= 1) {
			t.Fatalf("ParseShare(%q) = %v", s, sh)
		}
	})
}
