package accesslog

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// readAll reads every entry of log in format spec.
func readAll(t testing.TB, log, spec string) ([]Entry, *Reader) {
	t.Helper()
	f, err := ParseFormat(spec)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(strings.NewReader(log), f)
	var out []Entry
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, r
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, e)
	}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// want is the part of an Entry a table checks; Line is checked separately.
type want struct {
	arrival      string
	subSecond    bool
	method, path string
	status       int
	latency      time.Duration // -1: not logged
	upstream     time.Duration // -1: not logged
	client, ua   string
}

func checkEntry(t *testing.T, got Entry, w want) {
	t.Helper()
	if !got.Arrival.Equal(utc(w.arrival)) {
		t.Errorf("arrival %s, want %s", got.Arrival.UTC().Format(time.RFC3339Nano), w.arrival)
	}
	if got.HasSubSecond != w.subSecond {
		t.Errorf("HasSubSecond %v, want %v", got.HasSubSecond, w.subSecond)
	}
	if got.Method != w.method || got.Path != w.path || got.Status != w.status {
		t.Errorf("request %s %s %d, want %s %s %d", got.Method, got.Path, got.Status, w.method, w.path, w.status)
	}
	if lat := durOrNone(got.Latency, got.HasLatency); lat != w.latency {
		t.Errorf("latency %v, want %v", lat, w.latency)
	}
	if up := durOrNone(got.UpstreamLatency, got.HasUpstream); up != w.upstream {
		t.Errorf("upstream %v, want %v", up, w.upstream)
	}
	if got.Client != w.client || got.UserAgent != w.ua {
		t.Errorf("client %q ua %q, want %q %q", got.Client, got.UserAgent, w.client, w.ua)
	}
}

func durOrNone(d time.Duration, has bool) time.Duration {
	if !has {
		return -1
	}
	return d
}

const ms = time.Millisecond

