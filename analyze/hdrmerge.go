package analyze

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// HDRMergeStats is what MergeHDRLogs wrote.
type HDRMergeStats struct {
	Intervals int64 // interval histograms written (all tags)
	Warnings  []string
}

// hdrCursor reads one log's interval lines in order, one ahead.
type hdrCursor struct {
	name   string
	br     *bufio.Reader
	line   int
	start  float64 // #[StartTime], seconds since the epoch (NaN: none)
	base   float64 // #[BaseTime] (NaN: none)
	unit   time.Duration
	hasAny bool
	// the interval read ahead
	ok     bool
	abs    float64 // its absolute start, seconds since the epoch
	length float64
	tag    string
	h      *hdrhistogram.Histogram
	err    error
	cut    bool // the last line was cut short
}

// next reads the next interval line, consuming header and comment lines
// on the way.
func (c *hdrCursor) next() {
	c.ok = false
	for {
		c.line++
		line, complete, err := readHDRLine(c.br)
		if err != nil {
			c.err = fmt.Errorf("%s: HDR log line %d: %w", c.name, c.line, err)
			return
		}
		if line == "" && !complete {
			return
		}
		t := strings.TrimSpace(line)
		var perr error
		switch {
		case t == "", strings.HasPrefix(t, "\"StartTimestamp\""):
			continue
		case strings.HasPrefix(t, "#[StartTime:"):
			c.start, perr = parseHeaderSecs(t, "#[StartTime:")
		case strings.HasPrefix(t, "#[BaseTime:"):
			c.base, perr = parseHeaderSecs(t, "#[BaseTime:")
		case strings.HasPrefix(t, "#"):
			if u, ok, err := parseUnitComment(t); err != nil {
				perr = err
			} else if ok {
				c.unit = u
			}
		default:
			tag, ts, h, err := parseIntervalLine(t)
			if err != nil {
				if !complete {
					c.cut = true // the writer died mid-line: what came before stands
					return
				}
				perr = err
				break
			}
			// The interval's length: the field after its start.
			c.length = 0
			if f := strings.SplitN(strings.TrimPrefix(t, "Tag="+tag+","), ",", 3); len(f) == 3 {
				c.length, _ = strconv.ParseFloat(strings.TrimSpace(f[1]), 64)
			}
			// Timestamps are relative to BaseTime when the log has one, else
			// to StartTime (HdrHistogram's log conventions).
			switch {
			case !math.IsNaN(c.base):
				c.abs = c.base + ts
			case !math.IsNaN(c.start):
				c.abs = c.start + ts
			default:
				c.abs = ts
			}
			c.tag, c.h, c.ok, c.hasAny = tag, h, true, true
			return
		}
		if perr != nil {
			c.err = fmt.Errorf("%s: HDR log line %d: %w", c.name, c.line, perr)
			return
		}
	}
}

// MergeHDRLogs writes one HDR interval log holding the logs read from rs
// (named by names in errors), interval by interval: intervals that start
// within half an interval of each other (shards of one run, started
// together) are one interval, each tag's histograms added exactly. It
// streams: one interval of each log is in memory at a time. Every log must
// have the same unit; a log without a unit comment is in unit (0: ns).
func MergeHDRLogs(w io.Writer, rs []io.Reader, names []string, unit time.Duration) (HDRMergeStats, error) {
	var st HDRMergeStats
	cs := make([]*hdrCursor, len(rs))
	for i, r := range rs {
		c := &hdrCursor{name: names[i], br: bufio.NewReaderSize(r, 1<<16), start: math.NaN(), base: math.NaN()}
		c.next()
		if c.err != nil {
			return st, c.err
		}
		if c.unit == 0 {
			c.unit = unit
			if c.unit == 0 {
				c.unit = time.Nanosecond
			}
		}
		cs[i] = c
	}
	for _, c := range cs[1:] {
		if c.unit != cs[0].unit {
			return st, fmt.Errorf("%s is in %s, %s in %s: merge logs of one unit", c.name, unitName(c.unit), cs[0].name, unitName(cs[0].unit))
		}
	}
	// The merged log's base: the earliest start of any log.
	base := math.Inf(1)
	for _, c := range cs {
		s := c.start
		if math.IsNaN(s) {
			s = c.abs
		}
		if c.ok || !math.IsNaN(c.start) {
			base = math.Min(base, s)
		}
	}
	if math.IsInf(base, 1) {
		return st, fmt.Errorf("no interval in any input")
	}
	baseMs := int64(math.Round(base * 1000))
	header := hdrLogHeader(baseMs, cs[0].unit, fmt.Sprintf("queuegap merge of %d logs: intervals starting together added tag by tag", len(cs)))
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString(header); err != nil {
		return st, err
	}
	type acc struct {
		h      *hdrhistogram.Histogram
		length float64
	}
	for {
		// The earliest interval start among the logs, and everything that
		// starts within half an interval of it.
		first := math.Inf(1)
		for _, c := range cs {
			if c.ok {
				first = math.Min(first, c.abs)
			}
		}
		if math.IsInf(first, 1) {
			break
		}
		window := 0.5 // s: half the usual 1 s interval
		group := map[string]*acc{}
		for _, c := range cs {
			for c.ok && c.abs < first+window {
				a := group[c.tag]
				if a == nil {
					group[c.tag] = &acc{h: c.h, length: c.length}
				} else {
					if dropped := a.h.Merge(c.h); dropped > 0 {
						return st, fmt.Errorf("%s line %d: %d values outside the range of the other logs' histograms", c.name, c.line, dropped)
					}
					a.length = math.Max(a.length, c.length)
				}
				c.next()
				if c.err != nil {
					return st, c.err
				}
			}
		}
		tags := make([]string, 0, len(group))
		for t := range group {
			tags = append(tags, t)
		}
		sort.Strings(tags) // "" (untagged: total latency) first
		rel := int64(math.Round(first*1000)) - baseMs
		for _, t := range tags {
			a := group[t]
			payload, err := a.h.EncodeV2()
			if err != nil {
				return st, fmt.Errorf("encoding %s: %w", tagName(t), err)
			}
			if t != "" {
				bw.WriteString("Tag=" + t + ",")
			}
			maxV := float64(a.h.Max()) * float64(cs[0].unit) / float64(time.Millisecond)
			fmt.Fprintf(bw, "%s,%.3f,%.3f,%s\n", fmtEpochMs(max(rel, 0)), a.length, maxV, payload)
			st.Intervals++
		}
	}
	for _, c := range cs {
		if c.cut {
			st.Warnings = append(st.Warnings, fmt.Sprintf("%s: the last line was cut short (a killed run): skipped", c.name))
		}
		if !c.hasAny {
			st.Warnings = append(st.Warnings, fmt.Sprintf("%s: no intervals", c.name))
		}
	}
	return st, bw.Flush()
}
