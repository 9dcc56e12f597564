package stack

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// AppLogLine is one line of the app's ground-truth log: one JSON object per completed request,
// written by the worker that served it (a worker killed by harakiri/timeout writes none).
type AppLogLine struct {
	ID       string `json:"id"`       // the request's X-Request-Id (nginx's $request_id when the client sent none)
	Pid      int    `json:"pid"`      // worker process
	Instance string `json:"instance"` // "1" or "2"
	// QueueMS is app start − X-Request-Start in milliseconds (clamped at 0); nil when the
	// request carried no usable X-Request-Start (e.g. straight to uWSGI's HTTP socket).
	QueueMS      *float64 `json:"queue_ms"`
	AppMS        float64  `json:"app_ms"` // time in the app (middleware + view)
	Path         string   `json:"path"`
	Status       int      `json:"status"`
	Start        float64  `json:"start"`         // epoch seconds when the app got the request
	End          float64  `json:"end"`           // epoch seconds when the view returned
	RequestStart *float64 `json:"request_start"` // parsed X-Request-Start, epoch seconds
}

// Queue returns the queue time and whether it is known.
func (l AppLogLine) Queue() (time.Duration, bool) {
	if l.QueueMS == nil {
		return 0, false
	}
	return msDuration(*l.QueueMS), true
}

// App returns the time spent in the app.
func (l AppLogLine) App() time.Duration { return msDuration(l.AppMS) }

// StartTime returns when the app got the request.
func (l AppLogLine) StartTime() time.Time { return epoch(l.Start) }

// EndTime returns when the view returned.
func (l AppLogLine) EndTime() time.Time { return epoch(l.End) }

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

func epoch(s float64) time.Time {
	return time.Unix(0, int64(s*1e9))
}

// ReadAppLog parses the app's JSON-lines log (Stack.AppLog). A missing file reads as no lines.
func ReadAppLog(path string) ([]AppLogLine, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []AppLogLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var l AppLogLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return lines, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		lines = append(lines, l)
	}
	return lines, sc.Err()
}