func TestCombinedGood(t *testing.T) {
	const head = `203.0.113.7 - alice [10/Oct/2025:13:55:36 +0200] `
	for _, tc := range []struct {
		name, spec, line string
		want             want
	}{
		{"plain", "combined", head + `"GET /a?x=1 HTTP/1.1" 200 612 "-" "curl/8.5"`,
			want{"2025-10-10T11:55:36Z", false, "GET", "/a?x=1", 200, -1, -1, "203.0.113.7", "curl/8.5"}},
		{"request_time subtracted", "combined+request_time", head + `"POST /p HTTP/2.0" 201 0 "https://r/" "ua x" 0.250`,
			want{"2025-10-10T11:55:35.750Z", false, "POST", "/p", 201, 250 * ms, -1, "203.0.113.7", "ua x"}},
		{"upstream list summed", "combined+request_time+upstream_response_time", head + `"GET /u HTTP/1.1" 502 0 "-" "-" 0.300 0.010, 0.200 : 0.020`,
			want{"2025-10-10T11:55:35.700Z", false, "GET", "/u", 502, 300 * ms, 230 * ms, "203.0.113.7", "-"}},
		{"upstream dash", "combined+request_time+upstream_response_time", head + `"GET /u HTTP/1.1" 499 0 "-" "-" 1.000 -`,
			want{"2025-10-10T11:55:35Z", false, "GET", "/u", 499, time.Second, -1, "203.0.113.7", "-"}},
		{"upstream quoted", "combined+upstream_response_time+request_time", head + `"GET /u HTTP/1.1" 200 0 "-" "-" "0.1, 0.2" 0.5`,
			want{"2025-10-10T11:55:35.500Z", false, "GET", "/u", 200, 500 * ms, 300 * ms, "203.0.113.7", "-"}},
		{"msec is sub-second end", "combined+msec+request_time", head + `"GET /m HTTP/1.1" 200 1 "-" "k6" 1760097336.123 0.100`,
			want{"2025-10-10T11:55:36.023Z", true, "GET", "/m", 200, 100 * ms, -1, "203.0.113.7", "k6"}},
		{"msec without request_time", "$msec", "", want{}}, // placeholder, replaced below
		{"nginx escapes", "combined", head + `"GET /q\x22x HTTP/1.1" 200 1 "-" "a\x22b"`,
			want{"2025-10-10T11:55:36Z", false, "GET", `/q"x`, 200, -1, -1, "203.0.113.7", `a"b`}},
		{"apache escapes", "combined", head + `"GET /q HTTP/1.1" 200 1 "-" "a \"quoted\" ua"`,
			want{"2025-10-10T11:55:36Z", false, "GET", `/q`, 200, -1, -1, "203.0.113.7", `a "quoted" ua`}},
		{"absolute form", "combined", head + `"GET http://h.example:8080/x?y=1 HTTP/1.1" 200 1 "-" "-"`,
			want{"2025-10-10T11:55:36Z", false, "GET", "/x?y=1", 200, -1, -1, "203.0.113.7", "-"}},
		{"HTTP/0.9", "combined", head + `"GET /" 200 1 "-" "-"`,
			want{"2025-10-10T11:55:36Z", false, "GET", "/", 200, -1, -1, "203.0.113.7", "-"}},
		{"skip field", "combined+skip+request_time", head + `"GET / HTTP/1.1" 200 1 "-" "-" "10.1.1.1, 10.2.2.2" 0.001`,
			want{"2025-10-10T11:55:35.999Z", false, "GET", "/", 200, ms, -1, "203.0.113.7", "-"}},
		{"ipv6 and CRLF", "combined", `2001:db8::1 - - [10/Oct/2025:13:55:36 +0200] "OPTIONS * HTTP/1.1" 204 0 "-" "-"` + "\r",
			want{"2025-10-10T11:55:36Z", false, "OPTIONS", "*", 204, -1, -1, "2001:db8::1", "-"}},
	} {
		if tc.spec == "$msec" {
			tc.spec, tc.line = "combined+msec", head+`"GET /m HTTP/1.1" 200 1 "-" "-" 1760097336.123`
			tc.want = want{"2025-10-10T11:55:36.123Z", true, "GET", "/m", 200, -1, -1, "203.0.113.7", "-"}
		}
		t.Run(tc.name, func(t *testing.T) {
			got, r := readAll(t, "\n"+tc.line+"\n", tc.spec)
			if len(got) != 1 {
				t.Fatalf("%d entries, malformed %v", len(got), r.Malformed())
			}
			checkEntry(t, got[0], tc.want)
			if got[0].Line != 2 || r.Lines() != 2 {
				t.Errorf("line %d of %d, want 2 of 2", got[0].Line, r.Lines())
			}
		})
	}
}

// malformedCase is a line that must be counted, not returned.
type malformedCase struct {
	name, line, reason string
}

// checkMalformed reads each case's line between two good ones: both good
// lines come back, the bad one is counted at line 2 with its reason.
func checkMalformed(t *testing.T, spec, good string, cases []malformedCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, r := readAll(t, good+"\n"+tc.line+"\n"+good+"\n", spec)
			if len(got) != 2 || got[0].Line != 1 || got[1].Line != 3 {
				t.Fatalf("got %d entries (want lines 1 and 3); malformed %v", len(got), r.Malformed())
			}
			if r.MalformedCount() != 1 || len(r.Malformed()) != 1 {
				t.Fatalf("malformed %d %v, want 1", r.MalformedCount(), r.Malformed())
			}
			m := r.Malformed()[0]
			if m.Line != 2 || !strings.Contains(m.Reason, tc.reason) {
				t.Errorf("malformed %+v, want line 2 with %q", m, tc.reason)
			}
		})
	}
}

const garbage = "\x00\x01\x02\xff\xfe\x1f\x8b binary \x7f\x80\"\x00"

