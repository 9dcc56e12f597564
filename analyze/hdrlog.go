package analyze

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// HDR logs (--hdr-log) hold one interval histogram per distribution per
// interval in HdrHistogram's standard log format (V2 compressed payloads),
// written the way Java's HistogramLogWriter writes them so HdrHistogram's own
// tools read them too:
//
//   - the total latency is the *untagged* histogram of each interval: Java's
//     HistogramLogProcessor (and most tools) read only untagged histograms by
//     default, and crash on a log where every line is tagged. The other
//     distributions are tagged (Tag=ttfb, …).
//   - #[StartTime: …] and #[BaseTime: …] carry milliseconds (Java writes
//     %.3f seconds); the Go library's writer truncates both to whole seconds,
//     which shifts every interval by up to 1 s in Java's tool, so the header
//     is written here rather than by the library.
//   - values are nanoseconds, the format's convention (its max column is in
//     ms), and the log says so in a "# unit=ns" comment: the format itself
//     carries no unit, and ReadHDRLog honours the comment.
var hdrLogTags = []string{PhaseTotal, PhaseTTFB, PhaseConnect, PhaseLag, CompBacklog, CompProcessing, CompSynRetry}

const (
	// logMinNs is the lowest discernible value. 1 ns (not 1 µs) so that the
	// first bucket holds exactly 0: with 1 µs it spans 0–511 ns and a zero
	// reads back as 511 ns (0.001 ms after rounding). It costs ≈ 40 % more
	// memory per histogram (≈ 270 KB), not more log bytes (zero runs compress).
	logMinNs = 1
	logMaxNs = int64(time.Hour)

	// hdrUnitComment is the machine-readable unit comment ReadHDRLog honours.
	hdrUnitComment = "unit="
	// hdrLegacyComment is how queuegap's logs said their unit before the
	// "# unit=" comment: those logs are nanoseconds too.
	hdrLegacyComment = "queuegap interval histograms; values in ns"
)

// HDRLogWriter writes interval histograms as results arrive.
type HDRLogWriter struct {
	w        io.Writer
	interval time.Duration
	base     time.Time // #[BaseTime]: interval timestamps are relative to it
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
	h := &HDRLogWriter{w: w, interval: interval, base: runStart, start: runStart, hists: map[string]*hdrhistogram.Histogram{}, now: time.Now}
	for _, tag := range hdrLogTags {
		h.hists[tag] = hdrhistogram.New(logMinNs, logMaxNs, histSigFigs)
	}
	header := hdrLogHeader(runStart.UnixMilli(), time.Nanosecond,
		"queuegap interval histograms: values in ns; untagged = total latency; tags: ttfb connect lag backlog processing syn_retry")
	if _, err := io.WriteString(w, header); err != nil {
		return nil, fmt.Errorf("writing HDR log header: %w", err)
	}
	return h, nil
}

// hdrLogHeader is an HDR log's header: start and base time (epoch ms), the
// unit comment ReadHDRLog honours, a comment of ours and the column names.
func hdrLogHeader(startMs int64, unit time.Duration, comment string) string {
	return fmt.Sprintf("#[Histogram log format version %s]\n", hdrhistogram.HISTOGRAM_LOG_FORMAT_VERSION) +
		fmt.Sprintf("#[StartTime: %s (seconds since epoch), %s]\n", fmtEpochMs(startMs), time.UnixMilli(startMs).UTC().Format("2006-01-02T15:04:05.000Z07:00")) +
		fmt.Sprintf("#[BaseTime: %s (seconds since epoch)]\n", fmtEpochMs(startMs)) +
		"# " + hdrUnitComment + unitName(unit) + "\n" +
		"#[" + comment + "]\n" +
		"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"
}

