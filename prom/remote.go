package prom

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/exp/api/remote"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protowire"
)

// RemoteWriter pushes an Output's current values to a Prometheus
// remote-write receiver (remote write 1.0, what Prometheus 2.x's
// --web.enable-remote-write-receiver accepts at /api/v1/write).
type RemoteWriter struct {
	api    *remote.API
	out    *Output
	labels []label // added to every series, sorted by name
}

type label struct{ name, value string }

// NewRemoteWriter checks rawURL (http or https, with a host) and makes a
// writer for it. labels are added to every pushed series (job, instance,
// run_id: a pushed series has no scrape target to name it).
func NewRemoteWriter(rawURL string, out *Output, labels map[string]string, client *http.Client) (*RemoteWriter, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("remote write URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("remote write URL %q: want http(s)://host[:port]/path, e.g. http://127.0.0.1:9090/api/v1/write", rawURL)
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	api, err := remote.NewAPI(rawURL,
		remote.WithAPIPath(""), // the URL is the whole endpoint, as in Prometheus's own remote_write config
		remote.WithAPIHTTPClient(client),
		// A few quick retries: a push that cannot get through within
		// seconds is reported, not retried for a minute behind the run.
		remote.WithAPIBackoff(remote.BackoffConfig{Min: 200 * time.Millisecond, Max: 2 * time.Second, MaxRetries: 3}))
	if err != nil {
		return nil, fmt.Errorf("remote write URL: %w", err)
	}
	w := &RemoteWriter{api: api, out: out}
	for n, v := range labels {
		w.labels = append(w.labels, label{n, v})
	}
	slices.SortFunc(w.labels, func(a, b label) int { return strings.Compare(a.name, b.name) })
	return w, nil
}

// Push sends every series as one sample at time at.
func (w *RemoteWriter) Push(ctx context.Context, at time.Time) error {
	mfs, err := w.out.reg.Gather()
	if err != nil {
		return fmt.Errorf("gathering metrics: %w", err)
	}
	req := encodeWriteRequest(mfs, w.labels, at.UnixMilli())
	if _, err := w.api.Write(ctx, remote.WriteV1MessageType, req); err != nil {
		return fmt.Errorf("remote write: %w", err)
	}
	return nil
}

// writeRequest is an encoded prometheus.WriteRequest (remote write 1.0).
// exp/api/remote marshals messages with gogo-style Size and
// MarshalToSizedBuffer methods.
type writeRequest struct{ buf []byte }

func (r *writeRequest) Size() int { return len(r.buf) }

func (r *writeRequest) MarshalToSizedBuffer(b []byte) (int, error) { return copy(b, r.buf), nil }

// encodeWriteRequest flattens metric families the way the text exposition
// does (histograms as _bucket{le}, _sum, _count; summaries as quantiles,
// _sum, _count) and encodes them:
//
//	WriteRequest { repeated TimeSeries timeseries = 1; }
//	TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//	Label        { string name = 1; string value = 2; }
//	Sample       { double value = 1; int64 timestamp = 2; }  // ms
func encodeWriteRequest(mfs []*dto.MetricFamily, extra []label, tsMs int64) *writeRequest {
	var out, ts, lb []byte
	var ls []label
	series := func(name string, m *dto.Metric, v float64, more ...label) {
		ls = append(ls[:0], label{"__name__", name})
		for _, l := range m.GetLabel() {
			ls = append(ls, label{l.GetName(), l.GetValue()})
		}
		ls = append(ls, more...)
		for _, e := range extra {
			if !slices.ContainsFunc(ls, func(l label) bool { return l.name == e.name }) {
				ls = append(ls, e)
			}
		}
		// The spec wants labels sorted by name.
		slices.SortFunc(ls, func(a, b label) int { return strings.Compare(a.name, b.name) })
		ts = ts[:0]
		for _, l := range ls {
			if l.value == "" {
				continue // an empty label is no label, in Prometheus's model
			}
			lb = protowire.AppendTag(lb[:0], 1, protowire.BytesType)
			lb = protowire.AppendString(lb, l.name)
			lb = protowire.AppendTag(lb, 2, protowire.BytesType)
			lb = protowire.AppendString(lb, l.value)
			ts = protowire.AppendTag(ts, 1, protowire.BytesType)
			ts = protowire.AppendBytes(ts, lb)
		}
		lb = protowire.AppendTag(lb[:0], 1, protowire.Fixed64Type)
		lb = protowire.AppendFixed64(lb, math.Float64bits(v))
		lb = protowire.AppendTag(lb, 2, protowire.VarintType)
		lb = protowire.AppendVarint(lb, uint64(tsMs))
		ts = protowire.AppendTag(ts, 2, protowire.BytesType)
		ts = protowire.AppendBytes(ts, lb)
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendBytes(out, ts)
	}
	for _, mf := range mfs {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				series(name, m, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				series(name, m, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				series(name, m, m.GetUntyped().GetValue())
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					series(name+"_bucket", m, float64(b.GetCumulativeCount()), label{"le", formatFloat(b.GetUpperBound())})
				}
				series(name+"_bucket", m, float64(h.GetSampleCount()), label{"le", "+Inf"})
				series(name+"_sum", m, h.GetSampleSum())
				series(name+"_count", m, float64(h.GetSampleCount()))
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					series(name, m, q.GetValue(), label{"quantile", formatFloat(q.GetQuantile())})
				}
				series(name+"_sum", m, s.GetSampleSum())
				series(name+"_count", m, float64(s.GetSampleCount()))
			}
		}
	}
	return &writeRequest{buf: out}
}

// formatFloat writes le and quantile values as the text exposition does.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