func TestCombinedMalformed(t *testing.T) {
	const head = `203.0.113.7 - - [10/Oct/2025:13:55:36 +0000] `
	good := head + `"GET / HTTP/1.1" 200 1 "-" "-" 0.010`
	checkMalformed(t, "combined+request_time", good, []malformedCase{
		{"too few fields", head + `"GET / HTTP/1.1" 200`, "fields, combined needs 9"},
		{"missing extra", head + `"GET / HTTP/1.1" 200 1 "-" "-"`, "extra fields"},
		{"undeclared extra", good + " 0.2", "more fields than format"},
		{"bad time", `1.2.3.4 - - [10/Foo/2025:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "-" 0.1`, "bad time"},
		{"unbracketed time", `1.2.3.4 - - 10/Oct/2025:13:55:36 "GET / HTTP/1.1" 200 1 "-" "-" 0.1`, "brackets"},
		{"bad status", head + `"GET / HTTP/1.1" 2x0 1 "-" "-" 0.1`, "bad status"},
		{"status out of range", head + `"GET / HTTP/1.1" 999 1 "-" "-" 0.1`, "bad status"},
		{"unterminated quote", head + `"GET / HTTP/1.1" 200 1 "-" "curl/8 0.1`, "unterminated quote"},
		{"unterminated bracket", `1.2.3.4 - - [10/Oct/2025:13:55:36 +0000 "GET / HTTP/1.1" 200 1 "-" "-" 0.1`, "unterminated ["},
		{"no request", head + `"-" 400 0 "-" "-" 0.000`, "METHOD TARGET PROTOCOL"},
		{"TLS on plain port", head + `"\x16\x03\x01\x00\xF4\x01" 400 157 "-" "-" 0.001`, "METHOD TARGET PROTOCOL"},
		{"bad request_time", head + `"GET / HTTP/1.1" 200 1 "-" "-" abc`, "bad request_time"},
		{"negative request_time", head + `"GET / HTTP/1.1" 200 1 "-" "-" -0.5`, "bad request_time"},
		{"binary garbage", garbage, ""},
		{"a JSON line", `{"msec":1.0,"request":"GET / HTTP/1.1","status":200}`, "fields"},
	})
}

func TestJSONGood(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       want
	}{
		{"testbed qg", `{"msec":1760097336.123,"id":"r-1","request":"GET /x?y=2 HTTP/1.1","status":200,"bytes":5,"request_time":0.100,` +
			`"upstream_addr":"127.0.0.1:9000","upstream_status":"200","upstream_connect_time":"0.000","upstream_header_time":"0.090","upstream_response_time":"0.095"}`,
			want{"2025-10-10T11:55:36.023Z", true, "GET", "/x?y=2", 200, 100 * ms, 95 * ms, "", ""}},
		{"strings everywhere", `{"msec":"1760097336.500","request":"PUT /p HTTP/1.1","status":"204","request_time":"0.5","upstream_response_time":"-","remote_addr":"10.0.0.9","http_user_agent":"Go-http-client/1.1"}`,
			want{"2025-10-10T11:55:36Z", true, "PUT", "/p", 204, 500 * ms, -1, "10.0.0.9", "Go-http-client/1.1"}},
		{"iso8601, method and request_uri", ` { "time_iso8601" : "2025-10-10T13:55:36+02:00", "method":"DELETE", "request_uri":"/r?z", "status":404, "request_time":1.250 } `,
			want{"2025-10-10T11:55:34.750Z", false, "DELETE", "/r?z", 404, 1250 * ms, -1, "", ""}},
		{"time_local, uri and args", `{"time_local":"10/Oct/2025:13:55:36 +0200","method":"GET","uri":"/u","args":"a=1","status":200}`,
			want{"2025-10-10T11:55:36Z", false, "GET", "/u?a=1", 200, -1, -1, "", ""}},
		{"escapes and nesting", `{"msec":1760097336.000,"request":"GET /a\"b\u00e9 HTTP/1.1","status":200,"extra":{"k":[1,"}",{"x":null}]},"ok":true,"n":null,"upstream_response_time":"0.010, 0.020 : 0.030"}`,
			want{"2025-10-10T11:55:36Z", true, "GET", `/a"bé`, 200, -1, 60 * ms, "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, r := readAll(t, tc.line+"\n", "json")
			if len(got) != 1 {
				t.Fatalf("%d entries, malformed %v", len(got), r.Malformed())
			}
			checkEntry(t, got[0], tc.want)
		})
	}
}