// fmtEpochMs writes epoch milliseconds as seconds with 3 decimals, exactly
// (no float rounding), as Java's "%.3f" of ms/1000.0 does.
func fmtEpochMs(ms int64) string {
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	return fmt.Sprintf("%s%d.%03d", sign, ms/1000, ms%1000)
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

// relSecs is t relative to the base time in seconds with ms precision.
// Never negative: readers' number patterns ([\d.]*) reject a sign.
func (h *HDRLogWriter) relSecs(t time.Time) string {
	ms := t.Sub(h.base).Milliseconds()
	if ms < 0 {
		ms = 0
	}
	return fmtEpochMs(ms)
}

func (h *HDRLogWriter) flush(now time.Time) {
	if now.Before(h.start) {
		now = h.start
	}
	var b strings.Builder
	for _, tag := range hdrLogTags {
		hist := h.hists[tag]
		// The untagged total goes out in every interval, even empty, so a
		// reader of untagged histograms sees the whole run's time line.
		if hist.TotalCount() == 0 && tag != PhaseTotal {
			continue
		}
		payload, err := hist.EncodeV2()
		if err != nil {
			if h.err == nil {
				h.err = fmt.Errorf("writing HDR log: encoding %s: %w", tag, err)
			}
			continue
		}
		if tag != PhaseTotal {
			b.WriteString("Tag=" + tag + ",")
		}
		start, end := h.start.Sub(h.base).Milliseconds(), now.Sub(h.base).Milliseconds()
		fmt.Fprintf(&b, "%s,%s,%.3f,%s\n", h.relSecs(h.start), fmtEpochMs(max(end-start, 0)), float64(hist.Max())/1e6, payload)
		hist.Reset()
	}
	if _, err := io.WriteString(h.w, b.String()); err != nil && h.err == nil {
		h.err = fmt.Errorf("writing HDR log: %w", err)
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
	first, _, _ := bytes.Cut(head, []byte("\n"))
	// A bare interval line ("0.127,1.007,2.769,HISTF…", what a writer
	// without a header starts with) cannot begin a results file either.
	return bytes.HasPrefix(head, []byte("#[")) || bytes.HasPrefix(head, []byte("Tag=")) || bytes.HasPrefix(head, []byte("\"StartTimestamp\"")) ||
		bytes.Contains(first, []byte(",HISTF"))
}

// ParseHDRUnit parses the unit of an HDR log's values (--hdr-unit, and the
// log's "# unit=" comment): ns, us (or µs), ms or s.
func ParseHDRUnit(s string) (time.Duration, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "ns", "nanoseconds":
		return time.Nanosecond, nil
	case "us", "µs", "μs", "microseconds": // U+00B5 micro sign and U+03BC mu
		return time.Microsecond, nil
	case "ms", "milliseconds":
		return time.Millisecond, nil
	case "s", "seconds":
		return time.Second, nil
	}
	return 0, fmt.Errorf("HDR log unit %q: want ns, us, ms or s", s)
}

// unitName is the short name of a unit ParseHDRUnit accepts.
func unitName(u time.Duration) string {
	switch u {
	case time.Nanosecond:
		return "ns"
	case time.Microsecond:
		return "µs"
	case time.Millisecond:
		return "ms"
	case time.Second:
		return "s"
	}
	return u.String()
}

// HDRLogOptions say how to read an HDR log.
type HDRLogOptions struct {
	// Unit of the log's values (--hdr-unit). 0: the log's "# unit=" comment,
	// else nanoseconds with a warning (the format itself carries no unit).
	Unit time.Duration
}

// Where HDRLog.Unit came from.
const (
	UnitFromOption  = "option"  // HDRLogOptions.Unit
	UnitFromLog     = "log"     // the log's unit comment
	UnitFromDefault = "default" // neither: nanoseconds, with a warning
)

// HDRLog is an HDR log's interval histograms merged per tag.
type HDRLog struct {
	// Hists are the merged histograms by tag, in the log's unit. Untagged
	// histograms are the total latency ("total").
	Hists    map[string]*hdrhistogram.Histogram
	Unit     time.Duration // what one count of a value is
	UnitFrom string        // UnitFromOption, UnitFromLog or UnitFromDefault
	// Warnings are for the user: a unit guessed, a cut last line, no total.
	Warnings  []string
	Intervals int       // interval histograms read (all tags)
	Start     time.Time // #[StartTime], else the first interval's start
}

// maxHDRLogBytes bounds the merged histograms ReadHDRLog holds. queuegap's own logs need
// about 2 MB (seven tags of 1 ns–1 h at 3 significant figures).
const maxHDRLogBytes = 256 << 20

// maxHDRLineBytes bounds one line, so a file without newlines is refused
// before it is held whole. A histogram of 1 ns–1 h at 5 significant figures
// encodes to well under 1 MB.
const maxHDRLineBytes = 16 << 20

// untagged is the internal key of untagged histograms until they become total.
const untagged = "\x00untagged"

// ReadHDRLog merges every interval histogram of a log, per tag, exactly.
//
// A log cut inside its last line (a killed run, a full disk) gives every
// whole interval and a warning; a malformed line anywhere else is an error
// naming its line.
func ReadHDRLog(r io.Reader, opt HDRLogOptions) (*HDRLog, error) {
	br := bufio.NewReader(r)
	log := &HDRLog{Hists: map[string]*hdrhistogram.Histogram{}}
	var (
		logUnit     time.Duration
		logUnitLine int
		startSec    = math.NaN()
		baseSec     = math.NaN()
		firstTS     = math.NaN()
		held        int
		counts      = map[string]int{}
	)
	for lineNo := 1; ; lineNo++ {
		line, complete, err := readHDRLine(br)
		if err != nil {
			return nil, fmt.Errorf("HDR log line %d: %w", lineNo, err)
		}
		if line == "" && !complete {
			break // end of input
		}
		perr := func() error {
			t := strings.TrimSpace(line)
			switch {
			case t == "", strings.HasPrefix(t, "\"StartTimestamp\""):
				return nil
			case strings.HasPrefix(t, "#[StartTime:"):
				v, err := parseHeaderSecs(t, "#[StartTime:")
				startSec = v
				return err
			case strings.HasPrefix(t, "#[BaseTime:"):
				v, err := parseHeaderSecs(t, "#[BaseTime:")
				baseSec = v
				return err
			case strings.HasPrefix(t, "#"):
				u, ok, err := parseUnitComment(t)
				if err != nil || !ok {
					return err
				}
				if logUnit != 0 && u != logUnit {
					return fmt.Errorf("unit %s contradicts unit %s on line %d", unitName(u), unitName(logUnit), logUnitLine)
				}
				logUnit, logUnitLine = u, lineNo
				return nil
			}
			tag, ts, h, err := parseIntervalLine(t)
			if err != nil {
				return err
			}
			if math.IsNaN(firstTS) {
				firstTS = ts
			}
			if tag == "" {
				tag = untagged
			}
			log.Intervals++
			counts[tag]++
			if m, ok := log.Hists[tag]; ok {
				if dropped := m.Merge(h); dropped > 0 {
					return fmt.Errorf("%d values of %s outside the range of its first interval's histogram", dropped, tagName(tag))
				}
				return nil
			}
			// Each new tag keeps a histogram whose size its header chooses (up to ≈50 MB):
			// bound the total so a forged or foreign log cannot exhaust memory.
			if held += h.ByteSize(); held > maxHDRLogBytes {
				return fmt.Errorf("histograms of %d tags need over %d MB; not a log of queuegap's phases?", len(log.Hists)+1, maxHDRLogBytes>>20)
			}
			log.Hists[tag] = h
			return nil
		}()
		if perr != nil {
			if !complete {
				// A last line without its newline that does not parse was cut
				// short by the writer's death: the intervals before it stand.
				log.Warnings = append(log.Warnings, fmt.Sprintf("the HDR log's last line (line %d) was cut short and skipped: %v", lineNo, perr))
				break
			}
			return nil, fmt.Errorf("HDR log line %d: %w", lineNo, perr)
		}
		if !complete {
			break
		}
	}
	if log.Intervals == 0 {
		if len(log.Warnings) > 0 {
			return nil, fmt.Errorf("HDR log holds no whole interval histogram: %s", log.Warnings[0])
		}
		return nil, errors.New("HDR log holds no interval histograms")
	}

	if h, ok := log.Hists[untagged]; ok {
		delete(log.Hists, untagged)
		if _, dup := log.Hists[PhaseTotal]; dup {
			// Both would be the same requests counted twice: the untagged one
			// is what every HdrHistogram tool reads, so it is the total.
			log.Warnings = append(log.Warnings, fmt.Sprintf("the HDR log has both untagged and Tag=total histograms: the untagged ones (%d intervals) are the total latency; the %d Tag=total intervals are ignored", counts[untagged], counts[PhaseTotal]))
		}
		log.Hists[PhaseTotal] = h
	}
	if _, ok := log.Hists[PhaseTotal]; !ok {
		log.Warnings = append(log.Warnings, fmt.Sprintf("the HDR log holds no total-latency histogram (neither untagged nor Tag=total; it has %s): the request count and total latency are unknown", strings.Join(sortedTags(log.Hists), ", ")))
	}

	switch {
	case opt.Unit > 0:
		log.Unit, log.UnitFrom = opt.Unit, UnitFromOption
		if logUnit != 0 && logUnit != opt.Unit {
			log.Warnings = append(log.Warnings, fmt.Sprintf("the HDR log says its values are in %s (line %d); read as %s as asked", unitName(logUnit), logUnitLine, unitName(opt.Unit)))
		}
	case logUnit != 0:
		log.Unit, log.UnitFrom = logUnit, UnitFromLog
	default:
		log.Unit, log.UnitFrom = time.Nanosecond, UnitFromDefault
		log.Warnings = append(log.Warnings, "the HDR log does not say its unit: values read as nanoseconds"+log.magnitudeHint()+"; if another tool wrote it in µs or ms, say so with --hdr-unit")
	}

	// Java's rule for the start: StartTime, else the first interval's
	// timestamp, made absolute by BaseTime (or, without one, taken as
	// relative to StartTime when it lies over a year before it).
	switch {
	case !math.IsNaN(startSec):
		log.Start = epochSecs(startSec)
	case !math.IsNaN(firstTS) && !math.IsNaN(baseSec):
		log.Start = epochSecs(baseSec + firstTS)
	case !math.IsNaN(firstTS) && firstTS > 365*24*3600:
		log.Start = epochSecs(firstTS)
	}
	return log, nil
}

// magnitudeHint shows what reading as ns gave, so a wrong unit is visible.
func (l *HDRLog) magnitudeHint() string {
	h, ok := l.Hists[PhaseTotal]
	if !ok {
		for _, tag := range sortedTags(l.Hists) {
			h = l.Hists[tag]
			break
		}
	}
	if h == nil || h.TotalCount() == 0 {
		return ""
	}
	return fmt.Sprintf(" (p50 %s, max %s)", fmtMs(l.toMs(h, h.ValueAtQuantile(50))), fmtMs(l.toMs(h, h.Max())))
}

// toMs converts a histogram value in the log's unit to milliseconds. Values
// below the histogram's lowest discernible value share the first bucket with
// zero and cannot be told from it: they read as 0, not as the bucket's top
// (a zero lag read back as 0.001 ms from a 1 µs histogram otherwise).
func (l *HDRLog) toMs(h *hdrhistogram.Histogram, v int64) float64 {
	if v < h.LowestTrackableValue() {
		return 0
	}
	return round3(float64(v) * float64(l.Unit) / float64(time.Millisecond))
}

func tagName(tag string) string {
	if tag == untagged {
		return "the untagged histogram"
	}
	return "tag " + tag
}

func sortedTags(m map[string]*hdrhistogram.Histogram) []string {
	tags := make([]string, 0, len(m))
	for t := range m {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	return tags
}

func epochSecs(s float64) time.Time {
	if math.IsNaN(s) || math.IsInf(s, 0) || math.Abs(s) > 1e11 {
		return time.Time{}
	}
	return time.UnixMicro(int64(math.Round(s * 1e6)))
}

// readHDRLine reads one line without its "\n" (or "\r\n"); complete is false
// for a last line without a newline (and for the end of input: "", false).
func readHDRLine(br *bufio.Reader) (line string, complete bool, err error) {
	var b []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(b)+len(chunk) > maxHDRLineBytes {
			return "", false, fmt.Errorf("line longer than %d MB: not an HDR log", maxHDRLineBytes>>20)
		}
		b = append(b, chunk...)
		switch {
		case err == nil:
			return strings.TrimSuffix(string(b[:len(b)-1]), "\r"), true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return string(b), false, nil
		default:
			return "", false, err
		}
	}
}

// parseHeaderSecs reads the seconds of "#[StartTime: 1795320050.053 (…".
func parseHeaderSecs(line, prefix string) (float64, error) {
	f := strings.Fields(strings.TrimPrefix(line, prefix))
	if len(f) == 0 {
		return 0, fmt.Errorf("%s without a time", strings.TrimPrefix(prefix, "#["))
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "]"), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("%s %q is not seconds since the epoch", strings.TrimSuffix(strings.TrimPrefix(prefix, "#["), ":"), f[0])
	}
	return v, nil
}

