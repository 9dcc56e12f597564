package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/queuegap/queuegap/profiles/accesslog"
)

// loggedReq is the truth a generated log is written from.
type loggedReq struct {
	arrival time.Time // ms resolution
	latency time.Duration
	method  string
	path    string
	client  string
	ua      string
}

func genRequests(n int, seed uint64) []loggedReq {
	rng := rand.New(rand.NewPCG(seed, 2))
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	methods := []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	reqs := make([]loggedReq, n)
	for i := range reqs {
		at = at.Add(time.Duration(rng.ExpFloat64()*30) * time.Millisecond)
		reqs[i] = loggedReq{
			arrival: at,
			latency: time.Duration(1+rng.IntN(1500)) * time.Millisecond,
			method:  methods[rng.IntN(len(methods))],
			path:    fmt.Sprintf("/api/%s/%d?page=%d", []string{"users", "orders", "items"}[rng.IntN(3)], rng.IntN(40), rng.IntN(3)),
			client:  fmt.Sprintf("10.%d.0.%d", rng.IntN(2), 1+rng.IntN(9)),
			ua:      []string{"PartnerSDK/2.1", "Mozilla/5.0 (X11)", "curl/8.5"}[rng.IntN(3)],
		}
	}
	return reqs
}

// byEnd is reqs in completion order: the order servers log them in.
func byEnd(reqs []loggedReq) []loggedReq {
	out := slices.Clone(reqs)
	slices.SortStableFunc(out, func(a, b loggedReq) int { return a.arrival.Add(a.latency).Compare(b.arrival.Add(b.latency)) })
	return out
}

const clf = "02/Jan/2006:15:04:05 -0700"

func combinedLine(r loggedReq, msec bool) string {
	end := r.arrival.Add(r.latency)
	s := fmt.Sprintf(`%s - - [%s] "%s %s HTTP/1.1" 200 512 "-" "%s" %.3f`, r.client, end.Format(clf), r.method, r.path, r.ua, r.latency.Seconds())
	if msec {
		s += fmt.Sprintf(" %d.%03d", end.Unix(), end.Nanosecond()/1e6)
	}
	return s
}

func jsonLine(r loggedReq) string {
	end := r.arrival.Add(r.latency)
	return fmt.Sprintf(`{"msec":"%d.%03d","remote_addr":"%s","request":"%s %s HTTP/1.1","status":"200","request_time":"%.3f","upstream_response_time":"%.3f","http_user_agent":"%s"}`,
		end.Unix(), end.Nanosecond()/1e6, r.client, r.method, r.path, r.latency.Seconds(), r.latency.Seconds()*0.9, r.ua)
}

func albLogLine(r loggedReq) string {
	end := r.arrival.Add(r.latency)
	third := r.latency / 3
	return fmt.Sprintf(`https %s app/lb/50dc %s:4431 10.0.0.1:80 %.6f %.6f %.6f 200 200 34 366 "%s https://api.example.com:443%s HTTP/1.1" "%s" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:tg "Root=1-5" "api.example.com" "arn:cert" 1 %s "forward" "-" "-"`,
		end.Format("2006-01-02T15:04:05.000000Z"), r.client, third.Seconds(), (r.latency - 2*third).Seconds(), third.Seconds(), r.method, r.path, r.ua, r.arrival.Format("2006-01-02T15:04:05.000000Z"))
}

