package analyze

import (
	"github.com/queuegap/queuegap/loadgen"

	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fullResult has every field set, all times on whole microseconds.
func fullResult() Result {
	us := func(n int64) time.Duration { return time.Duration(n) * time.Microsecond }
	r := Result{Record: loadgen.Record{
		Seq:      123456789,
		Intended: us(1_000_001), Start: us(1_002_003), DNSDone: us(1_002_504), ConnectDone: us(1_003_006), TLSDone: us(1_004_005),
		Written: us(1_004_105), FirstByte: us(3_456_789), Done: us(3_467_891),
		NewConn: true, WaitedSlot: true, WaitedConn: true, SynRetrans: 2, Retrans: 3,
		Status: 502, BytesIn: 4321, BytesOut: 87,
		Error: loadgen.ErrProtocol, ErrorText: "unexpected EOF",
		Attempt: 2, RetryOf: 123456700,
	}, RequestID: "run-123456789", Name: "GET /users/:id", Client: "partner-a", Outcome: "protocol_error"}
	r.Server = ServerTiming{
		HasQueue: true, Queue: us(300_001), HasApp: true, App: us(100_999),
		HasStart: true, Start: time.UnixMicro(1_748_779_200_123_456),
		HasUpstreamConnect: true, UpstreamConnect: us(2_040_000), HasUpstreamHeader: true, UpstreamHeader: us(2_441_001),
		Invalid: 3,
	}
	r.Attr.Parts = [numComponents]time.Duration{us(1002), us(2002), us(1), us(300_001), us(100_999), us(2_051_686), us(11_102)}
	r.Attr.Estimated, r.Attr.Clamped = true, true
	return r
}

var testInfo = RunInfo{RunID: "abc", URL: "http://127.0.0.1:8080/x?y=\"z\"", Method: "GET", Schedule: "burst:40x1@1s",
	ConnMode: "new", Start: time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC), Planned: 40, MaxInflight: 10000}

