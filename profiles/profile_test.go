package profiles

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/profiles/accesslog"
)

// lines joins YAML lines, so a case's line numbers can be read off it.
func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

func TestParseMalformed(t *testing.T) {
	ok := "    stages: [{rate: 10, for: 1s}]"
	cases := []struct {
		name, src string
		want      string // the first error, exactly
	}{
		{"unknown top-level key", lines(
			"name: x",
			"clinets: []"),
			`p.yaml:2:1: clinets: unknown key "clinets" in a profile; allowed: name, description, base_url, clients, notes`},
		{"unknown client key", lines(
			"clients:",
			"  - name: a",
			ok,
			"    rate: 5"),
			`p.yaml:4:5: clients[0].rate: unknown key "rate" in a client; allowed: name, stages, requests, headers, connection, connections, max_inflight, timeout, connect_timeout, seed, retry, replay`},
		{"wrong type: clients a mapping", lines(
			"clients:",
			"  name: a"),
			`p.yaml:2:3: clients: want a list of clients, got a mapping`},
		{"wrong type: connections a string", lines(
			"clients:",
			"  - name: a",
			ok,
			"    connections: many"),
			`p.yaml:4:18: clients[0].connections: want a number of connections, got "many"`},
		{"weight zero", lines(
			"clients:",
			"  - name: a",
			ok,
			"  - name: b",
			ok,
			"    requests:",
			"      - {name: x, weight: 0, path: /fast}",
			"      - {name: y, path: /slow}"),
			`p.yaml:7:27: clients[1].requests[0].weight: 0: must be > 0 (and at most 1e+09)`},
		{"negative weight", lines(
			"clients:",
			"  - name: a",
			ok,
			"    requests:",
			"      - name: x",
			"        weight: -2",
			"      - name: y"),
			`p.yaml:6:17: clients[0].requests[0].weight: -2: must be > 0 (and at most 1e+09)`},
		{"duplicate client names", lines(
			"clients:",
			"  - name: a",
			ok,
			"  - name: a",
			ok),
			`p.yaml:4:11: clients[1].name: "a" is also the name of clients[0]: names must be unique`},
		{"duplicate request names", lines(
			"clients:",
			"  - name: a",
			ok,
			"    requests:",
			"      - {name: x, path: /a}",
			"      - {name: x, path: /b}"),
			`p.yaml:6:16: clients[0].requests[1].name: "x" is also the name of requests[0]: names must be unique within a client`},
		{"missing request name in a mix", lines(
			"clients:",
			"  - name: a",
			ok,
			"    requests:",
			"      - {name: x, path: /a}",
			"      - {path: /b}"),
			`p.yaml:6:9: clients[0].requests[1].name: required when a client has more than one request (it names the endpoint in every report)`},
		{"bad base URL", lines(
			"base_url: ftp://example.com",
			"clients:",
			"  - name: a",
			ok),
			`p.yaml:1:11: base_url: base URL "ftp://example.com": scheme must be http or https`},
		{"path without slash", lines(
			"clients:",
			"  - name: a",
			ok,
			"    requests:",
			"      - path: fast"),
			`p.yaml:5:15: clients[0].requests[0].path: "fast": must start with /`},
		{"bad stage: rate 0", lines(
			"clients:",
			"  - name: a",
			"    stages:",
			"      - {rate: 0, for: 10s}"),
			`p.yaml:4:9: clients[0].stages[0]: rate:0:10s: rate must be > 0`},
		{"bad stage string", lines(
			"clients:",
			"  - name: a",
			"    stages:",
			"      - {rate: 1, for: 1s}",
			`      - "burst:5"`),
			`p.yaml:5:9: clients[0].stages[1]: stage "burst:5": burst takes 3 fields separated by ':'`},
		{"stage with two kinds", lines(
			"clients:",
			"  - name: a",
			"    stages:",
			"      - {rate: 1, burst: 5, for: 1s}"),
			`p.yaml:4:19: clients[0].stages[0]: both rate and burst: one kind per stage (list them as separate stages)`},
		{"stage missing for", lines(
			"clients:",
			"  - name: a",
			"    stages:",
			"      - {ramp: '1:10'}"),
			`p.yaml:4:9: clients[0].stages[0].for: missing: how long the ramp lasts, e.g. for: 1m`},
		{"stage unknown key", lines(
			"clients:",
			"  - name: a",
			"    stages:",
			"      - {burst: 5, every: 1s, times: 3}"),
			`p.yaml:4:31: clients[0].stages[0].times: unknown key "times" in a burst stage; allowed: burst, every, count`},
		{"body and body_file", lines(
			"clients:",
			"  - name: a",
			ok,
			"    requests:",
			"      - body: hi",
			"        body_file: b.json"),
			`p.yaml:6:9: clients[0].requests[0].body_file: give body or body_file, not both`},
		{"missing clients", lines(
			"name: x",
			"description: nothing"),
			`p.yaml:1:1: clients: missing: a profile needs at least one client (clients: [{name: ..., stages: [...]}])`},
		{"empty clients", lines(
			"clients: []"),
			`p.yaml:1:10: clients: empty: give at least one client`},
		{"empty requests", lines(
			"clients:",
			"  - name: a",
			ok,
			"    requests: []"),
			`p.yaml:4:15: clients[0].requests: empty: give at least one request, or leave requests out for one GET /`},
		{"bad duration", lines(
			"clients:",
			"  - name: a",
			ok,
			"    timeout: 10"),
			`p.yaml:4:14: clients[0].timeout: want a duration with a unit, like 500ms, 10s or 2m, got the number 10`},
		{"bad duration text", lines(
			"clients:",
			"  - name: a",
			"    stages: [{rate: 1, for: ten}]"),
			`p.yaml:3:29: clients[0].stages[0].for: want a duration with a unit, like 500ms, 10s or 2m, got "ten"`},
		{"bad status", lines(
			"clients:",
			"  - name: a",
			ok,
			"    retry:",
			"      on_status: {statuses: [502, 600]}"),
			`p.yaml:5:35: clients[0].retry.on_status.statuses[1]: 600: want 100 to 599`},
		{"negative max", lines(
			"clients:",
			"  - name: a",
			ok,
			"    retry:",
			"      on_timeout:",
			"        max: -1"),
			`p.yaml:6:14: clients[0].retry.on_timeout.max: -1: want 0 to 100`},
		{"replay and stages", lines(
			"clients:",
			"  - name: a",
			ok,
			"    replay: {trace: QUJD}"),
			`p.yaml:4:5: clients[0].replay: replay replaces stages and requests (the trace holds both): give replay or stages, not both`},
		{"bad base64", lines(
			"clients:",
			"  - name: a",
			"    replay:",
			"      trace: 'not*base64'"),
			`p.yaml:4:14: clients[0].replay.trace: not base64: illegal base64 data at input byte 3`},
		{"trace not a trace", lines(
			"clients:",
			"  - name: a",
			"    replay:",
			"      trace: QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"),
			`p.yaml:4:14: clients[0].replay.trace: not a trace (bad magic or too short)`},
		{"tab indentation", lines(
			"clients:",
			"  - name: a",
			"\tstages: []"),
			`p.yaml:3:1: YAML syntax: found a tab character that violates indentation (a tab: YAML indents with spaces only)`},
		{"YAML syntax error", lines(
			"clients:",
			"  - name: a",
			"    stages: [{rate: 1, for: 1s}",
			"    timeout: 1s"),
			`p.yaml:3:13: YAML syntax: did not find expected ',' or ']' (the list opened here is never closed)`},
		{"repeated key", lines(
			"clients:",
			"  - name: a",
			ok,
			"    name: b"),
			`p.yaml:4:5: clients[0].name: repeated (first at line 2)`},
		{"bad header", lines(
			"clients:",
			"  - name: a",
			ok,
			"    headers: [NoColon]"),
			`p.yaml:4:15: clients[0].headers[0]: "NoColon": want "Name: value"`},
		{"client name charset", lines(
			"clients:",
			"  - name: partner a",
			ok),
			`p.yaml:2:11: clients[0].name: "partner a": use letters, digits, '.', '_' and '-' (at most 200)`},
		{"connections with new", lines(
			"clients:",
			"  - name: a",
			ok,
			"    connection: new",
			"    connections: 5"),
			`p.yaml:5:5: clients[0].connections: sizes the keep-alive pool; with connection: new every request opens its own`},
		{"spike too long", lines(
			"clients:",
			"  - name: a",
			"    stages: [{spike: 100, base: 1, for: 5s, spike_for: 5s}]"),
			`p.yaml:3:14: clients[0].stages[0]: spike_for 5s must be shorter than for 5s (the spike sits in the middle of the stage)`},
		{"empty file", "",
			`p.yaml:1:1: empty profile: want a mapping with at least clients:`},
		{"two documents", lines(
			"clients: []",
			"---",
			"clients: []"),
			`p.yaml:2:1: a second YAML document: one profile per file`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse("p.yaml", []byte(c.src), t.TempDir())
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T %v: want Errors", err, err)
			}
			if got := es[0].Error(); got != c.want {
				t.Errorf("got  %s\nwant %s\n(all: %v)", got, c.want, err)
			}
			for _, e := range es {
				if strings.Contains(e.Error(), "\n") {
					t.Errorf("a multi-line error: %q", e.Error())
				}
			}
		})
	}
}

