package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/queuegap/queuegap/probe"
	"github.com/queuegap/queuegap/session"
)

func TestProbeFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []probe.Spec
		err  string
	}{
		{args: nil},
		{args: []string{"--probe", "listen=127.0.0.1:8080,expect=2048", "--probe", "uwsgi=127.0.0.1:9191", "--probe", "process=42", "--probe-interval", "100ms"},
			want: []probe.Spec{{Kind: probe.Listen, Target: "127.0.0.1:8080", ExpectBacklog: 2048}, {Kind: probe.UWSGI, Target: "127.0.0.1:9191"}, {Kind: probe.Process, Target: "pid:42"}}},
		{args: []string{"--probe", "cgroup=/sys/fs/cgroup/app"}, want: []probe.Spec{{Kind: probe.Process, Target: "cgroup:/sys/fs/cgroup/app"}}},
		{args: []string{"--probe", "listen=localhost:80"}, err: "--probe: probe listen localhost:80: host"},
		{args: []string{"--probe", "uwsgi=127.0.0.1:1", "--probe-interval", "1us"}, err: "--probe-interval"},
	} {
		var o probeOptions
		fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
		o.addProbeFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		var p session.Plan
		err := o.applyProbes(&p)
		if tc.err != "" {
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want a usage error containing %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if len(p.Probes) != len(tc.want) {
			t.Fatalf("%q: %+v", tc.args, p.Probes)
		}
		for i := range p.Probes {
			if p.Probes[i] != tc.want[i] {
				t.Errorf("%q: probe %d %+v, want %+v", tc.args, i, p.Probes[i], tc.want[i])
			}
		}
		if len(tc.args) > 0 && strings.Contains(strings.Join(tc.args, " "), "100ms") && p.ProbeInterval != 100*time.Millisecond {
			t.Errorf("interval %v", p.ProbeInterval)
		}
	}
}