// parseUnitComment recognises "# unit=ns" (also "#[unit=ns]") and the
// comment of queuegap's logs before it.
func parseUnitComment(line string) (time.Duration, bool, error) {
	body := strings.TrimSpace(strings.TrimPrefix(line, "#"))
	if strings.HasPrefix(body, hdrLegacyComment) {
		return time.Nanosecond, true, nil
	}
	body = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(body, "["), "]"))
	if len(body) < len(hdrUnitComment) || !strings.EqualFold(body[:len(hdrUnitComment)], hdrUnitComment) {
		return 0, false, nil
	}
	u, err := ParseHDRUnit(body[len(hdrUnitComment):])
	if err != nil {
		return 0, false, err
	}
	return u, true, nil
}

// parseIntervalLine parses "[Tag=T,]start,length,max,payload".
func parseIntervalLine(line string) (tag string, start float64, h *hdrhistogram.Histogram, err error) {
	rest := line
	if strings.HasPrefix(rest, "Tag=") {
		var ok bool
		tag, rest, ok = strings.Cut(rest[len("Tag="):], ",")
		if !ok || tag == "" {
			return "", 0, nil, errors.New("a Tag= without a histogram")
		}
	}
	f := strings.SplitN(rest, ",", 4)
	if len(f) != 4 {
		return "", 0, nil, fmt.Errorf("want start,length,max,histogram; got %d fields", len(f))
	}
	for i, name := range []string{"start time", "interval length", "interval max"} {
		v, err := strconv.ParseFloat(strings.TrimSpace(f[i]), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return "", 0, nil, fmt.Errorf("%s %q is not a number", name, f[i])
		}
		if i == 0 {
			start = v
		}
	}
	h, err = hdrhistogram.Decode([]byte(strings.TrimSpace(f[3])))
	if err != nil {
		return "", 0, nil, fmt.Errorf("histogram: %w", err)
	}
	return tag, start, h, nil
}