func TestParseBuildsClients(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "body.json"), []byte(`{"a":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	src := lines(
		"description: two clients",
		"base_url: http://127.0.0.1:8080/api/",
		"clients:",
		"  - name: partner-a",
		"    stages:",
		"      - {burst: 20, every: 10s, count: 3}",
		`      - "rate:5:10s"`,
		"      - {poisson: 5, for: 10s}",
		"      - {ramp: [1, 9], for: 10s}",
		"      - {steps: [1, 2], each: 5s}",
		"      - {spike: 20, base: 2, for: 10s, spike_for: 2s}",
		"    requests:",
		"      - name: checkout",
		"        weight: 9",
		"        method: post",
		`        path: "/sleep?ms=100"`,
		"        headers: {Content-Type: application/json}",
		"        body_file: body.json",
		"      - name: browse",
		"        headers: [\"Accept: text/html\"]",
		"    headers: {X-Partner: a}",
		"    connections: 8",
		"    max_inflight: 100",
		"    timeout: 10s",
		"    connect_timeout: 2s",
		"    seed: 7",
		"    retry:",
		"      on_timeout: {max: 1, after: 1s}",
		"      on_status: {statuses: [502, 503], max: 3, backoff: 500ms, factor: 2, max_backoff: 10s}",
		"  - name: new-conns",
		"    stages: [{rate: 2, for: 1s}]",
		"    connection: new")
	p, err := Parse(filepath.Join(dir, "two.yaml"), []byte(src), dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "two" || p.Description != "two clients" || len(p.Clients) != 2 {
		t.Fatalf("profile %q %q %d clients", p.Name, p.Description, len(p.Clients))
	}
	a := p.Clients[0]
	if got := len(a.Schedule); got != 6 {
		t.Errorf("%d stages: %s", got, a.Schedule)
	}
	if ps, ok := a.Schedule[2].(loadgen.Poisson); !ok || ps.Seed == 0 {
		t.Errorf("stage 3 %#v: want a seeded Poisson", a.Schedule[2])
	}
	if len(a.Config.Mix) != 2 {
		t.Fatalf("mix %+v", a.Config.Mix)
	}
	co := a.Config.Mix[0]
	if co.Name != "checkout" || co.Weight != 9 || co.Method != "POST" || string(co.Body) != `{"a":1}` {
		t.Errorf("checkout %+v", co)
	}
	if want := [][2]string{{"X-Partner", "a"}, {"Content-Type", "application/json"}}; !equalHeaders(co.Headers, want) {
		t.Errorf("headers %v, want %v", co.Headers, want)
	}
	if br := a.Config.Mix[1]; br.Method != "GET" || br.Weight != 1 || !equalHeaders(br.Headers, [][2]string{{"X-Partner", "a"}, {"Accept", "text/html"}}) {
		t.Errorf("browse %+v", br)
	}
	if a.Config.Connections != 8 || a.MaxInflight != 100 || a.Config.Timeout != 10*time.Second || a.Config.ConnectTimeout != 2*time.Second {
		t.Errorf("client config %+v max inflight %d", a.Config, a.MaxInflight)
	}
	wantRetry := loadgen.Retry{OnTimeout: 1, After: time.Second, OnStatus: 3, Statuses: []int{502, 503}, Backoff: 500 * time.Millisecond, Factor: 2, MaxBackoff: 10 * time.Second}
	if r := a.Retry; r.OnTimeout != wantRetry.OnTimeout || r.After != wantRetry.After || r.OnStatus != 3 || len(r.Statuses) != 2 || r.Backoff != wantRetry.Backoff || r.Factor != 2 || r.MaxBackoff != wantRetry.MaxBackoff {
		t.Errorf("retry %+v, want %+v", r, wantRetry)
	}
	b := p.Clients[1]
	if b.Config.Mode != loadgen.NewConn || len(b.Config.Mix) != 0 || b.Config.Method != "GET" {
		t.Errorf("new-conns %+v", b.Config)
	}

	// The profile's base URL, or the run's, which wins.
	if err := p.Resolve(""); err != nil {
		t.Fatal(err)
	}
	if got := p.Clients[0].Config.Mix[0].URL; got != "http://127.0.0.1:8080/api/sleep?ms=100" {
		t.Errorf("resolved %q", got)
	}
	if got := p.Clients[1].Config.URL; got != "http://127.0.0.1:8080/api/" {
		t.Errorf("default request resolved to %q", got)
	}
	if err := p.Resolve("http://10.0.0.1:9000"); err != nil {
		t.Fatal(err)
	}
	if got := p.Clients[0].Config.Mix[1].URL; got != "http://10.0.0.1:9000/" {
		t.Errorf("re-resolved %q", got)
	}
	if got := p.Clients[0].Config.URL; got != "http://10.0.0.1:9000/sleep?ms=100" {
		t.Errorf("Config.Request follows Mix[0]: %q", got)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("a parsed profile does not validate: %v", err)
	}
	if err := p.Resolve("ftp://x"); err == nil {
		t.Error("Resolve accepted an ftp URL")
	}
}

func TestResolveNeedsABaseURL(t *testing.T) {
	p, err := Parse("p.yaml", []byte("clients: [{name: a, stages: [{rate: 1, for: 1s}]}]"), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resolve(""); err == nil || !strings.Contains(err.Error(), "no base_url") {
		t.Errorf("Resolve without any base URL: %v", err)
	}
	if err := p.Resolve("http://127.0.0.1:1"); err != nil || p.Clients[0].Config.URL != "http://127.0.0.1:1/" {
		t.Errorf("Resolve: %v, URL %q", err, p.Clients[0].Config.URL)
	}
}

func TestShippedProfilesValidate(t *testing.T) {
	infos := Shipped()
	want := []string{"fast-slow-mix", "morning-ramp", "partner-cron", "refresh-storm", "spike"}
	if len(infos) != len(want) {
		t.Fatalf("%d shipped profiles, want %v", len(infos), want)
	}
	for i, info := range infos {
		if info.Name != want[i] {
			t.Errorf("shipped[%d] = %s, want %s", i, info.Name, want[i])
		}
		if info.Description == "" || !strings.Contains(info.Reproduces, "Field report") {
			t.Errorf("%s: description %q, header %q: want both, the header naming its field report", info.Name, info.Description, info.Reproduces)
		}
		p, err := Load(info.Name)
		if err != nil {
			t.Fatalf("%s: %v", info.Name, err)
		}
		if p.Source != "shipped:"+info.Name || p.Name != info.Name {
			t.Errorf("%s: source %q name %q", info.Name, p.Source, p.Name)
		}
		if d := p.Length(); d < time.Minute || d > 5*time.Minute {
			t.Errorf("%s lasts %v: keep shipped profiles 1–5 min", info.Name, d)
		}
		// Runnable unchanged against the testbed or the embedded target:
		// the run's URL is all they need.
		if err := p.Resolve("http://127.0.0.1:8080"); err != nil {
			t.Errorf("%s: %v", info.Name, err)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", info.Name, err)
		}
		for i := range p.Clients {
			c := &p.Clients[i]
			for _, r := range c.Requests() {
				if !strings.HasPrefix(r.URL, "http://127.0.0.1:8080/fast") && !strings.HasPrefix(r.URL, "http://127.0.0.1:8080/sleep?ms=") && !strings.HasPrefix(r.URL, "http://127.0.0.1:8080/cpu?ms=") {
					t.Errorf("%s: %s requests %s, which the testbed does not serve", info.Name, c.Name, r.URL)
				}
			}
			// A 4-worker testbed: no client asks for more than a few hundred a second.
			if r := c.Schedule.Rate(); r > 200 {
				t.Errorf("%s: %s averages %.0f req/s", info.Name, c.Name, r)
			}
			t.Logf("%s", c.Summary())
		}
	}
	if _, err := Load("no-such-profile"); err == nil || !strings.Contains(err.Error(), "partner-cron") {
		t.Errorf("unknown name: %v (want the shipped names listed)", err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mine.yaml")
	if err := os.WriteFile(path, []byte("clients:\n  - {name: a, stages: [{rate: 1, for: 1s}], timeout: 0s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":2:54: clients[0].timeout: 0s: must be > 0") {
		t.Errorf("Load: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("a %d-byte file: %v", MaxFileBytes+1, err)
	}
}

func TestSpikeKeepsLength(t *testing.T) {
	s := loadgen.Schedule([]loadgen.Stage{loadgen.Spike{Base: 10, Peak: 100, Duration: 60 * time.Second, SpikeFor: 5 * time.Second}})
	if s.Length() != time.Minute || s.Planned() != 10*55+100*5 {
		t.Errorf("spike as %s: %v, %d planned", s, s.Length(), s.Planned())
	}
}

// replayProfile writes a trace as from-log would and parses a profile
// replaying it.
func replayProfile(t *testing.T, extra string) (*Profile, *accesslog.Trace) {
	t.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := accesslog.NewTrace(start)
	paths := []string{"/users/1", "/users/2", "/fast", "/users/3?x=1"}
	for i := range 40 {
		tr.Add(accesslog.Entry{Arrival: start.Add(time.Duration(i) * 25 * time.Millisecond), Method: "GET", Path: paths[i%len(paths)], Status: 200, HasSubSecond: true})
	}
	b, err := tr.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.qgtrace"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	src := lines(
		"clients:",
		"  - name: partner",
		"    replay:",
		"      trace_file: x.qgtrace",
		extra)
	p, err := Parse(filepath.Join(dir, "r.yaml"), []byte(src), dir)
	if err != nil {
		t.Fatal(err)
	}
	return p, tr
}

func TestReplayClient(t *testing.T) {
	p, tr := replayProfile(t, "      speed: 2")
	c := p.Clients[0]
	if len(c.Config.Mix) != 4 {
		t.Fatalf("mix %+v", c.Config.Mix)
	}
	// Requests differing only in an id share their endpoint's name.
	names := map[string]float64{}
	for _, r := range c.Config.Mix {
		names[r.Name] += r.Weight
	}
	if names["GET /users/:id"] != 30 || names["GET /fast"] != 10 {
		t.Errorf("names and weights %v", names)
	}
	if c.Schedule.Planned() != int64(tr.Len()) {
		t.Errorf("planned %d, trace %d", c.Schedule.Planned(), tr.Len())
	}
	// A replay lasts its span plus one mean gap (where a next loop would begin).
	if got, want := c.Schedule.Length(), tr.Span()/2; got < want || got > want*11/10 {
		t.Errorf("speed 2: length %v, want about %v", got, want)
	}
	if len(p.Notes) == 0 || !strings.Contains(strings.Join(p.Notes, " "), "no bodies") {
		t.Errorf("notes %q: want the missing bodies said", p.Notes)
	}
	if err := p.Resolve("http://127.0.0.1:1"); err != nil || c.Config.Mix[3].URL != "http://127.0.0.1:1/users/3?x=1" {
		t.Errorf("resolve: %v %q", err, c.Config.Mix[3].URL)
	}

	// The same trace inline, base64 and wrapped over lines.
	b, _ := tr.MarshalBinary()
	enc := base64Lines(b, 60)
	inline := "clients:\n  - name: partner\n    replay:\n      loop: 2\n      trace: |\n" + enc
	p2, err := Parse("i.yaml", []byte(inline), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := p2.Clients[0].Schedule.Planned(); got != int64(2*tr.Len()) {
		t.Errorf("loop 2 plans %d", got)
	}
}

func base64Lines(b []byte, width int) string {
	s := encodeStd(b)
	var out strings.Builder
	for len(s) > 0 {
		n := min(width, len(s))
		out.WriteString("        " + s[:n] + "\n")
		s = s[n:]
	}
	return out.String()
}

func equalHeaders(a, b [][2]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
