package analyze

import (
	"fmt"
	"math"
	"sort"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// RunInfo describes a run: written as the first and last lines of a
// results file, and passed to Summarize by `run`.
type RunInfo struct {
	RunID       string  `json:"run_id,omitempty"`
	URL         string  `json:"url,omitempty"`
	Method      string  `json:"method,omitempty"`
	Schedule    string  `json:"schedule,omitempty"`
	Rate        float64 `json:"scheduled_rate,omitempty"` // the schedule's mean rate, requests/s (from the schedule, never from what was sent)
	ConnMode    string  `json:"conn_mode,omitempty"`
	Connections int     `json:"connections,omitempty"` // the keep-alive pool (--connections)
	Engine      string  `json:"engine,omitempty"`
	Shard       string  `json:"shard,omitempty"` // "I/N": this file is shard I of N of the run (run --shard)
	// Bursts and BurstSpread are the trailer's record of the run's bursts
	// (GeneratorStats.Bursts, BurstSpreadMaxMs).
	Bursts      int64          `json:"bursts,omitempty"`
	BurstSpread time.Duration  `json:"burst_spread_max,omitempty"` // ns
	Start       time.Time      `json:"start"`
	Planned     int64          `json:"planned"`      // requests the schedule holds (-1: statistical)
	Started     int64          `json:"started"`      // requests actually sent
	NotSent     int64          `json:"not_sent"`     // scheduled but never sent (interrupted)
	SendWindow  time.Duration  `json:"send_window"`  // ns: schedule length, or last start if later
	Elapsed     time.Duration  `json:"elapsed"`      // ns: start to last completion
	MaxInflight int            `json:"max_inflight"` // the --max-inflight bound
	Interrupted bool           `json:"interrupted"`
	Complete    bool           `json:"complete"`            // the run ended and wrote its trailer
	Estimates   *EstimatesInfo `json:"estimates,omitempty"` // trailer only: the run-wide estimates, for information (analyze derives them again)
}

// EstimatesInfo is the trailer's record of the run-wide estimates.
type EstimatesInfo struct {
	Offset       ClockOffset `json:"clock_offset"`
	MinWaitMs    *float64    `json:"min_wait_ms,omitempty"`        // unset: no response without server timing
	MinResidueMs *float64    `json:"min_net_residue_ms,omitempty"` // unset: no response with app timing only
}

// PhaseStats are percentiles of one distribution, in milliseconds.
type PhaseStats struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

func phaseStats(h *hdrhistogram.Histogram) PhaseStats {
	if h.TotalCount() == 0 {
		return PhaseStats{}
	}
	return PhaseStats{
		Count: h.TotalCount(),
		P50:   usToMs(h.ValueAtQuantile(50)),
		P90:   usToMs(h.ValueAtQuantile(90)),
		P99:   usToMs(h.ValueAtQuantile(99)),
		P999:  usToMs(h.ValueAtQuantile(99.9)),
		Max:   usToMs(h.Max()),
		Mean:  round3(h.Mean() / 1000),
	}
}

// ComponentStats is one attribution component over the run.
type ComponentStats struct {
	PhaseStats
	Share  float64 `json:"share"`   // fraction of all client time
	TotalS float64 `json:"total_s"` // summed over requests
}

// ServerStats is what the servers reported.
type ServerStats struct {
	WithTiming     int64      `json:"with_timing"` // responses carrying usable timing
	App            PhaseStats `json:"app"`         // reported processing time
	Queue          PhaseStats `json:"queue"`       // reported queue time
	InvalidHeaders int64      `json:"invalid_headers"`
}

// ClockOffset is the client↔server clock offset estimate.
type ClockOffset struct {
	Known         bool    `json:"known"`
	OffsetMs      float64 `json:"offset_ms"` // server − client, the middle of [lo, hi]
	LoMs          float64 `json:"lo_ms"`
	HiMs          float64 `json:"hi_ms"`
	UncertaintyMs float64 `json:"uncertainty_ms"` // hi − lo
	OneWayMs      float64 `json:"one_way_ms"`     // estimated one-way network delay
	Wide          bool    `json:"wide"`           // too wide to place server times: those attributions are estimates
	Samples       int64   `json:"samples"`
	Consistent    bool    `json:"consistent"`
}

// GeneratorStats says whether queuegap itself kept up.
type GeneratorStats struct {
	SlotWaits   int64   `json:"slot_waits"` // requests that waited for --max-inflight
	ConnWaits   int64   `json:"conn_waits"` // requests that waited for a pooled connection
	MaxInflight int     `json:"max_inflight"`
	LagP99Ms    float64 `json:"lag_p99_ms"`
	FellBehind  bool    `json:"fell_behind"` // the generator itself (CPU, scheduling) was late
	// ClientQueueP99Ms is the p99 wait for an in-flight slot or a pooled
	// connection; Saturated says that wait, caused by a target holding its
	// connections, was a large part of what clients saw.
	ClientQueueP99Ms float64 `json:"client_queue_p99_ms"`
	Saturated        bool    `json:"saturated"`
	Connections      int     `json:"connections,omitempty"`
	ConnMode         string  `json:"conn_mode,omitempty"`
	NotSent          int64   `json:"not_sent"`
	Interrupted      bool    `json:"interrupted"`
	// LimitErrors counts requests that failed on the generator's own limits
	// (file descriptors, ephemeral ports): not the target's doing.
	LimitErrors int64 `json:"limit_errors"`
	// Bursts is how many bursts (several requests due at one instant) the
	// run sent, and BurstSpreadMaxMs the widest first-to-last start of one:
	// how far from "at once" the generator's bursts left.
	Bursts           int64   `json:"bursts,omitempty"`
	BurstSpreadMaxMs float64 `json:"burst_spread_max_ms,omitempty"`
}

// Summary is the report of a run or a results file. Its JSON form is what
// `--json` prints; field names are stable.
type Summary struct {
	RunID          string                    `json:"run_id,omitempty"`
	Source         string                    `json:"source,omitempty"` // "hdr-log" when read from an HDR log: percentiles only
	URL            string                    `json:"url,omitempty"`
	Schedule       string                    `json:"schedule,omitempty"`
	Requests       int64                     `json:"requests"`
	Planned        int64                     `json:"planned"`
	DurationS      float64                   `json:"duration_s"`
	ElapsedS       float64                   `json:"elapsed_s"`
	AchievedRate   float64                   `json:"achieved_rate"`
	TargetRate     float64                   `json:"target_rate"`
	Errors         int64                     `json:"errors"`
	Retries        int64                     `json:"retries"` // requests that were a client behaviour's retry (attempt > 0)
	Outcomes       map[string]int64          `json:"outcomes"`
	Phases         map[string]PhaseStats     `json:"phases"`
	OutcomeTotals  map[string]PhaseStats     `json:"outcome_totals"`
	Attribution    map[string]ComponentStats `json:"attribution"`
	Estimated      int64                     `json:"estimated"` // requests whose backlog was inferred
	Clamped        int64                     `json:"clamped"`   // requests whose server timing exceeded the client's
	NewConns       int64                     `json:"new_conns"`
	SynRetrans     int64                     `json:"syn_retransmits"`   // requests whose connect retransmitted a SYN
	SynRetryFrontS float64                   `json:"syn_retry_front_s"` // syn_retry seen at a front tier (its connect to nginx), summed
	SynRetryProxyS float64                   `json:"syn_retry_proxy_s"` // syn_retry seen at the proxy (nginx's connect to the app), summed
	Unanswered     int64                     `json:"unanswered"`        // requests that ended with no response byte after connecting
	DataRetrans    int64                     `json:"data_retransmits"`  // requests whose data was retransmitted after connect
	Server         ServerStats               `json:"server"`
	ClockOffset    ClockOffset               `json:"clock_offset"`
	Generator      GeneratorStats            `json:"generator"`
	Headline       string                    `json:"headline"`
	Checks         []CheckResult             `json:"checks,omitempty"`
	// Endpoints break the run down by (client, name), sorted by client then
	// name; Clients are each client's totals when there is more than one,
	// Names each name's totals when more than one client sent it. All are
	// omitted for a run of one unnamed request.
	Endpoints     []EndpointSummary `json:"endpoints,omitempty"`
	Clients       []EndpointSummary `json:"clients,omitempty"`
	Names         []EndpointSummary `json:"names,omitempty"`
	Timeline      []TimelineRow     `json:"timeline,omitempty"`
	TimelineWidth float64           `json:"timeline_width_s,omitempty"`
	// Probes are the server-side probes of the run (probesummary.go).
	Probes []ProbeSummary `json:"probes,omitempty"`
	// Warnings say what is wrong with the data behind the summary: gaps,
	// duplicates, a cut file, generator limits. Figures cover what was read.
	Warnings []string `json:"warnings,omitempty"`
}

// lagFellBehind: a p99 dispatch lag above this means the generator itself
// could not keep its schedule (CPU, scheduling). Waiting for a slot or a
// pooled connection the target holds is client_queue, never this.
const lagFellBehind = 10 * time.Millisecond

// saturatedShare: when this much of all client time was spent waiting for
// a pooled connection or slot, the pool — not the generator — was the queue.
const saturatedShare = 0.1

// Summarize builds the summary of everything added so far; est are the
// run-wide estimates the results were attributed with.
func (a *Aggregator) Summarize(info RunInfo, est *Estimates) Summary {
	s := Summary{
		RunID:          info.RunID,
		URL:            info.URL,
		Schedule:       info.Schedule,
		Requests:       a.count,
		Planned:        info.Planned,
		Outcomes:       make(map[string]int64),
		Phases:         make(map[string]PhaseStats),
		OutcomeTotals:  make(map[string]PhaseStats),
		Attribution:    make(map[string]ComponentStats),
		Estimated:      a.estimated,
		Clamped:        a.clamped,
		NewConns:       a.newConns,
		SynRetryFrontS: round3(a.synFront.Seconds()),
		SynRetryProxyS: round3(a.synProxy.Seconds()),
		Unanswered:     a.unanswered,
		Retries:        a.retries,
		SynRetrans:     a.synRetrans,
		DataRetrans:    a.dataRetrans,
	}
	window := info.SendWindow
	if window <= 0 {
		window = a.lastStart - a.firstIntended
	}
	elapsed := info.Elapsed
	if elapsed <= 0 {
		elapsed = a.lastDone
	}
	s.DurationS = round3(window.Seconds())
	s.ElapsedS = round3(elapsed.Seconds())
	if window > 0 {
		s.AchievedRate = round3(float64(a.count) / window.Seconds())
	}
	// What was asked, from the schedule itself: a generator that fell
	// behind (or was stopped) stretches the send window, and a rate derived
	// from it would move with the achieved one.
	s.TargetRate = round3(info.Rate)
	for name, o := range a.outcomes {
		s.Outcomes[name] = o.count
		s.OutcomeTotals[name] = phaseStats(o.total)
		if IsError(name) {
			s.Errors += o.count
		}
	}
	for _, p := range Phases {
		s.Phases[p] = phaseStats(a.phases[p])
	}
	for i, name := range Components {
		cs := ComponentStats{PhaseStats: phaseStats(a.components[i]), TotalS: round3(a.compSum[i].Seconds())}
		if a.totalSum > 0 {
			cs.Share = round3(float64(a.compSum[i]) / float64(a.totalSum))
		}
		s.Attribution[name] = cs
	}
	s.Server = ServerStats{WithTiming: a.withServerTiming, App: phaseStats(a.serverApp), Queue: phaseStats(a.serverQueue), InvalidHeaders: a.invalidHeaders}
	if est != nil {
		s.ClockOffset = est.Offset.report()
	}
	s.Generator = GeneratorStats{
		SlotWaits:   a.slotWaits,
		ConnWaits:   a.connWaits,
		MaxInflight: info.MaxInflight,
		LagP99Ms:    s.Phases[PhaseLag].P99,
		NotSent:     info.NotSent,
		Interrupted: info.Interrupted,
		LimitErrors: a.limitErrors,
	}
	s.Generator.FellBehind = s.Phases[PhaseLag].P99 > durMs(lagFellBehind)
	s.Generator.ClientQueueP99Ms = s.Attribution[CompClientQueue].P99
	// A generator behind its own schedule makes its own requests queue: then
	// the queue says nothing about the target.
	s.Generator.Saturated = s.Attribution[CompClientQueue].Share >= saturatedShare && !s.Generator.FellBehind
	s.Generator.Connections, s.Generator.ConnMode = info.Connections, info.ConnMode
	s.Generator.Bursts, s.Generator.BurstSpreadMaxMs = info.Bursts, durMs(info.BurstSpread)
	if a.limitErrors > 0 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("%d requests failed on the generator's own limits (file descriptors or ephemeral ports), not the target's: raise 'ulimit -n', use keep-alive, or spread the load", a.limitErrors))
	}
	a.endpoints(&s)
	if a.timeline != nil {
		s.Timeline = a.timeline.Rows()
		s.TimelineWidth = a.timeline.Width().Seconds()
	}
	s.Headline = headline(&s)
	return s
}

