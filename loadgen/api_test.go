package loadgen

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Running out of file descriptors is the generator's limit, not the
// target's: with RLIMIT_NOFILE lowered below a burst of new connections,
// the requests that get no socket are fds_exhausted, never connect_error,
// on every engine.
func TestFDsExhausted(t *testing.T) {
	// Run raises the soft limit to the hard one; here the lowered soft
	// limit stands for a `ulimit -n` (lowering the hard limit could not be
	// undone without privileges).
	defer func(f func() (uint64, uint64, error)) { raiseFDLimit = f }(raiseFDLimit)
	raiseFDLimit = func() (uint64, uint64, error) { return 0, 0, nil }
	// A listener that never accepts: connects complete in its backlog and
	// hold no descriptor of this process on the server side.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	open, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	for _, run := range []struct {
		mode   ConnMode
		engine Engine
	}{{NewConn, EngineGoroutines}, {NewConn, EngineLoop}, {KeepAlive, EngineGoroutines}, {KeepAlive, EngineLoop}} {
		t.Run(run.mode.String()+"/"+run.engine.String(), func(t *testing.T) {
			const burst = 300
			lim := uint64(len(open) + 40)
			low := syscall.Rlimit{Cur: lim, Max: orig.Max}
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
				t.Fatal(err)
			}
			recs, _ := func() ([]Record, Stats) {
				defer func() {
					if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
						t.Fatalf("restoring RLIMIT_NOFILE: %v", err)
					}
				}()
				return collectWith(t, run.engine, ClientConfig{Request: Request{URL: "http://" + ln.Addr().String() + "/"}, Mode: run.mode,
					Connections: burst, Timeout: 300 * time.Millisecond}, Schedule{Burst{Size: burst, Every: time.Millisecond, Count: 1}})
			}()
			if len(recs) != burst {
				t.Fatalf("%d records, want %d", len(recs), burst)
			}
			count := map[ErrorClass]int{}
			for _, r := range recs {
				count[r.Error]++
				if r.Error == ErrConnect || r.Error == ErrOther {
					t.Fatalf("class %q (%s): running out of descriptors must be fds_exhausted", r.Error, r.ErrorText)
				}
			}
			if count[ErrFDsExhausted] < burst/2 || !ErrFDsExhausted.GeneratorLimit() {
				t.Fatalf("classes %v: want most of %d requests fds_exhausted", count, burst)
			}
		})
	}
	low := syscall.Rlimit{Cur: uint64(len(open) + 40), Max: orig.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	if soft, hard, err := RaiseFDLimit(); err != nil || soft != hard || hard != uint64(orig.Max) {
		t.Fatalf("RaiseFDLimit: %d %d %v; want the soft limit raised to the hard %d", soft, hard, err, orig.Max)
	}
}

func TestErrorClassNames(t *testing.T) {
	// Written to files: the names must never change.
	want := map[ErrorClass]string{ErrRefused: "refused", ErrPortsExhausted: "ports_exhausted", ErrProtocol: "protocol_error",
		ErrCanceled: "canceled", ErrOther: "error", ErrFDsExhausted: "fds_exhausted"}
	for c, name := range want {
		if c.String() != name {
			t.Errorf("%d: %q, want %q", c, c.String(), name)
		}
		if back, ok := ParseErrorClass(name); !ok || back != c {
			t.Errorf("ParseErrorClass(%q) = %v %v", name, back, ok)
		}
	}
	for _, c := range ErrorClasses() {
		if c.GeneratorLimit() != (c == ErrPortsExhausted || c == ErrFDsExhausted) {
			t.Errorf("%s: GeneratorLimit %v", c, c.GeneratorLimit())
		}
	}
	if !ErrFDsExhausted.DuringConnect() {
		t.Error("fds_exhausted ends an attempt before anything is sent")
	}
}

func TestRecordPhases(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	tests := []struct {
		name                        string
		rec                         Record
		ready, connect, dns, tlsDur time.Duration
		lag, ttfb, total            time.Duration
	}{
		{"reused connection", Record{Intended: ms(10), Start: ms(11), Written: ms(11.1), FirstByte: ms(20), Done: ms(21)},
			ms(11), 0, 0, 0, ms(1), ms(10), ms(11)},
		{"new connection to an IP", Record{Intended: ms(10), Start: ms(10), ConnectDone: ms(12), Written: ms(12.1), FirstByte: ms(20), Done: ms(20), NewConn: true},
			ms(12), ms(2), 0, 0, 0, ms(10), ms(10)},
		{"new connection with DNS and TLS", Record{Intended: ms(10), Start: ms(10), DNSDone: ms(11), ConnectDone: ms(13), TLSDone: ms(16), Written: ms(16.1), FirstByte: ms(30), Done: ms(31), NewConn: true},
			ms(16), ms(6), ms(1), ms(3), 0, ms(20), ms(21)},
		{"connect never finished", Record{Intended: ms(10), Start: ms(10), Done: ms(1010), NewConn: true, Error: ErrConnectTimeout},
			ms(10), 0, 0, 0, 0, 0, ms(1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rec
			got := []time.Duration{r.Ready(), r.Connect(), r.DNS(), r.TLS(), r.Lag(), r.TTFB(), r.Total()}
			want := []time.Duration{tt.ready, tt.connect, tt.dns, tt.tlsDur, tt.lag, tt.ttfb, tt.total}
			for i, name := range []string{"Ready", "Connect", "DNS", "TLS", "Lag", "TTFB", "Total"} {
				if got[i] != want[i] {
					t.Errorf("%s = %v, want %v", name, got[i], want[i])
				}
			}
		})
	}
}

