package main

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/queuegap/queuegap/profiles/accesslog"
	"github.com/queuegap/queuegap/session"
)

type fromLogOptions struct {
	format       string
	clients      []string
	userAgents   []string
	pathPrefixes []string
	from, to     string
	speed        float64
	loop         int
	name         string
	out          string
	maxMalformed int
}

func newFromLogCmd() *cobra.Command {
	o := &fromLogOptions{}
	cmd := &cobra.Command{
		Use:   "from-log FILE...",
		Short: "Turn access logs into a profile that replays their arrivals",
		Long: `Read access logs (nginx combined, with or without $request_time,
$upstream_response_time or $msec appended; nginx JSON lines; AWS ALB access
logs; any of them gzipped) and write a profile whose client replays the logged
arrivals: when each request arrived, its method and path. The run's URL gives
the host. Bodies are not in access logs: POST and PUT requests replay without
their bodies.

Arrival times: nginx's $time_local and the ALB's time are written when the
response ended, so the arrival is that minus $request_time, or the ALB's
request_creation_time. $time_local has one-second resolution: without $msec
(appended, or in a JSON log) only the per-second counts are known, and the
replay spreads each second's requests evenly within it (said on stderr and in
the profile).

Logs of any size stream through in bounded memory; the trace is stored
compactly (a few bytes per request, base64 in the profile). Malformed lines are
counted and the first ones shown with their line numbers; they never stop the
conversion. The logged status and latency stay in the trace, and
'queuegap analyze LOG' reads a log as results: 'analyze --compare LOG
replay.jsonl' puts production next to the replay, per endpoint.

Examples:
  queuegap profiles from-log access.log -o replay.yaml
  queuegap profiles from-log --format alb --client-ip 10.1.0.0/16 --speed 2 alb/*.log.gz -o partner.yaml
  queuegap profiles from-log --user-agent PartnerSDK --from 2026-03-02T09:00:00Z --to 2026-03-02T10:00:00Z access.log.1.gz

` + exitCodesHelp,
		Args: typedArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.format, "format", "auto", "log format: auto (from each file's first lines), combined[+FIELD...], json or alb;\n  FIELD is request_time, upstream_response_time, msec or skip, in log order")
	fs.StringArrayVar(&o.clients, "client-ip", nil, "keep requests from this IP or CIDR (repeatable: any may match)")
	fs.StringArrayVar(&o.userAgents, "user-agent", nil, "keep requests whose user agent contains this (repeatable: any may match)")
	fs.StringArrayVar(&o.pathPrefixes, "path-prefix", nil, "keep requests whose path starts with this (repeatable: any may match)")
	fs.StringVar(&o.from, "from", "", "keep requests that arrived at or after this RFC 3339 time")
	fs.StringVar(&o.to, "to", "", "keep requests that arrived before this RFC 3339 time")
	fs.Float64Var(&o.speed, "speed", 1, "replay this many times as fast (2 halves the span)")
	fs.IntVar(&o.loop, "loop", 1, "play the trace this many times over")
	fs.StringVar(&o.name, "name", "", "profile name (default: replay-<first file's name>)")
	fs.StringVarP(&o.out, "out", "o", "", "write the profile to FILE (default: stdout)")
	fs.IntVar(&o.maxMalformed, "max-malformed-shown", 10, "show at most this many malformed lines (all are counted)")
	return cmd
}

// fromLogInput is one log file, opened and its format known.
type fromLogInput struct {
	path   string
	format accesslog.Format
}

// fromLogStats is what the conversion saw.
type fromLogStats struct {
	lines, kept, filtered, malformed int64
	shown                            []string // "FILE:LINE: reason"
}

