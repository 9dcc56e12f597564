package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/queuegap/queuegap/session"
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// showProgress redraws one status line on a terminal until runDone closes.
func showProgress(w io.Writer, s *session.Session, runDone <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	start := time.Now()
	total := s.Plan().Length()
	planned := s.Plan().Planned()
	for {
		select {
		case <-runDone:
			fmt.Fprint(w, "\r\033[K")
			return
		case <-t.C:
		}
		p := s.Progress()
		if p == nil {
			continue // the target is still starting
		}
		el := time.Since(start)
		rate := 0.0
		if sec := min(el, total).Seconds(); sec > 0 {
			rate = float64(p.Started.Load()) / sec
		}
		plannedStr := "?"
		if planned >= 0 {
			plannedStr = fmt.Sprint(planned)
		}
		when := fmt.Sprintf("%5.1fs left", max(0, total-el).Seconds())
		if el > total {
			// The schedule is over; the run waits for its last answers —
			// say so, or a long drain looks like a hang.
			when = fmt.Sprintf("schedule done, draining %d in flight", p.InFlight())
			if age, ok := p.OldestAge(); ok {
				when += fmt.Sprintf(" (oldest %.1fs)", age.Seconds())
			}
		}
		fmt.Fprintf(w, "\r\033[K%5.1fs elapsed, %s │ sent %d/%s (due %d) │ %.0f/s │ in flight %d │ done %d │ errors %d",
			el.Seconds(), when, p.Started.Load(), plannedStr, p.Scheduled.Load(), rate, p.InFlight(), p.Completed.Load(), p.Errors.Load())
	}
}