// SummaryFromHDR builds the parts of a Summary an HDR log can give:
// percentiles per phase and component, in ms. Outcomes, shares, rates and
// the generator's figures are not in an HDR log: MetricValue reports them
// as no data for Source "hdr-log". A log without a total-latency histogram
// has no "total" phase (Requests 0, and "requests" is no data).
func SummaryFromHDR(l *HDRLog) Summary {
	s := Summary{Phases: map[string]PhaseStats{}, Attribution: map[string]ComponentStats{}, Outcomes: map[string]int64{}}
	conv := func(h *hdrhistogram.Histogram) PhaseStats {
		if h.TotalCount() == 0 {
			return PhaseStats{}
		}
		ms := func(v int64) float64 { return l.toMs(h, v) }
		mean := h.Mean()
		if mean < float64(h.LowestTrackableValue()) {
			mean = 0
		}
		return PhaseStats{Count: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
			P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()), Mean: round3(mean * float64(l.Unit) / float64(time.Millisecond))}
	}
	for tag, h := range l.Hists {
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
	s.Source = SourceHDRLog
	if total, ok := s.Phases[PhaseTotal]; ok {
		s.Requests = total.Count
		s.Headline = fmt.Sprintf("from an HDR log: clients p99 %s", fmtMs(total.P99))
	} else {
		s.Headline = fmt.Sprintf("from an HDR log without a total-latency histogram (it has %s): requests unknown", strings.Join(sortedTags(l.Hists), ", "))
	}
	return s
}

// SourceHDRLog is Summary.Source for a summary read from an HDR log.
const SourceHDRLog = "hdr-log"
