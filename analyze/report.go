package analyze

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the summary as one JSON object.
func (s *Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	return enc.Encode(s)
}

// WriteText writes the summary as tables for a terminal.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	if s.Source == "hdr-log" {
		return s.writeHDRText(w)
	}
	rate := fmt.Sprintf("%.1f/s achieved", s.AchievedRate)
	if s.TargetRate > 0 {
		rate += fmt.Sprintf(" of %.1f/s scheduled", s.TargetRate)
	}
	fmt.Fprintf(&b, "%d requests in %.2fs (%s)", s.Requests, s.DurationS, rate)
	if s.RunID != "" {
		fmt.Fprintf(&b, ", run %s", s.RunID)
	}
	b.WriteString("\n")
	if s.Generator.Interrupted {
		fmt.Fprintf(&b, "interrupted: %d scheduled requests were not sent\n", s.Generator.NotSent)
	}
	b.WriteString("outcomes:")
	for _, o := range s.SortedOutcomes() {
		fmt.Fprintf(&b, "  %s %d", o, s.Outcomes[o])
	}
	b.WriteString("\n\n")

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tcount\tp50\tp90\tp99\tp99.9\tmax\t")
	for _, p := range Phases {
		ps := s.Phases[p]
		writeRow(tw, p, ps)
	}
	if s.Server.App.Count > 0 {
		writeRow(tw, "app (reported)", s.Server.App)
	}
	if s.Server.Queue.Count > 0 {
		writeRow(tw, "queue (reported)", s.Server.Queue)
	}
	tw.Flush()

	if len(s.Attribution) > 0 && s.Requests > 0 {
		b.WriteString("\nwhere the client time went\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "component\tshare\tp50\tp90\tp99\tmax\t")
		for _, c := range Components {
			cs := s.Attribution[c]
			if cs.TotalS == 0 && c != CompBacklog && c != CompProcessing {
				continue
			}
			fmt.Fprintf(tw, "%s\t%.1f%%\t%s\t%s\t%s\t%s\t\n", c, cs.Share*100, fmtMs(cs.P50), fmtMs(cs.P90), fmtMs(cs.P99), fmtMs(cs.Max))
		}
		tw.Flush()
		if s.Estimated > 0 {
			fmt.Fprintf(&b, "  (%d of %d requests: backlog and processing estimated — the server reported no queue time)\n", s.Estimated, s.Requests)
		}
		if s.Clamped > 0 {
			fmt.Fprintf(&b, "  (%d requests: server-reported times exceeded what the client saw and were cut to fit)\n", s.Clamped)
		}
	}
	if co := s.ClockOffset; co.Known {
		lo, hi, crossed := co.LoMs, co.HiMs, ""
		if lo > hi {
			// Bounds that cross (within the slack Consistent allows) measure
			// the server's timestamp resolution, e.g. nginx's $msec: show the
			// interval in order and say why it is upside down.
			lo, hi = hi, lo
			crossed = fmt.Sprintf(", bounds crossed by %s: the server's timestamps are that coarse", fmtMs(co.LoMs-co.HiMs))
		}
		fmt.Fprintf(&b, "\nclock offset server−client: %s, within [%s, %s] (%d samples%s); one-way network delay ≈ %s",
			fmtSignedMs(co.OffsetMs), fmtSignedMs(lo), fmtSignedMs(hi), co.Samples, crossed, fmtMs(co.OneWayMs))
		if co.Wide {
			b.WriteString(" — too wide to place the server's times: attributions that use them are estimates")
		}
		if !s.ClockOffset.Consistent {
			b.WriteString(" — inconsistent bounds: clock drift or a server reporting wrong times")
		}
		b.WriteString("\n")
	}
	if s.SynRetrans > 0 {
		fmt.Fprintf(&b, "\n%d connections retransmitted their SYN: the server's accept queue was full\n", s.SynRetrans)
	}
	if s.DataRetrans > 0 {
		fmt.Fprintf(&b, "%d requests were retransmitted after connecting: the accept queue filled between SYN and final ACK\n", s.DataRetrans)
	}
	g := s.Generator
	if g.Bursts > 0 {
		fmt.Fprintf(&b, "\nbursts: %d, spread max %s (first to last start of one burst)\n", g.Bursts, fmtMs(g.BurstSpreadMaxMs))
	}
	if g.FellBehind {
		fmt.Fprintf(&b, "\nWARNING: the generator itself fell behind its schedule (CPU, scheduling): send lag p99 %s. Latency still counts from the intended send time.\n", fmtMs(g.LagP99Ms))
	}
	if g.ConnWaits > 0 || g.SlotWaits > 0 {
		fmt.Fprintf(&b, "\nclient queue: %d requests waited for a pooled connection (--connections %d) and %d for an in-flight slot (--max-inflight %d), p99 %s:",
			g.ConnWaits, g.Connections, g.SlotWaits, g.MaxInflight, fmtMs(g.ClientQueueP99Ms))
		if g.Saturated {
			b.WriteString(" the target held them — it was saturated and the pool became the queue, as a partner's client pool would see it\n")
		} else {
			b.WriteString(" counted as client_queue, not as the generator's lag\n")
		}
	}
	if s.Unanswered > 0 {
		fmt.Fprintf(&b, "\n%d requests got no answer after connecting (timeouts, resets, closes): their wait is 'unanswered', never network\n", s.Unanswered)
	}
	s.writeEndpoints(&b)
	s.writeProbes(&b)
	for _, w := range s.Warnings {
		fmt.Fprintf(&b, "\nWARNING: %s\n", w)
	}
	if s.Server.InvalidHeaders > 0 {
		fmt.Fprintf(&b, "\n%d server timing header values were malformed or implausible and ignored\n", s.Server.InvalidHeaders)
	}
	fmt.Fprintf(&b, "\n%s\n", s.Headline)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeEndpoints prints one row per endpoint, then each client's total.
func (s *Summary) writeEndpoints(b *strings.Builder) {
	if len(s.Endpoints) == 0 {
		return
	}
	withClient := len(s.Clients) > 0
	for _, e := range s.Endpoints {
		withClient = withClient || e.Client != ""
	}
	b.WriteString("\nper endpoint\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	if withClient {
		fmt.Fprint(tw, "client\t")
	}
	fmt.Fprintln(tw, "name\tcount\terr%\tretries\tp50\tp99\tmax\tmost time in\t")
	row := func(client, name string, e EndpointSummary) {
		if withClient {
			fmt.Fprintf(tw, "%s\t", client)
		}
		errPct := 0.0
		if e.Count > 0 {
			errPct = 100 * float64(e.Errors) / float64(e.Count)
		}
		top := "-"
		if e.Top != "" {
			top = fmt.Sprintf("%s %.0f%%", e.Top, 100*e.Shares[e.Top])
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%d\t%s\t%s\t%s\t%s\t\n", name, e.Count, errPct, e.Retries, fmtMs(e.Total.P50), fmtMs(e.Total.P99), fmtMs(e.Total.Max), top)
	}
	for _, e := range s.Endpoints {
		row(e.Client, orDash(e.Name), e)
	}
	for _, e := range s.Clients {
		row(e.Client, "(all)", e)
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeRow(tw io.Writer, name string, ps PhaseStats) {
	if ps.Count == 0 {
		fmt.Fprintf(tw, "%s\t0\t-\t-\t-\t-\t-\t\n", name)
		return
	}
	fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", name, ps.Count, fmtMs(ps.P50), fmtMs(ps.P90), fmtMs(ps.P99), fmtMs(ps.P999), fmtMs(ps.Max))
}

func fmtSignedMs(ms float64) string {
	if ms < 0 {
		return "-" + fmtMs(-ms)
	}
	return "+" + fmtMs(ms)
}

// WriteTimeline prints the per-interval timeline; empty rows are skipped.
func (s *Summary) WriteTimeline(w io.Writer) error {
	if len(s.Timeline) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\ntimeline (%gs buckets; latency, backlog and errors by intended send time)\n", s.TimelineWidth)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "at\tscheduled\tsent\tcompleted\tin flight\tp50 total\tp99 total\tmean backlog\terrors\t")
	for _, r := range s.Timeline {
		if r.Scheduled == 0 && r.Sent == 0 && r.Completed == 0 && r.InFlight == 0 {
			continue
		}
		fmt.Fprintf(tw, "%gs\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t\n", r.AtS, r.Scheduled, r.Sent, r.Completed, r.InFlight,
			fmtMs(r.TotalP50Ms), fmtMs(r.TotalP99Ms), fmtMs(r.MeanBacklogMs), r.Errors)
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteChecks prints --fail-if results, one line each.
func WriteChecks(w io.Writer, results []CheckResult) error {
	var b strings.Builder
	if len(results) > 0 {
		b.WriteString("\n")
	}
	for _, r := range results {
		verdict := "pass"
		if r.Failed {
			verdict = "FAIL"
		}
		if r.NoData {
			// A check that cannot be evaluated fails: say why, not "measured".
			fmt.Fprintf(&b, "%s: %s (%s)\n", verdict, r.Expr, r.Display)
			continue
		}
		fmt.Fprintf(&b, "%s: %s (measured %s)\n", verdict, r.Expr, r.Display)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeHDRText reports what an HDR log holds: percentiles only.
func (s *Summary) writeHDRText(w io.Writer) error {
	var b strings.Builder
	if _, ok := s.Phases[PhaseTotal]; ok {
		fmt.Fprintf(&b, "HDR log: %d requests (interval histograms merged exactly; outcomes, shares and timeline are in the results file)\n\n", s.Requests)
	} else {
		b.WriteString("HDR log without a total-latency histogram: requests unknown (interval histograms merged exactly)\n\n")
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "distribution\tcount\tp50\tp90\tp99\tp99.9\tmax\t")
	for _, p := range Phases {
		writeRow(tw, p, s.Phases[p])
	}
	for _, c := range Components {
		if cs, ok := s.Attribution[c]; ok {
			writeRow(tw, c, cs.PhaseStats)
		}
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}