// headline states the gap in one sentence.
func headline(s *Summary) string {
	if s.Requests == 0 {
		return "no requests completed"
	}
	client := s.Phases[PhaseTotal].P99
	out := fmt.Sprintf("clients p99 %s", fmtMs(client))
	top, share := "", 0.0
	for _, c := range []string{CompBacklog, CompSynRetry, CompProcessing, CompClientQueue, CompUnanswered, CompNetwork, CompConnect, CompLag, CompTransfer} {
		if v := s.Attribution[c].Share; v > share {
			top, share = c, v
		}
	}
	if s.Server.App.Count > 0 {
		out += fmt.Sprintf("; app p99 %s", fmtMs(s.Server.App.P99))
	} else {
		out += "; the server reported no processing time"
	}
	if top != "" {
		what := map[string]string{
			CompBacklog: "backlog wait", CompSynRetry: "SYN retries" + synTier(s), CompProcessing: "processing",
			CompClientQueue: clientQueueWhat(s), CompUnanswered: "requests that got no answer",
			CompNetwork: "network and proxy", CompConnect: "connection setup", CompLag: "generator lag", CompTransfer: "transfer",
		}[top]
		if (top == CompBacklog || top == CompProcessing) && s.Estimated*2 > s.Requests {
			what = "estimated " + what
		}
		out += fmt.Sprintf("; %.0f %% of client time went to %s", share*100, what)
		if top == CompClientQueue {
			pool := "the in-flight bound (--max-inflight)"
			if s.Generator.ConnMode != "new" && s.Generator.Connections > 0 {
				pool = fmt.Sprintf("the pool (--connections %d)", s.Generator.Connections)
			}
			if s.Generator.FellBehind {
				out += ": the generator itself fell behind, so its own requests queued at " + pool
			} else {
				out += ": the target was saturated and " + pool + " became the queue"
			}
		}
	}
	if n := s.Unanswered; n > 0 {
		out += fmt.Sprintf("; %.0f %% of requests (%.0f %% of client time) got no answer", 100*float64(n)/float64(s.Requests), 100*s.Attribution[CompUnanswered].Share)
	}
	return out
}

