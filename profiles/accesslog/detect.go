package accesslog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
)

// Detection reads at most this many lines, or this many bytes, of a log.
const (
	detectLines = 50
	detectBytes = 256 << 10
)

// DetectFile is Detect on the file at path.
func DetectFile(path string) (Format, error) {
	f, err := os.Open(path)
	if err != nil {
		return Format{}, fmt.Errorf("accesslog: %w", err)
	}
	defer f.Close()
	return Detect(f)
}

// Detect tells the format of a log (plain or gzipped) from its first
// lines: nginx JSON lines, an ALB log, or nginx combined with whatever
// extra fields follow the user agent. A field with an epoch time and a
// fraction is $msec; the first plain number of seconds is $request_time; a
// second one, or one that is sometimes "-" or a list, is
// $upstream_response_time; any other field is skipped. The format that
// reads the most sample lines wins; none reading any is an error.
func Detect(r io.Reader) (Format, error) {
	sample, err := head(r)
	if err != nil {
		return Format{}, err
	}
	if len(bytes.TrimSpace(sample)) == 0 {
		return Format{}, errors.New("accesslog: the log is empty: no format to detect")
	}
	candidates := []Format{{Kind: NginxJSON}, {Kind: ALB}}
	if f, ok := guessCombined(sample); ok {
		candidates = append(candidates, f)
	}
	best, bestN, firstBad := Format{}, 0, ""
	for _, f := range candidates {
		n, bad := countParsed(sample, f)
		if n > bestN {
			best, bestN = f, n
		}
		if f.Kind == NginxCombined || firstBad == "" {
			firstBad = bad
		}
	}
	if bestN == 0 {
		if firstBad != "" {
			firstBad = " (" + firstBad + ")"
		}
		return Format{}, fmt.Errorf("accesslog: cannot tell the log format from its first lines%s: give it (combined[+field...], json or alb)", firstBad)
	}
	return best, nil
}

// head returns the first whole lines of r, decompressed.
func head(r io.Reader) ([]byte, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var src io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("accesslog: gzip header: %w", err)
		}
		src = zr
	}
	buf := make([]byte, detectBytes)
	n, err := io.ReadFull(src, buf)
	full := n == len(buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("accesslog: reading the log's first lines: %w", err)
	}
	buf = buf[:n]
	if full { // drop a line the sample cut
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			buf = buf[:i+1]
		}
	}
	lines := 0
	for i, c := range buf {
		if c == '\n' {
			if lines++; lines == detectLines {
				return buf[:i+1], nil
			}
		}
	}
	return buf, nil
}

// countParsed is how many sample lines f reads, and the first reason a line
// was not read.
func countParsed(sample []byte, f Format) (int, string) {
	r := NewReader(bytes.NewReader(sample), f)
	n := 0
	for {
		if _, err := r.Next(); err != nil {
			break
		}
		n++
	}
	bad := ""
	if m := r.Malformed(); len(m) > 0 {
		bad = fmt.Sprintf("as %s, line %d: %s", f, m[0].Line, m[0].Reason)
	}
	return n, bad
}

// guessCombined reads the fields after the user agent of each sample line
// that has the nine combined fields, and names them.
func guessCombined(sample []byte) (Format, bool) {
	type col struct{ msec, seconds, dash, list, other int }
	var cols []col
	lines := 0
	for line := range bytes.SplitSeq(sample, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var fs [9]field
		i, pr := leadingFields(line, fs[:], "%d of %d")
		if pr.reason != "" || fs[3].delim != '[' {
			continue
		}
		var extras [][]byte
		var lists []bool
		for {
			f, next, ok, pr := nextField(line, i)
			if !ok || pr.reason != "" {
				break
			}
			text, isList := f.text, false
			if f.delim == 0 {
				// "0.010, 0.020 : 0.005" spans fields: read it as one.
				var end int
				text, end = upstreamList(line, next-len(f.text), next)
				isList, next = end != next, end
			}
			extras = append(extras, text)
			lists = append(lists, isList)
			i = next
		}
		if lines > 0 && len(extras) != len(cols) {
			return Format{}, false // lines disagree: not one combined layout
		}
		if lines == 0 {
			cols = make([]col, len(extras))
		}
		lines++
		for k, x := range extras {
			c := &cols[k]
			ns, num := parseFixed(x)
			switch {
			case lists[k] || bytes.ContainsAny(x, ",:") && !num:
				c.list++
			case len(x) == 1 && x[0] == '-':
				c.dash++
			case num && ns > 1e17 && bytes.IndexByte(x, '.') >= 0: // after 1973: an epoch time
				c.msec++
			case num && ns >= 0:
				c.seconds++
			default:
				c.other++
			}
		}
	}
	if lines == 0 {
		return Format{}, false
	}
	f := Format{Kind: NginxCombined}
	var haveMsec, haveRT, haveUp bool
	for _, c := range cols {
		x := ExtraSkip
		switch {
		case c.other > 0:
		case c.msec == lines && !haveMsec:
			x, haveMsec = ExtraMsec, true
		case c.msec > 0:
		case c.seconds == lines && !haveRT:
			x, haveRT = ExtraRequestTime, true
		case !haveUp && c.seconds+c.dash+c.list == lines:
			x, haveUp = ExtraUpstreamResponseTime, true
		}
		f.Extras = append(f.Extras, x)
	}
	return f, true
}