func (o *fromLogOptions) run(args []string, stdout, stderr io.Writer) error {
	// Everything the user can get wrong is checked before any file is
	// read or -o is touched.
	filter, err := o.filter()
	if err != nil {
		return err
	}
	if !(o.speed > 0) || math.IsInf(o.speed, 0) {
		return usagef("--speed %v: want a number > 0 (2 replays twice as fast)", o.speed)
	}
	if o.loop < 1 {
		return usagef("--loop %d: want 1 or more", o.loop)
	}
	if o.maxMalformed < 0 {
		return usagef("--max-malformed-shown %d: want 0 or more", o.maxMalformed)
	}
	name := o.name
	if name == "" {
		name = defaultReplayName(args[0])
	} else if err := checkProfileName(name); err != nil {
		return usagef("--name %q: %v", name, err)
	}
	var fixed *accesslog.Format
	if o.format != "auto" {
		f, err := accesslog.ParseFormat(o.format)
		if err != nil {
			return usagef("--format: %v", err)
		}
		fixed = &f
	}
	if o.out != "" {
		if err := session.CheckOutputPath(o.out); err != nil {
			return usagef("-o %s: %v", o.out, err)
		}
		for _, a := range args {
			if samePathArg(a, o.out) {
				return usagef("-o %s is also an input", o.out)
			}
		}
	}
	inputs := make([]fromLogInput, 0, len(args))
	for _, path := range args {
		in := fromLogInput{path: path}
		f, err := os.Open(path)
		if err == nil {
			var fi os.FileInfo
			if fi, err = f.Stat(); err == nil && fi.IsDir() {
				err = errors.New("is a directory")
			}
			f.Close()
		}
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return &session.InputError{Path: path, Err: err}
		}
		if fixed != nil {
			in.format = *fixed
		} else if in.format, err = accesslog.DetectFile(path); err != nil {
			return &session.InputError{Path: path, Err: stripPkg(err)}
		}
		inputs = append(inputs, in)
	}

	var tr accesslog.Trace
	var st fromLogStats
	for _, in := range inputs {
		if err := convertLog(in, filter, &tr, &st, o.maxMalformed); err != nil {
			return err
		}
		if o.format == "auto" {
			fmt.Fprintf(stderr, "%s: read as %s\n", in.path, in.format)
		}
	}
	if tr.Len() == 0 {
		return exitError{exitUsage, fmt.Sprintf("no request left to replay (%d lines read, %d filtered out, %d malformed)", st.lines, st.filtered, st.malformed)}
	}
	// Spread works on logged seconds, so it comes before anything moves
	// the offsets; Sort then puts them in arrival order from 0.
	lowRes := tr.SecondResolution()
	if lowRes {
		if err := tr.Spread(); err != nil {
			return exitError{exitFailure, err.Error()}
		}
	}
	tr.Sort()
	bin, err := tr.MarshalBinary()
	if err != nil {
		return exitError{exitFailure, err.Error()}
	}

	fmt.Fprintf(stderr, "%d lines read: %d kept, %d filtered out, %d malformed\n", st.lines, st.kept, st.filtered, st.malformed)
	for _, m := range st.shown {
		fmt.Fprintln(stderr, "  malformed:", m)
	}
	if n := st.malformed - int64(len(st.shown)); n > 0 {
		fmt.Fprintf(stderr, "  … and %d more malformed lines\n", n)
	}
	span := tr.Span()
	fmt.Fprintf(stderr, "span %s (replayed at speed %g: %s), %d distinct endpoints, %d requests, trace %d bytes (%.1f per request)\n",
		fmtSpan(span), o.speed, fmtSpan(time.Duration(float64(span)/o.speed)), distinctEndpoints(tr.Requests()), tr.Len(), len(bin), float64(len(bin))/float64(tr.Len()))
	note := ""
	if lowRes {
		note = "Arrival times were logged to the second only (no $msec): the replay keeps the per-second counts and spreads each second's requests evenly within it."
		fmt.Fprintln(stderr, "note:", note)
	}
	fmt.Fprintln(stderr, "note: bodies are not in access logs: POST/PUT requests replay without their bodies")

	var w io.Writer = stdout
	var file *os.File
	if o.out != "" {
		if file, err = os.Create(o.out); err != nil {
			return exitError{exitFailure, fmt.Sprintf("-o: %v", err)}
		}
		defer file.Close()
		w = file
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	writeReplayProfile(bw, replayProfile{
		name: name, files: args, requests: tr.Len(), first: tr.Start(), last: tr.Start().Add(span), span: span,
		note: note, trace: bin, speed: o.speed, loop: o.loop,
	})
	if err := bw.Flush(); err != nil {
		return exitError{exitFailure, fmt.Sprintf("writing the profile: %v", err)}
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return exitError{exitFailure, fmt.Sprintf("-o %s: %v", o.out, err)}
		}
		fmt.Fprintf(stderr, "wrote %s\n", o.out)
	}
	return nil
}

func (o *fromLogOptions) filter() (accesslog.Filter, error) {
	spec := accesslog.FilterSpec{Clients: o.clients, UserAgents: o.userAgents, PathPrefixes: o.pathPrefixes}
	for _, t := range []struct {
		flag, val string
		dst       *time.Time
	}{{"--from", o.from, &spec.From}, {"--to", o.to, &spec.To}} {
		if t.val == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.val)
		if err != nil {
			return accesslog.Filter{}, usagef("%s %q: want an RFC 3339 time such as 2026-03-02T09:00:00Z", t.flag, t.val)
		}
		*t.dst = v
	}
	f, err := accesslog.NewFilter(spec)
	if err != nil {
		return accesslog.Filter{}, usageError{stripPkg(err)}
	}
	return f, nil
}