func TestJSONMalformed(t *testing.T) {
	good := `{"msec":1760097336.123,"request":"GET / HTTP/1.1","status":200,"request_time":0.001}`
	checkMalformed(t, "json", good, []malformedCase{
		{"not JSON", `203.0.113.7 - - [10/Oct/2025:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "-"`, "not a JSON object"},
		{"no time", `{"request":"GET / HTTP/1.1","status":200}`, "no msec"},
		{"bad msec", `{"msec":"soon","request":"GET / HTTP/1.1","status":200}`, "bad msec"},
		{"bad iso time", `{"time_iso8601":"yesterday","request":"GET / HTTP/1.1","status":200}`, "bad time_iso8601"},
		{"bad status", `{"msec":1.5,"request":"GET / HTTP/1.1","status":"OK"}`, "bad status"},
		{"no status", `{"msec":1.5,"request":"GET / HTTP/1.1"}`, "bad status"},
		{"no request", `{"msec":1.5,"status":200}`, "no request"},
		{"bad request", `{"msec":1.5,"request":"","status":400}`, "METHOD TARGET"},
		{"bad request_time", `{"msec":1.5,"request":"GET / HTTP/1.1","status":200,"request_time":"x"}`, "bad request_time"},
		{"unterminated string", `{"msec":1.5,"request":"GET / HTTP/1.1,"status":200}`, "expected ,"},
		{"unterminated quote at end", `{"msec":1.5,"request":"GET / HTTP/1.1`, "bad JSON string"},
		{"truncated object", `{"msec":1.5,"request":"GET / HTTP/1.1","status":200`, "not closed"},
		{"trailing text", good + ` x`, "text after"},
		{"wrong field count (two objects)", good + good, "text after"},
		{"bad scalar", `{"msec":1.5,"request":"GET / HTTP/1.1","status":20 0}`, "expected ,"},
		{"bad nested", `{"msec":1.5,"x":{"a":"b}`, "nested"},
		{"binary garbage", garbage, "not a JSON object"},
	})
}

const albGood = `http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 ` +
	`"GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 ` +
	`"Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-"`

// albLine builds an ALB line from its interesting fields.
func albLine(client, procs, statuses, request, ua, created string) string {
	return `https 2018-07-02T22:23:00.186641Z app/lb/50dc ` + client + ` 10.0.0.1:80 ` + procs + ` ` + statuses + ` 34 366 ` +
		request + ` ` + ua + ` ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:tg "Root=1-5" "www.example.com" "arn:cert" 1 ` + created + ` "forward" "-" "-"`
}

func TestALBGood(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       want
	}{
		{"AWS example", albGood,
			want{"2018-07-02T22:22:48.364Z", true, "GET", "/", 200, ms, ms, "192.168.131.39", "curl/7.46.0"}},
		{"https path and query, older log without trailing fields", strings.TrimSuffix(albLine("10.1.2.3:4431", "0.001 0.250 0.002", "201 201", `"POST https://www.example.com:443/api/v1/items?x=1&y=2 HTTP/2.0"`, `"Mozilla/5.0 (X11)"`, "2018-07-02T22:22:48.364123Z"), ` "forward" "-" "-"`),
			want{"2018-07-02T22:22:48.364123Z", true, "POST", "/api/v1/items?x=1&y=2", 201, 253 * ms, 250 * ms, "10.1.2.3", "Mozilla/5.0 (X11)"}},
		{"never dispatched (-1 -1 -1)", albLine("192.168.131.39:2817", "-1 -1 -1", "503 -", `"GET http://www.example.com:80/ HTTP/1.1"`, `"-"`, "2018-07-02T22:22:48.364000Z"),
			want{"2018-07-02T22:22:48.364Z", true, "GET", "/", 503, -1, -1, "192.168.131.39", ""}},
		{"target timed out", albLine("192.168.131.39:2817", "0.000 -1 -1", "504 -", `"GET https://h:443/slow HTTP/1.1"`, `"ua"`, "2018-07-02T22:22:38.364000Z"),
			want{"2018-07-02T22:22:38.364Z", true, "GET", "/slow", 504, -1, -1, "192.168.131.39", "ua"}},
		{"response part missing", albLine("192.168.131.39:2817", "0.000 0.120 -1", "460 200", `"GET https://h:443/gone HTTP/1.1"`, `"ua"`, "2018-07-02T22:22:38.364000Z"),
			want{"2018-07-02T22:22:38.364Z", true, "GET", "/gone", 460, -1, 120 * ms, "192.168.131.39", "ua"}},
		{"ipv6 client", albLine("2001:db8::7:51234", "0.000 0.001 0.000", "200 200", `"GET https://h:443/?q HTTP/1.1"`, `"ua"`, "2018-07-02T22:22:38.364000Z"),
			want{"2018-07-02T22:22:38.364Z", true, "GET", "/?q", 200, ms, ms, "2001:db8::7", "ua"}},
		{"host without path", albLine("10.0.0.1:1", "0.000 0.001 0.000", "200 200", `"GET https://h:443 HTTP/1.1"`, `"ua"`, "2018-07-02T22:22:38.364000+00:00"),
			want{"2018-07-02T22:22:38.364Z", true, "GET", "/", 200, ms, ms, "10.0.0.1", "ua"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, r := readAll(t, tc.line+"\n", "alb")
			if len(got) != 1 {
				t.Fatalf("%d entries, malformed %v", len(got), r.Malformed())
			}
			checkEntry(t, got[0], tc.want)
		})
	}
}

