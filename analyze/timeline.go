package analyze

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Timeline buckets results by time. Latency, backlog and errors go to the
// bucket of the request's intended send time (so a slow second shows up
// where it was caused); sent and completed counts to the bucket of their
// own time. When a run needs more than MaxRows buckets the width doubles
// and neighbours merge, so memory stays bounded however long the run.
type Timeline struct {
	width   time.Duration
	maxRows int
	rows    []*timelineRow
}

type timelineRow struct {
	scheduled, sent, completed, errors int64
	backlogSum                         time.Duration
	total                              *hdrhistogram.Histogram
}

// NewTimeline makes a timeline of the given bucket width (default 1 s)
// holding at most maxRows rows (default 600).
func NewTimeline(width time.Duration, maxRows int) *Timeline {
	if width <= 0 {
		width = time.Second
	}
	if maxRows <= 1 {
		maxRows = 600
	}
	return &Timeline{width: width, maxRows: maxRows}
}

// Coarse histograms (1 significant digit, ≈6 % error, ≈3.6 KB) keep
// per-row memory small.
func newRowHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMinUs, histMaxUs, 1) }

func (t *Timeline) row(at time.Duration) *timelineRow {
	if at < 0 {
		at = 0
	}
	i := int(at / t.width)
	for i >= t.maxRows {
		t.compact()
		i = int(at / t.width)
	}
	for len(t.rows) <= i {
		t.rows = append(t.rows, nil)
	}
	if t.rows[i] == nil {
		t.rows[i] = &timelineRow{total: newRowHist()}
	}
	return t.rows[i]
}

func (t *Timeline) compact() {
	merged := make([]*timelineRow, (len(t.rows)+1)/2)
	for i, r := range t.rows {
		if r == nil {
			continue
		}
		m := merged[i/2]
		if m == nil {
			merged[i/2] = r
			continue
		}
		m.scheduled += r.scheduled
		m.sent += r.sent
		m.completed += r.completed
		m.errors += r.errors
		m.backlogSum += r.backlogSum
		m.total.Merge(r.total)
	}
	t.rows = merged
	t.width *= 2
}

// Add records one result.
func (t *Timeline) Add(r *Result) {
	row := t.row(r.Intended)
	row.scheduled++
	row.backlogSum += r.Attr.Parts[iBacklog]
	recordDur(row.total, r.Total())
	if IsError(r.Outcome) {
		row.errors++
	}
	t.row(r.Start).sent++
	t.row(r.Done).completed++
}

// TimelineRow is one bucket as reported.
type TimelineRow struct {
	AtS           float64 `json:"at_s"`
	Scheduled     int64   `json:"scheduled"`
	Sent          int64   `json:"sent"`
	Completed     int64   `json:"completed"`
	InFlight      int64   `json:"in_flight"`
	TotalP50Ms    float64 `json:"total_p50_ms"`
	TotalP99Ms    float64 `json:"total_p99_ms"`
	MeanBacklogMs float64 `json:"mean_backlog_ms"`
	Errors        int64   `json:"errors"`
}

// Width is the current bucket width.
func (t *Timeline) Width() time.Duration { return t.width }

// Rows reports every bucket from the start of the run to the last one used.
func (t *Timeline) Rows() []TimelineRow {
	out := make([]TimelineRow, len(t.rows))
	var inflight int64
	for i, r := range t.rows {
		row := TimelineRow{AtS: (time.Duration(i) * t.width).Seconds()}
		if r != nil {
			inflight += r.sent - r.completed
			row.Scheduled, row.Sent, row.Completed, row.Errors = r.scheduled, r.sent, r.completed, r.errors
			if r.scheduled > 0 {
				row.TotalP50Ms = usToMs(r.total.ValueAtQuantile(50))
				row.TotalP99Ms = usToMs(r.total.ValueAtQuantile(99))
				row.MeanBacklogMs = durMs(r.backlogSum) / float64(r.scheduled)
			}
		}
		row.InFlight = inflight
		out[i] = row
	}
	return out
}

func usToMs(us int64) float64       { return float64(us) / 1000 }
func durMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
