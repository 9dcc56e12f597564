package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/queuegap/queuegap/probe"
	"github.com/queuegap/queuegap/session"
)

// probeOptions are the --probe flags of run (embedded in runOptions).
type probeOptions struct {
	probes        []string
	probeInterval time.Duration
}

const probeFlagHelp = `sample the server side during the run, on the run's clock, into --out and the summary
  (repeatable):
  listen=IP:PORT[,expect=N]  a local listening socket: accept queue, effective backlog
                             (ss -lnt's Recv-Q/Send-Q), ListenOverflows/ListenDrops
                             (namespace-wide); expect=N is the backlog the server was
                             configured with: less means net.core.somaxconn capped it
  uwsgi=IP:PORT              a uWSGI stats server: listen queue, busy/idle workers, harakiri
  process=PID|name:NAME      a process and its descendants (or every process NAME): CPU, RSS
  cgroup=PATH                a cgroup v2 directory: CPU, memory
  each takes ,every=DURATION (default --probe-interval); 'queuegap testbed up' prints the
  flags that fit the testbed`

func (o *probeOptions) addProbeFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.probes, "probe", nil, probeFlagHelp)
	fs.DurationVar(&o.probeInterval, "probe-interval", session.DefaultProbeInterval, "how often each --probe samples")
}

// probeSpecs are the --probe flags, parsed; a bad one is a usage error.
func (o *probeOptions) probeSpecs() ([]probe.Spec, error) {
	var specs []probe.Spec
	for _, s := range o.probes {
		sp, err := probe.Parse(s)
		if err != nil {
			return nil, usageError{fmt.Errorf("--probe: %w", err)}
		}
		specs = append(specs, sp)
	}
	if len(o.probes) > 0 && o.probeInterval < probe.MinEvery {
		return nil, usagef("--probe-interval %v: want at least %v", o.probeInterval, probe.MinEvery)
	}
	return specs, nil
}

// applyProbes puts the --probe flags into p.
func (o *probeOptions) applyProbes(p *session.Plan) error {
	specs, err := o.probeSpecs()
	if err != nil {
		return err
	}
	p.Probes, p.ProbeInterval = specs, o.probeInterval
	return nil
}
