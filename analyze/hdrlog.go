package analyze

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// HDR logs (--hdr-log) hold one tagged interval histogram per distribution
// per interval in HdrHistogram's standard log format (V2 compressed
// payloads), so HdrHistogram's own tools read them too. Values are in
// nanoseconds, the format's convention (its max column is in ms).
var hdrLogTags = []string{PhaseTotal, PhaseTTFB, PhaseConnect, PhaseLag, CompBacklog, CompProcessing, CompSynRetry}

const (
	logMinNs = int64(time.Microsecond)
	logMaxNs = int64(time.Hour)
)

// HDRLogWriter writes interval histograms as results arrive.
type HDRLogWriter struct {
	lw       *hdrhistogram.HistogramLogWriter
	interval time.Duration
	start    time.Time // start of the current interval
	hists    map[string]*hdrhistogram.Histogram
	now      func() time.Time
	err      error
}

// NewHDRLogWriter writes the log header and starts the first interval.
func NewHDRLogWriter(w io.Writer, runStart time.Time, interval time.Duration) (*HDRLogWriter, error) {
	if interval <= 0 {
		interval = time.Second
	}
	h := &HDRLogWriter{lw: hdrhistogram.NewHistogramLogWriter(w), interval: interval, start: runStart, hists: map[string]*hdrhistogram.Histogram{}, now: time.Now}
	for _, tag := range hdrLogTags {
		hist := hdrhistogram.New(logMinNs, logMaxNs, histSigFigs)
		hist.SetTag(tag)
		h.hists[tag] = hist
	}
	for _, f := range []func() error{
		h.lw.OutputLogFormatVersion,
		func() error {
			return h.lw.OutputComment("queuegap interval histograms; values in ns; tags: total ttfb connect lag backlog processing syn_retry")
		},
		func() error { return h.lw.OutputStartTime(runStart.UnixMilli()) },
		h.lw.OutputLegend,
	} {
		if err := f(); err != nil {
			return nil, fmt.Errorf("writing HDR log: %w", err)
		}
	}
	return h, nil
}

func recordNs(h *hdrhistogram.Histogram, d time.Duration) {
	ns := int64(d)
	if ns < 0 {
		ns = 0
	}
	if ns > logMaxNs {
		ns = logMaxNs
	}
	_ = h.RecordValue(ns)
}

// Add records one result, rotating the interval when it has passed.
func (h *HDRLogWriter) Add(r *Result) {
	if now := h.now(); now.Sub(h.start) >= h.interval {
		h.flush(now)
	}
	recordNs(h.hists[PhaseTotal], r.Total())
	recordNs(h.hists[PhaseLag], r.Lag())
	if r.FirstByte != 0 {
		recordNs(h.hists[PhaseTTFB], r.TTFB())
	}
	if c := r.Connect(); c > 0 {
		recordNs(h.hists[PhaseConnect], c)
	}
	recordNs(h.hists[CompBacklog], r.Attr.Parts[iBacklog])
	recordNs(h.hists[CompProcessing], r.Attr.Parts[iProcessing])
	recordNs(h.hists[CompSynRetry], r.Attr.Parts[iSynRetry])
}

func (h *HDRLogWriter) flush(now time.Time) {
	for _, tag := range hdrLogTags {
		hist := h.hists[tag]
		if hist.TotalCount() == 0 {
			continue
		}
		hist.SetStartTimeMs(h.start.UnixMilli())
		hist.SetEndTimeMs(now.UnixMilli())
		if err := h.lw.OutputIntervalHistogram(hist); err != nil && h.err == nil {
			h.err = fmt.Errorf("writing HDR log: %w", err)
		}
		hist.Reset()
		hist.SetTag(tag) // Reset clears the tag too
	}
	h.start = now
}

// Close writes the last interval.
func (h *HDRLogWriter) Close() error {
	h.flush(h.now())
	return h.err
}

// LooksLikeHDRLog says whether the start of a file is an HDR histogram log
// rather than a results file.
func LooksLikeHDRLog(head []byte) bool {
	head = bytes.TrimLeft(head, " \t\r\n")
	return bytes.HasPrefix(head, []byte("#[")) || bytes.HasPrefix(head, []byte("Tag=")) || bytes.HasPrefix(head, []byte("\"StartTimestamp\""))
}

// maxHDRLogBytes bounds the merged histograms ReadHDRLog holds. queuegap's own logs need
// about 1 MB (a dozen tags of 1 µs–1 h at 3 significant figures).
const maxHDRLogBytes = 256 << 20

// ReadHDRLog merges every interval histogram of a log, per tag, exactly.
// Untagged histograms (from other tools) are treated as "total".
func ReadHDRLog(r io.Reader) (map[string]*hdrhistogram.Histogram, error) {
	lr := hdrhistogram.NewHistogramLogReader(bufio.NewReader(r))
	merged := map[string]*hdrhistogram.Histogram{}
	n, held := 0, 0
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			return nil, fmt.Errorf("HDR log: interval %d: %w", n+1, err)
		}
		if h == nil {
			break
		}
		n++
		tag := h.Tag()
		if tag == "" {
			tag = PhaseTotal
		}
		if m, ok := merged[tag]; ok {
			if dropped := m.Merge(h); dropped > 0 {
				return nil, fmt.Errorf("HDR log: %d values of tag %s outside the histogram range", dropped, tag)
			}
		} else {
			// Each new tag keeps a histogram whose size its header chooses (up to ≈50 MB):
			// bound the total so a forged or foreign log cannot exhaust memory.
			if held += h.ByteSize(); held > maxHDRLogBytes {
				return nil, fmt.Errorf("HDR log: interval %d: histograms of %d tags need over %d MB; not a log of queuegap's phases?", n, len(merged)+1, maxHDRLogBytes>>20)
			}
			merged[tag] = h
		}
	}
	if n == 0 {
		return nil, errors.New("HDR log holds no interval histograms")
	}
	return merged, nil
}

// SummaryFromHDR builds the parts of a Summary an HDR log can give:
// percentiles per phase and component (values are ns in the log).
func SummaryFromHDR(hists map[string]*hdrhistogram.Histogram) Summary {
	s := Summary{Phases: map[string]PhaseStats{}, Attribution: map[string]ComponentStats{}, Outcomes: map[string]int64{}}
	conv := func(h *hdrhistogram.Histogram) PhaseStats {
		if h.TotalCount() == 0 {
			return PhaseStats{}
		}
		ms := func(ns int64) float64 { return round3(float64(ns) / 1e6) }
		return PhaseStats{Count: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
			P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()), Mean: round3(h.Mean() / 1e6)}
	}
	for tag, h := range hists {
		ps := conv(h)
		isPhase := false
		for _, p := range Phases {
			isPhase = isPhase || p == tag
		}
		if isPhase || !validComponent(tag) {
			s.Phases[tag] = ps
		} else {
			s.Attribution[tag] = ComponentStats{PhaseStats: ps}
		}
	}
	s.Requests = s.Phases[PhaseTotal].Count
	s.Source = "hdr-log"
	s.Headline = fmt.Sprintf("from an HDR log: clients p99 %s", fmtMs(s.Phases[PhaseTotal].P99))
	return s
}
