package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/profiles"
	"github.com/queuegap/queuegap/session"
)

// scheduleFlags are run's flags that shape a schedule: with --profile any
// of them replaces every client's stages.
var scheduleFlags = []string{"rate", "burst", "ramp", "stage", "poisson", "every", "bursts"}

// profilePlan builds the plan of 'run --profile': the profile's clients,
// each with every command-line flag the user gave overriding the
// profile's value; url (the run's URL) overrides the profile's base_url;
// with neither, the run goes to the embedded target.
func (o *runOptions) profilePlan(fs *pflag.FlagSet, url string) (session.Plan, error) {
	prof, err := profiles.Load(o.profile)
	if err != nil {
		return session.Plan{}, usageError{err}
	}
	var ov profiles.Overrides
	shaped := false
	for _, f := range scheduleFlags {
		shaped = shaped || fs.Changed(f)
	}
	switch {
	case shaped:
		if ov.Schedule, err = o.schedule(fs); err != nil {
			return session.Plan{}, err
		}
	case fs.Changed("duration"):
		// Alone, --duration runs the profile for that long: a brief run of
		// a long profile (its stages cut at that offset).
		if o.duration <= 0 {
			return session.Plan{}, usagef("--duration must be > 0")
		}
		ov.Until = o.duration
	}
	if fs.Changed("method") {
		if strings.TrimSpace(o.method) == "" {
			return session.Plan{}, usagef("-X/--method: empty method (want GET, POST, …)")
		}
		ov.Method = strings.ToUpper(o.method)
	}
	if ov.Headers, err = o.requestHeaders(); err != nil {
		return session.Plan{}, err
	}
	if ov.Body, err = o.requestBody(); err != nil {
		return session.Plan{}, err
	}
	if fs.Changed("conn-mode") {
		mode, err := loadgen.ParseConnMode(o.connMode)
		if err != nil {
			return session.Plan{}, usageError{fmt.Errorf("--conn-mode: %w", err)}
		}
		ov.Mode = &mode
	}
	if fs.Changed("connections") {
		ov.Connections = o.connections
	}
	if fs.Changed("max-inflight") {
		ov.MaxInflight = o.maxInflight
	}
	if fs.Changed("timeout") {
		ov.Timeout = o.timeout
	}
	if fs.Changed("connect-timeout") {
		ov.ConnectTimeout = o.connTimeout
	}
	if err := prof.Apply(ov); err != nil {
		return session.Plan{}, usageError{err}
	}
	// The run's URL wins over base_url; with neither, the embedded target
	// (session rebases every URL onto it).
	onTarget := url == "" && prof.BaseURL == ""
	base := url
	if onTarget {
		base = "http://127.0.0.1:1"
	}
	if err := prof.Resolve(base); err != nil {
		return session.Plan{}, usageError{err}
	}
	targetURL := url
	if !onTarget && targetURL == "" {
		targetURL = prof.BaseURL
	}
	p, err := o.commonPlan(fs, targetURL)
	if err != nil {
		return p, err
	}
	for _, c := range prof.Clients {
		cc := c.Config
		cc.KeepHeaders = p.Timing.KeepHeaders()
		cc.InsecureTLS = o.insecure
		cc.MaxBodyBytes = int(min(o.maxBody, int64(^uint(0)>>1)))
		p.Clients = append(p.Clients, session.ClientPlan{
			Name: c.Name, Schedule: c.Schedule, Client: cc, Retry: c.Retry, MaxInflight: c.MaxInflight, Seed: c.Seed,
		})
	}
	return p, nil
}
