package session

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/probe"
	"github.com/queuegap/queuegap/testbed/prefork"
)

// Plan is everything about one run. Build it from flags or a profile, then
// hand it to New, which validates it whole before anything is touched.
type Plan struct {
	// Clients run at the same time on one clock: one for a run from
	// flags, one per profile client otherwise.
	Clients []ClientPlan
	// NoRequestID leaves out X-Request-Id: <run-id>-<seq>.
	NoRequestID bool
	Engine      loadgen.Engine
	// BatchWindow caps the dispatcher's batching: 0 the default, negative
	// one wake-up per request (loadgen.Config.BatchWindow).
	BatchWindow time.Duration
	MaxInflight int // 0: loadgen.DefaultMaxInflight
	Timing      analyze.TimingConfig
	Checks      []analyze.Check

	Out    string // results file (JSON Lines), "" for none
	HDRLog string // HDR interval log, "" for none

	// Probes sample the server side during the run (listen queue, uWSGI
	// workers, CPU); every sample goes to the results file and to each
	// output that is a ProbeOutput.
	Probes        []probe.Spec
	ProbeInterval time.Duration // 0: 250 ms

	// Target, if set, starts the embedded prefork target on 127.0.0.1 and
	// points the run at it.
	Target *prefork.Config

	// RunID names the run and prefixes X-Request-Id; New makes one up when
	// empty (for shards, one every shard derives alike from StartAt and the
	// schedules, so their files merge as one run).
	RunID string

	// Shard makes this process one of Shard.Count generators sending the
	// schedule of one run between them (loadgen.Config.Shard); StartAt is
	// then required: the run's shared clock origin.
	Shard   loadgen.Shard
	StartAt time.Time
}

// ClientPlan is one of a run's concurrent clients: its schedule, its
// request (or weighted mix), how it connects, and how it retries.
type ClientPlan struct {
	// Name labels its requests in every report; "" for a run's only client.
	Name     string
	Schedule loadgen.Schedule
	// Client is the request (or Client.Mix) and how it is sent. With
	// Plan.Target set, the scheme, host and port of its URLs are replaced
	// by the embedded target's.
	Client      loadgen.ClientConfig
	Retry       loadgen.Retry
	MaxInflight int    // 0: Plan.MaxInflight
	Seed        uint64 // seeds the mix's picks; 0: random
}

// Length is how long the plan's schedules run: the longest client's.
func (p *Plan) Length() time.Duration {
	var d time.Duration
	for i := range p.Clients {
		d = max(d, p.Clients[i].Schedule.Length())
	}
	return d
}

// Planned is how many requests the plan schedules, retries not counted;
// -1 when a count is only statistical (Poisson).
func (p *Plan) Planned() int64 {
	var n int64
	for i := range p.Clients {
		k := p.Clients[i].Schedule.Planned()
		if k < 0 {
			return -1
		}
		n += k
	}
	return n
}

// Rate is the plan's mean scheduled rate: every client's, summed.
func (p *Plan) Rate() float64 {
	var r float64
	for i := range p.Clients {
		r += p.Clients[i].Schedule.Rate()
	}
	return r
}

// ScheduleString describes the schedules: a single client's as
// loadgen.ParseStage reads it, several as "name: schedule; …".
func (p *Plan) ScheduleString() string {
	if len(p.Clients) == 1 && p.Clients[0].Name == "" {
		return p.Clients[0].Schedule.String()
	}
	parts := make([]string, len(p.Clients))
	for i, c := range p.Clients {
		parts[i] = c.Name + ": " + c.Schedule.String()
	}
	return strings.Join(parts, "; ")
}

// what names client i in an error: "client partner-a: " or "" for a run's only one.
func (p *Plan) what(i int) string {
	if len(p.Clients) == 1 && p.Clients[i].Name == "" {
		return ""
	}
	if n := p.Clients[i].Name; n != "" {
		return "client " + n + ": "
	}
	return fmt.Sprintf("client %d: ", i+1)
}

