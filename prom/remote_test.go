package prom

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/queuegap/queuegap/analyze"
)

// sample is one decoded remote-write series with its single sample.
type sample struct {
	labels []label
	value  float64
	ts     int64
}

func (s sample) String() string {
	var b strings.Builder
	for _, l := range s.labels {
		fmt.Fprintf(&b, "%s=%q,", l.name, l.value)
	}
	return fmt.Sprintf("{%s} %v @%d", b.String(), s.value, s.ts)
}

// decodeWriteRequest is an independent reader of remote write 1.0, so the
// encoder is checked against the wire format, not against itself.
func decodeWriteRequest(b []byte) ([]sample, error) {
	var out []sample
	err := eachField(b, func(num protowire.Number, v []byte) error {
		if num != 1 {
			return fmt.Errorf("WriteRequest field %d", num)
		}
		var s sample
		n := 0
		err := eachField(v, func(num protowire.Number, v []byte) error {
			switch num {
			case 1:
				var l label
				err := eachField(v, func(num protowire.Number, v []byte) error {
					if num == 1 {
						l.name = string(v)
					} else {
						l.value = string(v)
					}
					return nil
				})
				s.labels = append(s.labels, l)
				return err
			case 2:
				n++
				for len(v) > 0 {
					num, typ, k := protowire.ConsumeTag(v)
					if k < 0 {
						return protowire.ParseError(k)
					}
					v = v[k:]
					switch {
					case num == 1 && typ == protowire.Fixed64Type:
						x, k := protowire.ConsumeFixed64(v)
						if k < 0 {
							return protowire.ParseError(k)
						}
						s.value, v = math.Float64frombits(x), v[k:]
					case num == 2 && typ == protowire.VarintType:
						x, k := protowire.ConsumeVarint(v)
						if k < 0 {
							return protowire.ParseError(k)
						}
						s.ts, v = int64(x), v[k:]
					default:
						return fmt.Errorf("Sample field %d type %d", num, typ)
					}
				}
			}
			return nil
		})
		if n != 1 {
			return fmt.Errorf("%d samples in a series", n)
		}
		out = append(out, s)
		return err
	})
	return out, err
}

// eachField walks the length-delimited fields of a message.
func eachField(b []byte, f func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if typ != protowire.BytesType {
			return fmt.Errorf("field %d: wire type %d, want bytes", num, typ)
		}
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := f(num, v); err != nil {
			return err
		}
	}
	return nil
}