// clientQueueWhat names what the client queue waited for.
func clientQueueWhat(s *Summary) string {
	if s.Generator.ConnMode == "new" {
		return "waiting for an in-flight slot"
	}
	return "waiting for a pooled connection"
}

// synTier says where the SYN retries were, when not at the client.
func synTier(s *Summary) string {
	total := s.Attribution[CompSynRetry].TotalS
	switch {
	case total <= 0:
		return ""
	case s.SynRetryFrontS > total/2:
		return " (the front tier's connects to nginx)"
	case s.SynRetryProxyS > total/2:
		return " (nginx's connects to the app)"
	}
	return ""
}

// SortedOutcomes returns outcome names by descending count.
func (s *Summary) SortedOutcomes() []string {
	names := make([]string, 0, len(s.Outcomes))
	for n := range s.Outcomes {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if s.Outcomes[names[i]] != s.Outcomes[names[j]] {
			return s.Outcomes[names[i]] > s.Outcomes[names[j]]
		}
		return names[i] < names[j]
	})
	return names
}

func round3(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1000) / 1000
}

// fmtMs renders milliseconds for humans: 0.42ms, 123.4ms, 9.81s.
func fmtMs(ms float64) string {
	switch {
	case ms == 0:
		return "0"
	case ms < 1:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.1fms", ms)
	default:
		return fmt.Sprintf("%.2fs", ms/1000)
	}
}