func TestRedact(t *testing.T) {
	urls := map[string]string{
		"http://user:secretpw@host/x":        "http://user:xxxxx@host/x",
		"https://u:p@127.0.0.1:8443/a?b=c#d": "https://u:xxxxx@127.0.0.1:8443/a?b=c#d",
		"http://user@host/":                  "http://user@host/",
		"http://host/path@x":                 "http://host/path@x",
		"http://user:p@ss@host/":             "http://user:xxxxx@host/",
		"http://user:secretpw@[::1/":         "http://user:xxxxx@[::1/",
		"http://:pw@host":                    "http://:xxxxx@host",
		"http://host/?u=a:b@c":               "http://host/?u=a:b@c",
		"not a url":                          "not a url",
		"user:pw@host:80":                    "user:xxxxx@host:80",
	}
	for in, want := range urls {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
	headers := []struct{ name, value, want string }{
		{"Authorization", "Basic abc", Redacted},
		{"proxy-authorization", "x", Redacted},
		{"Cookie", "a=b", Redacted},
		{"SET-COOKIE", "a=b", Redacted},
		{"X-Custom", "visible", "visible"},
		{"Server-Timing", "app;dur=1", "app;dur=1"},
	}
	for _, h := range headers {
		if got := RedactHeader(h.name, h.value); got != h.want {
			t.Errorf("RedactHeader(%q, %q) = %q, want %q", h.name, h.value, got, h.want)
		}
	}
}

// CheckEngine decides engine applicability from the configuration alone.
func TestCheckEngine(t *testing.T) {
	tests := []struct {
		cc      ClientConfig
		loopErr string // "" if the loop applies
	}{
		{ClientConfig{Request: Request{URL: "http://127.0.0.1:1/"}}, ""},
		{ClientConfig{Request: Request{URL: "http://[::1]:1/"}}, ""},
		{ClientConfig{Request: Request{URL: "http://127.0.0.1:1/"}, Mode: NewConn}, ""},
		{ClientConfig{Request: Request{URL: "https://127.0.0.1:1/"}}, "TLS"},
		{ClientConfig{Request: Request{URL: "https://localhost:1/"}, Mode: NewConn}, "TLS"},
		{ClientConfig{Request: Request{URL: "http://localhost:1/"}}, ""},
		{ClientConfig{Request: Request{URL: "http://localhost:1/"}, Mode: NewConn}, ""},
	}
	for _, tt := range tests {
		err := CheckEngine(EngineLoop, tt.cc)
		if (tt.loopErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.loopErr)) {
			t.Errorf("%s %s: CheckEngine(loop) = %v, want %q", tt.cc.URL, tt.cc.Mode, err, tt.loopErr)
		}
		for _, e := range []Engine{EngineAuto, EngineGoroutines} {
			if err := CheckEngine(e, tt.cc); err != nil {
				t.Errorf("CheckEngine(%s): %v", e, err)
			}
		}
		c, err := NewClient(tt.cc)
		if err != nil {
			t.Fatal(err)
		}
		// Auto takes the loop where it applies, but not (yet) for new
		// connections per request: see autoPicksLoop.
		want := EngineLoop
		if tt.loopErr != "" || tt.cc.Mode == NewConn {
			want = EngineGoroutines
		}
		if got, err := c.EngineFor(EngineAuto); err != nil || got != want {
			t.Errorf("%s: EngineFor(auto) = %s %v, want %s", tt.cc.URL, got, err, want)
		}
	}
}

// The oldest-in-flight view follows the lowest unfinished request, in and
// out of order, and reports nothing once all have finished.
func TestOldestInflight(t *testing.T) {
	var o oldestInflight
	o.start = time.Now()
	if _, ok := o.oldest(); ok {
		t.Fatal("oldest of nothing dispatched")
	}
	for seq := uint64(1); seq <= 5; seq++ {
		o.add(seq, time.Duration(seq)*time.Second)
	}
	check := func(want time.Duration, wantOK bool) {
		t.Helper()
		got, ok := o.oldest()
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("oldest = %v, %v; want %v, %v", got, ok, want, wantOK)
		}
	}
	check(1*time.Second, true)
	o.done(2) // out of order: 1 is still the oldest
	check(1*time.Second, true)
	o.done(1) // 1 and 2 done: 3 is next
	check(3*time.Second, true)
	o.done(5)
	o.done(3)
	check(4*time.Second, true)
	o.done(4)
	check(0, false)
	// Wrapping the window reuses its slots.
	for seq := uint64(6); seq < 6+3*oldestWindow; seq++ {
		o.add(seq, time.Duration(seq))
		o.done(seq)
	}
	check(0, false)
}