// receiver is a remote-write endpoint that keeps every pushed series.
type receiver struct {
	mu      sync.Mutex
	pushes  [][]sample
	headers []http.Header
	fail    int // answer this many requests with 500 first
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if rv.fail > 0 {
		rv.fail--
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	body, _ := io.ReadAll(r.Body)
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ss, err := decodeWriteRequest(raw)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rv.pushes = append(rv.pushes, ss)
	rv.headers = append(rv.headers, r.Header.Clone())
	w.WriteHeader(http.StatusNoContent)
}

func find(ss []sample, name string, match ...label) (sample, bool) {
	for _, s := range ss {
		if !slices.Contains(s.labels, label{"__name__", name}) {
			continue
		}
		ok := true
		for _, m := range match {
			ok = ok && slices.Contains(s.labels, m)
		}
		if ok {
			return s, true
		}
	}
	return sample{}, false
}

func TestRemoteWrite(t *testing.T) {
	rv := &receiver{fail: 1} // one retry on a 5xx, as Prometheus's own remote write does
	srv := httptest.NewServer(rv)
	defer srv.Close()
	o := New(Options{NoProcessMetrics: true})
	r := sampleResult()
	for i := 0; i < 3; i++ {
		o.Add(&r)
	}
	o.Close(&analyze.RunInfo{})
	w, err := NewRemoteWriter(srv.URL+"/api/v1/write", o, map[string]string{"job": "queuegap", "run_id": "r1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1_800_000_000_123)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Push(ctx, at); err != nil {
		t.Fatal(err)
	}
	if len(rv.pushes) != 1 {
		t.Fatalf("%d pushes received, want 1", len(rv.pushes))
	}
	h := rv.headers[0]
	if h.Get("Content-Encoding") != "snappy" || h.Get("X-Prometheus-Remote-Write-Version") != "0.1.0" || !strings.HasPrefix(h.Get("Content-Type"), "application/x-protobuf") {
		t.Errorf("headers %v: want remote write 1.0", h)
	}
	ss := rv.pushes[0]
	for _, s := range ss {
		if s.ts != at.UnixMilli() {
			t.Fatalf("series %v: timestamp %d, want %d", s, s.ts, at.UnixMilli())
		}
		if !slices.IsSortedFunc(s.labels, func(a, b label) int { return strings.Compare(a.name, b.name) }) {
			t.Errorf("labels not sorted: %v", s)
		}
		if !slices.Contains(s.labels, label{"job", "queuegap"}) || !slices.Contains(s.labels, label{"run_id", "r1"}) {
			t.Errorf("series %v lacks the writer's labels", s)
		}
	}
	for _, c := range []struct {
		name  string
		match []label
		want  float64
	}{
		{"queuegap_requests_total", []label{{"outcome", "ok"}, {"name", "sleep"}, {"client", "api"}}, 3},
		{"queuegap_phase_seconds_count", []label{{"phase", "total"}}, 3},
		{"queuegap_phase_seconds_bucket", []label{{"phase", "total"}, {"le", "+Inf"}}, 3},
		{"queuegap_phase_seconds_bucket", []label{{"phase", "total"}, {"le", "0.025"}}, 0},
		{"queuegap_phase_seconds_bucket", []label{{"phase", "total"}, {"le", "0.05"}}, 3},
		{"queuegap_phase_seconds_sum", []label{{"phase", "total"}}, 3 * 0.040},
		{"queuegap_attribution_seconds_count", []label{{"component", "backlog"}}, 3},
		{"queuegap_run_done", nil, 1},
	} {
		s, ok := find(ss, c.name, c.match...)
		if !ok {
			t.Errorf("no %s%v pushed", c.name, c.match)
			continue
		}
		if math.Abs(s.value-c.want) > 1e-9 {
			t.Errorf("%s%v = %v, want %v", c.name, c.match, s.value, c.want)
		}
	}
}

func TestRemoteWriteErrors(t *testing.T) {
	o := New(Options{NoProcessMetrics: true})
	for _, bad := range []string{"", "ftp://x/y", "127.0.0.1:9090/api/v1/write", "http:///api/v1/write", "http://[::1/x"} {
		if _, err := NewRemoteWriter(bad, o, nil, nil); err == nil {
			t.Errorf("NewRemoteWriter(%q) accepted", bad)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "out of order sample", http.StatusBadRequest)
	}))
	defer srv.Close()
	w, err := NewRemoteWriter(srv.URL, o, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Push(ctx, time.Now()); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("push to a receiver answering 400: %v, want the status", err)
	}
}

// Any label value survives the encoding (UTF-8 or not: protobuf strings
// are bytes on the wire), and an empty one is left out.
func FuzzEncodeWriteRequest(f *testing.F) {
	f.Add("sleep", "api", 1.5)
	f.Add("", "(other)", math.Inf(1))
	f.Add("a\"b\nc", "ü", -0.0)
	f.Fuzz(func(t *testing.T, name, client string, v float64) {
		n, c := "name", "client"
		m := &dto.Metric{Label: []*dto.LabelPair{{Name: &n, Value: &name}, {Name: &c, Value: &client}}, Counter: &dto.Counter{Value: &v}}
		typ := dto.MetricType_COUNTER
		fam := "x_total"
		req := encodeWriteRequest([]*dto.MetricFamily{{Name: &fam, Type: &typ, Metric: []*dto.Metric{m}}}, []label{{"job", "j"}}, 42)
		buf := make([]byte, req.Size())
		if k, _ := req.MarshalToSizedBuffer(buf); k != len(buf) {
			t.Fatalf("marshalled %d of %d bytes", k, len(buf))
		}
		ss, err := decodeWriteRequest(buf)
		if err != nil || len(ss) != 1 {
			t.Fatalf("decode: %v, %d series", err, len(ss))
		}
		want := []label{{"__name__", "x_total"}}
		if client != "" {
			want = append(want, label{"client", client})
		}
		want = append(want, label{"job", "j"})
		if name != "" {
			want = append(want, label{"name", name})
		}
		got := ss[0]
		if !slices.Equal(got.labels, want) || got.ts != 42 || math.Float64bits(got.value) != math.Float64bits(v) && !(math.IsNaN(v) && math.IsNaN(got.value)) {
			t.Fatalf("round trip: %v, want labels %v value %v", got, want, v)
		}
	})
}