func resultsFile(info RunInfo, rs ...Result) []byte {
	var b bytes.Buffer
	h, _ := json.Marshal(runLine{Kind: "run", Version: resultsVersion, RunInfo: info})
	b.Write(h)
	b.WriteByte('\n')
	for i := range rs {
		b.Write(appendResult(nil, &rs[i], true))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func readAll(t *testing.T, data []byte) (RunInfo, ReadStats, []Result, error) {
	t.Helper()
	var out []Result
	st, err := ReadResults(bytes.NewReader(data), func(_ *RunInfo, r *Result) error {
		out = append(out, *r)
		return nil
	})
	var info RunInfo
	if len(st.Runs) > 0 {
		info = st.Runs[len(st.Runs)-1]
	}
	return info, st, out, err
}

// roundToMicro rounds every duration of r to the nearest µs, to compare
// through the file's µs-resolution decimal milliseconds.
func roundToMicro(r *Result) {
	rd := func(d *time.Duration) { *d = d.Round(time.Microsecond) }
	for _, d := range []*time.Duration{&r.Intended, &r.Start, &r.DNSDone, &r.ConnectDone, &r.TLSDone, &r.Written, &r.FirstByte, &r.Done,
		&r.Server.Queue, &r.Server.App, &r.Server.UpstreamConnect, &r.Server.UpstreamHeader} {
		rd(d)
	}
	for i := range r.Attr.Parts {
		rd(&r.Attr.Parts[i])
	}
}

func equalResults(a, b Result) bool {
	if !a.Server.Start.Equal(b.Server.Start) {
		return false
	}
	a.Server.Start, b.Server.Start = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func TestResultsRoundTrip(t *testing.T) {
	want := fullResult()
	minimal := Result{Record: loadgen.Record{Seq: 1, Intended: time.Microsecond, Start: time.Microsecond, Done: 2 * time.Microsecond,
		Error: loadgen.ErrRefused, ErrorText: "connection refused"}, Outcome: "refused"}
	minimal.Attr.Parts[iConnect] = time.Microsecond
	data := resultsFile(testInfo, want, minimal)
	if !json.Valid(bytes.Split(data, []byte("\n"))[1]) {
		t.Fatalf("invalid JSON line: %s", data)
	}
	var gotInfo RunInfo
	st, err := ReadResults(bytes.NewReader(data), func(i *RunInfo, r *Result) error {
		gotInfo = *i
		got := *r
		roundToMicro(&got)
		w := want
		if r.Seq == 1 {
			w = minimal
		}
		if !equalResults(got, w) {
			t.Errorf("round trip of seq %d:\n got %+v\nwant %+v", r.Seq, got, w)
		}
		// Without rounding, nothing may be off by a µs or more.
		if d := r.Done - w.Done; d <= -time.Microsecond || d >= time.Microsecond {
			t.Errorf("done %v, want %v", r.Done, w.Done)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Results != 2 || st.Lines != 3 || st.Truncated {
		t.Errorf("stats %+v, want 2 results on 3 lines", st)
	}
	info := st.Runs[0]
	if !gotInfo.Start.Equal(testInfo.Start) || !info.Start.Equal(testInfo.Start) {
		t.Errorf("run start %v / %v, want %v", gotInfo.Start, info.Start, testInfo.Start)
	}
	gotInfo.Start, info.Start = testInfo.Start, testInfo.Start
	if gotInfo != testInfo || info != testInfo {
		t.Errorf("run info\n got %+v\nwant %+v", info, testInfo)
	}
}

// TestResultsRoundTripExact: every duration in a file is a whole number of
// µs, so reading must give back exactly those µs (ms*1e6 in floating point
// reads "1.001" as 1000999ns), and re-encoding must give the same line.
// TestReadResultsLabels: a file with more distinct names than MaxLabels
// reads the rest as OtherLabel and says so; a line without labels (as
// every v1 and older v2 file has) reads as the unnamed group.
func TestReadResultsLabels(t *testing.T) {
	// MaxLabels+3 distinct names, each twice, an unnamed line between.
	var rs []Result
	for range 2 {
		for i := range MaxLabels + 3 {
			for _, name := range []string{"n" + strconv.Itoa(i), ""} {
				rs = append(rs, Result{Record: loadgen.Record{Seq: uint64(len(rs) + 1), Done: time.Millisecond}, Outcome: OutcomeOK, Name: name})
			}
		}
	}
	_, st, got, err := readAll(t, resultsFile(testInfo, rs...))
	if err != nil || len(got) != len(rs) {
		t.Fatalf("%v, %d results", err, len(got))
	}
	other := 0
	for i := range got {
		want := rs[i].Name
		if n, _ := strconv.Atoi(strings.TrimPrefix(want, "n")); want != "" && n >= MaxLabels {
			want = OtherLabel
			other++
		}
		if got[i].Name != want {
			t.Fatalf("seq %d: name %q, want %q", rs[i].Seq, got[i].Name, want)
		}
	}
	if other != 6 || st.OtherLabels != 6 {
		t.Errorf("%d results expected as %s, stats say %d", other, OtherLabel, st.OtherLabels)
	}
	if w := strings.Join(st.Warnings(), "\n"); !strings.Contains(w, "6 results carried a name or client beyond the first 10000") {
		t.Errorf("warnings %q", w)
	}
	old := []byte(`{"queuegap":"run","version":1,"run_id":"old","start":"2025-06-01T12:00:00Z","planned":1,"started":1,"not_sent":0,"send_window":0,"elapsed":0,"max_inflight":1,"interrupted":false,"complete":false}` + "\n" +
		`{"seq":1,"intended_ms":0,"start_ms":0,"done_ms":5,"status":200,"outcome":"ok"}` + "\n")
	_, _, got, err = readAll(t, old)
	if err != nil || len(got) != 1 || got[0].Name != "" || got[0].Client != "" || got[0].Attempt != 0 {
		t.Fatalf("old file: %v %+v", err, got)
	}
}

func TestResultsRoundTripExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var rs []Result
	for i := range 5000 {
		intended := time.Duration(rng.Int64N(100_000_000_000)) * time.Microsecond // up to ~28 h
		if i < 2000 {
			intended = time.Duration(i) * time.Microsecond // every µs below 2 ms
		}
		r := Result{Record: loadgen.Record{Seq: uint64(i + 1), Intended: intended, Start: intended + time.Microsecond,
			Done: intended + time.Duration(rng.Int64N(10_000_000))*time.Microsecond}, Outcome: OutcomeOK}
		r.Attr.Parts[iNetwork] = r.Done - r.Intended
		rs = append(rs, r)
	}
	data := resultsFile(testInfo, rs...)
	_, _, got, err := readAll(t, data)
	if err != nil || len(got) != len(rs) {
		t.Fatalf("%v, %d results", err, len(got))
	}
	bad := 0
	for i := range rs {
		w, g := &rs[i], &got[i]
		if g.Intended != w.Intended || g.Done != w.Done || g.Attr.Parts[iNetwork] != w.Attr.Parts[iNetwork] {
			if bad++; bad <= 5 {
				t.Errorf("seq %d: intended %v done %v network %v, want %v %v %v", w.Seq,
					int64(g.Intended), int64(g.Done), int64(g.Attr.Parts[iNetwork]), int64(w.Intended), int64(w.Done), int64(w.Attr.Parts[iNetwork]))
			}
			continue
		}
		if a, b := appendResult(nil, w, true), appendResult(nil, g, true); !bytes.Equal(a, b) {
			if bad++; bad <= 5 {
				t.Errorf("re-encoding changed the line:\n%s\n%s", a, b)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d results not exact", bad, len(rs))
	}
}

func TestResultsAdversarialStrings(t *testing.T) {
	for _, s := range []string{
		`say "hi" \ bye`,
		"tab\tnewline\nreturn\rnul\x00bell\x07esc\x1bunit\x1fdel\x7f",
		"invalid utf-8: \xff\xfe\xc3 and a cut rune \xe2\x82",
		"ünïcödé €, 😀, line sep \u2028, bom \ufeff",
		"</script><!--",
		"",
		strings.Repeat("\"\\", 1000),
	} {
		r := fullResult()
		r.ErrorText, r.RequestID, r.Error = s, s, loadgen.ErrReset
		line := AppendResultJSON(nil, &r)
		if !json.Valid(line) {
			t.Errorf("invalid JSON for %q: %s", s, line)
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		// encoding/json turns each invalid byte into U+FFFD, as the
		// writer promises.
		enc, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(enc, &want)
		if m["error_text"] != want {
			t.Errorf("error_text %q, want %q", m["error_text"], want)
		}
		wantID := any(want)
		if s == "" {
			wantID = nil // an empty ID is left out
		}
		if m["id"] != wantID {
			t.Errorf("id %q, want %q", m["id"], wantID)
		}
		_, _, got, err := readAll(t, resultsFile(testInfo, r))
		if err != nil || len(got) != 1 || got[0].ErrorText != want {
			t.Errorf("read back %q: err %v", s, err)
		}
	}
}

func TestReadResultsMalformed(t *testing.T) {
	r1, r2 := fullResult(), fullResult()
	r2.Seq = 2
	good := resultsFile(testInfo, r1, r2)
	lines := strings.SplitAfter(string(good), "\n") // header, r1, r2, ""
	header := lines[0]

	t.Run("truncated last line", func(t *testing.T) {
		data := good[:len(good)-len(lines[2])/2]
		_, st, got, err := readAll(t, data)
		if err != nil {
			t.Fatalf("error %v, want none for a cut-short last line", err)
		}
		if !st.Truncated || len(got) != 1 || st.Results != 1 {
			t.Errorf("stats %+v, %d results: want truncated with 1 result", st, len(got))
		}
	})
	t.Run("complete last line without newline", func(t *testing.T) {
		_, st, got, err := readAll(t, good[:len(good)-1])
		if err != nil || st.Truncated || len(got) != 2 {
			t.Errorf("err %v, stats %+v, %d results: want 2, not truncated", err, st, len(got))
		}
	})
	t.Run("garbage line in the middle", func(t *testing.T) {
		data := header + lines[1] + "this is not json\n" + lines[2]
		_, _, _, err := readAll(t, []byte(data))
		if err == nil || !strings.Contains(err.Error(), "line 3") {
			t.Errorf("error %v, want one naming line 3", err)
		}
	})
	t.Run("result missing its outcome", func(t *testing.T) {
		data := header + `{"seq":1,"intended_ms":1,"done_ms":2}` + "\n"
		_, _, _, err := readAll(t, []byte(data))
		if err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("error %v, want one naming line 2", err)
		}
	})
	t.Run("done before intended", func(t *testing.T) {
		data := header + `{"seq":1,"intended_ms":5,"done_ms":2,"outcome":"ok"}` + "\n"
		if _, _, _, err := readAll(t, []byte(data)); err == nil {
			t.Error("no error")
		}
	})
	t.Run("empty file", func(t *testing.T) {
		if _, _, _, err := readAll(t, nil); err == nil {
			t.Error("no error for an empty file")
		}
	})
	t.Run("only blank lines", func(t *testing.T) {
		if _, _, _, err := readAll(t, []byte("\n\n  \n")); err == nil {
			t.Error("no error for a file of blank lines")
		}
	})
	t.Run("no header", func(t *testing.T) {
		_, _, _, err := readAll(t, []byte(lines[1]+lines[2]))
		if err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("error %v, want one naming line 1", err)
		}
	})
	t.Run("newer version", func(t *testing.T) {
		h, _ := json.Marshal(runLine{Kind: "run", Version: resultsVersion + 1, RunInfo: testInfo})
		_, _, _, err := readAll(t, append(append(h, '\n'), lines[1]...))
		if err == nil || !strings.Contains(err.Error(), "version") {
			t.Errorf("error %v, want a version error", err)
		}
	})
	t.Run("unknown line kind", func(t *testing.T) {
		_, _, _, err := readAll(t, []byte(header+`{"queuegap":"middle"}`+"\n"))
		if err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("error %v, want one naming line 2", err)
		}
	})
	t.Run("callback error stops reading", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		_, err := ReadResults(bytes.NewReader(good), func(*RunInfo, *Result) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("err %v after %d results, want stop after 1", err, n)
		}
	})
	t.Run("overlong line", func(t *testing.T) {
		data := header + `{"seq":1,"error_text":"` + strings.Repeat("x", 2<<20) + "\"}\n"
		_, _, _, err := readAll(t, []byte(data))
		if err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("error %v, want one naming line 2", err)
		}
	})
}

// TestReadResultsNotAResultsFile: a file that is not a results file must be
// an error even when it is a single line without a newline.
func TestReadResultsNotAResultsFile(t *testing.T) {
	for _, data := range []string{"hello", "<html>not json</html>", `{"queuegap":"ru`} {
		if _, st, _, err := readAll(t, []byte(data)); err == nil {
			t.Errorf("%q: no error (stats %+v)", data, st)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the writer's flusher goroutine and
// a polling test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func TestResultsWriter(t *testing.T) {
	var buf syncBuffer
	rw, err := NewResultsWriter(&buf, testInfo, ResultsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := buf.Bytes(); !bytes.HasPrefix(got, []byte(`{"queuegap":"run"`)) || !bytes.HasSuffix(got, []byte("\n")) {
		t.Fatalf("header not written at once: %q", got)
	}
	r := fullResult()
	if err := rw.Write(&r); err != nil {
		t.Fatal(err)
	}
	want := append(AppendResultJSON(nil, &r), '\n')
	// A small write stays buffered until the periodic flush: it must
	// reach the writer within about two flush periods.
	deadline := time.Now().Add(2 * FlushEvery)
	for !bytes.Contains(buf.Bytes(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("result not flushed within %v: %q", 2*FlushEvery, buf.Bytes())
		}
		time.Sleep(10 * time.Millisecond) // polling, not synchronisation
	}
	r.Seq = 2
	if err := rw.Write(&r); err != nil {
		t.Fatal(err)
	}
	final := testInfo
	final.Started, final.Elapsed, final.SendWindow = 2, 3*time.Second, time.Second
	if err := rw.Close(final); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	for i, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if !json.Valid(l) {
			t.Errorf("line %d is not valid JSON: %s", i+1, l)
		}
	}
	if !bytes.Contains(data, []byte(`{"queuegap":"end"`)) {
		t.Fatalf("no trailer: %s", data)
	}
	var header RunInfo
	var got []Result
	st, err := ReadResults(bytes.NewReader(data), func(i *RunInfo, r *Result) error {
		header = *i
		got = append(got, *r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	info := st.Runs[0]
	if len(got) != 2 || st.Results != 2 || st.Lines != 4 || st.Truncated {
		t.Errorf("stats %+v, %d results", st, len(got))
	}
	if header.Complete || header.Started != 0 {
		t.Errorf("header run info %+v: want the initial info, not complete", header)
	}
	if !info.Complete || info.Started != 2 || info.Elapsed != 3*time.Second || info.RunID != "abc" || !info.Start.Equal(testInfo.Start) {
		t.Errorf("trailer run info %+v: want the final info, complete", info)
	}
	if rw.Err() != nil {
		t.Errorf("Err() = %v", rw.Err())
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}

func TestResultsWriterErrors(t *testing.T) {
	if _, err := NewResultsWriter(&failWriter{}, testInfo, ResultsOptions{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("NewResultsWriter on a failing writer: %v", err)
	}
	// Header fine, then every write fails: Close reports it.
	rw, err := NewResultsWriter(&failWriter{n: 1}, testInfo, ResultsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := fullResult()
	_ = rw.Write(&r)
	if err := rw.Close(testInfo); err == nil {
		t.Error("Close after a failing write returned nil")
	}
	if rw.Err() == nil {
		t.Error("Err() nil after a failing write")
	}
}

// TestResultsFileOnDisk round-trips through a real file, as run/analyze do,
// and keeps a copy of a small file in testdata for readers of the format.
func TestResultsFileOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := NewResultsWriter(f, testInfo, ResultsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := newStreamAnalyzer(TimingConfig{}, testRunStart, "abc")
	var res Result
	for i := range 100 {
		rec := newConnRec(ms(float64(1+i*10)), 0, ms(0.2), ms(100.3+float64(i)), ms(0.1), hdrs(HeaderServerTiming, "queue;dur=0.5, app;dur=100"))
		rec.Seq = uint64(i + 1)
		a.Analyze(&rec, &res)
		if err := rw.Write(&res); err != nil {
			t.Fatal(err)
		}
	}
	if err := rw.Close(testInfo); err != nil {
		t.Fatal(err)
	}
	f.Close()
	g, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	n := 0
	st, err := ReadResults(g, func(_ *RunInfo, r *Result) error {
		n++
		if r.RequestID == "" || r.Outcome != OutcomeOK || !r.Server.HasQueue {
			t.Errorf("result %+v", r)
		}
		return nil
	})
	if err != nil || n != 100 || !st.Runs[0].Complete {
		t.Errorf("err %v, %d results, %+v", err, n, st)
	}

	// The checked-in sample must still parse (format compatibility).
	sample, err := os.ReadFile(filepath.Join("testdata", "results_v1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	_, sst, got, err := readAll(t, sample)
	if err != nil || len(got) != 3 || sst.Truncated {
		t.Fatalf("testdata/results_v1.jsonl: err %v, %d results, %+v", err, len(got), sst)
	}
	if got[1].Attr.Parts[iSynRetry] != 1020*time.Millisecond || got[1].SynRetrans != 1 || got[2].Outcome != OutcomeProxyRefused {
		t.Errorf("sample results read wrong: %+v", got)
	}
}

// A file without a trailer (a killed run) counts gaps in the scheduled
// seqs as missing; retries' seqs (above loadgen.RetrySeqBase) are neither
// gaps nor scheduled requests.
func TestMissingIgnoresRetrySeqs(t *testing.T) {
	ok := func(seq uint64) Result {
		return Result{Record: loadgen.Record{Seq: seq, Done: time.Millisecond}, Outcome: OutcomeOK}
	}
	retry := ok(loadgen.RetrySeqBase + 2)
	retry.Attempt, retry.RetryOf = 1, 2
	for _, c := range []struct {
		name    string
		rs      []Result
		missing int64
	}{
		{"no gap, a retry", []Result{ok(1), ok(2), retry, ok(3)}, 0},
		{"one gap, a retry", []Result{ok(1), ok(2), retry, ok(4)}, 1},
	} {
		_, st, _, err := readAll(t, resultsFile(testInfo, c.rs...))
		if err != nil {
			t.Fatal(err)
		}
		if st.Missing != c.missing {
			t.Errorf("%s: %d missing, want %d", c.name, st.Missing, c.missing)
		}
	}
}
