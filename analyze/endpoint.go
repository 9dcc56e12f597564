package analyze

import (
	"fmt"
	"sort"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// MaxEndpoints bounds the (client, name) groups an Aggregator keeps apart.
// Each costs up to three HDR histograms (≈190 KB each, the ttfb and
// connect ones only once used), so 200 groups stay near 100 MB at worst;
// a mix has a handful. Results of further groups are counted together
// under OtherLabel, and the summary warns.
const MaxEndpoints = 200

// EndpointSummary is one (client, name) group of a run, or a client's or a
// name's total over its groups (then the other label is ""). Durations are
// in ms, as in Summary.
type EndpointSummary struct {
	Client   string             `json:"client"`
	Name     string             `json:"name"`
	Count    int64              `json:"count"`
	Errors   int64              `json:"errors"`
	Retries  int64              `json:"retries"`          // requests that were a retry (attempt > 0)
	Outcomes map[string]int64   `json:"outcomes"`         // by outcome class, as Summary.Outcomes
	Status   map[string]int64   `json:"status"`           // by status class: "2xx"…"5xx", "1xx", "none" (no response)
	Total    PhaseStats         `json:"total"`            // client-observed total
	TTFB     PhaseStats         `json:"ttfb"`             // to the first response byte
	Connect  PhaseStats         `json:"connect"`          // new connections' setup
	Shares   map[string]float64 `json:"shares,omitempty"` // each component's share of this group's client time
	// Top is the component with the largest share of this group's client
	// time ("" without client time).
	Top string `json:"top_component,omitempty"`
}

type groupKey struct{ client, name string }

// groupAgg accumulates one (client, name) group.
type groupAgg struct {
	key                    groupKey
	count, errors, retries int64
	total, ttfb, connect   *hdrhistogram.Histogram // ttfb and connect made on first use
	outcomes               map[string]int64
	status                 [6]int64 // none, 1xx … 5xx
	compSum                [numComponents]time.Duration
	totalSum               time.Duration
}

var statusClasses = [6]string{"none", "1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(status int) int {
	if status >= 100 && status < 600 {
		return status / 100
	}
	return 0
}

func newGroupAgg(k groupKey) *groupAgg {
	return &groupAgg{key: k, total: newHist(), outcomes: make(map[string]int64, 4)}
}

func (g *groupAgg) add(r *Result, total time.Duration) {
	g.count++
	if IsError(r.Outcome) {
		g.errors++
	}
	if r.Attempt > 0 {
		g.retries++
	}
	g.outcomes[r.Outcome]++
	g.status[statusClass(r.Status)]++
	recordDur(g.total, total)
	if r.FirstByte != 0 {
		if g.ttfb == nil {
			g.ttfb = newHist()
		}
		recordDur(g.ttfb, r.TTFB())
	}
	if c := r.Connect(); c > 0 {
		if g.connect == nil {
			g.connect = newHist()
		}
		recordDur(g.connect, c)
	}
	for i, d := range r.Attr.Parts {
		g.compSum[i] += d
	}
	g.totalSum += total
}

// merge adds o into g (exactly: same histogram layout).
func (g *groupAgg) merge(o *groupAgg) {
	g.count += o.count
	g.errors += o.errors
	g.retries += o.retries
	for k, v := range o.outcomes {
		g.outcomes[k] += v
	}
	for i, v := range o.status {
		g.status[i] += v
	}
	mergeHist(&g.total, o.total)
	mergeHist(&g.ttfb, o.ttfb)
	mergeHist(&g.connect, o.connect)
	for i, d := range o.compSum {
		g.compSum[i] += d
	}
	g.totalSum += o.totalSum
}

func mergeHist(dst **hdrhistogram.Histogram, src *hdrhistogram.Histogram) {
	if src == nil {
		return
	}
	if *dst == nil {
		*dst = newHist()
	}
	(*dst).Merge(src)
}

func (g *groupAgg) summary() EndpointSummary {
	e := EndpointSummary{Client: g.key.client, Name: g.key.name, Count: g.count, Errors: g.errors, Retries: g.retries,
		Outcomes: make(map[string]int64, len(g.outcomes)), Status: make(map[string]int64, 2)}
	for k, v := range g.outcomes {
		e.Outcomes[k] = v
	}
	for i, v := range g.status {
		if v > 0 {
			e.Status[statusClasses[i]] = v
		}
	}
	e.Total = phaseStats(g.total)
	if g.ttfb != nil {
		e.TTFB = phaseStats(g.ttfb)
	}
	if g.connect != nil {
		e.Connect = phaseStats(g.connect)
	}
	if g.totalSum > 0 {
		e.Shares = make(map[string]float64, numComponents)
		best := time.Duration(0)
		for i, name := range Components {
			e.Shares[name] = round3(float64(g.compSum[i]) / float64(g.totalSum))
			if g.compSum[i] > best {
				best, e.Top = g.compSum[i], name
			}
		}
	}
	return e
}

// group finds (or makes) r's group. The last group is remembered: results
// of one name tend to come in runs, and interned labels compare by pointer.
func (a *Aggregator) group(r *Result) *groupAgg {
	k := groupKey{r.Client, r.Name}
	if g := a.lastGroup; g != nil && g.key == k {
		return g
	}
	g := a.groups[k]
	if g == nil {
		if len(a.groups) >= MaxEndpoints {
			a.otherResults++
			k = groupKey{OtherLabel, OtherLabel}
			if g = a.groups[k]; g == nil {
				g = newGroupAgg(k)
				a.groups[k] = g
			}
			return g // not remembered: the next result of this key must be counted too
		}
		g = newGroupAgg(k)
		a.groups[k] = g
	}
	a.lastGroup = g
	return g
}

// endpoints fills the per-endpoint parts of s. A run of one unnamed group
// has none: its breakdown would repeat the summary.
func (a *Aggregator) endpoints(s *Summary) {
	if len(a.groups) == 0 {
		return
	}
	if _, ok := a.groups[groupKey{}]; ok && len(a.groups) == 1 {
		return
	}
	groups := make([]*groupAgg, 0, len(a.groups))
	for _, g := range a.groups {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool {
		if groups[i].key.client != groups[j].key.client {
			return groups[i].key.client < groups[j].key.client
		}
		return groups[i].key.name < groups[j].key.name
	})
	clients := map[string]*groupAgg{}
	names := map[string]*groupAgg{}
	nameClients := map[string]int{}
	var clientOrder, nameOrder []string
	for _, g := range groups {
		s.Endpoints = append(s.Endpoints, g.summary())
		if clients[g.key.client] == nil {
			clients[g.key.client] = newGroupAgg(groupKey{client: g.key.client})
			clientOrder = append(clientOrder, g.key.client)
		}
		clients[g.key.client].merge(g)
		if names[g.key.name] == nil {
			names[g.key.name] = newGroupAgg(groupKey{name: g.key.name})
			nameOrder = append(nameOrder, g.key.name)
		}
		names[g.key.name].merge(g)
		nameClients[g.key.name]++
	}
	if len(clientOrder) > 1 {
		for _, c := range clientOrder {
			s.Clients = append(s.Clients, clients[c].summary())
		}
	}
	sort.Strings(nameOrder)
	for _, n := range nameOrder {
		if nameClients[n] > 1 {
			s.Names = append(s.Names, names[n].summary())
		}
	}
	if a.otherResults > 0 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("more than %d endpoints (client and name): %d requests of the rest are reported together as %q", MaxEndpoints, a.otherResults, OtherLabel))
	}
}