func TestALBMalformed(t *testing.T) {
	req := `"GET https://h:443/ HTTP/1.1"`
	checkMalformed(t, "alb", albGood, []malformedCase{
		{"too few fields", albGood[:200], "alb needs at least 22"},
		{"bad creation time", albLine("10.0.0.1:1", "0 0 0", "200 200", req, `"-"`, "2018-13-02T22:22:48.364000Z"), "bad request_creation_time"},
		{"bad time", strings.Replace(albGood, "2018-07-02T22:23:00.186641Z", "2018-07-02T25:23:00.186641Z", 1), "bad time"},
		{"bad status", albLine("10.0.0.1:1", "0 0 0", "2OO 200", req, `"-"`, "2018-07-02T22:22:48.364000Z"), "bad elb_status_code"},
		{"bad processing time", albLine("10.0.0.1:1", "0 abc 0", "200 200", req, `"-"`, "2018-07-02T22:22:48.364000Z"), "bad processing time"},
		{"-2 processing time", albLine("10.0.0.1:1", "0 -2 0", "200 200", req, `"-"`, "2018-07-02T22:22:48.364000Z"), "bad processing time"},
		{"unparsable request", albLine("10.0.0.1:1", "-1 -1 -1", "400 -", `"- http://h:80- -"`, `"-"`, "2018-07-02T22:22:48.364000Z"), "METHOD URL PROTOCOL"},
		{"unterminated quote", albLine("10.0.0.1:1", "0 0 0", "200 200", `"GET https://h:443/ HTTP/1.1`, `-`, "2018-07-02T22:22:48.364000Z"), "quote"},
		{"bad client", albLine("-", "0 0 0", "200 200", req, `"-"`, "2018-07-02T22:22:48.364000Z"), "bad client"},
		{"binary garbage", garbage, ""},
	})
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		spec, want, err string
	}{
		{"combined", "combined", ""},
		{"combined+request_time", "combined+request_time", ""},
		{" combined+$msec+request_time+upstream_response_time ", "combined+msec+request_time+upstream_response_time", ""},
		{"combined+skip+skip+request_time", "combined+skip+skip+request_time", ""},
		{"nginx-json", "json", ""},
		{"ALB", "alb", ""},
		{"combined+request_time+request_time", "", "given twice"},
		{"combined+bytes", "", "unknown field"},
		{"json+msec", "", "no +fields"},
		{"alb+x", "", "no +fields"},
		{"apache", "", "unknown format"},
		{"", "", "unknown format"},
	} {
		f, err := ParseFormat(tc.spec)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseFormat(%q) error %v, want %q", tc.spec, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("ParseFormat(%q): %v", tc.spec, err)
		case tc.err == "" && f.String() != tc.want:
			t.Errorf("ParseFormat(%q) = %s, want %s", tc.spec, f, tc.want)
		}
		if tc.err == "" {
			if back, err := ParseFormat(f.String()); err != nil || back.String() != f.String() {
				t.Errorf("round trip of %s: %v %v", f, back, err)
			}
		}
	}
}