// writeLog writes lines (in completion order) with a malformed line at
// each of badAt (1-based line numbers), gzipped if asked.
func writeTestLog(t *testing.T, name string, reqs []loggedReq, line func(loggedReq) string, badAt []int, gzipped bool) string {
	t.Helper()
	var b strings.Builder
	lineNo := 1
	for _, r := range byEnd(reqs) {
		for slices.Contains(badAt, lineNo) {
			b.WriteString("this is not a log line\n")
			lineNo++
		}
		b.WriteString(line(r) + "\n")
		lineNo++
	}
	data := []byte(b.String())
	if gzipped {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		zw.Close()
		data = buf.Bytes()
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fromLog runs the command in-process.
func fromLog(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(append([]string{"profiles", "from-log"}, args...))
	err = root.Execute()
	return out.String(), errb.String(), err
}

type replayYAML struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Clients     []struct {
		Name   string `yaml:"name"`
		Replay struct {
			Trace string  `yaml:"trace"`
			Speed float64 `yaml:"speed"`
			Loop  int     `yaml:"loop"`
		} `yaml:"replay"`
	} `yaml:"clients"`
}

// parseProfile reads the profile back and decodes its trace.
func parseProfile(t *testing.T, text string) (replayYAML, *accesslog.Trace) {
	t.Helper()
	var p replayYAML
	if err := yaml.Unmarshal([]byte(text), &p); err != nil {
		t.Fatalf("profile is not YAML: %v\n%s", err, text[:min(len(text), 2000)])
	}
	if len(p.Clients) != 1 || p.Clients[0].Replay.Trace == "" {
		t.Fatalf("profile %+v", p)
	}
	for _, l := range strings.Split(strings.TrimSpace(p.Clients[0].Replay.Trace), "\n") {
		if len(l) > 76 {
			t.Fatalf("trace line of %d columns", len(l))
		}
	}
	bin, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(p.Clients[0].Replay.Trace, "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	var tr accesslog.Trace
	if err := tr.UnmarshalBinary(bin); err != nil {
		t.Fatal(err)
	}
	return p, &tr
}

func mixOf(reqs []loggedReq) map[accesslog.Request]int {
	m := map[accesslog.Request]int{}
	for _, r := range reqs {
		m[accesslog.Request{Method: r.method, Path: r.path}]++
	}
	return m
}

func traceMix(tr *accesslog.Trace) map[accesslog.Request]int {
	m := map[accesslog.Request]int{}
	reqs := tr.Requests()
	for _, i := range tr.Arrivals() {
		m[reqs[i]]++
	}
	return m
}

func TestFromLogSubSecondReproducesInterArrivals(t *testing.T) {
	reqs := genRequests(3000, 1)
	bad := []int{1, 500, 2999}
	for _, tc := range []struct {
		name string
		path string
	}{
		{"combined+msec", writeTestLog(t, "access.log", reqs, func(r loggedReq) string { return combinedLine(r, true) }, bad, false)},
		{"combined+msec gzipped", writeTestLog(t, "access.log.1.gz", reqs, func(r loggedReq) string { return combinedLine(r, true) }, bad, true)},
		{"json", writeTestLog(t, "nginx-json.log", reqs, jsonLine, bad, false)},
		{"alb gzipped", writeTestLog(t, "alb.log.gz", reqs, albLogLine, bad, true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, err := fromLog(t, tc.path)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			p, tr := parseProfile(t, out)
			if tr.Len() != len(reqs) || tr.SecondResolution() {
				t.Fatalf("%d entries (second resolution %v), want %d", tr.Len(), tr.SecondResolution(), len(reqs))
			}
			if !tr.Start().Equal(reqs[0].arrival) {
				t.Errorf("trace starts %s, want the first arrival %s", tr.Start(), reqs[0].arrival)
			}
			var offs []time.Duration
			for off := range tr.Arrivals() {
				offs = append(offs, off)
			}
			worst := time.Duration(0)
			for i := 1; i < len(offs); i++ {
				worst = max(worst, (offs[i] - offs[i-1] - reqs[i].arrival.Sub(reqs[i-1].arrival)).Abs())
			}
			if worst > time.Millisecond {
				t.Errorf("inter-arrival times off by up to %v, want ≤ 1 ms", worst)
			}
			if !maps.Equal(traceMix(tr), mixOf(reqs)) {
				t.Errorf("method/path mix differs from the log's")
			}
			for _, line := range bad {
				if !strings.Contains(stderr, fmt.Sprintf("%s:%d: ", tc.path, line)) {
					t.Errorf("stderr does not name malformed line %d:\n%s", line, stderr)
				}
			}
			want := fmt.Sprintf("%d lines read: %d kept, 0 filtered out, %d malformed", len(reqs)+len(bad), len(reqs), len(bad))
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
			if p.Clients[0].Replay.Speed != 1 || p.Clients[0].Replay.Loop != 1 || strings.Contains(out, "base_url") {
				t.Errorf("replay %+v", p.Clients[0].Replay)
			}
			if !strings.Contains(out, "# Bodies are not in access logs") || strings.Contains(out, "to the second only") {
				t.Errorf("profile comments wrong:\n%s", out[:400])
			}
		})
	}
}

func TestFromLogSecondResolutionKeepsPerSecondCounts(t *testing.T) {
	reqs := genRequests(4000, 3)
	path := writeTestLog(t, "access.log", reqs, func(r loggedReq) string { return combinedLine(r, false) }, []int{7}, false)
	out, stderr, err := fromLog(t, "--format", "combined+request_time", path)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	_, tr := parseProfile(t, out)
	if !tr.SecondResolution() || !strings.Contains(stderr, "to the second only") || !strings.Contains(out, "# Arrival times were logged to the second only") {
		t.Fatalf("second resolution not said:\n%s\n%s", stderr, out[:600])
	}
	want := map[int64]int{}
	for _, r := range reqs {
		want[r.arrival.Add(r.latency).Unix()]++ // $time_local: the end, to the second
	}
	got := map[int64]int{}
	tr.Each(func(off time.Duration, _ accesslog.Request, l accesslog.Logged) {
		got[tr.Start().Add(off+l.Latency).Unix()]++
	})
	if len(got) != len(want) {
		t.Fatalf("%d seconds, want %d", len(got), len(want))
	}
	for s, n := range want {
		if got[s] != n {
			t.Fatalf("second %d: %d requests, want %d", s, got[s], n)
		}
	}
	if !maps.Equal(traceMix(tr), mixOf(reqs)) {
		t.Errorf("method/path mix differs from the log's")
	}
}

func TestFromLogFiltersSpeedLoopAndName(t *testing.T) {
	reqs := genRequests(2000, 5)
	path := writeTestLog(t, "partner.log", reqs, func(r loggedReq) string { return combinedLine(r, true) }, nil, false)
	_, full := func() (string, *accesslog.Trace) {
		out, stderr, err := fromLog(t, path)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		_, tr := parseProfile(t, out)
		return out, tr
	}()
	from, to := reqs[100].arrival, reqs[1500].arrival
	out, stderr, err := fromLog(t, "--client-ip", "10.1.0.0/16", "--client-ip", "10.0.0.3", "--user-agent", "PartnerSDK", "--path-prefix", "/api/orders",
		"--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano), "--speed", "2", "--loop", "3", "--name", "partner-a", path)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var want []loggedReq
	for _, r := range reqs {
		if (strings.HasPrefix(r.client, "10.1.") || r.client == "10.0.0.3") && r.ua == "PartnerSDK/2.1" && strings.HasPrefix(r.path, "/api/orders") &&
			!r.arrival.Before(from) && r.arrival.Before(to) {
			want = append(want, r)
		}
	}
	p, tr := parseProfile(t, out)
	if tr.Len() != len(want) || len(want) == 0 || !maps.Equal(traceMix(tr), mixOf(want)) {
		t.Fatalf("%d requests kept, want %d with the same mix", tr.Len(), len(want))
	}
	if !strings.Contains(stderr, fmt.Sprintf("%d kept, %d filtered out", len(want), len(reqs)-len(want))) {
		t.Errorf("stderr: %s", stderr)
	}
	r := p.Clients[0].Replay
	if p.Name != "partner-a" || r.Speed != 2 || r.Loop != 3 {
		t.Errorf("profile %q speed %v loop %d", p.Name, r.Speed, r.Loop)
	}
	// --speed 2 halves the span: the trace keeps the logged times, the
	// replay runs them at speed 2.
	replayed := time.Duration(float64(full.Span()) / 2)
	_, fast, _ := fromLog(t, "--speed", "2", path)
	if !strings.Contains(fast, "(replayed at speed 2: "+fmtSpan(replayed)+")") {
		t.Errorf("stderr does not give the halved span %s: %s", fmtSpan(replayed), fast)
	}
}

func TestFromLogErrorsTouchNothing(t *testing.T) {
	reqs := genRequests(50, 9)
	path := writeTestLog(t, "a.log", reqs, func(r loggedReq) string { return combinedLine(r, true) }, nil, false)
	outFile := filepath.Join(t.TempDir(), "out.yaml")
	if err := os.WriteFile(outFile, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.log")
	os.WriteFile(garbage, []byte("hello\nworld\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{path, filepath.Join(t.TempDir(), "missing.log")}, "no such file"},
		{[]string{garbage}, "cannot tell the log format"},
		{[]string{"--speed", "0", path}, "--speed"},
		{[]string{"--speed", "-1", path}, "--speed"},
		{[]string{"--loop", "0", path}, "--loop"},
		{[]string{"--format", "nginx", path}, "--format"},
		{[]string{"--client-ip", "10.0.0.300", path}, "not an IP or CIDR"},
		{[]string{"--from", "yesterday", path}, "RFC 3339"},
		{[]string{"--from", "2026-03-02T10:00:00Z", "--to", "2026-03-02T09:00:00Z", path}, "empty"},
		{[]string{"--name", "bad name", path}, "--name"},
		{[]string{"--user-agent", "nobody", path}, "no request left"},
		{[]string{"-o", path, path}, "also an input"},
	} {
		_, stderr, err := fromLog(t, append([]string{"-o", outFile}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || exitCodeOf(err) != exitUsage {
			t.Errorf("%v: %v (exit %d), stderr %q; want exit 2 with %q", tc.args, err, exitCodeOf(err), stderr, tc.want)
		}
		if b, _ := os.ReadFile(outFile); string(b) != "keep me" {
			t.Fatalf("%v: -o was touched", tc.args)
		}
	}
	// And a good run writes it.
	if _, stderr, err := fromLog(t, "-o", outFile, path); err != nil || !strings.Contains(stderr, "wrote "+outFile) {
		t.Fatalf("%v: %s", err, stderr)
	}
	b, _ := os.ReadFile(outFile)
	if _, tr := parseProfile(t, string(b)); tr.Len() != len(reqs) {
		t.Fatalf("%d requests", tr.Len())
	}
}

func exitCodeOf(err error) int {
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitCode(err)
}

func TestFmtSpanAndGrouping(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h0m", 150 * time.Second: "2m30s", 6205 * time.Millisecond: "6.205s", 850 * time.Millisecond: "850ms", 2 * time.Minute: "2m"} {
		if got := fmtSpan(d); got != want {
			t.Errorf("fmtSpan(%v) = %q, want %q", d, got, want)
		}
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1 000", 12345: "12 345", 1234567: "1 234 567"} {
		if got := groupThousands(n); got != want {
			t.Errorf("groupThousands(%d) = %q, want %q", n, got, want)
		}
	}
	if got := defaultReplayName("/var/log/nginx/access.log.1.gz"); got != "replay-access" {
		t.Errorf("default name %q", got)
	}
}
