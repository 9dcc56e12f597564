package session

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestReadAccessLogsAsResults(t *testing.T) {
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	type req struct {
		arrivalMs, latencyMs int
		method, path         string
		status               int
	}
	reqs := []req{
		{0, 120, "GET", "/users/17?x=1", 200},
		{40, 30, "GET", "/users/18", 200},
		{45, 900, "POST", "/orders", 201},
		{300, 5, "GET", "/users/550e8400-e29b-41d4-a716-446655440000", 404},
		{310, 2000, "GET", "/slow", 504},
	}
	var combined, jsonl strings.Builder
	combined.WriteString("garbage first line\n")
	for _, r := range reqs {
		end := base.Add(time.Duration(r.arrivalMs+r.latencyMs) * time.Millisecond)
		fmt.Fprintf(&combined, `10.0.0.1 - - [%s] "%s %s HTTP/1.1" %d 1 "-" "ua" %d.%03d %d.%03d`+"\n",
			end.Format("02/Jan/2006:15:04:05 -0700"), r.method, r.path, r.status, r.latencyMs/1000, r.latencyMs%1000, end.Unix(), end.Nanosecond()/1e6)
		fmt.Fprintf(&jsonl, `{"msec":%d.%03d,"request":"%s %s HTTP/1.1","status":%d,"request_time":"%d.%03d","upstream_response_time":"0.001"}`+"\n",
			end.Unix(), end.Nanosecond()/1e6, r.method, r.path, r.status, r.latencyMs/1000, r.latencyMs%1000)
	}
	alb := func(procs, status, path, created string) string {
		return `https 2026-03-02T09:00:05.000000Z app/lb/1 10.0.0.9:5000 10.0.0.1:80 ` + procs + ` ` + status + ` 1 1 "GET https://h:443` + path +
			` HTTP/1.1" "ua" - - arn:tg "Root=1" "h" "-" 0 ` + created + ` "forward" "-" "-"`
	}
	albLog := alb("0.001 0.100 0.001", "200 200", "/items/123", "2026-03-02T09:00:00.000000Z") + "\n" +
		alb("-1 -1 -1", "502 -", "/items/124", "2026-03-02T09:00:00.500000Z") + "\n" +
		alb("0.000 0.010 0.000", "200 200", "/items/125", "2026-03-02T09:00:00.250000Z") + "\n"

	for _, tc := range []struct {
		name, file string
		data       []byte
		names      map[string]int
		totalMs    []int // in file order
		outcomes   map[string]int64
		warn       string
	}{
		{"combined+msec gzipped", "access.log.gz", gzipped(combined.String()),
			map[string]int{"GET /users/:id": 3, "POST /orders": 1, "GET /slow": 1}, []int{120, 30, 900, 5, 2000},
			map[string]int64{analyze.OutcomeOK: 3, analyze.OutcomeHTTP4xx: 1, analyze.OutcomeGatewayTimeout: 1}, "line 1:"},
		{"json", "access.json", []byte(jsonl.String()),
			map[string]int{"GET /users/:id": 3, "POST /orders": 1, "GET /slow": 1}, []int{120, 30, 900, 5, 2000},
			map[string]int64{analyze.OutcomeOK: 3, analyze.OutcomeHTTP4xx: 1, analyze.OutcomeGatewayTimeout: 1}, "access log"},
		{"alb with a never-dispatched request", "alb.log", []byte(albLog),
			map[string]int{"GET /items/:id": 3}, []int{102, 0, 10},
			map[string]int64{analyze.OutcomeOK: 2, analyze.OutcomeNotDispatched: 1}, "never dispatched"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.file, tc.data)
			names := map[string]int{}
			var totals []int
			var intended []time.Duration
			s, err := Read([]string{path}, ReadOptions{Timeline: true, Final: func(run *analyze.RunInfo, r *analyze.Result) {
				names[r.Name]++
				totals = append(totals, int(r.Total()/time.Millisecond))
				intended = append(intended, r.Intended)
				if !r.FromLog || r.FirstByte != 0 || r.Connect() != 0 || r.Attr.Sum() != r.Total() {
					t.Errorf("result %+v: want a log result with no client phases, attributed in full", r)
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(names) != fmt.Sprint(tc.names) || fmt.Sprint(totals) != fmt.Sprint(tc.totalMs) {
				t.Errorf("names %v totals %v; want %v %v", names, totals, tc.names, tc.totalMs)
			}
			if slicesMin(intended) != 0 {
				t.Errorf("intended offsets %v: want the earliest arrival at 0", intended)
			}
			for o, n := range tc.outcomes {
				if s.Outcomes[o] != n {
					t.Errorf("outcome %s: %d, want %d (all %v)", o, s.Outcomes[o], n, s.Outcomes)
				}
			}
			if !strings.Contains(strings.Join(s.Warnings, "\n"), tc.warn) {
				t.Errorf("warnings %q lack %q", s.Warnings, tc.warn)
			}
		})
	}
	// Compare: production (the log) next to itself, as analyze --compare does.
	a, err := Read([]string{writeFile(t, "prod.log", []byte(jsonl.String()))}, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := analyze.Compare(a, a)
	if err := c.WriteText(&out, "prod.log", "prod.log"); err != nil || !strings.Contains(out.String(), "total") {
		t.Fatalf("compare: %v\n%s", err, out.String())
	}
}

func slicesMin(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = min(m, d)
	}
	return m
}
