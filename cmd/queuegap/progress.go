package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/queuegap/queuegap/loadgen"
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// showProgress redraws one status line on a terminal until the run ends.
func showProgress(w io.Writer, r *loadgen.Runner, sched loadgen.Schedule, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	start := time.Now()
	total := sched.Length()
	planned := sched.Planned()
	p := &r.Progress
	for {
		select {
		case <-r.Done():
			fmt.Fprint(w, "\r\033[K")
			return
		case <-t.C:
		}
		el := time.Since(start)
		rem := max(0, total-el)
		rate := 0.0
		if s := min(el, total).Seconds(); s > 0 {
			rate = float64(p.Started.Load()) / s
		}
		plannedStr := "?"
		if planned >= 0 {
			plannedStr = fmt.Sprint(planned)
		}
		fmt.Fprintf(w, "\r\033[K%5.1fs elapsed, %5.1fs left │ sent %d/%s (due %d) │ %.0f/s │ in flight %d │ done %d │ errors %d",
			el.Seconds(), rem.Seconds(), p.Started.Load(), plannedStr, p.Scheduled.Load(), rate, p.InFlight(), p.Completed.Load(), p.Errors.Load())
	}
}