// onTarget points cc's URLs at base (scheme://host:port), keeping each
// path and query: a run against the embedded target.
func onTarget(cc loadgen.ClientConfig, base string) loadgen.ClientConfig {
	b, _ := url.Parse(base)
	move := func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil || raw == "" {
			return base
		}
		u.Scheme, u.Host, u.User = b.Scheme, b.Host, nil
		return u.String()
	}
	cc.URL = move(cc.URL)
	if len(cc.Mix) > 0 {
		mix := make([]loadgen.Request, len(cc.Mix))
		for i, r := range cc.Mix {
			r.URL = move(r.URL)
			mix[i] = r
		}
		cc.Mix = mix
	}
	return cc
}

// Limits past which a value is a typo, not a plan: memory and descriptors
// grow with them.
const (
	MaxConnections = 1_000_000
	MaxInflight    = 1_000_000
	MaxWorkers     = 1000
	MaxClients     = 1000
)

// validate checks the plan and fills defaults; it touches nothing.
func (p *Plan) validate() (notes []string, err error) {
	if len(p.Clients) == 0 {
		return nil, usagef("no schedule: the plan has no client")
	}
	if len(p.Clients) > MaxClients {
		return nil, usagef("%d clients: at most %d run at once", len(p.Clients), MaxClients)
	}
	if p.MaxInflight < 0 || p.MaxInflight > MaxInflight {
		return nil, usagef("--max-inflight %d: want 1 to %d", p.MaxInflight, MaxInflight)
	}
	seen := map[string]bool{}
	for i := range p.Clients {
		c := &p.Clients[i]
		if len(p.Clients) > 1 && c.Name == "" {
			return nil, usagef("client %d has no name: with several clients each needs one", i+1)
		}
		if seen[c.Name] {
			return nil, usagef("two clients are named %q", c.Name)
		}
		seen[c.Name] = true
		if err := c.Schedule.Validate(); err != nil {
			return nil, &UsageError{fmt.Errorf("%s%w", p.what(i), err)}
		}
		cc := &c.Client
		switch {
		case cc.Connections < 0 || cc.Connections > MaxConnections:
			return nil, usagef("%s--connections %d: want 1 to %d", p.what(i), cc.Connections, MaxConnections)
		case c.MaxInflight < 0 || c.MaxInflight > MaxInflight:
			return nil, usagef("%smax in flight %d: want 1 to %d", p.what(i), c.MaxInflight, MaxInflight)
		case cc.Timeout < 0 || cc.ConnectTimeout < 0:
			return nil, usagef("%s--timeout and --connect-timeout must be > 0", p.what(i))
		}
	}
	if p.Shard.Count > 1 && p.StartAt.IsZero() {
		return nil, usagef("--shard %s needs --start-at TIME: the shards' shared start (RFC 3339, e.g. %s)", p.Shard, time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
	}
	if !p.StartAt.IsZero() {
		if ahead := time.Until(p.StartAt); ahead > 24*time.Hour {
			return nil, usagef("--start-at %s is %v away: more than a day (a typo?)", p.StartAt.Format(time.RFC3339), ahead.Round(time.Minute))
		} else if ahead < -time.Hour {
			return nil, usagef("--start-at %s was %v ago: a generator that late measures nothing but its own lag", p.StartAt.Format(time.RFC3339), (-ahead).Round(time.Minute))
		}
	}
	if err := p.validateProbes(); err != nil { // probe.go
		return nil, err
	}
	if p.RunID == "" {
		p.RunID = newRunID()
		if p.Shard.Count > 1 {
			p.RunID = sharedRunID(p)
		}
	}
	if p.Shard.Count > 1 {
		// Every shard must draw the same random arrivals and mix picks:
		// seed what is unseeded from the shared run ID.
		for i := range p.Clients {
			c := &p.Clients[i]
			if c.Seed == 0 {
				c.Seed = seedOf(p.RunID, c.Name, -1)
			}
			sched := make(loadgen.Schedule, len(c.Schedule))
			for j, st := range c.Schedule {
				if ps, ok := st.(loadgen.Poisson); ok && ps.Seed == 0 {
					ps.Seed = seedOf(p.RunID, c.Name, j)
					st = ps
				}
				sched[j] = st
			}
			c.Schedule = sched
		}
	}
	for i := range p.Clients {
		if !p.NoRequestID {
			p.Clients[i].Client.RunID = p.RunID
		}
	}
	if p.Target != nil {
		t := p.Target
		if t.Workers <= 0 || t.Workers > MaxWorkers || t.Backlog <= 0 || t.ServiceTime <= 0 {
			return nil, usagef("embedded target: workers must be 1–%d, backlog and service > 0", MaxWorkers)
		}
		if max := somaxconn(); max > 0 && t.Backlog > max {
			notes = append(notes, fmt.Sprintf("embedded target: backlog %d is above net.core.somaxconn (%d): the kernel caps it at %d", t.Backlog, max, max))
		}
	}
	// The clients and runner check the URLs, methods, headers, bodies,
	// mixes and behaviours; building them opens nothing.
	var clients []*loadgen.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i := range p.Clients {
		cc := p.Clients[i].Client
		if p.Target != nil {
			cc = onTarget(cc, "http://127.0.0.1:1/") // stands in for the target's address while validating
		}
		if err := loadgen.CheckEngine(p.Engine, cc); err != nil {
			return nil, &UsageError{fmt.Errorf("%s%w", p.what(i), err)}
		}
		client, err := loadgen.NewClient(cc)
		if err != nil {
			return nil, &UsageError{fmt.Errorf("%s%w", p.what(i), err)}
		}
		clients = append(clients, client)
	}
	if _, err := loadgen.NewRunner(p.runnerConfig(clients, nil)); err != nil {
		return nil, &UsageError{err}
	}
	if err := p.checkPaths(); err != nil {
		return nil, err
	}
	return notes, nil
}

func (p *Plan) runnerConfig(clients []*loadgen.Client, sink loadgen.Sink) loadgen.Config {
	cfg := loadgen.Config{Sink: sink, BatchWindow: p.BatchWindow, Engine: p.Engine, Shard: p.Shard, Start: p.StartAt}
	for i, c := range p.Clients {
		lane := loadgen.Lane{Schedule: c.Schedule, Client: clients[i], MaxInflight: c.MaxInflight, Retry: c.Retry, Seed: c.Seed}
		if lane.MaxInflight == 0 {
			lane.MaxInflight = p.MaxInflight
		}
		cfg.Lanes = append(cfg.Lanes, lane)
	}
	return cfg
}

// checkPaths makes sure every output file can be created, and that no two
// outputs are the same file, without creating or truncating any.
func (p *Plan) checkPaths() error {
	type output struct{ flag, path string }
	var outs []output
	for _, o := range []output{{"--out", p.Out}, {"--hdr-log", p.HDRLog}} {
		if o.path == "" {
			continue
		}
		if err := CheckOutputPath(o.path); err != nil {
			return usagef("%s %s: %v", o.flag, o.path, err)
		}
		for _, prev := range outs {
			if samePath(prev.path, o.path) {
				return usagef("%s and %s name the same file (%s): each output needs its own", prev.flag, o.flag, o.path)
			}
		}
		outs = append(outs, o)
	}
	return nil
}

// CheckOutputPath says whether path can be created or overwritten, without
// touching it.
func CheckOutputPath(path string) error {
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return errors.New("is a directory")
		}
		if !fi.Mode().IsRegular() && fi.Mode()&os.ModeCharDevice == 0 && fi.Mode()&os.ModeNamedPipe == 0 {
			return fmt.Errorf("is not a regular file (%s)", fi.Mode().Type())
		}
		if err := unix.Access(path, unix.W_OK); err != nil {
			return fmt.Errorf("not writable: %w", err)
		}
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("directory %s does not exist", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("directory %s is not writable: %w", dir, err)
	}
	return nil
}

func samePath(a, b string) bool {
	if fa, err := os.Stat(a); err == nil {
		if fb, err := os.Stat(b); err == nil {
			return os.SameFile(fa, fb)
		}
	}
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// somaxconn is net.core.somaxconn, the cap on any listen backlog; 0 when
// unknown.
func somaxconn() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// sharedRunID is the run ID every shard of a plan derives alike: from the
// shared start, the shard count and the schedules.
func sharedRunID(p *Plan) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d|%d|%s", p.StartAt.UnixNano(), p.Shard.Count, p.ScheduleString())
	return fmt.Sprintf("%08x", h.Sum64()>>32)
}

// seedOf is a seed derived from the run ID, a client and a stage (-1: the
// client's mix).
func seedOf(runID, client string, stage int) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s|%s|%d", runID, client, stage)
	return h.Sum64() | 1
}

func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
