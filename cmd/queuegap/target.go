package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/queuegap/queuegap/testbed/prefork"
)

// targetOptions configure the embedded prefork target.
type targetOptions struct {
	addr    string
	workers int
	backlog int
	service time.Duration
	headers string
}

func (t *targetOptions) addFlags(fs *pflag.FlagSet, prefix string) {
	fs.IntVar(&t.workers, prefix+"workers", 4, "embedded target: workers (each serves one request at a time)")
	fs.IntVar(&t.backlog, prefix+"backlog", 16, "embedded target: listen backlog (the accept queue holds backlog+1)")
	fs.DurationVar(&t.service, prefix+"service", 250*time.Millisecond, "embedded target: service time per request (?ms=N overrides per request)")
	fs.StringVar(&t.headers, prefix+"headers", "default", "embedded target: timing headers, a comma list of app (Server-Timing app), queue (Server-Timing\n  queue), start (X-Request-Start), runtime (X-Runtime), response-time (X-Response-Time);\n  or default (app,start), all, none")
}

func (t *targetOptions) config() (prefork.Config, error) {
	if t.workers <= 0 || t.workers > 1000 || t.backlog <= 0 || t.service <= 0 {
		return prefork.Config{}, usagef("embedded target: workers must be 1–1000, backlog and service > 0")
	}
	cfg := prefork.Config{Addr: t.addr, Workers: t.workers, Backlog: t.backlog, ServiceTime: t.service}
	h, err := parseHeaderStyle(t.headers)
	if err != nil {
		return cfg, err
	}
	cfg.Headers = h
	return cfg, nil
}

// parseHeaderStyle parses the embedded target's --headers list.
func parseHeaderStyle(list string) (prefork.HeaderStyle, error) {
	names := map[string]prefork.HeaderStyle{
		"default": prefork.DefaultHeaders, "all": prefork.AllHeaders, "none": prefork.NoHeaders,
		"app": prefork.ServerTimingApp, "queue": prefork.ServerTimingQueue, "start": prefork.RequestStart,
		"runtime": prefork.Runtime, "response-time": prefork.ResponseTime,
	}
	var h prefork.HeaderStyle
	for _, n := range strings.Split(list, ",") {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "" && list == "" {
			n = "default"
		}
		v, ok := names[n]
		if !ok {
			return 0, usagef("embedded target: --headers %q: %q is not one of app, queue, start, runtime, response-time, default, all, none", list, n)
		}
		h |= v
	}
	return h, nil
}

func newTargetCmd() *cobra.Command {
	t := &targetOptions{}
	cmd := &cobra.Command{
		Use:   "target",
		Short: "Serve the embedded prefork target until Ctrl-C",
		Long: `Serve queuegap's embedded prefork target: W workers that accept a connection
only when idle, behind a real kernel listen backlog of the given size, each
serving one request at a time. Point 'queuegap run' (or anything else) at it.

Examples:
  queuegap target --addr 127.0.0.1:8080 --workers 4 --backlog 8 --service 200ms
  queuegap run --burst 40 http://127.0.0.1:8080/?ms=500`,
		Args: typedArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := t.config()
			if err != nil {
				return err
			}
			srv, err := prefork.Start(cfg)
			if err != nil {
				return usageError{err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "embedded prefork target on %s (%d workers, backlog %d, %s per request); Ctrl-C stops it\n",
				srv.URL(), cfg.Workers, cfg.Backlog, cfg.ServiceTime)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			return srv.Close()
		},
	}
	cmd.Flags().StringVar(&t.addr, "addr", "127.0.0.1:8080", "listen address")
	t.addFlags(cmd.Flags(), "")
	return cmd
}
