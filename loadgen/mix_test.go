package loadgen

import (
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// runLanes runs lanes with the given engine and returns every record, copied.
func runLanes(t *testing.T, engine Engine, lanes []Lane) ([]Record, Stats) {
	t.Helper()
	return runConfig(t, Config{Lanes: lanes, Engine: engine})
}

// pathCounter is a server that answers 200 and counts requests by path.
type pathCounter struct {
	mu     sync.Mutex
	byPath map[string]int
	srv    *rawServer
}

func newPathCounter(t *testing.T) *pathCounter {
	pc := &pathCounter{byPath: map[string]int{}}
	pc.srv = newRawServer(t, serveRequests(func(req *http.Request) string {
		pc.mu.Lock()
		pc.byPath[req.Method+" "+req.URL.RequestURI()]++
		pc.mu.Unlock()
		return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	}))
	return pc
}

func (pc *pathCounter) base() string { return "http://" + pc.srv.ln.Addr().String() }

func (pc *pathCounter) counts() map[string]int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	out := map[string]int{}
	for k, v := range pc.byPath {
		out[k] = v
	}
	return out
}

// Over 10 000 requests the mix the server receives matches the weights
// within 2 percentage points, on both keep-alive engines and with new
// connections, and each record's Mix names what was sent.
func TestMixMatchesWeights(t *testing.T) {
	for _, run := range []struct {
		mode   ConnMode
		engine Engine
	}{{KeepAlive, EngineGoroutines}, {KeepAlive, EngineLoop}, {NewConn, EngineGoroutines}, {NewConn, EngineLoop}} {
		t.Run(run.mode.String()+"/"+run.engine.String(), func(t *testing.T) {
			pc := newPathCounter(t)
			mix := []Request{
				{Name: "fast", Weight: 6, URL: pc.base() + "/fast?x=1"},
				{Name: "slow", Weight: 3, URL: pc.base() + "/slow", Method: "POST", Body: []byte("{}")},
				{Name: "rare", Weight: 1, URL: pc.base() + "/rare", Method: "DELETE"},
			}
			want := []string{"GET /fast?x=1", "POST /slow", "DELETE /rare"}
			n := 10000
			rate := 20000.0
			if run.mode == NewConn {
				n, rate = 3000, 3000 // a connection each: fewer, to spare the ports
			}
			c, err := NewClient(ClientConfig{Mix: mix, Mode: run.mode, Connections: 16, RunID: "mix"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			recs, st := runLanes(t, run.engine, []Lane{{Client: c, Seed: 42,
				Schedule: Schedule{Constant{Rate: rate, Duration: time.Duration(float64(n) / rate * float64(time.Second))}}}})
			if len(recs) != n || st.Started != int64(n) {
				t.Fatalf("%d records, %d started, want %d", len(recs), st.Started, n)
			}
			byMix := make([]int, len(mix))
			for _, r := range recs {
				if r.Status != 200 {
					t.Fatalf("status %d %s", r.Status, r.ErrorText)
				}
				byMix[r.Mix]++
			}
			got := pc.counts()
			for i, w := range []float64{0.6, 0.3, 0.1} {
				if got[want[i]] != byMix[i] {
					t.Errorf("%s: server saw %d, records say %d", want[i], got[want[i]], byMix[i])
				}
				share := float64(got[want[i]]) / float64(n)
				if math.Abs(share-w) > 0.02 {
					t.Errorf("%s: %.3f of requests, weight %.2f", want[i], share, w)
				}
			}
		})
	}
}

// The same seed picks the same requests; the picker does not allocate.
func TestMixPickDeterministic(t *testing.T) {
	tab := newAliasTable([]Request{{Weight: 1}, {Weight: 2}, {Weight: 0.5}, {Weight: 7}})
	draw := func(seed uint64) []uint16 {
		rng := newRNG(seed)
		out := make([]uint16, 1000)
		for i := range out {
			out[i] = tab.pick(rng)
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	if !equalU16(a, b) || equalU16(a, c) {
		t.Fatal("seed 7 twice differs, or seeds 7 and 8 agree")
	}
	rng := newRNG(1)
	if n := testing.AllocsPerRun(1000, func() { tab.pick(rng) }); n != 0 {
		t.Fatalf("%v allocations per pick", n)
	}
	// The alias table's exact probabilities: each column's kept share plus
	// what other columns alias to it.
	w := []float64{1, 2, 0.5, 7}
	prob := make([]float64, len(w))
	for i := range w {
		keep := float64(tab.cut[i]) / math.Pow(2, 64)
		prob[i] += keep / float64(len(w))
		prob[tab.alias[i]] += (1 - keep) / float64(len(w))
	}
	for i := range w {
		if math.Abs(prob[i]-w[i]/10.5) > 1e-9 {
			t.Errorf("entry %d: probability %v, want %v", i, prob[i], w[i]/10.5)
		}
	}
}

func equalU16(a, b []uint16) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// A mix is checked entry by entry, with the entry named in the error.
func TestMixValidation(t *testing.T) {
	ok := func(name, url string) Request { return Request{Name: name, Weight: 1, URL: url} }
	for _, tc := range []struct {
		name string
		mix  []Request
		want string
	}{
		{"host", []Request{ok("a", "http://127.0.0.1:8080/a"), ok("b", "http://127.0.0.1:8080/b"), ok("checkout", "http://127.0.0.2:8080/c")},
			`mix[2] "checkout": URL host differs from mix[0]`},
		{"port", []Request{ok("a", "http://127.0.0.1:8080/a"), ok("b", "http://127.0.0.1:8081/b")}, `mix[1] "b": URL port differs from mix[0]`},
		{"default port", []Request{ok("a", "http://127.0.0.1/a"), ok("b", "http://127.0.0.1:80/b")}, ""},
		{"scheme", []Request{ok("a", "http://h:443/a"), ok("b", "https://h/b")}, `mix[1] "b": URL scheme differs from mix[0]`},
		{"zero weight", []Request{ok("a", "http://h/a"), {Name: "b", URL: "http://h/b"}}, `mix[1] "b": weight 0 must be > 0`},
		{"negative weight", []Request{{Weight: -1, URL: "http://h/a"}}, `mix[0]: weight -1 must be > 0`},
		{"NaN weight", []Request{{Weight: math.NaN(), URL: "http://h/a"}}, `mix[0]: weight NaN must be > 0`},
		{"infinite weight", []Request{{Weight: math.Inf(1), URL: "http://h/a"}}, `mix[0]: weight +Inf must be > 0`},
		{"duplicate name", []Request{ok("a", "http://h/a"), ok("a", "http://h/b")}, `mix[1] "a": name used by mix[0] too`},
		{"unnamed twice", []Request{ok("", "http://h/a"), ok("", "http://h/b")}, ""},
		{"bad URL", []Request{ok("a", "http://h/a"), ok("b", "ftp://h/b")}, `mix[1] "b": bad URL "ftp://h/b": scheme must be http or https`},
		{"password hidden", []Request{ok("a", "http://h/a"), ok("b", "http://u:secret@other/b")}, `mix[1] "b": URL host differs from mix[0]`},
		{"bad method", []Request{ok("a", "http://h/a"), {Weight: 1, URL: "http://h/b", Method: "G T"}}, `mix[1]: bad method "G T"`},
		{"bad header", []Request{ok("a", "http://h/a"), {Name: "b", Weight: 1, URL: "http://h/b", Headers: [][2]string{{"Content-Length", "1"}}}},
			`mix[1] "b": header "Content-Length" is managed by queuegap`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(ClientConfig{Mix: tc.mix})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error shows a password: %v", err)
			}
		})
	}
}

// Each entry keeps its own method, path, headers and body; a HEAD entry
// is read without a body while its neighbours' bodies are framed.
func TestMixEntriesRenderTheirOwnRequest(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine Engine) {
		srv := newRawServer(t, serveRequests(func(req *http.Request) string {
			switch {
			case req.Method == "HEAD":
				return "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" // no body follows a HEAD
			case req.Method == "PUT" && req.Header.Get("X-Tag") == "put" && req.ContentLength == 3:
				return "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
			case req.Method == "GET" && req.URL.Path == "/get":
				return "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"
			}
			return "HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n"
		}))
		base := "http://" + srv.ln.Addr().String()
		c, err := NewClient(ClientConfig{Connections: 2, Mix: []Request{
			{Weight: 1, URL: base + "/get"},
			{Weight: 1, URL: base + "/put", Method: "PUT", Body: []byte("abc"), Headers: [][2]string{{"X-Tag", "put"}}},
			{Weight: 1, URL: base + "/head", Method: "HEAD"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		recs, _ := runLanes(t, engine, []Lane{{Client: c, Seed: 3, Schedule: Schedule{Constant{Rate: 1000, Duration: 300 * time.Millisecond}}}})
		want := []int{202, 201, 200}
		seen := make([]int, 3)
		for _, r := range recs {
			if r.Status != want[r.Mix] || r.Error != ErrNone {
				t.Fatalf("mix %d: status %d %s, want %d", r.Mix, r.Status, r.ErrorText, want[r.Mix])
			}
			seen[r.Mix]++
		}
		for i, n := range seen {
			if n == 0 {
				t.Errorf("mix %d never sent in %d requests", i, len(recs))
			}
		}
	})
}

// A mix with its weighted pick, in a lane with a retry behaviour on (that
// never fires), allocates nothing per request either, on both engines.
func TestNoAllocationsPerRequestMix(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates per request itself")
	}
	forEachEngine(t, func(t *testing.T, engine Engine) {
		srv := fastServer(t)
		base := "http://" + srv.ln.Addr().String()
		assertFewAllocsPerRequest(t, func(n int, sink Sink) (Config, func()) {
			c, err := NewClient(ClientConfig{Connections: 4, RunID: "r", Mix: []Request{
				{Weight: 5, URL: base + "/a"}, {Weight: 2, URL: base + "/b", Method: "POST", Body: []byte("x")}, {Weight: 1, URL: base + "/c"}}})
			if err != nil {
				t.Fatal(err)
			}
			return Config{Engine: engine, Sink: sink, Lanes: []Lane{{Client: c, Seed: 1, Schedule: rate5000(n),
				Retry: Retry{OnTimeout: 2, After: time.Second, OnStatus: 2, Statuses: []int{503}}}}}, c.Close
		})
	})
}