// convertLog streams one file into tr.
func convertLog(in fromLogInput, filter accesslog.Filter, tr *accesslog.Trace, st *fromLogStats, maxShown int) error {
	r, c, err := accesslog.Open(in.path, in.format)
	if err != nil {
		return &session.InputError{Path: in.path, Err: stripPkg(err)}
	}
	defer c.Close()
	fr := accesslog.NewFiltered(r, filter)
	for {
		e, err := fr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return &session.InputError{Path: in.path, Err: stripPkg(err)}
		}
		tr.Add(e)
		st.kept++
	}
	st.lines += r.Lines()
	st.filtered += fr.Skipped()
	st.malformed += r.MalformedCount()
	for _, m := range r.Malformed() {
		if len(st.shown) >= maxShown {
			break
		}
		st.shown = append(st.shown, fmt.Sprintf("%s:%d: %s", in.path, m.Line, m.Reason))
	}
	return nil
}

// stripPkg drops the "accesslog: " prefix: the command names the file.
func stripPkg(err error) error {
	if s, ok := strings.CutPrefix(err.Error(), "accesslog: "); ok {
		return errors.New(s)
	}
	return err
}

type replayProfile struct {
	name        string
	files       []string
	requests    int
	first, last time.Time
	span        time.Duration
	note        string
	trace       []byte
	speed       float64
	loop        int
}

// writeReplayProfile writes the profile YAML the profiles package reads:
// one client whose replay trace is the base64 of the binary trace, wrapped
// at 76 columns in a literal block (not one YAML node per request).
func writeReplayProfile(w *bufio.Writer, p replayProfile) {
	files := make([]string, len(p.files))
	for i, f := range p.files {
		files[i] = filepath.Base(f)
	}
	src := strings.Join(files, ", ")
	fmt.Fprintf(w, "# queuegap profile written by 'queuegap profiles from-log' from %s (%s requests, %s–%s)\n",
		oneLine(src), groupThousands(p.requests), p.first.UTC().Format(time.RFC3339Nano), p.last.UTC().Format(time.RFC3339Nano))
	w.WriteString("# Bodies are not in access logs: POST/PUT requests replay without their bodies.\n")
	if p.note != "" {
		fmt.Fprintf(w, "# %s\n", p.note)
	}
	fmt.Fprintf(w, "name: %s\n", p.name)
	fmt.Fprintf(w, "description: %s\n", strconv.Quote(fmt.Sprintf("Replay of %s: %d requests over %s", src, p.requests, fmtSpan(p.span))))
	w.WriteString("clients:\n  - name: replay\n    replay:\n      trace: |\n")
	const perLine = 57 // bytes: 76 base64 characters
	var buf [76]byte
	for b := p.trace; len(b) > 0; {
		n := min(perLine, len(b))
		base64.StdEncoding.Encode(buf[:], b[:n])
		w.WriteString("        ")
		w.Write(buf[:base64.StdEncoding.EncodedLen(n)])
		w.WriteByte('\n')
		b = b[n:]
	}
	fmt.Fprintf(w, "      speed: %s\n", strconv.FormatFloat(p.speed, 'g', -1, 64))
	fmt.Fprintf(w, "      loop: %d\n", p.loop)
}

// defaultReplayName is "replay-" and the file's name without directory
// and extensions: access.log.1.gz gives replay-access.
func defaultReplayName(path string) string {
	base := filepath.Base(path)
	if i := strings.IndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	var b strings.Builder
	for _, c := range strings.ToLower(base) {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-_")
	if s == "" {
		return "replay"
	}
	return "replay-" + s
}

// checkProfileName accepts names a YAML plain scalar and a file name both
// carry unchanged.
func checkProfileName(s string) error {
	if s == "" || len(s) > 64 {
		return errors.New("want 1 to 64 characters")
	}
	for i, c := range s {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || (i > 0 && (c == '-' || c == '_' || c == '.'))
		if !ok {
			return errors.New("use letters, digits, '-', '_' and '.', starting with a letter or digit")
		}
	}
	return nil
}

func distinctEndpoints(reqs []accesslog.Request) int {
	seen := make(map[string]struct{}, len(reqs))
	for _, r := range reqs {
		seen[accesslog.EndpointName(r.Method, r.Path)] = struct{}{}
	}
	return len(seen)
}

// fmtSpan prints a span as "1h0m", "2m30s", "6.205s" or "850ms".
func fmtSpan(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Millisecond).String()
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	return s
}

// groupThousands writes 12345 as "12 345".
func groupThousands(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// oneLine keeps a file name from breaking a comment line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
