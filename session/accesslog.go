package session

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/profiles/accesslog"
)

// An access log read as results: each logged request becomes a Result, so
// `analyze production.log` and `analyze --compare production.log
// replay.jsonl` report production per endpoint next to a replay of it.
//
// What a log knows differs from what queuegap measures, and the results say
// so: Intended is the arrival (offset from the log's earliest arrival),
// Total is the server's logged time ($request_time; the ALB's three
// processing times), the backend's part ($upstream_response_time, the
// ALB's target_processing_time) is the app time, and there is no connect or
// first-byte time. A request the ALB never dispatched (-1 times) has no
// latency: outcome not_dispatched, total 0.

// maxLogWarnings is how many malformed lines a read names.
const maxLogWarnings = 5

// sniffAccessLog reports the format of the file at path if it is an access
// log (plain or gzipped) rather than a results file.
func sniffAccessLog(path string) (accesslog.Format, bool) {
	f, err := accesslog.DetectFile(path)
	return f, err == nil
}

// logFile is what one pass over an access log found.
type logFile struct {
	first, last, lastEnd time.Time
	entries              int64
	lowRes, noLatency    int64
	notDispatched        int64
}

// scanLog reads the whole log once for what its results need up front:
// the earliest arrival (logs are written in completion order, so it need
// not be the first line's) and the counts.
func scanLog(path string, f accesslog.Format) (logFile, *accesslog.Reader, error) {
	var lf logFile
	r, err := eachLogEntry(path, f, func(e *accesslog.Entry) {
		end := e.Arrival
		if e.HasLatency {
			end = end.Add(e.Latency)
		}
		if lf.entries == 0 || e.Arrival.Before(lf.first) {
			lf.first = e.Arrival
		}
		if lf.entries == 0 || e.Arrival.After(lf.last) {
			lf.last = e.Arrival
		}
		if lf.entries == 0 || end.After(lf.lastEnd) {
			lf.lastEnd = end
		}
		lf.entries++
		if !e.HasSubSecond {
			lf.lowRes++
		}
		if !e.HasLatency {
			if f.Kind == accesslog.ALB {
				lf.notDispatched++
			} else {
				lf.noLatency++
			}
		}
	})
	return lf, r, err
}

func eachLogEntry(path string, f accesslog.Format, fn func(*accesslog.Entry)) (*accesslog.Reader, error) {
	r, c, err := accesslog.Open(path, f)
	if err != nil {
		return nil, &InputError{Path: path, Err: errors.Unwrap(err)}
	}
	defer c.Close()
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r, nil
		}
		if err != nil {
			return r, &InputError{Path: path, Err: err}
		}
		fn(&e)
	}
}

// readAccessLog is readFile for an access log in format f.
func readAccessLog(path string, f accesslog.Format, fn func(*analyze.RunInfo, *analyze.Result)) (fileStats, error) {
	lf, r, err := scanLog(path, f)
	if err != nil {
		return fileStats{}, err
	}
	if lf.entries == 0 {
		return fileStats{}, &InputError{Path: path, Err: fmt.Errorf("access log (%s) with no readable request (%d lines, %d malformed)", f, r.Lines(), r.MalformedCount())}
	}
	info := analyze.RunInfo{
		RunID:      "log:" + filepath.Base(path),
		Schedule:   "access log (" + f.String() + ")",
		Start:      lf.first,
		Planned:    lf.entries,
		Started:    lf.entries,
		SendWindow: lf.last.Sub(lf.first),
		Elapsed:    lf.lastEnd.Sub(lf.first),
		Complete:   true,
	}
	var res analyze.Result
	var seq uint64
	if _, err := eachLogEntry(path, f, func(e *accesslog.Entry) {
		seq++
		res = analyze.Result{FromLog: true, Name: accesslog.EndpointName(e.Method, e.Path)}
		rec := &res.Record
		rec.Seq = seq
		rec.Intended = e.Arrival.Sub(lf.first).Truncate(time.Microsecond)
		rec.Queued, rec.Start = rec.Intended, rec.Intended
		rec.Done = rec.Intended + e.Latency.Truncate(time.Microsecond)
		rec.Status = e.Status
		if e.HasUpstream {
			res.Server.HasApp, res.Server.App = true, e.UpstreamLatency.Truncate(time.Microsecond)
		}
		switch {
		case !e.HasLatency && f.Kind == accesslog.ALB:
			res.Outcome = analyze.OutcomeNotDispatched
		default:
			res.Outcome = analyze.ClassifyLogged(e.Status, e.HasUpstream, e.Latency)
		}
		fn(&info, &res)
	}); err != nil {
		return fileStats{}, err
	}
	st := fileStats{Runs: []analyze.RunInfo{info}, Results: int64(seq)}
	if n := r.MalformedCount(); n > 0 {
		w := fmt.Sprintf("%d malformed lines skipped (not %s)", n, f)
		for i, m := range r.Malformed() {
			if i == maxLogWarnings {
				w += ", …"
				break
			}
			w += fmt.Sprintf("; line %d: %s", m.Line, m.Reason)
		}
		st.Warnings = append(st.Warnings, w)
	}
	if lf.lowRes > 0 {
		st.Warnings = append(st.Warnings, fmt.Sprintf("%d requests have arrival times to the second only (no $msec): the timeline is exact to the second, no finer", lf.lowRes))
	}
	if lf.noLatency > 0 {
		st.Warnings = append(st.Warnings, fmt.Sprintf("%d requests have no logged request time (no $request_time): their total counts as 0", lf.noLatency))
	}
	if lf.notDispatched > 0 {
		st.Warnings = append(st.Warnings, fmt.Sprintf("%d requests were never dispatched to a target (ALB -1 times): outcome %s, no latency (total 0)", lf.notDispatched, analyze.OutcomeNotDispatched))
	}
	st.Warnings = append(st.Warnings, "read from an access log: totals are the server's logged times; no connect or first-byte times")
	return st, nil
}
